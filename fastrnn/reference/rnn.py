"""Vanilla RNN, forward and backprop through time, in plain NumPy.

    h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh),   act = tanh | relu

Shapes: x (T, B, I); w_ih (H, I); w_hh (H, H); b_ih, b_hh (H,); h0 (B, H);
lengths (B,) int64 in [0, T]. Arguments arrive validated and filled in
(``fastrnn._validate``): no None, one dtype, C-contiguous.

Steps t ≥ lengths[b] give y[t, b] = 0 and leave h[b] unchanged (PyTorch
PackedSequence semantics).

The tape holds its own arrays (hs), never the returned y: changing y in place
before the backward does not change the gradients (act' is read from
hs[t + 1], which is h_t on every valid step).
"""
import numpy as np

from ._common import activate, activation_grad, valid_mask


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T, B, H), h_T (B, H), tape (dict) or None when not ``train``.

    ``options``: ``fastrnn.cells.Options`` (the RNN reads its activation)."""
    activation = options.activation
    T, B, _ = x.shape
    H = w_hh.shape[1]
    y = np.zeros((T, B, H), x.dtype)
    hs = np.zeros((T + 1, B, H), x.dtype)  # hs[t] = state entering step t
    h = h0.copy()
    for t in range(T):
        hs[t] = h
        m = valid_mask(t, lengths)
        # h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
        h_new = activate(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, activation)
        # finished sequences keep their state and output zeros
        y[t] = np.where(m, h_new, 0)
        h = np.where(m, h_new, h)
    hs[T] = h
    tape = dict(x=x, w_ih=w_ih, w_hh=w_hh, hs=hs, lengths=lengths,
                activation=activation) if train else None
    return y, h, tape


def rnn_backward(tape, dy, dh_T):
    """Returns dx (T,B,I), dh0 (B,H), dw_ih (H,I), dw_hh (H,H), db_ih (H,), db_hh (H,)."""
    x, w_ih, w_hh, hs = tape["x"], tape["w_ih"], tape["w_hh"], tape["hs"]
    lengths, activation = tape["lengths"], tape["activation"]
    T = x.shape[0]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(w_hh.shape[0], x.dtype)
    dh = dh_T.copy()
    for t in reversed(range(T)):
        m = valid_mask(t, lengths)
        # y[t] = h_t on valid steps: dL/dh_t = carried + dy[t]
        dh_t = dh + dy[t]
        # da = dh ⊙ act'(a) with h_t = hs[t + 1] = act(a), zero on finished steps
        da = np.where(m, dh_t * activation_grad(hs[t + 1], activation), 0)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(0)
        # dh_{t-1} = da W_hh on valid steps; finished steps pass dh through
        dh = np.where(m, da @ w_hh, dh)
    return dx, dh, dw_ih, dw_hh, db, db.copy()
