"""The time loops of the cpu backend: serial, GIL-free kernels, one share of the work each.

``_pool.run(kernel, parts, ...)`` calls ``kernel(p, parts, go, ...)`` on
``parts`` threads at once; each kernel begins with ``_sync.let_go(p, go)``.
Every product runs in our microkernel on operands packed once per call or per
chunk (``_tile.matmul``, ``matmul_t``, ``pack``):
the input projection, the per-step recurrent products, and the weight
gradients; no BLAS is called.

The time loops are compiled per cell (``specialize``: closures over the cell,
the GRU's reset_after, a projection and, for tanh and σ, the activations as
constants), each with its cell's gate kernel alone; the helpers they call are
shared. Forward variants (``fastrnn.config.CPU_VARIANT``):

- ``forward_batch`` ("batch"): share p is batch rows [p·B/parts, (p+1)·B/parts). It
  runs all T steps of its rows: the input projection x W_ihᵀ in chunks of
  steps, then per step gh = h W_hhᵀ and the fused gate kernel of each row. The
  driver packs the weights once; no synchronisation between steps: a descheduled
  thread delays only its own rows.
- ``forward_units`` ("units"): share p is hidden units [p·H/parts, (p+1)·H/parts) of
  every gate block. It packs its own units' rows of W_ih and W_hh (they stay in
  its core's cache); per chunk of steps it projects its own gate columns; per
  step it computes its columns of h W_hhᵀ and the gates of its units, writes its
  slice of h_t, and meets the others at a barrier (``_sync.arrive``). For small
  B, where a step is a matrix-vector product.

Backward: ``backward_batch`` splits the reverse walk by batch rows (per step
the gate gradients of each row, then dh += dgh W_hh on packed W_hhᵀ). When
every thread has rows of its own it is ``fused``: each chunk of steps (about
``chunk_rows`` rows) ends with ``chunk_grads``, which adds that chunk's
dW_ih = daᵀ x, dW_hh = dghᵀ h_{t-1}, db = Σ da (and dW_hr) to the share's own
partial sums, and ``chunk_dx`` its rows of dx = da W_ih, while da is still in the
core's cache; da is never whole. With fewer rows than threads (and "units",
as the forward's) ``backward_units`` splits the walk by hidden units instead:
per step each share the gate gradients of its units, one barrier, then its
columns of dh += dgh W_hh. Either unfused walk keeps da (T,B,G·H), and
``weight_grads`` runs after it on every thread: each its own gate rows of the
weight gradients (``chunk_grads``) and its own steps of dx (``chunk_dx``). The
driver adds the partials.

Arrays (C-contiguous unless said; G gate blocks; T' = T when training, else 1;
P = H but for the LSTM's projection; NR the panels' width, ``_tile``):

    x (T,B,I)    w_ih (G·H,I)    w_hh (G·H,P)    panels (NP,K,NR) from ``_tile.pack``
    bias, b_hh (G·H,) as in ``_cells``    h0 (B,P)    c0 (B,H) LSTM, else (B,0)
    lengths (B,) int64     y (T,B,P) out     h_T, c_T like h0, c0: out
    tape: written when training (``specialize``'s train); otherwise hs, cs have no rows,
    ms none, and gates, ghn one step of scratch (the LSTM's gate kernel writes its gates):
      hs (T+1,B,P) the state entering each step, hs[T] the final one; cs likewise (LSTM)
      gates (T',B,G·H) the gates after their nonlinearity (RNN: last axis 0)
      ghn (T',B,H) GRU h W_hnᵀ + b_hn (without reset_after: r ⊙ h), else last axis 0
      ms (T,B,H) the LSTM's m = o ⊙ act(c) with a projection, else no rows
    chunk_rows: ``fastrnn.config.CPU_CHUNK_ROWS``
    scratch that ``matmul`` writes has NR columns of room after its last one (``padded``)
"""
import functools
from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from ._cells import (GRU, JIT, LSTM, backward_row, gru_back_before, gru_back_reset, gru_reset,
                     gru_units, lstm_units, rnn_units)
from ._sync import arrive, let_go
from ._tile import any_layout, matmul, matmul_t, n_panels, pack_into, panel_width


@intrinsic
def runtime(typingctx, v):
    """v as a run-time value of its type (int64 for a constant 0, not ``Literal[int](0)``):
    Numba compiles a function called with a constant in one place and a variable in another
    twice, once for the literal, and with it all that the function calls again. (So every
    ``matmul`` of the batch loops and the backward passes its ``rev`` as a run-time bool.)"""
    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)

    return types.unliteral(v)(v), codegen


@njit(inline="always", **JIT)
def share(p, parts, n):
    """[start, stop) of share p of n items split in ``parts``."""
    return p * n // parts, (p + 1) * n // parts


@njit(**JIT)
def copy(dst, src):
    """dst[...] = src for 2-D arrays of one shape (an explicit loop: slice assignment would
    compile Numba's shape-mismatch error formatting, seconds of cold start)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@njit(**JIT)
def copy_row(dst, src):
    """dst[:] = src for 1-D arrays of one length (see ``copy``)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@njit(inline="always", **JIT)
def add_row(dst, src):
    """dst += src for 1-D arrays of one length."""
    for j in range(src.shape[0]):
        dst[j] += src[j]


@njit(inline="always", **JIT)
def padded(rows, cols, like):
    """An (rows, cols + NR) scratch array of like's dtype: room for ``matmul``'s last panel."""
    return np.empty((rows, cols + panel_width(like)), like.dtype)


@njit(**JIT)
def gather(x, t0, t1, b0, b1, xc):
    """xc[(t − t0)·n + b] = x[t, b0 + b] for steps [t0, t1) of rows [b0, b1) (n = b1 − b0);
    returns those (t1 − t0)·n rows of xc: a chunk's inputs as one matrix, in gi's row order,
    so that the input projection is one ``matmul`` per chunk, which reads each block of
    W_ih's panels once for all the chunk's rows (a product per row, or per step, read the
    whole of W_ih again for each)."""
    n = b1 - b0
    for t in range(t0, t1):
        copy(xc[(t - t0) * n:(t - t0 + 1) * n], x[t, b0:b1])
    return xc[:(t1 - t0) * n]


@njit(**JIT)
def pack_units(w, G, H, j0, j1):
    """Units [j0, j1) of each of w's G gate blocks as one array of panels (G·NP, K, NR), gate
    block g's in panels [g·NP, (g + 1)·NP): a share's own slice of W_ih or W_hh, packed by
    the share itself (into its own core's cache). One product by them writes all the
    share's gate columns, block g's at [g·s, g·s + j1 − j0) (s = NP·NR, ``_cells``)."""
    nr = panel_width(w)
    npu = n_panels(j1 - j0, nr)
    out = np.empty((G * npu, w.shape[1], nr), w.dtype)
    for g in range(G):
        pack_into(w, g * H + j0, g * H + j1, out[g * npu:(g + 1) * npu])
    return out


@njit(**JIT)
def add_product(a, panels, out, scratch, rev):
    """out += a · panelsᵀ (``matmul`` into scratch, then added: out has no padding); ``rev``:
    the panels last to first (``matmul``: a time loop alternates it)."""
    matmul(a, panels, scratch, 0, False, rev)
    for b in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[b, j] += scratch[b, j]


@njit(inline="always", **JIT)
def chunk_steps(T, n, chunk_rows):
    """Steps per chunk of a share of n batch rows: about ``chunk_rows`` rows, at least 8 steps."""
    return max(1, min(T, max(8, chunk_rows // max(n, 1))))


@njit(**JIT)
def pack_steps(src, ta, tb, b0, b1, buf):
    """Steps [ta, tb) of batch rows [b0, b1) of src (T, B, C) as panels (NP, S·n, NR) in buf's
    first elements (S = tb − ta, n = b1 − b0): panel row k is src[ta + k // n, b0 + k % n]
    (0 past C). The K operand of a weight gradient over a chunk's rows.

    src is the whole array, not a view of the chunk: the rows of a view sliced on two axes
    have a stride Numba cannot know to be 1, and the copy ran one element at a time: 60 µs
    instead of 10 for a 16-step chunk of 16 rows of 256, and 6 % of the samples of an LSTM
    backward at 100,16,256,256 on one thread, its largest cost outside the microkernel."""
    C = src.shape[2]
    S, n = tb - ta, b1 - b0
    nr = panel_width(buf)
    NP = n_panels(C, nr)
    out = buf[:NP * S * n * nr].reshape((NP, S * n, nr))
    for p in range(NP):
        c0 = p * nr
        m = min(nr, C - c0)
        for s in range(S):
            for b in range(n):
                line, seg = out[p, s * n + b], src[ta + s, b0 + b, c0:c0 + m]
                for j in range(m):
                    line[j] = seg[j]
                for j in range(m, nr):
                    line[j] = 0
    return out


@njit(**JIT)
def chunk_grads(ta, tb, b0, b1, g0, g1, q0, x, hs, hq, ms, dar, dghr, dhsr, dwi, dwh, dwr, dbi,
                dbh, buf):
    """Rows [g0, g1) of the weight gradients of steps [ta, tb) of batch rows [b0, b1), added to
    partial sums.

    Row k of dar, dghr (K, G·H) and dhsr (K, P), K = (tb − ta)·n, is (t, b) = (ta + k // n,
    b0 + k % n): da, dgh and the projection's dh_t (no columns without one). The partials
    have NR columns of room (``matmul_t`` writes whole panels) and are added to, in rows
    [g0, g1) (dwr: in all its rows, when g0 = 0):

        dwi (G·H, ≥ I)  += darᵀ x            dbi (G·H,) += Σ_k dar
        dwh (G·H, ≥ P)  += dghrᵀ h_{t-1}     dbh (G·H,) += Σ_k dghr
           rows ≥ q0: darᵀ q, Σ_k dar        (the GRU without reset_after: q = r ⊙ h_{t-1},
                                              hq = the tape's ghn; else hq is hs)
        dwr (P, ≥ H)    += dhsrᵀ m           (the projection: m the tape's ms)

    buf: flat scratch for the panels of one operand at a time (``pack_steps``)."""
    if (tb - ta) * (b1 - b0) == 0 or g1 <= g0:
        return
    q = min(max(q0, g0), g1)
    matmul_t(dar[:, g0:g1], pack_steps(x, ta, tb, b0, b1, buf), dwi[g0:g1], 0, True)
    matmul_t(dghr[:, g0:q], pack_steps(hs, ta, tb, b0, b1, buf), dwh[g0:q], 0, True)
    if q < g1:
        matmul_t(dar[:, q:g1], pack_steps(hq, ta, tb, b0, b1, buf), dwh[q:g1], 0, True)
    if dhsr.shape[1] > 0 and g0 == 0:
        matmul_t(any_layout(dhsr), pack_steps(ms, ta, tb, b0, b1, buf), dwr, 0, True)
    # on 1-D views from 0 (offset indices would keep LLVM from vectorising, ``_cells``)
    bi, bh, bq = dbi[g0:g1], dbh[g0:q], dbh[q:g1]
    for k in range(dar.shape[0]):
        add_row(bi, dar[k, g0:g1])
        add_row(bh, dghr[k, g0:q])
        add_row(bq, dar[k, q:g1])


@njit(**JIT)
def chunk_dx(ta, tb, b0, b1, dar, witp, dx, dxs):
    """dx[t, b] = dar[k] W_ih for the rows of a chunk (as in ``chunk_grads``); witp the panels
    of W_ihᵀ, dxs (≥ K, ≥ NP·NR) scratch."""
    n = b1 - b0
    matmul(dar, witp, dxs, 0, False, runtime(False))
    for k in range(dar.shape[0]):
        row, xrow = dxs[k], dx[ta + k // n, b0 + k % n]
        for j in range(xrow.shape[0]):
            xrow[j] = row[j]


@njit(**JIT)
def weight_grads(p, parts, go, q0, x, hs, hq, ms, da, dgh, dhs, witp, dx, dwi, dwh, dwr, dbi, dbh,
                 steps, bufs, dxss):
    """Share p of the weight gradients after an unfused reverse walk (fewer batch rows than
    threads): rows [p·G·H/parts, (p+1)·G·H/parts) of dW_ih, dW_hh, db (dW_hr: share 0) over
    every step, and dx of steps [p·T/parts, (p+1)·T/parts), in chunks of ``steps`` steps;
    the shares write disjoint rows of dwi[0], dwh[0], dwr[0], dbi[0], dbh[0]. da, dgh
    (T,B,G·H) and dhs (T,B,P or 0) as the walk wrote them. bufs[p], dxss[p]: this share's
    ``chunk_grads`` and ``chunk_dx`` scratch for chunks of steps·B rows (the driver's)."""
    let_go(p, go)
    T, B, GH = da.shape
    g0, g1 = share(p, parts, GH)
    t0, t1 = share(p, parts, T)
    buf, dxs = bufs[p], dxss[p]
    proj = dhs.shape[0] > 0
    for ta in range(0, T, steps):
        tb = min(T, ta + steps)
        K = (tb - ta) * B
        chunk_grads(ta, tb, runtime(0), B, g0, g1, q0, x, hs, hq, ms, da[ta:tb].reshape(K, GH),
                    dgh[ta:tb].reshape(K, GH),
                    dhs[ta:tb].reshape(K if proj else 0, dhs.shape[2] if proj else 0),
                    dwi[0], dwh[0], dwr[0], dbi[0], dbh[0], buf)
    for ta in range(t0, t1, steps):
        tb = min(t1, ta + steps)
        chunk_dx(ta, tb, runtime(0), B, da[ta:tb].reshape((tb - ta) * B, GH), witp, dx, dxs)


#: one cell's compiled time loops (``specialize``)
Loops = namedtuple("Loops", "forward_batch forward_units backward_batch backward_units")


@functools.cache
def specialize(cell, after, defaults, train, proj):
    """The time loops compiled for one cell (RNN, LSTM, GRU), its reset_after (``after``, the
    GRU's; pass True for the others), with ``defaults``, act = tanh and σ = the sigmoid
    as constants (the kernels' relu and hard arguments are then ignored), and ``train``:
    the forward writes the tape (else hs, cs, gates, ghn, ms are scratch it need not
    write, and its GRU and RNN gate kernels store no gates: ``_cells``). The backward is
    that of ``train``. ``proj``: the LSTM has a projection (W_hr): without one, the batch
    loops hold no code of it.

    Each combination is its own Numba function (a closure over these constants, cached on
    disk by them), so a call compiles only the code of its own cell: the other cells (each
    loop calls its cell's gate kernel on the constant cell: the other two are pruned before
    they are inlined), the GRU's reset-before path, a projection, and run-time activation
    flags (which keep LLVM from vectorising the gate loops) are not in it. Every level of
    calls between a loop and its kernels would compile those kernels again, so there is no
    wrapper."""
    CELL, AFTER, DEFAULTS, TRAIN, PROJ = cell, after, defaults, train, proj
    # the GRU without reset_after: a step's product in two, around q = r ⊙ h_{t-1}
    BEFORE = cell == GRU and not after

    @njit(**JIT)
    def forward_batch(p, parts, go, relu, hard, x, wip, whp, wnp, wrp, bias, b_hh, h0, c0,
                      lengths, y, h_T, c_T, hs, cs, gates, ghn, ms, steps, gis, xcs):
        """Share p of the "batch" forward: every step of batch rows [b0, b1).

        wip, whp, wnp, wrp: the packed panels (``_tile.pack``) of W_ih, of W_hh's rows [0, q0)
        and [q0, G·H), and of W_hr (P,H). q0 = G·H (wnp has no panels) except for the GRU
        without reset_after, which splits a step's product in two: gh's r and z blocks, then
        q = r ⊙ h_{t-1} of every row (``gru_reset``), then gh's n block = q W_hnᵀ (q0 = 2H).
        The LSTM with a projection (wrp has panels) writes m = o ⊙ act(c) of every row, then
        h = m W_hrᵀ (and m into the tape's ms).

        The input projection runs per chunk of ``steps`` steps (``chunk_steps`` of the
        largest share), into this share's own scratch gis[p] (≥ steps·n, G·H + NR) and its
        gathered inputs into xcs[p] (≥ steps·n, I): the driver's recycled memory, which a
        call does not fault in afresh."""
        let_go(p, go)
        if DEFAULTS:
            relu, hard = False, False
        T, B, P = y.shape
        GH = bias.shape[0]
        proj = PROJ
        H = wrp.shape[1] if proj else P     # W_hr's panels are (NP, H, NR)
        b0, b1 = share(p, parts, B)
        n = b1 - b0
        if n == 0:
            return
        h, c = h0[b0:b1].copy(), c0[b0:b1].copy()
        hn = np.empty((n, H), y.dtype)
        hq = padded(n, P if proj else 0, y)
        gh = padded(n, GH, y)
        q = np.empty((n, H if BEFORE else 0), y.dtype)
        gi, xc = gis[p, :steps * n], xcs[p, :steps * n]
        for t0 in range(0, T, steps):
            t1 = min(T, t0 + steps)
            matmul(gather(x, t0, t1, b0, b1, xc), wip, gi, 0, False, runtime(False))
            for t in range(t0, t1):
                if TRAIN:
                    copy(hs[t, b0:b1], h)
                    copy(cs[t, b0:b1], c)
                # gh = h_{t-1} W_hhᵀ, then the fused gate kernel of every row
                tt = t if TRAIN else 0
                matmul(h, whp, gh, 0, False, t % 2 == 1)
                if BEFORE:
                    for b in range(n):
                        gru_reset(hard, gi[(t - t0) * n + b], gh[b], bias, h[b], q[b])
                        if TRAIN:
                            copy_row(ghn[tt, b0 + b], q[b])
                    matmul(q, wnp, gh, 2 * H, False, t % 2 == 1)
                for b in range(n):
                    if t < lengths[b0 + b]:
                        a, g = gi[(t - t0) * n + b], gates[tt, b0 + b]
                        if CELL == LSTM:
                            lstm_units(relu, hard, True, 0, H, a, gh[b], H, bias, hn[b], c[b], g)
                        elif CELL == GRU:
                            gru_units(relu, hard, AFTER, TRAIN, 0, H, a, gh[b], H, bias, b_hh,
                                      h[b], hn[b], g, ghn[tt, b0 + b])
                        else:
                            rnn_units(relu, 0, H, a, gh[b], H, bias, hn[b])
                if proj:
                    # h = m W_hrᵀ (every row: a finished one's is not used)
                    matmul(hn, wrp, hq, 0, False, t % 2 == 1)
                for b in range(n):
                    if t < lengths[b0 + b]:
                        if proj:
                            if TRAIN:
                                copy_row(ms[t, b0 + b], hn[b])
                            copy_row(h[b], hq[b, :P])
                        else:
                            copy_row(h[b], hn[b])
                        copy_row(y[t, b0 + b], h[b])
                    else:
                        # a finished sequence outputs zeros and keeps its state; its m is 0
                        # (dW_hr's products read every row of ms)
                        y[t, b0 + b] = 0
                        if proj and TRAIN:
                            ms[t, b0 + b] = 0
        if TRAIN:
            copy(hs[T, b0:b1], h)
            copy(cs[T, b0:b1], c)
        copy(h_T[b0:b1], h)
        copy(c_T[b0:b1], c)

    @njit(**JIT)
    def forward_units(p, parts, go, relu, hard, x, w_ih, w_hh, bias, b_hh, h0, c0,
                      lengths, y, h_T, c_T, hs, cs, gates, ghn, chunk_rows, hbuf, c, counter):
        """Share p of the "units" forward: hidden units [j0, j1) of every step (not for the GRU
        without reset_after, whose n block needs every unit's r first, nor for a projection).

        The share packs its own units' rows of W_ih and W_hh (``pack_units``) and keeps its
        own gi, gh: memory of its own, not the driver's recycled memory (``_buffers``), which
        at B = 1 cost 10-16 µs a call more (three more blocks to find, four more arguments)
        than malloc's reuse of these few hundred KB. Shared workspace (every share writes
        only its units' columns, but reads all of h): hbuf (2,B,H) h_{t-1} and h_t by the
        parity of t; c (B,H or 0) the LSTM state; counter int64 (1,) zero at the start: the
        barrier's."""
        let_go(p, go)
        if DEFAULTS:
            relu, hard = False, False
        T, B, H = y.shape
        GH = bias.shape[0]
        G = GH // H
        j0, j1 = share(p, parts, H)
        copy(hbuf[0, :, j0:j1], h0[:, j0:j1])
        copy(c[:, j0:j1], c0[:, j0:j1])
        wiu, whu = pack_units(w_ih, G, H, j0, j1), pack_units(w_hh, G, H, j0, j1)
        s = whu.shape[0] // G * whu.shape[2]      # the width of a gate block's panels
        steps = chunk_steps(T, B, chunk_rows)
        gi, gh = padded(steps * B, G * s, y), padded(B, G * s, y)
        xc = np.empty((steps * B, x.shape[2]), x.dtype)
        k = 1
        arrive(counter, parts * k)    # h0 is whole before anyone reads it
        for t0 in range(0, T, steps):
            t1 = min(T, t0 + steps)
            # this share's gate columns of gi = x W_ihᵀ for steps [t0, t1)
            if j1 > j0:
                matmul(gather(x, t0, t1, runtime(0), B, xc), wiu, gi, 0, False)
            for t in range(t0, t1):
                h, hn = hbuf[t % 2], hbuf[(t + 1) % 2]
                if TRAIN:
                    copy(hs[t, :, j0:j1], h[:, j0:j1])
                    copy(cs[t, :, j0:j1], c[:, j0:j1])
                tt = t if TRAIN else 0
                # this share's columns of gh = h_{t-1} W_hhᵀ (every row: finished ones are unused)
                if j1 > j0:
                    matmul(h, whu, gh, 0, False)
                for b in range(B):
                    if t < lengths[b]:
                        # the gates of this share's units
                        a, g = gi[(t - t0) * B + b], gates[tt, b]
                        if CELL == LSTM:
                            lstm_units(relu, hard, True, j0, j1, a, gh[b], s, bias, hn[b], c[b],
                                       g)
                        elif CELL == GRU:
                            gru_units(relu, hard, AFTER, TRAIN, j0, j1, a, gh[b], s, bias, b_hh,
                                      h[b], hn[b], g, ghn[tt, b])
                        else:
                            rnn_units(relu, j0, j1, a, gh[b], s, bias, hn[b])
                        copy_row(y[t, b, j0:j1], hn[b, j0:j1])
                    else:
                        copy_row(hn[b, j0:j1], h[b, j0:j1])
                        y[t, b, j0:j1] = 0
                k += 1
                arrive(counter, parts * k)    # h_t is whole before step t + 1 reads it
        h = hbuf[T % 2]
        if TRAIN:
            copy(hs[T, :, j0:j1], h[:, j0:j1])
            copy(cs[T, :, j0:j1], c[:, j0:j1])
        copy(h_T[:, j0:j1], h[:, j0:j1])
        copy(c_T[:, j0:j1], c[:, j0:j1])

    @njit(**JIT)
    def backward_batch(p, parts, go, relu, hard, whtp, wntp, wrtp, hs, cs, gates, ghn,
                       lengths, dy, dh_T, dc_T, dh0, dc0, da, dgh, dhs, fused, steps, q0, x,
                       ms, witp, dx, dwi, dwh, dwr, dbi, dbh, bufs, dxss, da2s, dgh2s, dhs2s):
        """Share p of BPTT's reverse walk: batch rows [b0, b1). Fills their dh0 and dc0, and
        either their rows of da, dgh (T,B,G·H) and dhs (T,B,P), for ``weight_grads`` to use
        after, or, ``fused``, the weight gradients themselves: per chunk of ``steps`` steps
        (T when not fused) the walk writes da, dgh, dhs into its own scratch da2s[p],
        dgh2s[p] (the GRU's; no rows for the other cells, whose dgh is da) and dhs2s[p]
        (steps·n rows, n the largest share's rows), then ``chunk_grads`` adds the chunk's
        products to this share's partials dwi[p], dwh[p], dwr[p], dbi[p], dbh[p] while the
        chunk is in this core's cache, and ``chunk_dx`` writes its rows of dx (bufs[p],
        dxss[p]: their scratch); da, dgh, dhs then have no rows. Every scratch array is the
        driver's recycled memory, which a call does not fault in afresh.

        Packed panels (``_tile.pack``): whtp of W_hhᵀ (P,G·H), for dh += dgh W_hh; wntp of
        W_hnᵀ (H,H) for the GRU without reset_after (else no panels): its step has a product in
        the middle, dq = da_n W_hn (``gru_back_before``, then ``gru_back_reset``); wrtp of W_hrᵀ
        (H,P) for the LSTM with a projection (else no panels): per step dm = dh_t W_hr, and
        dh_t is kept for dW_hr; witp of W_ihᵀ (I,G·H) for dx."""
        let_go(p, go)
        if DEFAULTS:
            relu, hard = False, False
        T, B, H = dy.shape
        b0, b1 = share(p, parts, B)
        if b1 == b0:
            return
        GH = whtp.shape[1]
        dh, dc = dh_T[b0:b1].copy(), dc_T[b0:b1].copy()
        n = b1 - b0
        dhp = padded(n, H, dy)
        # the GRU without reset_after: da_n (contiguous) and dq = da_n W_hn
        dan = np.zeros((n, H if BEFORE else 0), dy.dtype)
        dq = padded(n, H if BEFORE else 0, dy)
        # a projection (H here is P; Hc the LSTM's units): dh_t, dm = dh_t W_hr, and a zero
        # carried dh for the cell's backward, which sees dm as its output gradient
        proj = PROJ
        Hc = dc.shape[1] if proj else 0
        dht = np.zeros((n, H if proj else 0), dy.dtype)
        dm, zero = padded(n, Hc, dy), np.zeros(Hc, dy.dtype)
        # what rows g ≥ q0 of dW_hh multiply (``chunk_grads``)
        hq = ghn if q0 < GH else hs
        # where step t, row b0 + b goes: row (t − base)·rs + off + b of da2, dgh2, dhs2
        # (this share's chunk scratch when fused, else da, dgh, dhs themselves)
        buf, dxs = bufs[p], dxss[p]
        if fused:
            rs, off = n, 0
            da2 = da2s[p]
            dgh2 = dgh2s[p] if CELL == GRU else da2
            dhs2 = dhs2s[p]
        else:
            rs, off = B, b0
            da2, dgh2 = da.reshape(T * B, GH), dgh.reshape(T * B, GH)
            dhs2 = dhs.reshape(T * B if proj else 0, H if proj else 0)
        tb = T
        while tb > 0:
            ta = max(0, tb - steps)
            base = ta if fused else 0
            for t in range(tb - 1, ta - 1, -1):
                r0 = (t - base) * rs + off
                if proj:
                    # dh_t = dh + dy[t] (kept for dW_hr); dm = dh_t W_hr; then the cell with dm
                    for b in range(n):
                        if t < lengths[b0 + b]:
                            for j in range(H):
                                dht[b, j] = dh[b, j] + dy[t, b0 + b, j]
                                dh[b, j] = 0
                        else:
                            dht[b] = 0
                        copy_row(dhs2[r0 + b], dht[b])
                    matmul(dht, wrtp, dm, 0, False, t % 2 == 1)
                    for b in range(n):
                        bb = b0 + b
                        if t < lengths[bb]:
                            backward_row(CELL, relu, hard, runtime(0), Hc, gates[t, bb],
                                         cs[t + 1, bb], cs[t, bb], ghn[t, bb], hs[t, bb],
                                         hs[t + 1, bb], dm[b], zero, dc[b], da2[r0 + b],
                                         dgh2[r0 + b])
                        else:
                            da2[r0 + b] = 0
                    add_product(da2[r0:r0 + n], whtp, dh, dhp, t % 2 == 1)
                    continue
                if BEFORE:
                    for b in range(n):
                        bb = b0 + b
                        if t < lengths[bb]:
                            gru_back_before(relu, gates[t, bb], hs[t, bb], dy[t, bb], dh[b],
                                            da2[r0 + b], dgh2[r0 + b])
                            copy_row(dan[b], da2[r0 + b, 2 * H:])
                        else:
                            da2[r0 + b] = 0
                            dgh2[r0 + b] = 0
                            dan[b] = 0
                    matmul(dan, wntp, dq, 0, False, t % 2 == 1)
                    for b in range(n):
                        if t < lengths[b0 + b]:
                            gru_back_reset(hard, gates[t, b0 + b], hs[t, b0 + b], dq[b], dh[b],
                                           da2[r0 + b], dgh2[r0 + b])
                else:
                    for b in range(n):
                        bb = b0 + b
                        if t < lengths[bb]:
                            backward_row(CELL, relu, hard, runtime(0), H, gates[t, bb],
                                         cs[t + 1, bb], cs[t, bb], ghn[t, bb], hs[t, bb],
                                         hs[t + 1, bb], dy[t, bb], dh[b], dc[b], da2[r0 + b],
                                         dgh2[r0 + b])
                        else:
                            # a finished step passes dh, dc through
                            da2[r0 + b] = 0
                            dgh2[r0 + b] = 0
                # dL/dh_{t-1} += dgh_t W_hh
                add_product(dgh2[r0:r0 + n], whtp, dh, dhp, t % 2 == 1)
            if fused:
                K = (tb - ta) * n
                chunk_grads(ta, tb, b0, b1, runtime(0), GH, q0, x, hs, hq, ms, da2[:K], dgh2[:K],
                            dhs2[:K], dwi[p], dwh[p], dwr[p], dbi[p], dbh[p], buf)
                chunk_dx(ta, tb, b0, b1, da2[:K], witp, dx, dxs)
            tb = ta
        copy(dh0[b0:b1], dh)
        copy(dc0[b0:b1], dc)

    @njit(**JIT)
    def backward_units(p, parts, go, relu, hard, whtp, hs, cs, gates, ghn, lengths, dy, dh_T,
                       dc_T, dh0, dc0, da, dgh, counter):
        """Share p of BPTT's reverse walk split by hidden units, for batches smaller than the
        threads (where ``backward_batch`` would leave threads idle): units [j0, j1) of every
        row, whole panels of whtp (NR units each; a share may have none). Not for the GRU
        without reset_after (its step's product in the middle needs every unit's da_n) nor
        for a projection.

        Per step the share writes its units' columns of every gate block of da and dgh
        (T,B,G·H, kept: ``weight_grads`` follows), meets the others at a barrier
        (``_sync.arrive``; counter int64 (1,) zero at the start), then adds its columns of
        dgh_t W_hh to its dh. That is the only barrier of a step: the next step's gate
        gradients of its units need only its own columns of dh and dc, and every step writes
        rows of da and dgh of its own. Its dh, dc (B,H) are its own; it writes its columns of
        dh0, dc0."""
        let_go(p, go)
        if DEFAULTS:
            relu, hard = False, False
        T, B, H = dy.shape
        NP, nr = whtp.shape[0], whtp.shape[2]
        q0, q1 = share(p, parts, NP)
        j0, j1 = min(H, q0 * nr), min(H, q1 * nr)
        G = whtp.shape[1] // H
        dh, dc = dh_T.copy(), dc_T.copy()
        dhp = padded(B, H, dy)
        k = 0
        for t in range(T - 1, -1, -1):
            for b in range(B):
                if t < lengths[b]:
                    backward_row(CELL, relu, hard, j0, j1, gates[t, b], cs[t + 1, b], cs[t, b],
                                 ghn[t, b], hs[t, b], hs[t + 1, b], dy[t, b], dh[b], dc[b],
                                 da[t, b], dgh[t, b])
                else:
                    # a finished step passes dh, dc through
                    for g in range(G):
                        da[t, b, g * H + j0:g * H + j1] = 0
                        dgh[t, b, g * H + j0:g * H + j1] = 0
            k += 1
            arrive(counter, parts * k)      # every unit's column of dgh_t is written
            if j1 > j0:
                # dL/dh_{t-1}[:, j0:j1] += dgh_t W_hh[:, j0:j1]
                add_product(dgh[t], whtp[q0:q1], dh[:, j0:j1], dhp, t % 2 == 1)
        copy(dh0[:, j0:j1], dh[:, j0:j1])
        copy(dc0[:, j0:j1], dc[:, j0:j1])

    return Loops(forward_batch, forward_units, backward_batch, backward_units)
