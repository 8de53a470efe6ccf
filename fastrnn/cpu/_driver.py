"""The CPU backend's drivers: big GEMMs in NumPy (BLAS), time loops in Numba.

Forward:   gi = x W_ihᵀ for all T steps (one GEMM; for B ≤ FUSED_MAX_B inside the fused
           kernel), then the time loop (``_loops``).
Backward:  the reverse walk fills the gate gradients da (T,B,G·H); then
           dx = da W_ih,  dW_ih = daᵀ x,  dW_hh = dghᵀ [h0; y[:-1]],  db = Σ da
           (a few large GEMMs; dgh = da except for the GRU's n block).

The tape keeps references to x, w_ih, w_hh, h0, c0, lengths and the output y
(h_{t−1} = y[t−1] on every step that backward uses), plus the gates (and c_t
for the LSTM, h W_hnᵀ + b_hn for the GRU). Do not modify y in place before the
backward.
"""
import numba
import numpy as np

from ._cells import GRU, LSTM, RNN
from ._loops import backward_step, forward_fused, step_units

CELLS = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}
FUSED_MAX_B = 4     # up to this batch size a step is a matrix-vector product: fused loop


def fused_bias(kind, b_ih, b_hh):
    """Both biases in one (G·H,), except the GRU's n block: b_hn sits inside r ⊙ (·)."""
    bias = b_ih + b_hh
    if kind == GRU:
        H = len(b_ih) // 3
        bias[2 * H:] = b_ih[2 * H:]
    return bias


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train):
    """The kernel contract's ``<cell>_forward``; c0 is None except for the LSTM.
    Returns y (T,B,H), h_T (B,H), c_T (B,H) or None, tape (dict) or None."""
    kind, G = CELLS[cell]
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    y = np.empty((T, B, H), dtype)
    c = c0.copy() if kind == LSTM else np.empty((B, 0), dtype)
    # tape: gates, c_t (LSTM), h W_hnᵀ + b_hn (GRU); in inference one step of scratch
    Tt = T if train else 1
    gates = np.empty((Tt, B, G * H if kind != RNN else 0), dtype)
    cs = np.empty((Tt, B, H if kind == LSTM else 0), dtype)
    ghn = np.empty((Tt, B, H if kind == GRU else 0), dtype)
    bias = fused_bias(kind, b_ih, b_hh)
    relu = activation == "relu"
    if B <= FUSED_MAX_B:
        gi = np.empty((T, B, G * H), dtype)
        forward_fused(kind, relu, x, w_ih, gi, w_hh, bias, b_hh, h0, c, lengths, y, gates, cs,
                      ghn, numba.get_num_threads())
    else:
        # the input projection of every step: one GEMM
        gi = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, G * H)
        gh = np.empty((B, G * H), dtype)
        w_t = np.ascontiguousarray(w_hh.T)    # OpenBLAS: NN beats NT by 10-30 % at small B
        for t in range(T):
            # gh = h_{t-1} W_hhᵀ (one GEMM), then the fused gate kernel of every row
            hprev = h0 if t == 0 else y[t - 1]
            np.matmul(hprev, w_t, out=gh)
            step_units(kind, relu, t, 0, H, False, gi, gh, w_hh, bias, b_hh, hprev, lengths, y, c,
                       gates, cs, ghn)
    # final state: h at each sequence's last valid step, h0 when its length is 0
    last = y[np.maximum(lengths - 1, 0), np.arange(B)] if T else h0
    h_T = np.where((lengths > 0)[:, None], last, h0)
    tape = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, c0=c0, lengths=lengths,
                activation=activation, y=y, gates=gates, cs=cs, ghn=ghn) if train else None
    return y, h_T, (c if kind == LSTM else None), tape


def backward(tape, dy, dh_T, dc_T):
    """The kernel contract's ``<cell>_backward``; dc_T is None except for the LSTM.
    Returns dx, dh0, dc0 (None but for the LSTM), dw_ih, dw_hh, db_ih, db_hh."""
    kind, G = CELLS[tape["cell"]]
    x, w_ih, w_hh, h0, y = tape["x"], tape["w_ih"], tape["w_hh"], tape["h0"], tape["y"]
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    da = np.empty((T, B, G * H), dtype)
    dgh = np.empty_like(da) if kind == GRU else da
    dh = dh_T.copy()
    dc = dc_T.copy() if kind == LSTM else np.empty((B, 0), dtype)
    c0 = tape["c0"] if kind == LSTM else dc
    relu = tape["activation"] == "relu"
    dr = np.zeros((B, H), dtype)
    # the reverse walk: gate gradients of every step, dh_{t-1} = (bypass) + dgh[t] W_hh
    for t in range(T - 1, -1, -1):
        backward_step(kind, relu, t, h0, c0, y, tape["gates"], tape["cs"], tape["ghn"],
                      tape["lengths"], dy, dh, dr, dc, da, dgh)
        np.matmul(dgh[t], w_hh, out=dr)
    dh += dr
    # weight, input and bias gradients: a few large GEMMs and sums
    da2, dgh2 = da.reshape(T * B, G * H), dgh.reshape(T * B, G * H)
    dx = (da2 @ w_ih).reshape(T, B, I)
    dw_ih = da2.T @ x.reshape(T * B, I)
    dw_hh = (dgh[0].T @ h0 + dgh[1:].reshape(-1, G * H).T @ y[:-1].reshape(-1, H) if T
             else np.zeros_like(w_hh))
    db_ih = da2.sum(0)
    db_hh = dgh2.sum(0) if kind == GRU else db_ih.copy()
    return dx, dh, (dc if kind == LSTM else None), dw_ih, dw_hh, db_ih, db_hh
