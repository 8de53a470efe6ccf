"""Micro-benchmarks of the hot paths (pytest-benchmark), each checked against the NumPy reference.

- one streaming step at B=1 (T=1, the state passed in): the public API's whole cost;
- a short sequence (rows of a digit image): forward at 28,64,28,128, training step
  (forward + backward) at 28,16,28,128;
- the cpu backend's fused pointwise gate kernels (``fastrnn.cpu._cells.forward_units``,
  the row kernel its time loops call) over a batch for one step, B=64, H=128: all of
  a step but the GEMMs before it.

The normal test run collects them with ``--benchmark-disable`` (pyproject.toml):
each body then runs once, as a test. ``make bench-micro`` times them.
"""
import numpy as np
import pytest
from numba import njit

import fastrnn
from fastrnn.cpu._cells import GRU, JIT, LSTM, RNN, forward_units
from fastrnn.cells import CELLS as DECLARATIONS

from conftest import assert_close, random_problem, run_cell

CELLS = ("rnn", "lstm", "gru")
KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
BACKENDS = ("numpy", "cpu")


def full_length_problem(cell, T, B, I, H, dtype=np.float32):
    """``random_problem`` with every sequence running all T steps."""
    args, grads = random_problem(cell, T, B, I, H, dtype)
    del args["lengths"]
    return args, grads


def reference_forward(cell, args):
    """The reference's float32 outputs (y, h_T[, c_T]) computed in float64 from the same float32
    inputs: an oracle for both backends, the reference's own float32 path included."""
    wide = {k: v.astype(np.float64) for k, v in args.items()}
    out = getattr(fastrnn, f"{cell}_forward")(**wide, backend="numpy")
    return [a.astype(np.float32) for a in out[:-1]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_streaming_step_b1(benchmark, cell, backend):
    args, _ = full_length_problem(cell, 1, 1, 128, 256)
    out = benchmark(getattr(fastrnn, f"{cell}_forward"), **args, backend=backend)
    for got, want, name in zip(out[:-1], reference_forward(cell, args), out._fields):
        assert_close(got, want, f"{cell} {backend} {name}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_short_sequence_forward(benchmark, cell, backend):
    args, _ = full_length_problem(cell, 28, 64, 28, 128)
    out = benchmark(getattr(fastrnn, f"{cell}_forward"), **args, backend=backend)
    assert_close(out.y, reference_forward(cell, args)[0], f"{cell} {backend} y")


def reference_training_step(cell, args, grads):
    """The reference's float32 outputs and gradients computed in float64 from the same
    float32 inputs (like ``reference_forward``): comparing two float32 computations would
    add both one's rounding and the other's."""
    def wide(d):
        return {k: v.astype(np.float64) for k, v in d.items()}
    return [a.astype(np.float32) for a in run_cell(cell, "numpy", wide(args), wide(grads))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_short_sequence_training_step(benchmark, cell, backend):
    # B=16: the weight gradients sum T·B = 448 float32 products, within what
    # conftest's float32 tolerance is made for (B=64 would sum 1792)
    problem = full_length_problem(cell, 28, 16, 28, 128)
    got = benchmark(run_cell, cell, backend, *problem)
    for i, (g, r) in enumerate(zip(got, reference_training_step(cell, *problem))):
        assert_close(g, r, f"{cell} {backend} output/gradient #{i}")


@njit(**JIT)     # the backend's flags: its row kernels are inlined here and compiled with them
def gate_kernels_over_batch(cell, gi, gh, bias, b_hh, hprev, y, c, gates, ghn):
    """One step's fused gate kernels (``fastrnn.cpu._cells.forward_units``) on every row, tanh,
    as the training forward runs them (writing the tape's gates).

    gi, gh (B, G·H) the input and recurrent products; bias, b_hh (G·H,) as the cpu driver
    folds them; hprev (B, H); out: y (B, H), gates (B, G·H | 0), ghn (B, H | 0);
    c (B, H | 0) the LSTM state, updated in place.
    """
    B, H = hprev.shape
    for b in range(B):
        forward_units(cell, False, False, True, True, 0, H, gi[b], gh[b], H, bias, b_hh,
                      hprev[b], y[b], c[b], gates[b], ghn[b])


def gate_inputs(cell, B, H, I=28):
    """Arguments of ``gate_kernels_over_batch`` for step 0 of a random problem, and the
    reference's y[0] (B, H)."""
    args, _ = full_length_problem(cell, 1, B, I, H)
    x, w_ih, w_hh, b_ih, b_hh, h0 = (args[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"))
    G, dtype = w_hh.shape[0] // H, x.dtype
    # the input and recurrent products that precede the gate kernels
    gi, gh = x[0] @ w_ih.T, h0 @ w_hh.T
    bias = DECLARATIONS[cell].fold_bias(b_ih, b_hh)
    width = {"rnn": (0, 0), "lstm": (G * H, 0), "gru": (G * H, H)}[cell]
    c = args["c0"].copy() if cell == "lstm" else np.empty((B, 0), dtype)
    out = (np.empty((B, H), dtype), c, *(np.empty((B, w), dtype) for w in width))
    want = getattr(fastrnn, f"{cell}_forward")(**args, backend="numpy").y[0]
    return (KINDS[cell], gi, gh, bias, b_hh, h0, *out), want


@pytest.mark.parametrize("cell", CELLS)
def test_gate_kernels_one_step(benchmark, cell):
    step, want = gate_inputs(cell, 64, 128)

    def fresh():
        # the LSTM's state c is updated in place: each call starts from a copy of c0
        return (*step[:7], step[7].copy(), *step[8:]), {}
    gate_kernels_over_batch(*fresh()[0])      # compile outside the timing
    benchmark.pedantic(gate_kernels_over_batch, setup=fresh, rounds=200, warmup_rounds=10)
    y = step[6]
    y[:] = np.nan
    gate_kernels_over_batch(*fresh()[0])
    assert_close(y, want, f"{cell} gate kernels, y at step 0")
