"""Micro-benchmarks of the hot paths (pytest-benchmark), each checked against the NumPy reference.

- one streaming step at B=1 (T=1, the state passed in): the public API's whole cost;
- a short sequence (rows of a digit image): forward at 28,64,28,128, training step
  (forward + backward) at 28,16,28,128;
- the pointwise gate kernels of one step over a batch (``fastrnn.cpu._loops.step_rows``,
  B=64, H=128: everything but the recurrent GEMM that precedes it).

The normal test run collects them with ``--benchmark-disable`` (pyproject.toml):
each body then runs once, as a test. ``make bench-micro`` times them.
"""
import numpy as np
import pytest

import fastrnn

from conftest import assert_close, random_problem, run_cell

CELLS = ("rnn", "lstm", "gru")
BACKENDS = [b for b in ("numpy", "cpu") if b in fastrnn.available_backends()]
needs_cpu = pytest.mark.skipif("cpu" not in BACKENDS, reason="backend 'cpu' is not available")


def full_length_problem(cell, T, B, I, H, dtype=np.float32):
    """``random_problem`` with every sequence running all T steps."""
    args, grads = random_problem(cell, T, B, I, H, dtype)
    del args["lengths"]
    return args, grads


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_streaming_step_b1(benchmark, cell, backend):
    args, _ = full_length_problem(cell, 1, 1, 128, 256)
    forward = getattr(fastrnn, f"{cell}_forward")
    out = benchmark(forward, **args, backend=backend)
    ref = forward(**args, backend="numpy")
    for got, want, name in zip(out[:-1], ref[:-1], out._fields):
        assert_close(got, want, f"{cell} {backend} {name}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_short_sequence_forward(benchmark, cell, backend):
    args, _ = full_length_problem(cell, 28, 64, 28, 128)
    forward = getattr(fastrnn, f"{cell}_forward")
    out = benchmark(forward, **args, backend=backend)
    assert_close(out.y, forward(**args, backend="numpy").y, f"{cell} {backend} y")


@needs_cpu
@pytest.mark.parametrize("cell", CELLS)
def test_short_sequence_training_step(benchmark, cell):
    # B=16: the weight gradients sum T·B = 448 float32 products, within what
    # conftest's float32 tolerance is made for (B=64 would sum 1792)
    problem = full_length_problem(cell, 28, 16, 28, 128)
    got = benchmark(run_cell, cell, "cpu", *problem)
    for i, (g, r) in enumerate(zip(got, run_cell(cell, "numpy", *problem))):
        assert_close(g, r, f"{cell} output/gradient #{i}")


def gate_step_inputs(cell, B, H, I=28):
    """Step 0's arguments of ``step_rows`` for a full-length batch, as the cpu driver builds them.

    Returns (args tuple, the reference's y[0] (B, H)).
    """
    from fastrnn.cpu._cells import GRU, LSTM, RNN
    kind, G = {"rnn": (RNN, 1), "lstm": (LSTM, 4), "gru": (GRU, 3)}[cell]
    args, _ = full_length_problem(cell, 1, B, I, H)
    x, w_ih, w_hh, b_ih, b_hh, h0 = (args[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"))
    dtype = x.dtype
    # the hoisted input projection and the recurrent GEMM that precede the gate kernel
    gi, gh = x @ w_ih.T, h0 @ w_hh.T
    # both biases in one, except the GRU's n block
    bias = b_ih + b_hh
    if kind == GRU:
        bias[2 * H:] = b_ih[2 * H:]
    width = {"gates": G * H if kind != RNN else 0, "cs": H if kind == LSTM else 0,
             "ghn": H if kind == GRU else 0}
    c = args["c0"].copy() if kind == LSTM else np.empty((B, 0), dtype)
    step = (kind, False, 0, gi, gh, bias, b_hh, h0, np.full(B, 1, np.int64),
            np.empty((1, B, H), dtype), c, *(np.empty((1, B, width[k]), dtype)
                                             for k in ("gates", "cs", "ghn")))
    return step, getattr(fastrnn, f"{cell}_forward")(**args, backend="numpy").y[0]


@needs_cpu
@pytest.mark.parametrize("cell", CELLS)
def test_gate_kernels_one_step(benchmark, cell):
    from fastrnn.cpu._loops import step_rows
    step, want = gate_step_inputs(cell, 64, 128)

    def fresh():
        # the LSTM's state c is updated in place: each call starts from a copy of c0
        return (*step[:10], step[10].copy(), *step[11:]), {}
    step_rows(*fresh()[0])      # compile outside the timing
    benchmark.pedantic(step_rows, setup=fresh, rounds=200, warmup_rounds=10)
    y = step[9]
    y[:] = np.nan
    step_rows(*fresh()[0])
    assert_close(y[0], want, f"{cell} gate kernels, y at step 0")
