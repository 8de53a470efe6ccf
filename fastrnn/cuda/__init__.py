"""The cuda backend: RNN, LSTM and GRU forward and BPTT as ``numba.cuda`` kernels.

Same contract as ``fastrnn.reference`` (docs/design.md, "Backends"). NumPy inputs are copied to
the GPU and results come back as NumPy; device inputs (Numba device arrays,
CuPy arrays, PyTorch CUDA tensors: anything with ``__cuda_array_interface__``)
stay on the GPU and results are Numba device arrays, with no host copy.

How the time loop is driven. The host drives it (``driver.py``): the input
projection for all T steps is one GEMM (``gemm.gemm_kernel``, our own
shared-memory tiled GEMM) before the loop, then ONE fused kernel per step
(``cells.<cell>_step_kernel``): each block computes the recurrent product
h_{t−1} W_hhᵀ for a tile of batch rows × hidden units, all gates of those
units side by side (``cells.gate_tile_product``), and its threads apply the
cell to the units they own: biases, input projection, gates, state, y[t],
masking, tape. The backward does the same in reverse, one fused kernel per
step (da[t+1] W_hh for the tile, then the gate gradients of step t), then
three large GEMMs (dx, dW_ih, dW_hh) and two column sums (db) over all steps.
Two cell variants need a product in the middle of a step, and run each step
as two fused kernels, one after the other: the GRU with reset_after=False
((r ⊙ h_{t−1}) W_hnᵀ) and the LSTM with a projection (w_hr, PyTorch's
proj_size: h_t = m_t W_hrᵀ after the cell has made m_t = o ⊙ act(c_t) for
every unit; backward dm = dh_t W_hr before the gate gradients, and
dW_hr = Σ_t dh_tᵀ m_t as one GEMM after the loop).

What a step costs. One launch forward and one backward, each a few µs of
launch latency plus Numba's Python-side argument marshalling (~10–30 µs per
launch), on the default stream, with no host synchronisation inside the loop.
At small batch a step is a thin (B × H)·(H × G·H) product that reads all of
W_hh (from L2 at best) every step: launch latency and W_hh traffic, not
FLOPs, bound the time.

The persistent kernel (``cells.<cell>_persistent_kernel``, opt-in with
FASTRNN_CUDA_PERSISTENT=1 until it is measured on a GPU). One cooperative
launch runs all T steps: at most as many blocks as can be resident at once
walk the same tiles every step and meet at a grid-wide barrier
(``cuda.cg.this_grid().sync()``) between steps, so 2·T launches become two.
W_hh then stays in the 50 MB L2 of an H200 across steps rather than on chip in
registers and shared memory. The next step, as in cuDNN's persistent RNN
kernels and Diamos et al.'s "Persistent RNNs" (2016), is to have each block
keep its tile of W_hh in registers/shared memory for the whole sequence (an
H200 SM has 228 KB of shared memory and 256 KB of registers, so e.g. the
4 MB of an H = 512 float32 LSTM fits across ~40 SMs) and loop only over
h_{t−1}; that needs one tile per block (grid ≥ tiles) and is not done here.
It is tested under the simulator (one block there, walking every tile) and
compiled to PTX; real multi-block runs are in tests/test_cuda_gpu.py.

Tile and block sizes are module constants of ``gemm.py`` and ``cells.py``
(small under the simulator, so tests exercise several blocks and every
boundary guard).
"""
import numpy as np

from .._jitcache import install_cuda

install_cuda()      # before the kernels below are compiled (``fastrnn._jitcache``)

from . import driver  # noqa: E402
from .arrays import as_device, copy, device_zeros as zeros, to_host  # noqa: E402


def own(name, a):
    """A private device copy of device input ``a`` (for the tape)."""
    return copy(as_device(name, a))


def _host(a):
    return isinstance(a, np.ndarray)


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T,B,H), h_T (B,H), tape (dict of device arrays) or None."""
    y, h_T, _, tape = driver.forward("rnn", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                     options, train)
    return (*to_host((y, h_T), _host(x)), tape)


def rnn_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *dw, _ = driver.backward(tape, dy, dh_T, None)
    return to_host((dx, dh0, *dw), _host(dy))


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, options, train):
    """Returns y (T,B,P), h_T (B,P), c_T (B,H), tape (dict of device arrays) or None;
    P = H, or with a projection w_hr (P,H) its rows: h_t = m_t W_hrᵀ (two kernels a step)."""
    y, h_T, c_T, tape = driver.forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths,
                                       options, train, w_hr)
    return (*to_host((y, h_T, c_T), _host(x)), tape)


def lstm_backward(tape, dy, dh_T, dc_T):
    """Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr (None: no projection)."""
    return to_host(driver.backward(tape, dy, dh_T, dc_T), _host(dy))


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T,B,H), h_T (B,H), tape (dict of device arrays) or None."""
    y, h_T, _, tape = driver.forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                     options, train)
    return (*to_host((y, h_T), _host(x)), tape)


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *dw, _ = driver.backward(tape, dy, dh_T, None)
    return to_host((dx, dh0, *dw), _host(dy))


__all__ = ["own", "zeros", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
