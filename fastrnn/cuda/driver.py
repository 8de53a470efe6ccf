"""The time loops of the cuda backend: forward and backprop through time for every cell.

Forward (one layer, one direction), G gate blocks of H units:

    xw = x W_ihᵀ                          one GEMM for all T steps, (T·B, G·H)
    for t in 0..T−1:
        gh = h_{t−1} W_hhᵀ                GEMM (B, H)·(H, G·H)
        cell step kernel                  fused: biases, gates, state, y[t], mask

Backward, walking time in reverse with dh (and dc) carried on the device:

    for t in T−1..0:
        cell grad step kernel             da[t] gate gradients, carried dh/dc updated
        dh += da[t] W_hh                  accumulating GEMM (B, G·H)·(G·H, H)
    dx = dA W_ih,  dW_ih = dAᵀ x,  dW_hh = dAᵀ h_{0..T−1},  db = Σ_rows dA

(for the GRU the input side uses dgi, which differs from the recurrent-side
da in the n block). The tape is a dict of device arrays.
"""
import math

import numpy as np
from numba import cuda

from . import cells
from .arrays import as_device, copy, empty, to_host
from .gemm import THREADS, colsum, gemm

#: cell -> (forward step kernel, backward step kernel)
STEP_KERNELS = {
    "rnn": (cells.rnn_step_kernel, cells.rnn_grad_step_kernel),
    "lstm": (cells.lstm_step_kernel, cells.lstm_grad_step_kernel),
    "gru": (cells.gru_step_kernel, cells.gru_grad_step_kernel),
}
ACTIVATION_CODES = {"tanh": cells.ACT_TANH, "relu": cells.ACT_RELU}


def _blocks(n):
    """Blocks of THREADS threads covering n threads (at least one: launches need a block)."""
    return max(1, math.ceil(n / THREADS))


def _states(h0, T):
    """A (T+1, B, H) device array of states with [0] = h0."""
    hs = empty((T + 1, *h0.shape), h0.dtype)
    hs[0].copy_to_device(h0)
    return hs


def _carried(name, a):
    """A device array for a gradient carried (and overwritten) through time: never the caller's."""
    d = as_device(name, a)
    return d if isinstance(a, np.ndarray) else copy(d)


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train):
    """Returns device arrays y (T,B,H), h_T (B,H), c_T (B,H) or None (not LSTM), and the tape."""
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0")
    x, w_ih, w_hh, b_ih, b_hh, h0 = (as_device(n, a) for n, a in
                                     zip(names, (x, w_ih, w_hh, b_ih, b_hh, h0)))
    T, B, I = x.shape
    GH, H = w_hh.shape
    lengths = cuda.to_device(lengths)
    act = ACTIVATION_CODES[activation]
    # every step's input projection in one GEMM: xw = x W_ihᵀ; the step kernels
    # overwrite xw[t] with the gate activations the backward needs
    xw = empty((T, B, GH), x.dtype)
    gemm(x.reshape(T * B, I), w_ih, xw.reshape(T * B, GH), trans_b=True)
    hs = _states(h0, T)
    cs = _states(as_device("c0", c0), T) if cell == "lstm" else None
    extra = {"rnn": (), "lstm": (cs,), "gru": (empty((T, B, H), x.dtype),)}[cell]
    y = empty((T, B, H), x.dtype)
    gh = empty((B, GH), x.dtype)
    step = STEP_KERNELS[cell][0]
    for t in range(T):
        # gh = h_{t-1} W_hhᵀ, then the fused cell update
        gemm(hs[t], w_hh, gh, trans_b=True)
        step[_blocks(B * H), THREADS](t, xw, gh, b_ih, b_hh, lengths, act, y, hs, *extra)
    tape = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, lengths=lengths, act=act, hs=hs,
                gates=xw, extra=extra) if train else None
    # the final states are copies: the tape's hs and cs stay private
    return y, copy(hs[T]), copy(cs[T]) if cs is not None else None, tape


def backward(tape, dy, dh_T, dc_T):
    """BPTT from a ``forward`` tape. Returns device dx, dh0, dc0 (None but for LSTM),
    dw_ih, dw_hh, db_ih, db_hh."""
    cell, x, w_ih, w_hh, hs = (tape[k] for k in ("cell", "x", "w_ih", "w_hh", "hs"))
    T, B, I = x.shape
    GH, H = w_hh.shape
    dy = as_device("dy", dy)
    dh = _carried("dh_T", dh_T)
    dc = _carried("dc_T", dc_T) if cell == "lstm" else None
    da = empty((T, B, GH), x.dtype)             # recurrent-side gate gradients
    dgi = empty((T, B, GH), x.dtype) if cell == "gru" else da   # input side
    # each cell's grad step kernel reads its own part of the tape
    if cell == "rnn":
        tail = (hs,)
    elif cell == "lstm":
        tail = (tape["gates"], tape["extra"][0], dc)
    else:
        tail = (tape["gates"], hs, tape["extra"][0], dgi)
    step = STEP_KERNELS[cell][1]
    for t in range(T - 1, -1, -1):
        # gate gradients of step t, then dh_{t-1} += da[t] W_hh
        step[_blocks(B * H), THREADS](t, dy, tape["lengths"], tape["act"], dh, da, *tail)
        gemm(da[t], w_hh, dh, accumulate=True)
    # weight, bias and input gradients of all steps at once
    da2, dgi2, x2 = da.reshape(T * B, GH), dgi.reshape(T * B, GH), x.reshape(T * B, I)
    dx = empty((T, B, I), x.dtype)
    gemm(dgi2, w_ih, dx.reshape(T * B, I))
    dw_ih, dw_hh = empty((GH, I), x.dtype), empty((GH, H), x.dtype)
    gemm(dgi2, x2, dw_ih, trans_a=True)
    gemm(da2, hs[:T].reshape(T * B, H), dw_hh, trans_a=True)
    db_ih, db_hh = empty((GH,), x.dtype), empty((GH,), x.dtype)
    colsum(dgi2, db_ih)
    colsum(da2, db_hh)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh
