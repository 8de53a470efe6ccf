"""GRU, forward and backprop through time, in plain NumPy (gate order r, z, n).

    gi = x_t W_ihᵀ + b_ih = [gi_r gi_z gi_n]       gh = h_{t-1} W_hhᵀ + b_hh = [gh_r gh_z gh_n]
    r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)                      σ = sigmoid | hard_sigmoid
    n = act(gi_n + r ⊙ gh_n)                        reset_after=True ("reset after the matmul",
                                                    PyTorch/cuDNN)
    n = act(gi_n + (r ⊙ h_{t-1}) W_hnᵀ + b_hn)      reset_after=False (Keras reset_after=False,
                                                    ONNX linear_before_reset=0)
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}                 act = tanh | relu

Shapes: x (T, B, I); w_ih (3H, I); w_hh (3H, H); b_ih, b_hh (3H,); h0 (B, H);
lengths (B,) int64 in [0, T]. Arguments arrive validated and filled in.
Steps t ≥ lengths[b] give y[t, b] = 0 and leave h[b] unchanged.

The tape's ``ghn`` (T, B, H) is what the n block's recurrent weights multiply:
gh_n = h W_hnᵀ + b_hn with reset_after (dr needs it), else q = r ⊙ h_{t-1}
(dW_hn = Σ da_nᵀ q).
"""
import numpy as np

from ._common import activate, activation_grad, gate, gate_grad, valid_mask


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T, B, H), h_T (B, H), tape (dict) or None.

    ``options``: ``fastrnn.cells.Options`` (activation, gate_activation, reset_after)."""
    activation, sig, after = options.activation, options.gate_activation, options.reset_after
    T, B, _ = x.shape
    H = w_hh.shape[1]
    y = np.zeros((T, B, H), x.dtype)
    hs = np.zeros((T + 1, B, H), x.dtype)       # state entering step t
    gates = np.zeros((T, B, 3 * H), x.dtype)    # r, z, n after their nonlinearity
    ghn = np.zeros((T, B, H), x.dtype)          # gh_n (reset after) or r ⊙ h (before)
    w_hn, b_hn = w_hh[2 * H:], b_hh[2 * H:]
    h = h0.copy()
    for t in range(T):
        hs[t] = h
        m = valid_mask(t, lengths)
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh[:2 * H].T + b_hh[:2 * H]
        # r, z = σ(gi + gh)
        r = gate(gi[:, :H] + gh[:, :H], sig)
        z = gate(gi[:, H:2 * H] + gh[:, H:], sig)
        if after:
            # n = act(gi_n + r (h W_hnᵀ + b_hn))
            ghn[t] = h @ w_hn.T + b_hn
            n = activate(gi[:, 2 * H:] + r * ghn[t], activation)
        else:
            # n = act(gi_n + (r h) W_hnᵀ + b_hn)
            ghn[t] = r * h
            n = activate(gi[:, 2 * H:] + ghn[t] @ w_hn.T + b_hn, activation)
        # h' = (1 - z) n + z h
        h_new = (1 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n], axis=1)
        # finished sequences keep their state and output zeros
        y[t] = np.where(m, h_new, 0)
        h = np.where(m, h_new, h)
    hs[T] = h
    tape = dict(x=x, w_ih=w_ih, w_hh=w_hh, hs=hs, gates=gates, ghn=ghn,
                lengths=lengths, options=options) if train else None
    return y, h, tape


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh (shapes of x, h0, w_ih, w_hh, b_ih, b_hh)."""
    x, w_ih, w_hh, hs, gates, ghn = (tape[k] for k in ("x", "w_ih", "w_hh", "hs", "gates", "ghn"))
    lengths, options = tape["lengths"], tape["options"]
    activation, sig, after = options.activation, options.gate_activation, options.reset_after
    T = x.shape[0]
    H = w_hh.shape[1]
    w_hn = w_hh[2 * H:]
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
        da_n = dn * activation_grad(n, activation)
        dh_prev = dh_t * z
        if after:
            # n = act(gi_n + r gh_n): the recurrent side of the n block is r da_n
            dr = da_n * ghn[t]
            dgh_n = da_n * r
        else:
            # n = act(gi_n + q W_hnᵀ + b_hn), q = r h_prev: dq = da_n W_hn
            dq = np.where(m, da_n, 0) @ w_hn
            dr = dq * h_prev
            dh_prev = dh_prev + dq * r
            dgh_n = da_n
        da_r, da_z = dr * gate_grad(r, sig), dz * gate_grad(z, sig)
        # gradients of gi (input side) and gh (recurrent side)
        dgi = np.where(m, np.concatenate([da_r, da_z, da_n], axis=1), 0)
        dgh = np.where(m, np.concatenate([da_r, da_z, dgh_n], axis=1), 0)
        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        # W_hr, W_hz multiply h_prev; W_hn multiplies h_prev (reset after) or q (before)
        dw_hh[:2 * H] += dgh[:, :2 * H].T @ h_prev
        dw_hh[2 * H:] += dgh[:, 2 * H:].T @ (h_prev if after else ghn[t])
        db_ih += dgi.sum(0)
        db_hh += dgh.sum(0)
        # dh_prev = dh z (+ dq r) + dgh W_hh; finished steps pass dh through
        recurrent = dgh[:, :2 * H] @ w_hh[:2 * H] + (dgh[:, 2 * H:] @ w_hn if after else 0)
        dh = np.where(m, dh_prev + recurrent, dh)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh
