"""The cuda backend: RNN, LSTM and GRU forward and BPTT as ``numba.cuda`` kernels.

Same contract as ``fastrnn.reference`` (DESIGN §3). NumPy inputs are copied to
the GPU and results come back as NumPy; device inputs (Numba device arrays,
CuPy arrays, PyTorch CUDA tensors: anything with ``__cuda_array_interface__``)
stay on the GPU and results are Numba device arrays, with no host copy.

How the time loop is driven. The host drives it: ``driver.py`` launches, per
step, the recurrent GEMM ``gh = h_{t−1} W_hhᵀ`` (``gemm.gemm_kernel``, our
own shared-memory tiled GEMM) and one fused pointwise kernel
(``cells.<cell>_step_kernel``) that adds the biases and the hoisted input
projection, applies the gates, writes y[t], the next state and the tape, and
masks finished sequences. The input projection for all T steps is one GEMM
before the loop. The backward does the same in reverse: one fused gate-gradient
kernel and one accumulating GEMM ``dh += da[t] W_hh`` per step, then four
large GEMMs (dx, dW_ih, dW_hh) and two column sums (db) over all steps.

What a step costs. Two launches forward and two backward, each a few µs of
launch latency (plus Numba's Python-side argument marshalling, ~10–20 µs per
launch), on the default stream, with no host synchronisation inside the loop.
At small batch the per-step GEMM is a thin (B × H)·(H × G·H) product that
reads all of W_hh from global memory (L2 at best) every step: launch latency
and W_hh traffic, not FLOPs, bound the time, as for any per-step design.

How a persistent kernel would do better (not implemented: it did not fit the
time of this work). One launch runs all T steps: each of P thread blocks owns
a slice of the G·H gate rows, loads its slice of W_hh into shared memory and
registers once (an H200 SM holds 228 KB of shared memory and 256 KB of
registers, so e.g. H = 512 float32 LSTM weights, 4 MB, fit across ~40 SMs),
and per step computes its slice of gh from the state h_{t−1}, applies the
cell for the units it owns, publishes its part of h_t to global memory and
waits at a grid-wide barrier (cooperative launch, ``cuda.cg.this_grid().sync()``)
before the next step. Launch latency drops from 2·T launches to one, and
W_hh is read from HBM once instead of T times: this is how cuDNN's persistent
RNN kernels and Diamos et al.'s "Persistent RNNs" (2016) win at small batch.
The backward works the same way with W_hhᵀ slices. The limits are the
on-chip capacity (large H spills back to per-step GEMMs) and the grid barrier
cost (~1–2 µs per step).

Tile and block sizes are module constants of ``gemm.py`` (small under the
simulator, so tests exercise several blocks and every boundary guard).
"""
import numpy as np

from . import driver
from .arrays import to_host


def _host(a):
    return isinstance(a, np.ndarray)


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, activation, train):
    """Returns y (T,B,H), h_T (B,H), tape (dict of device arrays) or None."""
    y, h_T, _, tape = driver.forward("rnn", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                     activation, train)
    return (*to_host((y, h_T), _host(x)), tape)


def rnn_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *dw = driver.backward(tape, dy, dh_T, None)
    return to_host((dx, dh0, *dw), _host(dy))


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train):
    """Returns y (T,B,H), h_T (B,H), c_T (B,H), tape (dict of device arrays) or None."""
    y, h_T, c_T, tape = driver.forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths,
                                       activation, train)
    return (*to_host((y, h_T, c_T), _host(x)), tape)


def lstm_backward(tape, dy, dh_T, dc_T):
    """Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh."""
    return to_host(driver.backward(tape, dy, dh_T, dc_T), _host(dy))


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, activation, train):
    """Returns y (T,B,H), h_T (B,H), tape (dict of device arrays) or None."""
    y, h_T, _, tape = driver.forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                     activation, train)
    return (*to_host((y, h_T), _host(x)), tape)


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *dw = driver.backward(tape, dy, dh_T, None)
    return to_host((dx, dh0, *dw), _host(dy))


__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
