"""Fused pointwise kernels of one time step, forward and backward, for RNN, LSTM and GRU.

One thread per (b, j), j the hidden unit: it reads the G gate pre-activations
of unit j from the hoisted input projection ``xw[t]`` and the recurrent
product ``gh = h_{t-1} W_hhᵀ`` (both from ``gemm``), adds the biases, applies
the cell, and writes y[t], the next state and what the backward needs. The
gate activations overwrite ``xw[t]`` in place (each element is read and
written by the same thread), so the tape costs no extra buffer.

Masking: a thread with t ≥ lengths[b] writes y[t, b, j] = 0 and copies the
state forward (forward), or writes zero gate gradients and leaves the carried
gradients alone (backward).

Backward step kernels leave in ``dh`` the part of dL/dh_{t-1} that does not go
through W_hh (0 for RNN and LSTM, dh_t ⊙ z for GRU); the driver then adds
``da[t] W_hh`` with one accumulating GEMM. Rows of finished sequences have
da = 0, so that GEMM leaves their carried dh unchanged.

Constants are float32 (0 and 1 are exact), so compiled float32 kernels stay
float32 and float64 kernels promote them exactly. The simulator runs these
functions as Python, where ``math.exp`` returns a Python float that NumPy 2
would demote to float32 next to a float32 constant: there the constants are
Python floats (every step in double, stored in the array's dtype).
``act`` is ACT_TANH or ACT_RELU.
"""
import math

import numpy as np
from numba import config, cuda

ACT_TANH, ACT_RELU = 0, 1
ZERO, ONE = (0.0, 1.0) if config.ENABLE_CUDASIM else (np.float32(0), np.float32(1))


@cuda.jit(device=True, cache=True)
def sigmoid(a):
    """σ(a) = 1 / (1 + e^{−a}), written so that e^{|a|} never overflows."""
    if a >= ZERO:
        return ONE / (ONE + math.exp(-a))
    e = math.exp(a)
    return e / (ONE + e)


@cuda.jit(device=True, cache=True)
def activate(a, act):
    """tanh(a) or relu(a)."""
    if act == ACT_TANH:
        return math.tanh(a)
    return a if a > ZERO else ZERO


@cuda.jit(device=True, cache=True)
def activation_grad(y, act):
    """act'(a) from y = act(a): 1 − y² for tanh, [y > 0] for relu."""
    if act == ACT_TANH:
        return ONE - y * y
    return ONE if y > ZERO else ZERO


@cuda.jit(device=True, cache=True)
def unit(n, H):
    """Thread index n → (b, j) for a (B, H) grid."""
    return n // H, n % H


# ---------------------------------------------------------------------------- forward

@cuda.jit(cache=True)
def rnn_step_kernel(t, xw, gh, b_ih, b_hh, lengths, act, y, hs):
    """h_t = act(xw[t] + b_ih + gh + b_hh); xw (T,B,H) ← h_t; y (T,B,H); hs (T+1,B,H)."""
    H = hs.shape[2]
    n = cuda.grid(1)
    if n < hs.shape[1] * H:
        b, j = unit(n, H)
        h_prev = hs[t, b, j]
        if t < lengths[b]:
            h = activate(xw[t, b, j] + b_ih[j] + gh[b, j] + b_hh[j], act)
            y[t, b, j] = h
            hs[t + 1, b, j] = h
        else:
            y[t, b, j] = ZERO
            hs[t + 1, b, j] = h_prev


@cuda.jit(cache=True)
def lstm_step_kernel(t, xw, gh, b_ih, b_hh, lengths, act, y, hs, cs):
    """Gates i, f, g, o of xw[t] + b_ih + gh + b_hh; c_t = f c + i g; h_t = o act(c_t).

    xw (T,B,4H) ← [i f g o] after their nonlinearity; hs, cs (T+1,B,H).
    """
    H = hs.shape[2]
    n = cuda.grid(1)
    if n < hs.shape[1] * H:
        b, j = unit(n, H)
        h_prev, c_prev = hs[t, b, j], cs[t, b, j]
        if t < lengths[b]:
            i = sigmoid(xw[t, b, j] + b_ih[j] + gh[b, j] + b_hh[j])
            f = sigmoid(xw[t, b, H + j] + b_ih[H + j] + gh[b, H + j] + b_hh[H + j])
            g = activate(xw[t, b, 2 * H + j] + b_ih[2 * H + j] + gh[b, 2 * H + j]
                         + b_hh[2 * H + j], act)
            o = sigmoid(xw[t, b, 3 * H + j] + b_ih[3 * H + j] + gh[b, 3 * H + j]
                        + b_hh[3 * H + j])
            xw[t, b, j], xw[t, b, H + j], xw[t, b, 2 * H + j], xw[t, b, 3 * H + j] = i, f, g, o
            # c' = f c + i g ;  h' = o act(c')
            c = f * c_prev + i * g
            h = o * activate(c, act)
            y[t, b, j] = h
            hs[t + 1, b, j], cs[t + 1, b, j] = h, c
        else:
            y[t, b, j] = ZERO
            hs[t + 1, b, j], cs[t + 1, b, j] = h_prev, c_prev


@cuda.jit(cache=True)
def gru_step_kernel(t, xw, gh, b_ih, b_hh, lengths, act, y, hs, gh_n):
    """r, z = σ(gi + gh); n = act(gi_n + r (gh_n)); h_t = (1 − z) n + z h_{t−1}.

    gi = xw[t] + b_ih, gh = gh + b_hh; xw (T,B,3H) ← [r z n]; gh_n (T,B,H) ← gh's n block.
    """
    H = hs.shape[2]
    n = cuda.grid(1)
    if n < hs.shape[1] * H:
        b, j = unit(n, H)
        h_prev = hs[t, b, j]
        if t < lengths[b]:
            r = sigmoid(xw[t, b, j] + b_ih[j] + gh[b, j] + b_hh[j])
            z = sigmoid(xw[t, b, H + j] + b_ih[H + j] + gh[b, H + j] + b_hh[H + j])
            ghn = gh[b, 2 * H + j] + b_hh[2 * H + j]
            nn = activate(xw[t, b, 2 * H + j] + b_ih[2 * H + j] + r * ghn, act)
            xw[t, b, j], xw[t, b, H + j], xw[t, b, 2 * H + j] = r, z, nn
            gh_n[t, b, j] = ghn
            # h' = (1 - z) n + z h
            h = (ONE - z) * nn + z * h_prev
            y[t, b, j] = h
            hs[t + 1, b, j] = h
        else:
            y[t, b, j] = ZERO
            hs[t + 1, b, j] = h_prev


# ---------------------------------------------------------------------------- backward

@cuda.jit(cache=True)
def rnn_grad_step_kernel(t, dy, lengths, act, dh, da, hs):
    """da[t] = (dh + dy[t]) act'(h_t) on valid steps, else 0; dh ← 0 on valid steps.

    dy, da (T,B,H); dh (B,H) carried dL/dh; hs (T+1,B,H).
    """
    H = dh.shape[1]
    n = cuda.grid(1)
    if n < dh.shape[0] * H:
        b, j = unit(n, H)
        if t < lengths[b]:
            da[t, b, j] = (dh[b, j] + dy[t, b, j]) * activation_grad(hs[t + 1, b, j], act)
            dh[b, j] = ZERO
        else:
            da[t, b, j] = ZERO


@cuda.jit(cache=True)
def lstm_grad_step_kernel(t, dy, lengths, act, dh, da, gates, cs, dc):
    """Gate gradients of one LSTM step into da[t] (T,B,4H); dc ← dc_t f; dh ← 0 (valid steps).

    gates (T,B,4H) = [i f g o]; cs (T+1,B,H); dh, dc (B,H) carried gradients.
    """
    H = dh.shape[1]
    n = cuda.grid(1)
    if n < dh.shape[0] * H:
        b, j = unit(n, H)
        if t < lengths[b]:
            i, f = gates[t, b, j], gates[t, b, H + j]
            g, o = gates[t, b, 2 * H + j], gates[t, b, 3 * H + j]
            act_c = activate(cs[t + 1, b, j], act)
            dh_t = dh[b, j] + dy[t, b, j]
            # h = o act(c): do = dh act(c); dc += dh o act'(c)
            do = dh_t * act_c
            dc_t = dc[b, j] + dh_t * o * activation_grad(act_c, act)
            # c = f c_prev + i g, then through the gate nonlinearities
            da[t, b, j] = dc_t * g * i * (ONE - i)
            da[t, b, H + j] = dc_t * cs[t, b, j] * f * (ONE - f)
            da[t, b, 2 * H + j] = dc_t * i * activation_grad(g, act)
            da[t, b, 3 * H + j] = do * o * (ONE - o)
            dc[b, j] = dc_t * f
            dh[b, j] = ZERO
        else:
            for k in range(4):
                da[t, b, k * H + j] = ZERO


@cuda.jit(cache=True)
def gru_grad_step_kernel(t, dy, lengths, act, dh, da, gates, hs, gh_n, dgi):
    """Gate gradients of one GRU step: dgi[t] (input side) and da[t] (recurrent side), (T,B,3H).

    They differ in the n block: dgi_n = da_n, da_n (recurrent) = da_n r. dh ← dh_t z
    on valid steps. gates (T,B,3H) = [r z n]; hs (T+1,B,H); gh_n (T,B,H).
    """
    H = dh.shape[1]
    n = cuda.grid(1)
    if n < dh.shape[0] * H:
        b, j = unit(n, H)
        if t < lengths[b]:
            r, z, nn = gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j]
            dh_t = dh[b, j] + dy[t, b, j]
            # h = (1 - z) n + z h_prev
            da_n = dh_t * (ONE - z) * activation_grad(nn, act)
            da_z = dh_t * (hs[t, b, j] - nn) * z * (ONE - z)
            # n = act(gi_n + r gh_n)
            da_r = da_n * gh_n[t, b, j] * r * (ONE - r)
            dgi[t, b, j], dgi[t, b, H + j], dgi[t, b, 2 * H + j] = da_r, da_z, da_n
            da[t, b, j], da[t, b, H + j], da[t, b, 2 * H + j] = da_r, da_z, da_n * r
            dh[b, j] = dh_t * z
        else:
            for k in range(3):
                dgi[t, b, k * H + j] = ZERO
                da[t, b, k * H + j] = ZERO
