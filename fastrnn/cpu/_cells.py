"""The fused pointwise gate kernels of one batch row, forward and backward, for every cell.

Each function works on one row b of one step t; the time loops in ``_loops``
call them. Row arguments (all 1-D views):

    gi (G·H,)  x_t W_ihᵀ of this row         gh (G·H,)  h_{t-1} W_hhᵀ (no bias)
    b_ih, b_hh (G·H,)                        hp (H,)    h_{t-1}       hn (H,) out: h_t
    c (H,)     LSTM cell state, updated in place
    gates (G·H,) out: gates after their nonlinearity (tape)
    ct (H,)    out: LSTM c_t (tape)           ghn (H,)   out: GRU h W_hnᵀ + b_hn (tape)

Forward kernels cover the hidden units [j0, j1) so that threads can split a
row; backward kernels cover the whole row. Arrays a cell does not use are
passed with length 0. The equations are those of ``fastrnn.reference``.
"""
from numba import njit

from ._math import act, dact, dsigmoid, one, sigmoid

RNN, LSTM, GRU = 0, 1, 2
JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit(**JIT)
def rnn_units(relu, j0, j1, gi, gh, b_ih, b_hh, hn):
    H = hn.shape[0]
    for j in range(j0, j1):
        # h' = act(gi + b_ih + gh + b_hh)
        hn[j] = act(gi[j] + b_ih[j] + gh[j] + b_hh[j], relu)
    return H


@njit(**JIT)
def lstm_units(relu, j0, j1, gi, gh, b_ih, b_hh, hn, c, gates, ct):
    H = hn.shape[0]
    for j in range(j0, j1):
        # i, f, o = σ(a), g = act(a), a = gi + b_ih + gh + b_hh per gate block
        i = sigmoid(gi[j] + b_ih[j] + gh[j] + b_hh[j])
        f = sigmoid(gi[H + j] + b_ih[H + j] + gh[H + j] + b_hh[H + j])
        g = act(gi[2 * H + j] + b_ih[2 * H + j] + gh[2 * H + j] + b_hh[2 * H + j], relu)
        o = sigmoid(gi[3 * H + j] + b_ih[3 * H + j] + gh[3 * H + j] + b_hh[3 * H + j])
        # c' = f c + i g ;  h' = o act(c')
        cn = f * c[j] + i * g
        c[j] = cn
        hn[j] = o * act(cn, relu)
        if gates.shape[0]:
            ct[j] = cn
            gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j] = i, f, g, o
    return H


@njit(**JIT)
def gru_units(relu, j0, j1, gi, gh, b_ih, b_hh, hp, hn, gates, ghn):
    H = hn.shape[0]
    for j in range(j0, j1):
        # r, z = σ(gi + b_ih + gh + b_hh) ;  n = act(gi_n + b_in + r (gh_n + b_hn))
        r = sigmoid(gi[j] + b_ih[j] + gh[j] + b_hh[j])
        z = sigmoid(gi[H + j] + b_ih[H + j] + gh[H + j] + b_hh[H + j])
        hn_ = gh[2 * H + j] + b_hh[2 * H + j]
        n = act(gi[2 * H + j] + b_ih[2 * H + j] + r * hn_, relu)
        # h' = (1 − z) n + z h
        hn[j] = (one(z) - z) * n + z * hp[j]
        if gates.shape[0]:
            ghn[j] = hn_
            gates[j], gates[H + j], gates[2 * H + j] = r, z, n
    return H


@njit(**JIT)
def forward_units(cell, relu, j0, j1, gi, gh, b_ih, b_hh, hp, hn, c, gates, ct, ghn):
    """h_t[j0:j1] of one row for ``cell`` (RNN, LSTM, GRU); fills the tape rows when they are non-empty."""
    if cell == LSTM:
        lstm_units(relu, j0, j1, gi, gh, b_ih, b_hh, hn, c, gates, ct)
    elif cell == GRU:
        gru_units(relu, j0, j1, gi, gh, b_ih, b_hh, hp, hn, gates, ghn)
    else:
        rnn_units(relu, j0, j1, gi, gh, b_ih, b_hh, hn)


@njit(**JIT)
def backward_row(cell, relu, gates, ct, cp, ghn, hp, h, dy, dh, dc, da, dgh):
    """Gate gradients of one valid row (BPTT step), from the tape rows and the carried dh, dc.

    gates, ct = c_t, cp = c_{t-1}, ghn, hp = h_{t-1}, h = h_t: tape rows; dy (H,) this step's
    output gradient. Writes da (G·H,) = dL/d(pre-activation) on the input side and dgh on the
    recurrent side (the same array except for the GRU); leaves in dh the part of dL/dh_{t-1}
    that bypasses W_hh (the caller adds dgh W_hh) and in dc dL/dc_{t-1}.
    """
    H = dh.shape[0]
    for j in range(H):
        dht = dh[j] + dy[j]
        if cell == LSTM:
            i, f, g, o = gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j]
            # h = o act(c): do = dh act(c);  dc += dh o act'(c)
            ac = act(ct[j], relu)
            dct = dc[j] + dht * o * dact(ac, relu)
            # c = f c_prev + i g, then through the gate nonlinearities
            da[j] = dct * g * dsigmoid(i)
            da[H + j] = dct * cp[j] * dsigmoid(f)
            da[2 * H + j] = dct * i * dact(g, relu)
            da[3 * H + j] = dht * ac * dsigmoid(o)
            dc[j] = dct * f
            dh[j] = dht - dht
        elif cell == GRU:
            r, z, n = gates[j], gates[H + j], gates[2 * H + j]
            # h = (1 − z) n + z h_prev ;  n = act(gi_n + r gh_n)
            dan = dht * (one(z) - z) * dact(n, relu)
            da[j] = dan * ghn[j] * dsigmoid(r)
            da[H + j] = dht * (hp[j] - n) * dsigmoid(z)
            da[2 * H + j] = dan
            dgh[j], dgh[H + j], dgh[2 * H + j] = da[j], da[H + j], dan * r
            dh[j] = dht * z
        else:
            # h = act(a)
            da[j] = dht * dact(h[j], relu)
            dh[j] = dht - dht
