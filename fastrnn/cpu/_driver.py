"""The CPU backend's drivers: big GEMMs in NumPy (BLAS), time loops in Numba.

Forward:   gi = x W_ihᵀ for all T steps (one GEMM), then the time loop (``_loops``).
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
from ._loops import backward_gemm, forward_fused, forward_gemm

CELLS = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}
FUSED_MAX_B = 4     # up to this batch size a step is a matrix-vector product: fused loop


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train):
    """The kernel contract's ``<cell>_forward``; c0 is None except for the LSTM.
    Returns y (T,B,H), h_T (B,H), c_T (B,H) or None, tape (dict) or None."""
    kind, G = CELLS[cell]
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    # the input projection of every step: one GEMM
    gi = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, G * H)
    y = np.empty((T, B, H), dtype)
    c = c0.copy() if kind == LSTM else np.empty((B, 0), dtype)
    if train:
        gates = np.empty((T, B, G * H if kind != RNN else 0), dtype)
        cs = np.empty((T, B, H if kind == LSTM else 0), dtype)
        ghn = np.empty((T, B, H if kind == GRU else 0), dtype)
    else:
        gates = cs = ghn = np.empty((1, B, 0), dtype)
    loop = forward_fused if B <= FUSED_MAX_B else forward_gemm
    loop(kind, activation == "relu", gi, w_hh, b_ih, b_hh, h0, c, lengths, y, gates, cs, ghn,
         numba.get_num_threads())
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
    # the reverse walk: gate gradients of every step
    backward_gemm(kind, tape["activation"] == "relu", w_hh, h0, c0, y, tape["gates"],
                  tape["cs"], tape["ghn"], tape["lengths"], dy, dh, dc, da, dgh)
    # weight, input and bias gradients: a few large GEMMs and sums
    da2, dgh2 = da.reshape(T * B, G * H), dgh.reshape(T * B, G * H)
    dx = (da2 @ w_ih).reshape(T, B, I)
    dw_ih = da2.T @ x.reshape(T * B, I)
    dw_hh = dgh[0].T @ h0 + dgh[1:].reshape(-1, G * H).T @ y[:-1].reshape(-1, H)
    db_ih = da2.sum(0)
    db_hh = dgh2.sum(0) if kind == GRU else db_ih.copy()
    return dx, dh, (dc if kind == LSTM else None), dw_ih, dw_hh, db_ih, db_hh
