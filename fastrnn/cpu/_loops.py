"""The time loops of the cpu backend: serial, GIL-free kernels, one share of the work each.

``_pool.run(kernel, parts, ...)`` calls ``kernel(p, parts, ...)`` on
``parts`` threads at once. The per-step products are ``dots`` (register-tiled
dot products on the weights as they lie); the big ones (the input projection,
the weight gradients) are single-threaded BLAS calls (``_blas.gemm``), each
made by one thread on its own share.

Forward variants (``fastrnn.config.CPU_VARIANT``):

- ``forward_batch`` ("batch"): share p is batch rows [p·B/parts, (p+1)·B/parts). It
  runs all T steps of its rows: the input projection x W_ihᵀ in chunks of
  steps (BLAS), then per step gh = h W_hhᵀ (``dots``) and the fused gate kernel
  of each row. No synchronisation between steps: a descheduled thread delays only its
  own rows.
- ``forward_units`` ("units"): share p is hidden units [p·H/parts, (p+1)·H/parts) of
  every gate block. Per chunk of steps it projects its own gate columns; per
  step it computes its columns of h W_hhᵀ (``dots``; its slice of W_hh stays
  in its core's cache) and the gates of its units, writes its slice of h_t,
  and meets the others at a barrier (``_sync.arrive``). For small B, where a
  step is a matrix-vector product.

Backward: ``backward_batch`` splits the reverse walk by batch rows (per step
the gate gradients of each row, then dh += dgh W_hh with ``dots``);
``weight_grads`` then gives each thread a share of dx = da W_ih (rows of T·B),
dW_ih = daᵀ x, dW_hh = dghᵀ h_prev and db = Σ da (rows of G·H).

Arrays (C-contiguous unless said; G gate blocks; T' = T when training, else 1):

    x2 (T·B,I) x as rows    w_ih (G·H,I)    w_hh (G·H,H)    w_hh_t (H,G·H) = W_hhᵀ (backward)
    bias, b_hh (G·H,) as in ``_cells``    h0 (B,H)    c0 (B,H) LSTM, else (B,0)
    lengths (B,) int64     y (T,B,H) out     h_T, c_T like h0, c0: out
    tape: written when training; otherwise hs, cs have T + 1 = 0 rows and the others
    are one step of scratch:
      hs (T+1,B,H) the state entering each step, hs[T] the final one; cs likewise (LSTM)
      gates (T',B,G·H) the gates after their nonlinearity (RNN: last axis 0)
      ghn (T',B,H) GRU h W_hnᵀ + b_hn, else last axis 0
    chunk_rows, blas_min_rows, dots_min_k: ``fastrnn.config.CPU_CHUNK_ROWS``, ``CPU_BLAS_MIN_ROWS``
    (or more than any batch on several threads), ``CPU_DOTS_MIN_K``
"""
import numpy as np
from numba import njit

from ._blas import gemm
from ._cells import (GRU, JIT, backward_row, forward_units as cell_units, gru_back_before,
                     gru_back_reset, gru_reset)
from ._math import one
from ._sync import arrive


@njit(**JIT)
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


@njit(**{**JIT, "fastmath": {"reassoc", "contract"}})
def dots(h, w, r0, r1, out, acc):
    """out[m, r] (+)= h[m] · w[r] for every row m of h and rows r in [r0, r1) of w: out = h wᵀ.

    Sixteen dot products at a time, four rows of w against four rows of h, their sums
    reassociated (each becomes a SIMD accumulator): every w and h element loaded feeds four
    multiply-adds, and w needs no packing, unlike BLAS, which packs it on every call (most
    of a small-batch step). The last M mod 4 rows of h take eight rows of w at a time; an
    edge tile of w repeats its last row (those results are not stored). ``acc``: add to
    out instead of overwriting it."""
    M, K = h.shape
    if M == 0 or r1 <= r0:
        return
    z = one(w[r0, 0]) - one(w[r0, 0])      # 0, whatever w holds (w − w is NaN for inf)
    M4 = M - M % 4
    for r in range(r0, r1, 4):
        w0, w1, w2, w3 = w[r], w[min(r + 1, r1 - 1)], w[min(r + 2, r1 - 1)], w[min(r + 3, r1 - 1)]
        for m in range(0, M4, 4):
            h0, h1, h2, h3 = h[m], h[m + 1], h[m + 2], h[m + 3]
            a0, a1, a2, a3, b0, b1, b2, b3 = z, z, z, z, z, z, z, z
            c0, c1, c2, c3, d0, d1, d2, d3 = z, z, z, z, z, z, z, z
            for k in range(K):
                x0, x1, x2, x3 = h0[k], h1[k], h2[k], h3[k]
                a0 += w0[k] * x0
                a1 += w0[k] * x1
                a2 += w0[k] * x2
                a3 += w0[k] * x3
                b0 += w1[k] * x0
                b1 += w1[k] * x1
                b2 += w1[k] * x2
                b3 += w1[k] * x3
                c0 += w2[k] * x0
                c1 += w2[k] * x1
                c2 += w2[k] * x2
                c3 += w2[k] * x3
                d0 += w3[k] * x0
                d1 += w3[k] * x1
                d2 += w3[k] * x2
                d3 += w3[k] * x3
            tile = ((a0, a1, a2, a3), (b0, b1, b2, b3), (c0, c1, c2, c3), (d0, d1, d2, d3))
            for j in range(min(4, r1 - r)):
                for i in range(4):
                    out[m + i, r + j] = tile[j][i] + (out[m + i, r + j] if acc else z)
    # the last M mod 4 rows of h (all of a matrix-vector product): eight rows of w against
    # one, eight independent sums (four would leave the multiply-adds waiting on each other)
    for m in range(M4, M):
        hm = h[m]
        for r in range(r0, r1, 8):
            w0, w1, w2, w3 = (w[r], w[min(r + 1, r1 - 1)], w[min(r + 2, r1 - 1)],
                              w[min(r + 3, r1 - 1)])
            w4, w5, w6, w7 = (w[min(r + 4, r1 - 1)], w[min(r + 5, r1 - 1)],
                              w[min(r + 6, r1 - 1)], w[min(r + 7, r1 - 1)])
            a0, a1, a2, a3, a4, a5, a6, a7 = z, z, z, z, z, z, z, z
            for k in range(K):
                x = hm[k]
                a0 += w0[k] * x
                a1 += w1[k] * x
                a2 += w2[k] * x
                a3 += w3[k] * x
                a4 += w4[k] * x
                a5 += w5[k] * x
                a6 += w6[k] * x
                a7 += w7[k] * x
            col = (a0, a1, a2, a3, a4, a5, a6, a7)
            for j in range(min(8, r1 - r)):
                out[m, r + j] = col[j] + (out[m, r + j] if acc else z)


@njit(**JIT)
def product(h, w, r0, r1, out, acc, blas_min_rows, dots_min_k):
    """out[:, r0:r1] (+)= h w[r0:r1]ᵀ: ``dots``, or BLAS where it is faster: at least
    ``blas_min_rows`` rows of h and an inner dimension below ``dots_min_k`` (there BLAS's
    packing of w is cheap beside its product; see ``fastrnn.config``)."""
    if h.shape[0] >= blas_min_rows and h.shape[1] < dots_min_k:
        gemm(False, True, h, w[r0:r1], out[:, r0:r1], 1 if acc else 0)
    else:
        # r0 + 0, acc == True: plain int64 and bool, not the literals some callers pass, so
        # every caller shares one compiled dots (each literal would compile its own)
        dots(h, w, r0 + 0, r1 + 0, out, acc == True)  # noqa: E712


@njit(**JIT)
def forward_batch(p, parts, cell, relu, hard, after, x2, w_ih, w_hh, w_hr, bias, b_hh, h0, c0,
                  lengths, y, h_T, c_T, hs, cs, gates, ghn, ms, chunk_rows, blas_min_rows,
                  dots_min_k):
    """Share p of the "batch" forward: every step of batch rows [b0, b1).

    The GRU without reset_after splits a step's product in two: gh's r and z blocks, then
    q = r ⊙ h_{t-1} of every row (``gru_reset``), then gh's n block = q W_hnᵀ. The LSTM
    with a projection (w_hr (P,H), not (0,0)) writes m = o ⊙ act(c) of every row, then
    h = m W_hrᵀ (and m into the tape's ms)."""
    T, B, P = y.shape
    proj = w_hr.shape[0] > 0
    H = w_hr.shape[1] if proj else P
    I = x2.shape[1]
    b0, b1 = share(p, parts, B)
    n = b1 - b0
    if n == 0:
        return
    train = hs.shape[0] > 0
    h, c = h0[b0:b1].copy(), c0[b0:b1].copy()
    hn = np.empty((n, H), y.dtype)
    hq = np.empty((n, P if proj else 0), y.dtype)
    ct = np.empty(H, y.dtype)
    gh = np.empty((n, w_hh.shape[0]), y.dtype)
    before = cell == GRU and not after
    q = np.empty((n, H if before else 0), y.dtype)
    steps = max(1, chunk_rows // n)
    gi = np.empty((min(steps, T) * n, w_hh.shape[0]), y.dtype)
    xb = np.empty((0 if n == B else gi.shape[0], I), y.dtype)
    for t0 in range(0, T, steps):
        t1 = min(T, t0 + steps)
        rows = (t1 - t0) * n
        # gi = x W_ihᵀ for steps [t0, t1) of these rows: one GEMM (all rows: x as it lies)
        if n == B:
            gemm(False, True, x2[t0 * B:t1 * B], w_ih, gi[:rows], 0)
        else:
            for t in range(t0, t1):
                copy(xb[(t - t0) * n:(t - t0 + 1) * n], x2[t * B + b0:t * B + b1])
            gemm(False, True, xb[:rows], w_ih, gi[:rows], 0)
        for t in range(t0, t1):
            if train:
                copy(hs[t, b0:b1], h)
                copy(cs[t, b0:b1], c)
            # gh = h_{t-1} W_hhᵀ, then the fused gate kernel of every row
            tt = min(t, gates.shape[0] - 1)
            if before:
                product(h, w_hh, 0, 2 * H, gh, False, blas_min_rows, dots_min_k)
                for b in range(n):
                    gru_reset(hard, gi[(t - t0) * n + b], gh[b], bias, h[b], q[b])
                    copy_row(ghn[tt, b0 + b], q[b])
                product(q, w_hh, 2 * H, 3 * H, gh, False, blas_min_rows, dots_min_k)
            else:
                product(h, w_hh, 0, w_hh.shape[0], gh, False, blas_min_rows, dots_min_k)
            for b in range(n):
                if t < lengths[b0 + b]:
                    cell_units(cell, relu, hard, after, 0, H, gi[(t - t0) * n + b], gh[b], bias,
                               b_hh, h[b], hn[b], c[b], gates[tt, b0 + b], ct, ghn[tt, b0 + b])
            if proj:
                # h = m W_hrᵀ (every row: a finished one's is not used)
                product(hn, w_hr, 0, P, hq, False, blas_min_rows, dots_min_k)
            for b in range(n):
                if t < lengths[b0 + b]:
                    if proj:
                        if train:
                            copy_row(ms[t, b0 + b], hn[b])
                        copy_row(h[b], hq[b])
                    else:
                        copy_row(h[b], hn[b])
                    copy_row(y[t, b0 + b], h[b])
                else:
                    # a finished sequence outputs zeros and keeps its state
                    y[t, b0 + b] = 0
    if train:
        copy(hs[T, b0:b1], h)
        copy(cs[T, b0:b1], c)
    copy(h_T[b0:b1], h)
    copy(c_T[b0:b1], c)


@njit(**JIT)
def forward_units(p, parts, cell, relu, hard, after, x2, w_ih, w_hh, w_hr, bias, b_hh, h0, c0,
                  lengths, y, h_T, c_T, hs, cs, gates, ghn, ms, chunk_rows, blas_min_rows,
                  dots_min_k, hbuf, c, ct, gh, gi, counter):
    """Share p of the "units" forward: hidden units [j0, j1) of every step (not for the GRU
    without reset_after, whose n block needs every unit's r first, nor for a projection:
    w_hr and ms are unused).

    Shared workspace (every share reads or writes only its units' columns, but h):
    hbuf (2,B,H) h_{t-1} and h_t by the parity of t; c, ct (B,H or 0) the LSTM state and
    c_t; gh (B,G·H); gi (rows,G·H) with rows ≥ min(T, chunk_rows // B)·B; counter int64 (1,)
    zero at the start: the barrier's."""
    T, B, H = y.shape
    G = w_hh.shape[0] // H
    j0, j1 = share(p, parts, H)
    train = hs.shape[0] > 0
    copy(hbuf[0, :, j0:j1], h0[:, j0:j1])
    copy(c[:, j0:j1], c0[:, j0:j1])
    steps = max(1, gi.shape[0] // B)
    k = 1
    arrive(counter, parts * k)    # h0 is whole before anyone reads it
    for t0 in range(0, T, steps):
        t1 = min(T, t0 + steps)
        rows = (t1 - t0) * B
        # this share's gate columns of gi = x W_ihᵀ for steps [t0, t1): one GEMM per gate
        for g in range(G):
            gemm(False, True, x2[t0 * B:t1 * B], w_ih[g * H + j0:g * H + j1],
                 gi[:rows, g * H + j0:g * H + j1], 0)
        for t in range(t0, t1):
            h, hn = hbuf[t % 2], hbuf[(t + 1) % 2]
            if train:
                copy(hs[t, :, j0:j1], h[:, j0:j1])
                copy(cs[t, :, j0:j1], c[:, j0:j1])
            tt = min(t, gates.shape[0] - 1)
            # this share's columns of gh = h_{t-1} W_hhᵀ (every row: finished ones are unused)
            if j1 > j0:
                for g in range(G):
                    product(h, w_hh, g * H + j0, g * H + j1, gh, False, blas_min_rows, dots_min_k)
            for b in range(B):
                if t < lengths[b]:
                    # the gates of this share's units
                    cell_units(cell, relu, hard, after, j0, j1, gi[(t - t0) * B + b], gh[b], bias,
                               b_hh, h[b], hn[b], c[b], gates[tt, b], ct[b], ghn[tt, b])
                    copy_row(y[t, b, j0:j1], hn[b, j0:j1])
                else:
                    copy_row(hn[b, j0:j1], h[b, j0:j1])
                    y[t, b, j0:j1] = 0
            k += 1
            arrive(counter, parts * k)    # h_t is whole before step t + 1 reads it
    h = hbuf[T % 2]
    if train:
        copy(hs[T, :, j0:j1], h[:, j0:j1])
        copy(cs[T, :, j0:j1], c[:, j0:j1])
    copy(h_T[:, j0:j1], h[:, j0:j1])
    copy(c_T[:, j0:j1], c[:, j0:j1])


@njit(**JIT)
def backward_batch(p, parts, cell, relu, hard, after, w_hh_t, w_hn_t, w_hr_t, hs, cs, gates,
                   ghn, lengths, dy, dh_T, dc_T, dh0, dc0, da, dgh, dhs, blas_min_rows,
                   dots_min_k):
    """Share p of BPTT's reverse walk: batch rows [b0, b1). Fills their rows of da, dgh
    (T,B,G·H) (dgh is da except for the GRU), dh0 and dc0. w_hn_t (H,H) = W_hnᵀ for the
    GRU without reset_after (else unused): its step has a product in the middle,
    dq = da_n W_hn (``gru_back_before``, then ``gru_back_reset``). w_hr_t (H,P) = W_hrᵀ for
    the LSTM with a projection (else (0,0)): per step dm = dh_t W_hr, and dh_t goes into
    dhs (T,B,P) for dW_hr."""
    T, B, H = dy.shape
    b0, b1 = share(p, parts, B)
    if b1 == b0:
        return
    dh, dc = dh_T[b0:b1].copy(), dc_T[b0:b1].copy()
    before = cell == GRU and not after
    n = b1 - b0
    # the GRU without reset_after: da_n (contiguous) and dq = da_n W_hn
    dan = np.zeros((n, H if before else 0), dy.dtype)
    dq = np.empty_like(dan)
    # a projection (H here is P; Hc the LSTM's units): dh_t, dm = dh_t W_hr, and a zero
    # carried dh for the cell's backward, which sees dm as its output gradient
    proj = w_hr_t.shape[0] > 0
    Hc = w_hr_t.shape[0]
    dht = np.zeros((n, H if proj else 0), dy.dtype)
    dm, zero = np.empty((n, Hc), dy.dtype), np.zeros(Hc, dy.dtype)
    for t in range(T - 1, -1, -1):
        if proj:
            # dh_t = dh + dy[t] (kept for dW_hr); dm = dh_t W_hr; then the cell with dm
            for b in range(n):
                bb = b0 + b
                if t < lengths[bb]:
                    for j in range(H):
                        dht[b, j] = dh[b, j] + dy[t, bb, j]
                        dh[b, j] = 0
                else:
                    dht[b] = 0
                copy_row(dhs[t, bb], dht[b])
            product(dht, w_hr_t, 0, Hc, dm, False, blas_min_rows, dots_min_k)
            for b in range(n):
                bb = b0 + b
                if t < lengths[bb]:
                    backward_row(cell, relu, hard, gates[t, bb], cs[t + 1, bb], cs[t, bb],
                                 ghn[t, bb], hs[t, bb], hs[t + 1, bb], dm[b], zero, dc[b],
                                 da[t, bb], dgh[t, bb])
                else:
                    da[t, bb] = 0
            product(da[t, b0:b1], w_hh_t, 0, H, dh, True, blas_min_rows, dots_min_k)
            continue
        if before:
            for b in range(b1 - b0):
                bb = b0 + b
                if t < lengths[bb]:
                    gru_back_before(relu, gates[t, bb], hs[t, bb], dy[t, bb], dh[b], da[t, bb],
                                    dgh[t, bb])
                    copy_row(dan[b], da[t, bb, 2 * H:])
                else:
                    da[t, bb] = 0
                    dgh[t, bb] = 0
                    dan[b] = 0
            product(dan, w_hn_t, 0, H, dq, False, blas_min_rows, dots_min_k)
            for b in range(b1 - b0):
                if t < lengths[b0 + b]:
                    gru_back_reset(hard, gates[t, b0 + b], hs[t, b0 + b], dq[b], dh[b],
                                   da[t, b0 + b], dgh[t, b0 + b])
            product(dgh[t, b0:b1], w_hh_t, 0, w_hh_t.shape[0], dh, True, blas_min_rows,
                    dots_min_k)
            continue
        for b in range(b1 - b0):
            bb = b0 + b
            if t < lengths[bb]:
                backward_row(cell, relu, hard, gates[t, bb], cs[t + 1, bb], cs[t, bb],
                             ghn[t, bb], hs[t, bb], hs[t + 1, bb], dy[t, bb], dh[b], dc[b],
                             da[t, bb], dgh[t, bb])
            else:
                # a finished step passes dh, dc through
                da[t, bb] = 0
                dgh[t, bb] = 0
        # dL/dh_{t-1} += dgh_t W_hh
        product(dgh[t, b0:b1], w_hh_t, 0, w_hh_t.shape[0], dh, True, blas_min_rows, dots_min_k)
    copy(dh0[b0:b1], dh)
    copy(dc0[b0:b1], dc)


@njit(**JIT)
def weight_grads(p, parts, x2, hp2, hq2, q0, da2, dgh2, w_ih, dx2, dw_ih, dw_hh, db_ih,
                 db_hh, dhs2, ms2, dw_hr):
    """Share p of dx2 = da2 W_ih (rows of T·B) and of dW_ih = da2ᵀ x2, dW_hh = dgh2ᵀ hp2,
    db_ih = Σ da2, db_hh = Σ dgh2 (rows of G·H). x2 (T·B,I); hp2 (T·B,H) the state entering
    each step; da2, dgh2 (T·B,G·H). Rows g ≥ q0 of W_hh multiply hq2 (T·B,H) instead:
    dW_hh = da2ᵀ hq2, db_hh = Σ da2 there (the GRU without reset_after: q = r ⊙ h;
    q0 = G·H for the others). With a projection dW_hr = dhs2ᵀ ms2 (rows of P); else these
    three have no rows."""
    r0, r1 = share(p, parts, x2.shape[0])
    g0, g1 = share(p, parts, w_ih.shape[0])
    q = min(max(q0, g0), g1)
    gemm(False, False, da2[r0:r1], w_ih, dx2[r0:r1], 0)
    gemm(True, False, da2[:, g0:g1], x2, dw_ih[g0:g1], 0)
    gemm(True, False, dgh2[:, g0:q], hp2, dw_hh[g0:q], 0)
    gemm(True, False, da2[:, q:g1], hq2, dw_hh[q:g1], 0)
    p0, p1 = share(p, parts, dw_hr.shape[0])
    gemm(True, False, dhs2[:, p0:p1], ms2, dw_hr[p0:p1], 0)
    db_ih[g0:g1], db_hh[g0:g1] = 0, 0
    for r in range(x2.shape[0]):
        for g in range(g0, g1):
            db_ih[g] += da2[r, g]
        for g in range(g0, q):
            db_hh[g] += dgh2[r, g]
        for g in range(q, g1):
            db_hh[g] += da2[r, g]
