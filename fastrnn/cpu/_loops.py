"""The time loops of the cpu backend: serial, GIL-free kernels, one share of the work each.

``_pool.run(kernel, parts, p-independent args...)`` calls ``kernel(p, parts, ...)`` on
``parts`` threads at once; every GEMM is a single-threaded BLAS call
(``_blas.gemm``) made by one thread on its own share.

Forward variants (``fastrnn.config.CPU_VARIANT``):

- ``forward_batch`` ("batch"): share p is batch rows [p·B/parts, (p+1)·B/parts). It
  runs all T steps of its rows: the input projection x W_ihᵀ in chunks of
  steps, then per step one GEMM gh = h W_hhᵀ and the fused gate kernel of each
  row. No synchronisation between steps: a descheduled thread delays only its
  own rows.
- ``forward_units`` ("units"): share p is hidden units [p·H/parts, (p+1)·H/parts) of
  every gate block. Per chunk of steps it projects its own gate columns; per
  step it computes its rows of h W_hhᵀ as dot products (its slice of W_hh stays
  in its core's cache) and the gates of its units, writes its slice of h_t,
  and meets the others at a barrier (``_sync.arrive``). For small B, where a
  step is a matrix-vector product.

Backward: ``backward_batch`` splits the reverse walk by batch rows (per step
the gate gradients of each row, then dh += dgh W_hh as one GEMM);
``weight_grads`` then gives each thread a share of dx = da W_ih (rows of T·B),
dW_ih = daᵀ x, dW_hh = dghᵀ h_prev and db = Σ da (rows of G·H).

Arrays (C-contiguous unless said; G gate blocks; T' = T when training, else 1):

    x2 (T·B,I) x as rows    w_ih_t (I,G·H) = W_ihᵀ    w_hh_t (H,G·H) = W_hhᵀ    w_hh (G·H,H)
    bias, b_hh (G·H,) as in ``_cells``    h0 (B,H)    c0 (B,H) LSTM, else (B,0)
    lengths (B,) int64     y (T,B,H) out     h_T, c_T like h0, c0: out
    tape: written when training; otherwise hs, cs have T + 1 = 0 rows and the others
    are one step of scratch:
      hs (T+1,B,H) the state entering each step, hs[T] the final one; cs likewise (LSTM)
      gates (T',B,G·H) the gates after their nonlinearity (RNN: last axis 0)
      ghn (T',B,H) GRU h W_hnᵀ + b_hn, else last axis 0
    chunk_rows: rows of the input projection computed at once (``fastrnn.config``)
"""
import numpy as np
from numba import njit

from ._blas import gemm
from ._cells import JIT, backward_row, forward_units as cell_units
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
def _dots(h, w, r0, r1, out):
    """out[m, r] = h[m] · w[r] for every row m of h and rows r in [r0, r1) of w.

    Dot products with reassociated (SIMD) sums, two rows of w against four rows of h at a
    time: each w row is loaded once per four h rows, and h (B ≤ a few rows) stays in L1.
    For the small batches of the "units" loop, where BLAS spends more on packing w than on
    the product."""
    M, K = h.shape
    z = one(w[r0, 0]) - one(w[r0, 0])      # 0, whatever w holds (w − w is NaN for inf)
    for r in range(r0, r1, 2):
        wa, wb = w[r], w[min(r + 1, r1 - 1)]
        for m in range(0, M - 3, 4):
            h0, h1, h2, h3 = h[m], h[m + 1], h[m + 2], h[m + 3]
            a0, a1, a2, a3, b0, b1, b2, b3 = z, z, z, z, z, z, z, z
            for k in range(K):
                a0 += wa[k] * h0[k]
                a1 += wa[k] * h1[k]
                a2 += wa[k] * h2[k]
                a3 += wa[k] * h3[k]
                b0 += wb[k] * h0[k]
                b1 += wb[k] * h1[k]
                b2 += wb[k] * h2[k]
                b3 += wb[k] * h3[k]
            out[m, r], out[m + 1, r], out[m + 2, r], out[m + 3, r] = a0, a1, a2, a3
            if r + 1 < r1:
                out[m, r + 1], out[m + 1, r + 1], out[m + 2, r + 1], out[m + 3, r + 1] = (
                    b0, b1, b2, b3)
        for m in range(M - M % 4, M):
            hm = h[m]
            a0, b0 = z, z
            for k in range(K):
                a0 += wa[k] * hm[k]
                b0 += wb[k] * hm[k]
            out[m, r] = a0
            if r + 1 < r1:
                out[m, r + 1] = b0


@njit(**JIT)
def forward_batch(p, parts, cell, relu, x2, w_ih_t, w_hh_t, bias, b_hh, h0, c0, lengths, y, h_T,
                  c_T, hs, cs, gates, ghn, chunk_rows):
    """Share p of the "batch" forward: every step of batch rows [b0, b1)."""
    T, B, H = y.shape
    I = x2.shape[1]
    b0, b1 = share(p, parts, B)
    n = b1 - b0
    if n == 0:
        return
    train = hs.shape[0] > 0
    h, c = h0[b0:b1].copy(), c0[b0:b1].copy()
    hn = np.empty_like(h)
    ct = np.empty(H, y.dtype)
    gh = np.empty((n, w_hh_t.shape[1]), y.dtype)
    steps = max(1, chunk_rows // n)
    gi = np.empty((min(steps, T) * n, w_hh_t.shape[1]), y.dtype)
    xb = np.empty((0 if n == B else gi.shape[0], I), y.dtype)
    for t0 in range(0, T, steps):
        t1 = min(T, t0 + steps)
        rows = (t1 - t0) * n
        # gi = x W_ihᵀ for steps [t0, t1) of these rows: one GEMM (all rows: x as it lies)
        if n == B:
            gemm(False, False, x2[t0 * B:t1 * B], w_ih_t, gi[:rows], 0)
        else:
            for t in range(t0, t1):
                copy(xb[(t - t0) * n:(t - t0 + 1) * n], x2[t * B + b0:t * B + b1])
            gemm(False, False, xb[:rows], w_ih_t, gi[:rows], 0)
        for t in range(t0, t1):
            if train:
                copy(hs[t, b0:b1], h)
                copy(cs[t, b0:b1], c)
            # gh = h_{t-1} W_hhᵀ: one GEMM, then the fused gate kernel of every row
            gemm(False, False, h, w_hh_t, gh, 0)
            tt = min(t, gates.shape[0] - 1)
            for b in range(n):
                if t < lengths[b0 + b]:
                    cell_units(cell, relu, 0, H, gi[(t - t0) * n + b], gh[b], bias, b_hh, h[b],
                               hn[b], c[b], gates[tt, b0 + b], ct, ghn[tt, b0 + b])
                    copy_row(h[b], hn[b])
                    copy_row(y[t, b0 + b], hn[b])
                else:
                    # a finished sequence outputs zeros and keeps its state
                    y[t, b0 + b] = 0
    if train:
        copy(hs[T, b0:b1], h)
        copy(cs[T, b0:b1], c)
    copy(h_T[b0:b1], h)
    copy(c_T[b0:b1], c)


@njit(**JIT)
def forward_units(p, parts, cell, relu, x2, w_ih_t, w_hh, bias, b_hh, h0, c0, lengths, y, h_T,
                  c_T, hs, cs, gates, ghn, chunk_rows, hbuf, c, ct, gh, gi, counter):
    """Share p of the "units" forward: hidden units [j0, j1) of every step.

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
            gemm(False, False, x2[t0 * B:t1 * B], w_ih_t[:, g * H + j0:g * H + j1],
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
                    _dots(h, w_hh, g * H + j0, g * H + j1, gh)
            for b in range(B):
                if t < lengths[b]:
                    # the gates of this share's units
                    cell_units(cell, relu, j0, j1, gi[(t - t0) * B + b], gh[b], bias, b_hh, h[b],
                               hn[b], c[b], gates[tt, b], ct[b], ghn[tt, b])
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
def backward_batch(p, parts, cell, relu, w_hh, hs, cs, gates, ghn, lengths, dy, dh_T, dc_T, dh0,
                   dc0, da, dgh):
    """Share p of BPTT's reverse walk: batch rows [b0, b1). Fills their rows of da, dgh
    (T,B,G·H) (dgh is da except for the GRU), dh0 and dc0."""
    T, B, H = dy.shape
    b0, b1 = share(p, parts, B)
    if b1 == b0:
        return
    dh, dc = dh_T[b0:b1].copy(), dc_T[b0:b1].copy()
    for t in range(T - 1, -1, -1):
        for b in range(b1 - b0):
            bb = b0 + b
            if t < lengths[bb]:
                backward_row(cell, relu, gates[t, bb], cs[t + 1, bb], cs[t, bb], ghn[t, bb],
                             hs[t, bb], hs[t + 1, bb], dy[t, bb], dh[b], dc[b], da[t, bb],
                             dgh[t, bb])
            else:
                # a finished step passes dh, dc through
                da[t, bb] = 0
                dgh[t, bb] = 0
        # dL/dh_{t-1} += dgh_t W_hh: one GEMM
        gemm(False, False, dgh[t, b0:b1], w_hh, dh, 1)
    copy(dh0[b0:b1], dh)
    copy(dc0[b0:b1], dc)


@njit(**JIT)
def weight_grads(p, parts, x2, hp2, da2, dgh2, w_ih, dx2, dw_ih, dw_hh, db_ih, db_hh):
    """Share p of dx2 = da2 W_ih (rows of T·B) and of dW_ih = da2ᵀ x2, dW_hh = dgh2ᵀ hp2,
    db_ih = Σ da2, db_hh = Σ dgh2 (rows of G·H). x2 (T·B,I); hp2 (T·B,H) the state entering
    each step; da2, dgh2 (T·B,G·H)."""
    r0, r1 = share(p, parts, x2.shape[0])
    g0, g1 = share(p, parts, w_ih.shape[0])
    gemm(False, False, da2[r0:r1], w_ih, dx2[r0:r1], 0)
    gemm(True, False, da2[:, g0:g1], x2, dw_ih[g0:g1], 0)
    gemm(True, False, dgh2[:, g0:g1], hp2, dw_hh[g0:g1], 0)
    db_ih[g0:g1], db_hh[g0:g1] = 0, 0
    for r in range(x2.shape[0]):
        for g in range(g0, g1):
            db_ih[g] += da2[r, g]
            db_hh[g] += dgh2[r, g]
