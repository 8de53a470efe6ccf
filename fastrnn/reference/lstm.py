"""LSTM, forward and backprop through time, in plain NumPy (PyTorch gate order i, f, g, o).

    a = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh           (B, 4H) = [a_i a_f a_g a_o]
    i = σ(a_i)   f = σ(a_f)   g = act(a_g)   o = σ(a_o)          σ = sigmoid | hard_sigmoid
    c_t = f ⊙ c_{t-1} + i ⊙ g
    m_t = o ⊙ act(c_t)                                      act = tanh | relu
    h_t = m_t, or with a projection (PyTorch's proj_size P): h_t = m_t W_hrᵀ

Shapes: x (T, B, I); w_ih (4H, I); w_hh (4H, P); b_ih, b_hh (4H,); w_hr (P, H) or None
(then P = H); h0 (B, P), c0 (B, H); lengths (B,) int64 in [0, T]. Arguments arrive
validated and filled in. Steps t ≥ lengths[b] give y[t, b] = 0 and leave (h, c)[b]
unchanged.
"""
import numpy as np

from ._common import activate, activation_grad, gate, gate_grad, valid_mask


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, options, train):
    """Returns y (T, B, P), h_T (B, P), c_T (B, H), tape (dict) or None.

    ``options``: ``fastrnn.cells.Options`` (activation, gate_activation)."""
    activation, sig = options.activation, options.gate_activation
    T, B, _ = x.shape
    H, P = w_hh.shape[0] // 4, w_hh.shape[1]
    y = np.zeros((T, B, P), x.dtype)
    hs = np.zeros((T + 1, B, P), x.dtype)       # state entering step t
    cs = np.zeros((T + 1, B, H), x.dtype)
    gates = np.zeros((T, B, 4 * H), x.dtype)    # i, f, g, o after their nonlinearity
    ms = np.zeros((T, B, H), x.dtype)           # m_t = o act(c_t)
    h, c = h0.copy(), c0.copy()
    for t in range(T):
        hs[t], cs[t] = h, c
        m = valid_mask(t, lengths)
        # a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, split into the four gates
        a = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, o = gate(a[:, :H], sig), gate(a[:, H:2 * H], sig), gate(a[:, 3 * H:], sig)
        g = activate(a[:, 2 * H:3 * H], activation)
        # c' = f c + i g ;  h' = o act(c') (W_hrᵀ)
        c_new = f * c + i * g
        ms[t] = o * activate(c_new, activation)
        h_new = ms[t] if w_hr is None else ms[t] @ w_hr.T
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        # finished sequences keep their state and output zeros
        y[t] = np.where(m, h_new, 0)
        h, c = np.where(m, h_new, h), np.where(m, c_new, c)
    hs[T], cs[T] = h, c
    tape = dict(x=x, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, hs=hs, cs=cs, gates=gates, ms=ms,
                lengths=lengths, options=options) if train else None
    return y, h, c, tape


def lstm_backward(tape, dy, dh_T, dc_T):
    """Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr (shapes of x, h0, c0, w_ih,
    w_hh, b_ih, b_hh, w_hr; dw_hr None without a projection)."""
    x, w_ih, w_hh, w_hr = tape["x"], tape["w_ih"], tape["w_hh"], tape["w_hr"]
    hs, cs, gates, ms = tape["hs"], tape["cs"], tape["gates"], tape["ms"]
    lengths, activation = tape["lengths"], tape["options"].activation
    sig = tape["options"].gate_activation
    T = x.shape[0]
    H = w_hh.shape[0] // 4
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    db = np.zeros(4 * H, x.dtype)
    dh, dc = dh_T.copy(), dc_T.copy()
    for t in reversed(range(T)):
        m = valid_mask(t, lengths)
        i, f, g, o = (gates[t][:, k * H:(k + 1) * H] for k in range(4))
        dh_t = dh + dy[t]
        # h = m W_hrᵀ: dm = dh W_hr, dW_hr += dhᵀ m (on valid steps)
        if w_hr is None:
            dm = dh_t
        else:
            dm = dh_t @ w_hr
            dw_hr += np.where(m, dh_t, 0).T @ ms[t]
        # m = o act(c): do = dm act(c);  dc += dm o act'(c)
        act_c = activate(cs[t + 1], activation)
        do = dm * act_c
        dc_t = dc + dm * o * activation_grad(act_c, activation)
        # c = f c_prev + i g
        di, df, dg = dc_t * g, dc_t * cs[t], dc_t * i
        # through the gate nonlinearities to the pre-activations
        da = np.concatenate([di * gate_grad(i, sig), df * gate_grad(f, sig),
                             dg * activation_grad(g, activation), do * gate_grad(o, sig)], axis=1)
        da = np.where(m, da, 0)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(0)
        # to the previous state; finished steps pass (dh, dc) through
        dh = np.where(m, da @ w_hh, dh)
        dc = np.where(m, dc_t * f, dc)
    return dx, dh, dc, dw_ih, dw_hh, db, db.copy(), dw_hr
