"""The time loops: forward (two flavours) and backprop through time.

Both forward loops use the hoisted input projection ``gi = x W_ihᵀ`` (T, B, G·H)
and walk t = 0..T−1; the hidden state lives in ``y`` itself (h_{t−1} = y[t−1],
h0 at t = 0: a finished sequence never needs its state again, and its final
state is gathered afterwards from y[lengths−1]). Finished rows get y = 0.

- ``step_units`` with matvec=False: one step of the gate kernels, row by row,
  after the caller's BLAS GEMM gh = h_{t−1} W_hhᵀ (NumPy's BLAS and its threads;
  the time loop is in Python: a few µs per step). For B large enough for a GEMM.
- ``forward_fused``: Numba threads each own a slice of the hidden units: they
  compute their own rows of h_{t−1} W_hhᵀ (dot products, their slice of W_hh
  stays in their cache) and the gates of those units; one fork/join per step.
  It also computes its own rows of gi (no BLAS call whose spinning threads would
  fight Numba's). For small B, where a step is a matrix-vector product.

Only one thread pool works at a time: ``step_units`` is serial, the fused loop
never calls BLAS. ``backward_step`` is BPTT's step, serial, around the caller's
GEMM dgh[t] W_hh.

Arguments: gi (T,B,G·H); w_hh (G·H,H); bias, b_hh (G·H,) (see ``_cells``); h0 (B,H);
c (B,H) LSTM state, updated in place (B,0 otherwise); lengths (B,) int64; y (T,B,H)
out; tape arrays gates (T',B,G·H), cs (T',B,H), ghn (T',B,H), T' = T when training,
1 (a scratch row) in inference; the ones a cell does not use have a last axis of 0.
"""
import numpy as np
from numba import njit, prange

from ._cells import JIT, backward_row, forward_units


@njit(**{**JIT, "fastmath": {"reassoc", "contract"}})
def _matvec_rows(w, v, r0, r1, out):
    """out[r] = w[r] · v for rows r in [r0, r1) (reassociated sums: SIMD dot products)."""
    for r in range(r0, r1):
        s = v[0] - v[0]
        for k in range(v.shape[0]):
            s += w[r, k] * v[k]
        out[r] = s


@njit(**JIT)
def step_units(cell, relu, t, j0, j1, matvec, gi, gh, w_hh, bias, b_hh, hprev, lengths, y, c,
               gates, cs, ghn):
    """Units [j0, j1) of step t for every row. With ``matvec``, first this slice's rows of
    gh = h_{t−1} W_hhᵀ (dot products); otherwise gh comes from the caller's GEMM."""
    B, H = hprev.shape
    for b in range(B):
        if t < lengths[b]:
            if matvec:
                for g in range(w_hh.shape[0] // H):
                    _matvec_rows(w_hh, hprev[b], g * H + j0, g * H + j1, gh[b])
            tt = min(t, gates.shape[0] - 1)    # inference: one scratch row
            forward_units(cell, relu, j0, j1, gi[t, b], gh[b], bias, b_hh, hprev[b], y[t, b],
                          c[b], gates[tt, b], cs[tt, b], ghn[tt, b])
        else:
            # a finished sequence outputs zeros
            y[t, b, j0:j1] = 0


@njit(parallel=True, **JIT)
def forward_fused(cell, relu, x, w_ih, gi, w_hh, bias, b_hh, h0, c, lengths, y, gates, cs, ghn,
                  parts):
    """The whole forward, input projection included (no BLAS: one thread pool only);
    ``parts`` slices of the hidden units, one per thread. gi (T,B,G·H) is workspace."""
    T, B, H = y.shape
    G = w_hh.shape[0] // H
    gh = np.empty((B, G * H), y.dtype)
    parts = min(parts, H)
    # gi = x W_ihᵀ: each thread its own rows (the rows its units need later)
    for p in prange(parts):
        j0, j1 = p * H // parts, (p + 1) * H // parts
        for t in range(T):
            for b in range(B):
                for g in range(G):
                    _matvec_rows(w_ih, x[t, b], g * H + j0, g * H + j1, gi[t, b])
    for t in range(T):
        hprev = h0 if t == 0 else y[t - 1]
        for p in prange(parts):
            step_units(cell, relu, t, p * H // parts, (p + 1) * H // parts, True, gi, gh, w_hh,
                       bias, b_hh, hprev, lengths, y, c, gates, cs, ghn)


@njit(**JIT)
def backward_step(cell, relu, t, h0, c0, y, gates, cs, ghn, lengths, dy, dh, dr, dc, da, dgh):
    """BPTT step t: first dh += dr (dr = dgh[t+1] W_hh from the caller's GEMM, zeros at the start),
    then fill da[t], dgh[t] (zeros on finished rows) and leave in dh, dc the parts of dL/dh_{t−1},
    dL/dc_{t−1} that bypass W_hh. Finished rows keep dh, dc. For RNN and LSTM dgh is da."""
    B, H = dh.shape
    for b in range(B):
        for j in range(H):
            dh[b, j] += dr[b, j]
        if t < lengths[b]:
            hp = h0[b] if t == 0 else y[t - 1, b]
            cp = c0[b] if t == 0 else cs[t - 1, b]
            backward_row(cell, relu, gates[t, b], cs[t, b], cp, ghn[t, b], hp, y[t, b],
                         dy[t, b], dh[b], dc[b], da[t, b], dgh[t, b])
        else:
            da[t, b] = 0
            dgh[t, b] = 0
