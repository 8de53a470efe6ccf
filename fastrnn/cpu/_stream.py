"""The cpu backend's streaming step: one compiled kernel over every layer (``fastrnn.stream``).

A step is one call of ``_step`` on the calling thread, with integer addresses
of buffers built once (``Stepper``): a call unboxes no array and allocates
nothing. Per layer l and row b:

    gi = x W_ihᵀ,  gh = h_l W_hhᵀ            (``_tile.matmul`` on weights packed once)
    h_l, c_l ← the cell of ``_cells`` (biases folded by ``Cell.fold_bias``)
    x ← h_l                                 (the next layer's input)

With two threads and a large enough H (``fastrnn.config.CPU_STREAM_SPLIT_MIN_H``),
back-to-back steps are split by hidden units with a partner thread that spins
between them (``_partner``): ``_step_share`` is share p of a step, each share
streaming only its units' rows of the weights (half the bytes per core, a
step being a matrix-vector product bound by the cache's bandwidth). A step
the partner is not awake for runs whole in ``_step``, and wakes it.
"""
import numba
import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .. import cells, config
from .._threads import get_num_threads
from ._cells import GRU, JIT, LSTM, forward_units, gru_reset
from ._driver import TAGS, _flags, reset_rows
from ._loops import copy, pack_units, share
from ._partner import COUNTER, GEN, Partner, ctrl_array, done, wait_call
from ._sync import arrive, atomic_load
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
          bias, b_hh, h, c, gi, gh, hn, hq, ghn, out):
    """One step of every layer, in place, on the stream's own buffers given by address.

    Weights as packed panels (``_tile.pack``, NR columns each; NP(n) = ⌈n / NR⌉):
    w_ih0 (NP(G·H),I,NR) layer 0's W_ih; w_ih (L−1,NP(G·H),P,NR) the others'; w_hh
    (L,NP(q0),P,NR) W_hh's rows [0, q0) and w_hn (L,NP(G·H − q0),P,NR) its rows
    [q0, G·H) (``_driver.reset_rows``: 2H for the GRU without reset_after, whose n block
    multiplies r ⊙ h, else G·H); w_hr (L,NP(P),H,NR) the projection (no panels without). bias, b_hh (L,G·H)
    as in ``_cells``; h (L,B,P), c (L,B,H) the state, updated (c has a last axis of 0 but
    for the LSTM; P = H but for the LSTM's projection); scratch gi, gh (B,G·H+NR), hn
    (B,H), hq (B,P+NR), ghn (B,H) (the GRU without reset_after: r ⊙ h); the gate kernels
    write no tape (``_cells``), so they are given gates of no columns;
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
    hn, hq = carray(_pointer(hn, zero), (B, H)), carray(_pointer(hq, zero), (B, P + NR))
    ghn = carray(_pointer(ghn, zero), (B, Hg))
    gates = ghn[:, :0]
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
            forward_units(cell, relu, hard, after, False, 0, H, gi[b], gh[b], H, bias[layer],
                          b_hh[layer], h[layer, b], hn[b], c[layer, b], gates[b], ghn[b])
        if proj:
            matmul(hn, w_hr[layer], hq, 0, False)     # h = m W_hrᵀ
            copy(h[layer], hq[:, :P])
        else:
            copy(h[layer], hn)
    copy(out, h[L - 1])


@njit(**JIT)
def _step_share(p, parts, ctrl, cell, relu, hard, after, zero, L, B, I, H, G, NR, x, w_ih0, w_ih,
                w_hh, bias, b_hh, h, c, gi, gh, ghn, out):
    """Share p of one ``_step`` (cells without a projection or the GRU's reset before):
    units [j0, j1) of every layer, meeting the other shares at two barriers a layer.

    Its own: w_ih0 (G·NPu,I,NR), w_ih (L−1,G·NPu,H,NR), w_hh (L,G·NPu,H,NR) its units' rows
    of every gate block (``_loops.pack_units``; NPu = NP(j1 − j0)); scratch gi, gh
    (B,G·s+NR), gate block g of its units at [g·s, g·s + j1 − j0) (s = NPu·NR). Shared,
    each share writing only its units' columns: h (L,B,H), c (L,B,H or 0), out (B,H); x,
    ghn, bias, b_hh as in ``_step``.
    ``ctrl``: the address of the ``_partner.Partner``'s state (GEN numbers this step,
    COUNTER is the barrier's)."""
    GH = G * H
    Hc, Hg = H if cell == LSTM else 0, H if cell == GRU else 0
    j0, j1 = share(p, parts, H)
    npu = n_panels(j1 - j0, NR)
    s = npu * NR
    state = ctrl_array(ctrl)
    counter = state[COUNTER:COUNTER + 1]
    k = (atomic_load(state, GEN) - 1) * 2 * L        # the barriers of the earlier steps
    x, out = carray(_pointer(x, zero), (B, I)), carray(_pointer(out, zero), (B, H))
    w_ih0 = carray(_pointer(w_ih0, zero), (G * npu, I, NR))
    w_ih = carray(_pointer(w_ih, zero), (L - 1, G * npu, H, NR))
    w_hh = carray(_pointer(w_hh, zero), (L, G * npu, H, NR))
    bias, b_hh = carray(_pointer(bias, zero), (L, GH)), carray(_pointer(b_hh, zero), (L, GH))
    h, c = carray(_pointer(h, zero), (L, B, H)), carray(_pointer(c, zero), (L, B, Hc))
    gi = carray(_pointer(gi, zero), (B, G * s + NR))
    gh = carray(_pointer(gh, zero), (B, G * s + NR))
    ghn = carray(_pointer(ghn, zero), (B, Hg))
    gates = ghn[:, :0]
    for layer in range(L):
        if j1 > j0:
            matmul(x if layer == 0 else h[layer - 1], w_ih0 if layer == 0 else w_ih[layer - 1],
                   gi, 0, False)
            matmul(h[layer], w_hh[layer], gh, 0, False)
        k += 1
        arrive(counter, parts * k)           # every share has read h_l: it may change
        for b in range(B):
            forward_units(cell, relu, hard, after, False, j0, j1, gi[b], gh[b], s, bias[layer],
                          b_hh[layer], h[layer, b], h[layer, b], c[layer, b], gates[b], ghn[b])
        if layer == L - 1:
            copy(out[:, j0:j1], h[layer, :, j0:j1])
        k += 1
        arrive(counter, parts * k)           # h_l is whole: the next layer, or step, reads it


@njit(**JIT)
def _serve(ctrl, seen, spin_ns, cell, relu, hard, after, zero, L, B, I, H, G, NR, x, w_ih0, w_ih,
           w_hh, bias, b_hh, h, c, gi, gh, ghn, out):
    """The partner's loop (``_partner``): share 1 of 2 of each step claimed, until it has
    waited ``spin_ns`` for one; returns the steps it has seen."""
    state = ctrl_array(ctrl)
    while wait_call(state, seen, spin_ns):
        seen += 1
        _step_share(1, 2, ctrl, cell, relu, hard, after, zero, L, B, I, H, G, NR, x, w_ih0,
                    w_ih, w_hh, bias, b_hh, h, c, gi, gh, ghn, out)
        done(state)
    return seen


def _entry(kernel, args):
    """``kernel``'s compiled entry point for ``args``: a call through it skips the type
    dispatch, whose cost is most of a small step. Compiles, or loads from the cache."""
    return kernel.compile(tuple(numba.typeof(a) for a in args))


class Stepper:
    """The buffers and the compiled call of one stream.

    ``layers``: per layer (w_ih, w_hh, b_ih, b_hh[, w_hr]) of ``cell`` (a ``fastrnn.cells``
    name) with ``options`` (``fastrnn.cells.Options``); B rows, I inputs, H units, P = H or
    the LSTM's projection size, ``dtype``. The weights are copied. ``x`` (B,I) is the frame
    to read, ``out`` (B,P) the top layer's new h after ``step()``; ``h`` (L,B,P) and ``c``
    (L,B,H; last axis 0 but for the LSTM) the state, updated in place.

    ``partner``: whether steps may be split with a partner thread (``_partner``), decided
    here: two threads or more (``fastrnn.get_num_threads()``), B ≤ CPU_UNITS_MAX_B,
    H ≥ CPU_STREAM_SPLIT_MIN_H, no projection, and not the GRU without reset_after."""

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
        bias = np.stack([decl.fold_bias(bi, bh, options) for bi, bh in zip(b_ih, b_hh)])
        b_hh, ghn = np.stack(b_hh), np.zeros((B, H), dt)
        # every buffer the kernel reads or writes, owned here (contiguous; the kernel takes
        # their addresses): weights copied as panels, the state, scratch
        self._buffers = [
            self.x, pack(w_ih[0], 0, GH), panels(w_ih[1:], 0, GH, P), panels(w_hh, 0, q0, P),
            panels(w_hh, q0, GH, P), panels(w_hr if P != H else [], 0, P, H), bias, b_hh,
            self.h, self.c, np.zeros((B, GH + NR), dt), np.zeros((B, GH + NR), dt),
            np.zeros((B, H), dt), np.zeros((B, P + NR), dt), ghn, self.out]
        head = (kind, *_flags(options), dt.type(0), L, B, I, H)
        self._args = (*head, P, G, NR, q0, *(a.ctypes.data for a in self._buffers))
        self._entry = None
        self.partner = (get_num_threads() >= 2 and B <= config.CPU_UNITS_MAX_B and P == H
                        and q0 == GH and H >= config.CPU_STREAM_SPLIT_MIN_H)
        if self.partner:
            def share_buffers(p):
                """Share p's own: its units' rows of W_ih and W_hh, packed; gi, gh scratch."""
                j0, j1 = share(p, 2, H)
                units = [np.stack([pack_units(w, G, H, j0, j1) for w in ws]) if ws else
                         np.zeros((0, G * n_panels(j1 - j0, NR), H, NR), dt)
                         for ws in (w_ih[1:], w_hh)]
                s = n_panels(j1 - j0, NR) * NR
                return [pack_units(w_ih[0], G, H, j0, j1), *units,
                        np.zeros((B, G * s + NR), dt), np.zeros((B, G * s + NR), dt)]
            own = [share_buffers(p) for p in range(2)]

            def share_args(p):
                w0, w, wh, gi, gh = (a.ctypes.data for a in own[p])
                return (*head, G, NR, self.x.ctypes.data, w0, w, wh, bias.ctypes.data,
                        b_hh.ctypes.data, self.h.ctypes.data, self.c.ctypes.data, gi, gh,
                        ghn.ctypes.data, self.out.ctypes.data)
            self._own, self._share_args = own, [share_args(p) for p in range(2)]

    def step(self):
        """One step of every layer: reads ``x``, updates ``h`` and ``c``, writes ``out``."""
        entry = self._entry
        if entry is None:
            self._compile()
            entry = self._entry
        partner = self._partner
        if partner is not None and partner.claim():
            self._share_entry(0, 2, partner.address, *self._share_args[0])
        else:
            entry(*self._args)
            if partner is not None:
                partner.wake()

    def _compile(self):
        """Compile the step (or load it from the cache), and the split step and the
        partner when there is one, which starts asleep."""
        self._partner = None
        if self.partner:
            self._share_entry = _entry(_step_share, (0, 2, 0, *self._share_args[0]))
            _entry(_serve, (0, 0, 0, *self._share_args[1]))
            self._partner = Partner(_serve, self._share_args[1], (self._buffers, self._own))
        self._entry = _entry(_step, self._args)
