"""The cpu backend's streaming step: one compiled kernel over every layer (``fastrnn.stream``).

A step is one call of ``_step`` on the calling thread, with integer addresses
of buffers built once (``Stepper``): a call unboxes no array and allocates
nothing. Per layer l and row b:

    gi = x W_ihᵀ,  gh = h_l W_hhᵀ            (``dots``: the weights as they lie)
    h_l, c_l ← the cell of ``_cells`` (biases folded by ``Cell.fold_bias``)
    x ← h_l                                 (the next layer's input)
"""
import numba
import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .. import cells
from ._cells import GRU, JIT, LSTM, RNN, forward_units, gru_reset
from ._driver import TAGS, _flags
from ._loops import copy, dots


@intrinsic
def _pointer(typingctx, address, zero):
    """The integer ``address`` as a pointer to values of ``zero``'s type (float32 or float64)."""
    ptr = types.CPointer(zero)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))
    return ptr(address, zero), codegen


@njit(**JIT)
def _step(cell, relu, hard, after, zero, L, B, I, H, P, G, x, w_ih0, w_ih, w_hh, w_hr, bias,
          b_hh, h, c, gi, gh, hn, gates, ct, ghn, out):
    """One step of every layer, in place, on the stream's own buffers given by address.

    Views (G·H rows of gates; c, gates, ct, ghn have a last axis of 0 where the cell has
    none; P = H but for the LSTM's projection): x (B,I) this frame; w_ih0 (G·H,I) layer
    0's W_ih; w_ih (L−1,G·H,P) the others'; w_hh (L,G·H,P); w_hr (L,P,H) the projection
    (L,0,H without); bias, b_hh (L,G·H) as in ``_cells``; h (L,B,P), c (L,B,H) the state,
    updated; scratch gi, gh (B,G·H), hn (B,H), gates (B,G·H), ct (B,H), ghn (B,H);
    out (B,P): the top layer's new h. Arguments are integers (and ``zero``, the dtype),
    so a call unboxes no array: it allocates nothing."""
    GH = G * H
    Hc, Hg = H if cell == LSTM else 0, H if cell == GRU else 0
    proj = P != H
    x, out = carray(_pointer(x, zero), (B, I)), carray(_pointer(out, zero), (B, P))
    w_ih0, w_ih = carray(_pointer(w_ih0, zero), (GH, I)), carray(_pointer(w_ih, zero),
                                                                (L - 1, GH, P))
    w_hh = carray(_pointer(w_hh, zero), (L, GH, P))
    w_hr = carray(_pointer(w_hr, zero), (L, P if proj else 0, H))
    bias, b_hh = carray(_pointer(bias, zero), (L, GH)), carray(_pointer(b_hh, zero), (L, GH))
    h, c = carray(_pointer(h, zero), (L, B, P)), carray(_pointer(c, zero), (L, B, Hc))
    gi, gh = carray(_pointer(gi, zero), (B, GH)), carray(_pointer(gh, zero), (B, GH))
    hn, ct = carray(_pointer(hn, zero), (B, H)), carray(_pointer(ct, zero), (B, Hc))
    gates = carray(_pointer(gates, zero), (B, GH if cell != RNN else 0))
    ghn = carray(_pointer(ghn, zero), (B, Hg))
    for layer in range(L):
        if layer == 0:
            dots(x, w_ih0, 0, GH, gi, False)
        else:
            dots(h[layer - 1], w_ih[layer - 1], 0, GH, gi, False)
        if cell == GRU and not after:
            # r ⊙ h before the n block's product (``_cells.gru_reset``); ghn holds it
            dots(h[layer], w_hh[layer], 0, 2 * H, gh, False)
            for b in range(B):
                gru_reset(hard, gi[b], gh[b], bias[layer], h[layer, b], ghn[b])
            dots(ghn, w_hh[layer], 2 * H, GH, gh, False)
        else:
            dots(h[layer], w_hh[layer], 0, GH, gh, False)
        for b in range(B):
            forward_units(cell, relu, hard, after, 0, H, gi[b], gh[b], bias[layer], b_hh[layer],
                          h[layer, b], hn[b], c[layer, b], gates[b], ct[b], ghn[b])
        if proj:
            dots(hn, w_hr[layer], 0, P, h[layer], False)     # h = m W_hrᵀ
        else:
            copy(h[layer], hn)
    copy(out, h[L - 1])


class Stepper:
    """The buffers and the compiled call of one stream.

    ``layers``: per layer (w_ih, w_hh, b_ih, b_hh[, w_hr]) of ``cell`` (a ``fastrnn.cells``
    name) with ``options`` (``fastrnn.cells.Options``); B rows, I inputs, H units, P = H or
    the LSTM's projection size, ``dtype``. The weights are copied. ``x`` (B,I) is the frame
    to read, ``out`` (B,P) the top layer's new h after ``step()``; ``h`` (L,B,P) and ``c``
    (L,B,H; last axis 0 but for the LSTM) the state, updated in place."""

    def __init__(self, cell, options, layers, B, I, H, dtype, P=None):
        decl, kind = cells.get(cell), TAGS[cell]
        L, G, dt, P = len(layers), decl.G, np.dtype(dtype), P or H
        self.h = np.zeros((L, B, P), dt)
        self.c = np.zeros((L, B, H if kind == LSTM else 0), dt)
        self.x, self.out = np.zeros((B, I), dt), np.zeros((B, P), dt)
        w_ih, w_hh, b_ih, b_hh = ([np.asarray(p[i], dt) for p in layers] for i in range(4))
        w_hr = (np.stack([np.asarray(p[4], dt) for p in layers]) if P != H
                else np.zeros((L, 0, H), dt))
        # every buffer the kernel reads or writes, owned here (contiguous; the kernel takes
        # their addresses): weights copied, the state, scratch
        self._buffers = [
            self.x, np.ascontiguousarray(w_ih[0]),
            np.stack(w_ih[1:]) if L > 1 else np.zeros((0, G * H, P), dt), np.stack(w_hh), w_hr,
            np.stack([decl.fold_bias(bi, bh, options) for bi, bh in zip(b_ih, b_hh)]),
            np.stack(b_hh),
            self.h, self.c, *(np.zeros((B, G * H), dt) for _ in range(4)),
            np.zeros((B, H), dt), np.zeros((B, H), dt), self.out]
        self._args = (kind, *_flags(options), dt.type(0), L, B, I, H, P, G,
                      *(a.ctypes.data for a in self._buffers))
        self._entry = None

    def step(self):
        """One step of every layer: reads ``x``, updates ``h`` and ``c``, writes ``out``."""
        entry = self._entry
        if entry is None:
            _step(*self._args)           # compiles, or loads from the cache, once
            sig = tuple(numba.typeof(a) for a in self._args)
            self._entry = _step.overloads[sig].entry_point
        else:
            entry(*self._args)           # no type dispatch: its cost is most of a small step
