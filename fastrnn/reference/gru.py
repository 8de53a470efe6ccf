"""GRU, forward and backprop through time, in plain NumPy (PyTorch/cuDNN variant, gate order r, z, n).

    gi = x_t W_ihᵀ + b_ih = [gi_r gi_z gi_n]       gh = h_{t-1} W_hhᵀ + b_hh = [gh_r gh_z gh_n]
    r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)
    n = act(gi_n + r ⊙ gh_n)                        ("reset after the matmul")
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}                 act = tanh | relu

Shapes: x (T, B, I); w_ih (3H, I); w_hh (3H, H); b_ih, b_hh (3H,); h0 (B, H);
lengths (B,) int64 in [0, T]. Arguments arrive validated and filled in.
Steps t ≥ lengths[b] give y[t, b] = 0 and leave h[b] unchanged.
"""
import numpy as np

from ._common import activate, activation_grad, sigmoid, sigmoid_grad, valid_mask


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, activation, train):
    """Returns y (T, B, H), h_T (B, H), tape (dict) or None."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    y = np.zeros((T, B, H), x.dtype)
    hs = np.zeros((T + 1, B, H), x.dtype)       # state entering step t
    gates = np.zeros((T, B, 3 * H), x.dtype)    # r, z, n after their nonlinearity
    gh_n = np.zeros((T, B, H), x.dtype)         # h W_hnᵀ + b_hn, needed for dr
    h = h0.copy()
    for t in range(T):
        hs[t] = h
        m = valid_mask(t, lengths)
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        # r, z = σ(gi + gh) ;  n = act(gi_n + r gh_n)
        r = sigmoid(gi[:, :H] + gh[:, :H])
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        gh_n[t] = gh[:, 2 * H:]
        n = activate(gi[:, 2 * H:] + r * gh_n[t], activation)
        # h' = (1 - z) n + z h
        h_new = (1 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n], axis=1)
        # finished sequences keep their state and output zeros
        y[t] = np.where(m, h_new, 0)
        h = np.where(m, h_new, h)
    hs[T] = h
    tape = dict(x=x, w_ih=w_ih, w_hh=w_hh, hs=hs, gates=gates, gh_n=gh_n,
                lengths=lengths, activation=activation) if train else None
    return y, h, tape


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh (shapes of x, h0, w_ih, w_hh, b_ih, b_hh)."""
    x, w_ih, w_hh, hs, gates, gh_n = (tape[k] for k in ("x", "w_ih", "w_hh", "hs", "gates", "gh_n"))
    lengths, activation = tape["lengths"], tape["activation"]
    T = x.shape[0]
    H = w_hh.shape[1]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros(3 * H, x.dtype), np.zeros(3 * H, x.dtype)
    dh = dh_T.copy()
    for t in reversed(range(T)):
        m = valid_mask(t, lengths)
        r, z, n = (gates[t][:, k * H:(k + 1) * H] for k in range(3))
        h_prev = hs[t]
        dh_t = dh + dy[t]
        # h = (1 - z) n + z h_prev
        dn = dh_t * (1 - z)
        dz = dh_t * (h_prev - n)
        # n = act(gi_n + r gh_n)
        da_n = dn * activation_grad(n, activation)
        dr = da_n * gh_n[t]
        da_r, da_z = dr * sigmoid_grad(r), dz * sigmoid_grad(z)
        # gradients of gi (input side) and gh (recurrent side): they differ in the n block
        dgi = np.where(m, np.concatenate([da_r, da_z, da_n], axis=1), 0)
        dgh = np.where(m, np.concatenate([da_r, da_z, da_n * r], axis=1), 0)
        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        dw_hh += dgh.T @ h_prev
        db_ih += dgi.sum(0)
        db_hh += dgh.sum(0)
        # dh_prev = dh z + dgh W_hh; finished steps pass dh through
        dh = np.where(m, dh_t * z + dgh @ w_hh, dh)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh
