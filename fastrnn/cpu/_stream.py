"""The cpu backend's streaming step: one compiled kernel over every layer (``fastrnn.stream``).

A step is one call of ``_step`` on the calling thread, with integer addresses
of buffers built once (``Stepper``): a call unboxes no array and allocates
nothing. Per layer l and row b:

    gi = x W_ihᵀ,  gh = h_l W_hhᵀ            (``_tile.matmul`` on weights packed once)
    h_l, c_l ← the cell of ``_cells`` (biases folded by ``Cell.fold_bias``)
    x ← h_l                                 (the next layer's input)
"""
import numba
import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .. import cells
from ._cells import GRU, JIT, LSTM, RNN, forward_units, gru_reset
from ._driver import TAGS, _flags, reset_rows
from ._loops import copy
from ._tile import matmul, n_panels, pack, width


@intrinsic
def _pointer(typingctx, address, zero):
    """The integer ``address`` as a pointer to values of ``zero``'s type (float32 or float64)."""
    ptr = types.CPointer(zero)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))
    return ptr(address, zero), codegen


@njit(**JIT)
def _step(cell, relu, hard, after, zero, L, B, I, H, P, G, NR, q0, x, w_ih0, w_ih, w_hh, w_hn, w_hr,
          bias, b_hh, h, c, gi, gh, hn, hq, gates, ct, ghn, out):
    """One step of every layer, in place, on the stream's own buffers given by address.

    Weights as packed panels (``_tile.pack``, NR columns each; NP(n) = ⌈n / NR⌉):
    w_ih0 (NP(G·H),I,NR) layer 0's W_ih; w_ih (L−1,NP(G·H),P,NR) the others'; w_hh
    (L,NP(q0),P,NR) W_hh's rows [0, q0) and w_hn (L,NP(G·H − q0),P,NR) its rows
    [q0, G·H) (``_driver.reset_rows``: 2H for the GRU without reset_after, whose n block
    multiplies r ⊙ h, else G·H); w_hr (L,NP(P),H,NR) the projection (no panels without). bias, b_hh (L,G·H)
    as in ``_cells``; h (L,B,P), c (L,B,H) the state, updated (c, gates, ct, ghn have a
    last axis of 0 where the cell has none; P = H but for the LSTM's projection);
    scratch gi, gh (B,G·H+NR), hn (B,H), hq (B,P+NR), gates (B,G·H), ct (B,H), ghn (B,H);
    x (B,I) this frame; out (B,P): the top layer's new h. Arguments are integers (and
    ``zero``, the dtype), so a call unboxes no array: it allocates nothing."""
    GH = G * H
    Hc, Hg = H if cell == LSTM else 0, H if cell == GRU else 0
    proj = P != H
    npg, npq, npn = n_panels(GH, NR), n_panels(q0, NR), n_panels(GH - q0, NR)
    npp = n_panels(P, NR) if proj else 0
    x, out = carray(_pointer(x, zero), (B, I)), carray(_pointer(out, zero), (B, P))
    w_ih0 = carray(_pointer(w_ih0, zero), (npg, I, NR))
    w_ih = carray(_pointer(w_ih, zero), (L - 1, npg, P, NR))
    w_hh = carray(_pointer(w_hh, zero), (L, npq, P, NR))
    w_hn = carray(_pointer(w_hn, zero), (L, npn, P, NR))
    w_hr = carray(_pointer(w_hr, zero), (L, npp, H, NR))
    bias, b_hh = carray(_pointer(bias, zero), (L, GH)), carray(_pointer(b_hh, zero), (L, GH))
    h, c = carray(_pointer(h, zero), (L, B, P)), carray(_pointer(c, zero), (L, B, Hc))
    gi, gh = carray(_pointer(gi, zero), (B, GH + NR)), carray(_pointer(gh, zero), (B, GH + NR))
    hn, ct = carray(_pointer(hn, zero), (B, H)), carray(_pointer(ct, zero), (B, Hc))
    hq = carray(_pointer(hq, zero), (B, P + NR))
    gates = carray(_pointer(gates, zero), (B, GH if cell != RNN else 0))
    ghn = carray(_pointer(ghn, zero), (B, Hg))
    for layer in range(L):
        matmul(x if layer == 0 else h[layer - 1], w_ih0 if layer == 0 else w_ih[layer - 1],
               gi, 0, False)
        matmul(h[layer], w_hh[layer], gh, 0, False)
        if q0 < GH:
            # r ⊙ h before the n block's product (``_cells.gru_reset``); ghn holds it
            for b in range(B):
                gru_reset(hard, gi[b], gh[b], bias[layer], h[layer, b], ghn[b])
            matmul(ghn, w_hn[layer], gh, q0, False)
        for b in range(B):
            forward_units(cell, relu, hard, after, 0, H, gi[b], gh[b], bias[layer], b_hh[layer],
                          h[layer, b], hn[b], c[layer, b], gates[b], ct[b], ghn[b])
        if proj:
            matmul(hn, w_hr[layer], hq, 0, False)     # h = m W_hrᵀ
            copy(h[layer], hq[:, :P])
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
        w_ih, w_hh, b_ih, b_hh = ([np.ascontiguousarray(p[i], dt) for p in layers]
                                  for i in range(4))
        w_hr = [np.ascontiguousarray(p[4], dt) for p in layers] if P != H else [None] * L
        GH, NR = G * H, width(dt)
        q0 = reset_rows(cell, options, H)

        def panels(ws, r0, r1, cols):
            """The packed rows [r0, r1) of each of ws, stacked: (len(ws), NP, cols, NR)."""
            return np.stack([pack(w, r0, r1) for w in ws]) if ws else np.zeros(
                (0, n_panels(r1 - r0, NR), cols, NR), dt)
        # every buffer the kernel reads or writes, owned here (contiguous; the kernel takes
        # their addresses): weights copied as panels, the state, scratch
        self._buffers = [
            self.x, pack(w_ih[0], 0, GH), panels(w_ih[1:], 0, GH, P), panels(w_hh, 0, q0, P),
            panels(w_hh, q0, GH, P), panels(w_hr if P != H else [], 0, P, H),
            np.stack([decl.fold_bias(bi, bh, options) for bi, bh in zip(b_ih, b_hh)]),
            np.stack(b_hh), self.h, self.c, np.zeros((B, GH + NR), dt),
            np.zeros((B, GH + NR), dt), np.zeros((B, H), dt), np.zeros((B, P + NR), dt),
            np.zeros((B, GH), dt), np.zeros((B, H), dt), np.zeros((B, H), dt), self.out]
        self._args = (kind, *_flags(options), dt.type(0), L, B, I, H, P, G, NR, q0,
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
