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
da in the n block). The GRU with reset_after=False runs every step as two
fused kernels, one after the other (cells.py: the n block's recurrent product
needs r of the whole row); its gate gradients are da = [da_r da_z] and
dan = da_n on both sides, so after the loop

    dh0 = dh + da[0] W_h{r,z}
    dx = da W_i{r,z} + dan W_in,   dW_i{r,z} = daᵀ x,   dW_in = danᵀ x
    dW_h{r,z} = daᵀ h_{0..T−1},    dW_hn = danᵀ q   (q = r ⊙ h_{t−1}, the tape's ghn)
    db_ih = db_hh = Σ_rows [da dan]

each GEMM over whole contiguous arrays (row blocks of the weights are
contiguous views).

The LSTM with a projection (w_hr (P, H), P < H; h, y and the rows of W_hh's
product have P units, c and the gates H) also runs every step as two fused
kernels ("lstm_proj"): the cell for the (B, H) tiles, writing m_t = o ⊙ act(c_t)
into ms[t], then h_t = m_t W_hrᵀ for the (B, P) tiles (cells.py). Backward,
per step: dh_t = dh + da[t+1] W_hh + dy[t] for the (B, P) tiles, kept in
dhs[t] (0 on finished rows); then dm = dh_t W_hr and the cell's gate
gradients for the (B, H) tiles. After the loop, besides the LSTM's GEMMs,

    dW_hr = dhsᵀ ms     (T·B rows: P × H)

With FASTRNN_CUDA_PERSISTENT=1 in the environment (read
at import) each loop is instead ONE cooperative launch of the cell's
persistent kernel, the phases of a step separated by grid barriers. The tape
is a dict of device arrays, with the kernel family (``kind``: the cell,
"gru_before" or "lstm_proj") and the run-time codes of act (and σ) the kernels take.
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
#: the phases of one step of each kernel family ("gru_before": the GRU with reset_after=False;
#: "lstm_proj": the LSTM with a projection)
PHASES = {"rnn": ("",), "lstm": ("",), "gru": ("",), "gru_before": ("_rz", "_n"),
          "lstm_proj": ("_cell", "_h")}
GRAD_PHASES = {**PHASES, "gru_before": ("_zn", "_r"), "lstm_proj": ("_h", "_cell")}
#: (family, "forward" | "backward") -> (the step's phase kernels in order, persistent kernel)
STEP_KERNELS = {(kind, way): (tuple(getattr(cells, f"{kind}{grad}{phase}_step_kernel")
                                    for phase in phases[kind]),
                              getattr(cells, f"{kind}{grad}_persistent_kernel"))
                for kind in PHASES
                for way, grad, phases in (("forward", "", PHASES),
                                          ("backward", "_grad", GRAD_PHASES))}
ACTIVATION_CODES = {"tanh": cells.ACT_TANH, "relu": cells.ACT_RELU}
GATE_CODES = {"sigmoid": cells.SIG_SIGMOID, "hard_sigmoid": cells.SIG_HARD}


def _run_steps(kind, way, T, B, H, args):
    """Every step of one pass: ``args`` follow the step index (or T) in the kernels' signature
    (the same for every phase of a step).

    The grid covers the (B, H) tiles once (H: the widest phase's units; the step functions
    walk their tiles grid-stride, so a phase with fewer tiles leaves blocks idle); the
    persistent kernel's cooperative grid is capped at the blocks that can be resident at
    once (blocks then walk several tiles), and at one block in the simulator.
    """
    phases, persistent = STEP_KERNELS[kind, way]
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
    phases = [phase.specialize(0, *args)[blocks, block] for phase in phases]
    for t in steps:
        for phase in phases:
            phase(t, *args)


def _states(h0, T):
    """A (T+1, B, H) device array of states with [0] = h0."""
    hs = empty((T + 1, *h0.shape), h0.dtype)
    hs[0].copy_to_device(h0)
    return hs


def _carried(name, a):
    """A device array for a gradient carried (and overwritten) through time: never the caller's."""
    d = as_device(name, a)
    return d if isinstance(a, np.ndarray) else copy(d)


def _kind(cell, reset_after, projects=False):
    """The kernel family: the cell, "gru_before" for the GRU with reset_after=False, or
    "lstm_proj" for the LSTM with a projection."""
    if cell == "gru" and not reset_after:
        return "gru_before"
    return "lstm_proj" if projects else cell


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, options, train, w_hr=None):
    """Returns device arrays y (T,B,P), h_T (B,P), c_T (B,H) or None (not LSTM), and the tape;
    P = H but for the LSTM with a projection w_hr (P,H).

    ``options``: ``fastrnn.cells.Options`` (the RNN reads its activation only, the LSTM
    not reset_after)."""
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0")
    x, w_ih, w_hh, b_ih, b_hh, h0 = (as_device(n, a) for n, a in
                                     zip(names, (x, w_ih, w_hh, b_ih, b_hh, h0)))
    T, B, I = x.shape
    GH, P = w_hh.shape              # P: the units of h (H but with a projection)
    H = P if c0 is None else c0.shape[1]
    lengths = cuda.to_device(lengths)
    kind = _kind(cell, options.reset_after, w_hr is not None)
    act = ACTIVATION_CODES[options.activation]
    # the RNN has no gates; LSTM and GRU kernels take σ's code after act's
    codes = (act,) if cell == "rnn" else (act, GATE_CODES[options.gate_activation])
    # every step's input projection in one GEMM: xw = x W_ihᵀ; the step kernels
    # overwrite xw[t] with the gate activations the backward needs
    xw = empty((T, B, GH), x.dtype)
    gemm(x.reshape(T * B, I), w_ih, xw.reshape(T * B, GH), trans_b=True)
    hs = _states(h0, T)
    cs = _states(as_device("c0", c0), T) if cell == "lstm" else None
    # GRU: ghn (T,B,H) is gh_n = h W_hnᵀ + b_hn (reset after) or q = r ⊙ h (before);
    # a projection: w_hr (P,H) and ms (T,B,H), m_t = o ⊙ act(c_t) (0 on finished rows)
    if cell == "gru":
        extra = (empty((T, B, H), x.dtype),)
    elif kind == "lstm_proj":
        extra = (cs, as_device("w_hr", w_hr), empty((T, B, H), x.dtype))
    else:
        extra = () if cs is None else (cs,)
    y = empty((T, B, P), x.dtype)
    _run_steps(kind, "forward", T, B, H, (w_hh, xw, b_ih, b_hh, lengths, *codes, y, hs, *extra))
    tape = dict(cell=cell, kind=kind, x=x, w_ih=w_ih, w_hh=w_hh, lengths=lengths, codes=codes,
                hs=hs, gates=xw, extra=extra) if train else None
    # the final states are copies: the tape's hs and cs stay private
    return y, copy(hs[T]), copy(cs[T]) if cs is not None else None, tape


def backward(tape, dy, dh_T, dc_T):
    """BPTT from a ``forward`` tape. Returns device dx, dh0, dc0 (None but for LSTM),
    dw_ih, dw_hh, db_ih, db_hh, dw_hr (None but for the LSTM with a projection)."""
    cell, kind, x, w_ih, w_hh, hs = (tape[k] for k in ("cell", "kind", "x", "w_ih", "w_hh",
                                                        "hs"))
    T, B, I = x.shape
    GH, P = w_hh.shape
    H = tape["extra"][0].shape[2] if cell == "lstm" else P      # cs (T+1,B,H)
    dy = as_device("dy", dy)
    dh = _carried("dh_T", dh_T)
    dc = _carried("dc_T", dc_T) if cell == "lstm" else None
    if kind == "gru_before":
        return (*_backward_gru_before(tape, dy, dh), None)
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
    if kind == "lstm_proj":     # dhs (T,B,P): dh_t of every step, for dW_hr
        dhs = empty((T, B, P), x.dtype)
        tail += (tape["extra"][1], dhs)
    _run_steps(kind, "backward", T, B, H, (w_hh, dy, tape["lengths"], *tape["codes"], dh, da,
                                           *tail))
    # dh0 = (carried rest) + da[0] W_hh
    gemm(da[0], w_hh, dh, accumulate=True)
    # weight, bias and input gradients of all steps at once
    da2, dgi2, x2 = da[:T].reshape(T * B, GH), dgi.reshape(T * B, GH), x.reshape(T * B, I)
    dx = empty((T, B, I), x.dtype)
    gemm(dgi2, w_ih, dx.reshape(T * B, I))
    dw_ih, dw_hh = empty((GH, I), x.dtype), empty((GH, P), x.dtype)
    gemm(dgi2, x2, dw_ih, trans_a=True)
    gemm(da2, hs[:T].reshape(T * B, P), dw_hh, trans_a=True)
    db_ih, db_hh = empty((GH,), x.dtype), empty((GH,), x.dtype)
    colsum(dgi2, db_ih)
    colsum(da2, db_hh)
    dw_hr = None
    if kind == "lstm_proj":     # dW_hr = dhsᵀ ms (finished rows: 0 in both)
        dw_hr = empty((P, H), x.dtype)
        gemm(dhs.reshape(T * B, P), tape["extra"][2].reshape(T * B, H), dw_hr, trans_a=True)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr


def _backward_gru_before(tape, dy, dh):
    """The GRU with reset_after=False (module docstring): dx, dh0, None, dw_ih, dw_hh, db_ih,
    db_hh, as ``backward``."""
    x, w_ih, w_hh, hs, gates = (tape[k] for k in ("x", "w_ih", "w_hh", "hs", "gates"))
    q = tape["extra"][0]
    T, B, I = x.shape
    H = w_hh.shape[1]
    # da (T+1,B,2H) = [da_r da_z], da[T] = 0 starts the recursion; dan (T,B,H) = da_n
    da = empty((T + 1, B, 2 * H), x.dtype)
    da[T].copy_to_device(device_zeros((B, 2 * H), x.dtype))
    dan = empty((T, B, H), x.dtype)
    _run_steps("gru_before", "backward", T, B, H,
               (w_hh, dy, tape["lengths"], *tape["codes"], dh, da, gates, hs, dan))
    # row blocks of the weights and biases: contiguous views
    rz, n = slice(0, 2 * H), slice(2 * H, 3 * H)
    # dh0 = (carried rest) + [da_r da_z][0] W_h{r,z}
    gemm(da[0], w_hh[rz], dh, accumulate=True)
    da2, dan2, x2 = da[:T].reshape(T * B, 2 * H), dan.reshape(T * B, H), x.reshape(T * B, I)
    dx = empty((T, B, I), x.dtype)
    dx2 = dx.reshape(T * B, I)
    gemm(da2, w_ih[rz], dx2)
    gemm(dan2, w_ih[n], dx2, accumulate=True)
    dw_ih, dw_hh = empty((3 * H, I), x.dtype), empty((3 * H, H), x.dtype)
    gemm(da2, x2, dw_ih[rz], trans_a=True)
    gemm(dan2, x2, dw_ih[n], trans_a=True)
    gemm(da2, hs[:T].reshape(T * B, H), dw_hh[rz], trans_a=True)
    gemm(dan2, q.reshape(T * B, H), dw_hh[n], trans_a=True)
    # both biases add outside r: the same gradient
    db_ih = empty((3 * H,), x.dtype)
    colsum(da2, db_ih[rz])
    colsum(dan2, db_ih[n])
    return dx, dh, None, dw_ih, dw_hh, db_ih, copy(db_ih)
