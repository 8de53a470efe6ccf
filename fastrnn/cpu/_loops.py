"""The time loops: forward (two flavours) and backprop through time.

Both forward loops take the hoisted input projection ``gi = x W_ihᵀ`` (T, B, G·H)
and walk t = 0..T−1; the hidden state lives in ``y`` itself (h_{t−1} = y[t−1],
h0 at t = 0: a finished sequence never needs its state again, and its final
state is gathered afterwards from y[lengths−1]). Finished rows get y = 0.

- ``forward_gemm``: serial loop, one BLAS GEMM h_{t−1} W_hhᵀ per step (BLAS's own
  threads), then the gate kernels row by row. For B large enough to feed a GEMM.
- ``forward_fused``: Numba threads each own a slice of the hidden units: they
  compute their own rows of h_{t−1} W_hhᵀ (dot products, their slice of W_hh
  stays in their cache) and the gates of those units; one fork/join per step.
  For small B, where a step is a matrix-vector product and latency rules.

Only one thread pool works at a time: the GEMM loop never enters a parallel
region, the fused loop never calls BLAS.

Arguments: gi (T,B,G·H); w_hh (G·H,H); b_ih, b_hh (G·H,); h0 (B,H); c (B,H) LSTM
state, updated in place (B,0 otherwise); lengths (B,) int64; y (T,B,H) out;
tape arrays gates (T,B,G·H), cs (T,B,H), ghn (T,B,H) when training (filled; the
ones a cell does not use have a last axis of 0), else all (1,B,0): nothing saved.
"""
import numpy as np
from numba import njit, prange

from ._cells import JIT, backward_row, forward_units


@njit(**JIT)
def _row(cell, relu, t, b, j0, j1, gi, gh, b_ih, b_hh, hprev, lengths, y, c, gates, cs, ghn):
    """Units [j0, j1) of row b at step t: the gate kernel, or zeros for a finished sequence."""
    if t < lengths[b]:
        tt = min(t, gates.shape[0] - 1)    # inference: one empty tape row
        forward_units(cell, relu, j0, j1, gi[t, b], gh[b], b_ih, b_hh, hprev[b], y[t, b], c[b],
                      gates[tt, b], cs[tt, b], ghn[tt, b])
    else:
        y[t, b, j0:j1] = 0


@njit(**JIT)
def forward_gemm(cell, relu, gi, w_hh, b_ih, b_hh, h0, c, lengths, y, gates, cs, ghn, parts):
    """``parts`` is unused (the signature of ``forward_fused``)."""
    T, B, H = y.shape
    gh = np.empty((B, w_hh.shape[0]), y.dtype)
    w_t = w_hh.T
    for t in range(T):
        hprev = h0 if t == 0 else y[t - 1]
        # gh = h_{t-1} W_hhᵀ (one GEMM), then the fused gate kernel per row
        np.dot(hprev, w_t, gh)
        for b in range(B):
            _row(cell, relu, t, b, 0, H, gi, gh, b_ih, b_hh, hprev, lengths, y, c, gates, cs, ghn)


@njit(fastmath={"reassoc", "contract"}, **JIT)
def _matvec_rows(w, v, r0, r1, out):
    """out[r] = w[r] · v for rows r in [r0, r1) (reassociated sums: SIMD dot products)."""
    for r in range(r0, r1):
        s = v[0] - v[0]
        for k in range(v.shape[0]):
            s += w[r, k] * v[k]
        out[r] = s


@njit(parallel=True, **JIT)
def forward_fused(cell, relu, gi, w_hh, b_ih, b_hh, h0, c, lengths, y, gates, cs, ghn, parts):
    """``parts``: how many slices of the hidden units (one per thread)."""
    T, B, H = y.shape
    G = w_hh.shape[0] // H
    gh = np.empty((B, G * H), y.dtype)
    parts = min(parts, H)
    for t in range(T):
        hprev = h0 if t == 0 else y[t - 1]
        for p in prange(parts):
            j0, j1 = p * H // parts, (p + 1) * H // parts
            for b in range(B):
                # this thread's rows of gh = h_{t-1} W_hhᵀ, then its units' gates
                if t < lengths[b]:
                    for g in range(G):
                        _matvec_rows(w_hh, hprev[b], g * H + j0, g * H + j1, gh[b])
                _row(cell, relu, t, b, j0, j1, gi, gh, b_ih, b_hh, hprev, lengths, y, c,
                     gates, cs, ghn)


@njit(**JIT)
def backward_gemm(cell, relu, w_hh, h0, c0, y, gates, cs, ghn, lengths, dy, dh, dc, da, dgh):
    """Walk t = T−1..0 filling da, dgh (T,B,G·H) (zeros on finished steps); dh, dc (B,H) enter
    as dL/dh_T, dL/dc_T and leave as dL/dh0, dL/dc0. For RNN and LSTM pass da as dgh too."""
    T, B, H = y.shape
    dr = np.empty((B, H), y.dtype)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            if t < lengths[b]:
                hp = h0[b] if t == 0 else y[t - 1, b]
                cp = c0[b] if t == 0 else cs[t - 1, b]
                backward_row(cell, relu, gates[t, b], cs[t, b], cp, ghn[t, b], hp, y[t, b],
                             dy[t, b], dh[b], dc[b], da[t, b], dgh[t, b])
            else:
                da[t, b] = 0
                dgh[t, b] = 0
        # dh_{t-1} = (bypass part) + dgh W_hh on running rows; finished rows pass dh through
        np.dot(dgh[t], w_hh, dr)
        for b in range(B):
            if t < lengths[b]:
                dh[b] += dr[b]
