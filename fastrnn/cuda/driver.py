"""The time loops of the cuda backend: forward and backprop through time for every cell.

Forward (one layer, one direction), G gate blocks of H units:

    xw = x W_ihᵀ                          one GEMM for all T steps, (T·B, G·H)
    for t in 0..T−1:                      one fused step kernel per step:
        h_t = cell(xw[t], h_{t−1} W_hhᵀ)  recurrent tile product + biases, gates, state, y[t]

Backward, walking time in reverse with dh (and dc) carried on the device:

    for t in T−1..0:                      one fused step kernel per step:
        da[t] = cell'(dy[t] + dh + da[t+1] W_hh)
    dh0 = dh + da[0] W_hh
    dx = dA W_ih,  dW_ih = dAᵀ x,  dW_hh = dAᵀ h_{0..T−1},  db = Σ_rows dA

(for the GRU the input side uses dgi, which differs from the recurrent-side
da in the n block). With FASTRNN_CUDA_PERSISTENT=1 in the environment (read
at import) each loop is instead ONE cooperative launch of the cell's
persistent kernel. The tape is a dict of device arrays.
"""
import math
import os

import numpy as np
from numba import config, cuda

from . import cells
from .arrays import as_device, copy, device_zeros, empty
from .cells import STEP_BM, STEP_BN, STEP_TX, STEP_TY
from .gemm import colsum, gemm

#: run each time loop as one cooperative launch (FASTRNN_CUDA_PERSISTENT=1)
PERSISTENT = os.environ.get("FASTRNN_CUDA_PERSISTENT", "0") == "1"
#: (cell, "forward" | "backward") -> (one-step kernel, persistent kernel)
STEP_KERNELS = {(cell, way): (getattr(cells, f"{cell}{grad}_step_kernel"),
                              getattr(cells, f"{cell}{grad}_persistent_kernel"))
                for cell in ("rnn", "lstm", "gru")
                for way, grad in (("forward", ""), ("backward", "_grad"))}
ACTIVATION_CODES = {"tanh": cells.ACT_TANH, "relu": cells.ACT_RELU}


def _run_steps(cell, way, T, B, H, args):
    """Every step of one pass: ``args`` follow the step index (or T) in the kernel's signature.

    The grid covers the (B, H) tiles once; the persistent kernel's cooperative
    grid is capped at the blocks that can be resident at once (blocks then walk
    several tiles), and at one block in the simulator.
    """
    step, persistent = STEP_KERNELS[cell, way]
    block = (STEP_TX, STEP_TY)
    blocks = math.ceil(B / STEP_BM) * math.ceil(H / STEP_BN)
    if T == 0 or blocks == 0:
        return
    if PERSISTENT:
        resident = 1
        if not config.ENABLE_CUDASIM:
            compiled = persistent.compile(tuple(persistent.typeof_pyval(a) for a in (T, *args)))
            resident = compiled.max_cooperative_grid_blocks(block)
        persistent[min(blocks, resident), block](T, *args)
        return
    steps = range(T) if way == "forward" else range(T - 1, -1, -1)
    # specialised once, so the T launches skip Numba's per-call type dispatch
    step = step.specialize(0, *args)[blocks, block]
    for t in steps:
        step(t, *args)


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
    _run_steps(cell, "forward", T, B, H, (w_hh, xw, b_ih, b_hh, lengths, act, y, hs, *extra))
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
    # recurrent-side gate gradients; da[T] = 0 starts the recursion
    da = empty((T + 1, B, GH), x.dtype)
    da[T].copy_to_device(device_zeros((B, GH), x.dtype))
    dgi = empty((T, B, GH), x.dtype) if cell == "gru" else da[:T]   # input side
    # each cell's grad step kernel reads its own part of the tape
    if cell == "rnn":
        tail = (hs,)
    elif cell == "lstm":
        tail = (tape["gates"], tape["extra"][0], dc)
    else:
        tail = (tape["gates"], hs, tape["extra"][0], dgi)
    _run_steps(cell, "backward", T, B, H, (w_hh, dy, tape["lengths"], tape["act"], dh, da, *tail))
    # dh0 = (carried rest) + da[0] W_hh
    gemm(da[0], w_hh, dh, accumulate=True)
    # weight, bias and input gradients of all steps at once
    da2, dgi2, x2 = da[:T].reshape(T * B, GH), dgi.reshape(T * B, GH), x.reshape(T * B, I)
    dx = empty((T, B, I), x.dtype)
    gemm(dgi2, w_ih, dx.reshape(T * B, I))
    dw_ih, dw_hh = empty((GH, I), x.dtype), empty((GH, H), x.dtype)
    gemm(dgi2, x2, dw_ih, trans_a=True)
    gemm(da2, hs[:T].reshape(T * B, H), dw_hh, trans_a=True)
    db_ih, db_hh = empty((GH,), x.dtype), empty((GH,), x.dtype)
    colsum(dgi2, db_ih)
    colsum(da2, db_hh)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh
