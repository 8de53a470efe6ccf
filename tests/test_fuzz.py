"""Fuzzing: hypothesis draws a problem and compares a backend with the NumPy reference,
forward (y, h_T, c_T) and every gradient, with conftest's tolerances.

Drawn: shape T 0..6, B 1..5, I 0..5, H 1..6; each sequence's length in [0, T] (or None);
dtype float32 | float64; cell rnn | lstm | gru; activation tanh | relu; which of the
biases and initial states are passed (None means zeros); the data's seed; with tanh, a
scale of x (1, or 1e30: every gate saturated, where the gradients must be the reference's
exact zeros); and for the cpu backend its forward variant ("batch" | "units", through
``fastrnn.config.CPU_VARIANT``).

Not drawn: scales in between (×10). conftest's float32 tolerances are made for O(1) inputs;
at ×10 the float32 gradients of the cpu backend are up to 2.5 tolerances from the float64
truth (the reference's own float32: 1), as the error of the vectorised tanh and σ (a few
ulps) is multiplied by |x| in dW_ih.

CI runs a fixed budget with a fixed seed (``derandomize=True``: the same examples every
run). Longer on demand, e.g.

    FASTRNN_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/test_fuzz.py
    FASTRNN_FUZZ_EXAMPLES=2000 FASTRNN_FUZZ_SEED=7 .venv/bin/pytest tests/test_fuzz.py  # others

The cuda backend's fuzz (a few examples, under the simulator) is tests/test_cuda_fuzz.py.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import fastrnn
from fastrnn.check import CELLS

from conftest import assert_close, random_problem

EXAMPLES = int(os.environ.get("FASTRNN_FUZZ_EXAMPLES", "200"))
SEED = os.environ.get("FASTRNN_FUZZ_SEED")
OPTIONAL = ("b_ih", "b_hh", "h0", "c0")


def fuzz_settings(examples):
    """``examples`` examples: derandomized (CI), or from FASTRNN_FUZZ_SEED when it is set."""
    def wrap(test):
        test = settings(max_examples=examples, deadline=None, derandomize=SEED is None,
                        database=None, suppress_health_check=[HealthCheck.too_slow])(test)
        return test if SEED is None else seed(int(SEED))(test)
    return wrap


@st.composite
def problems(draw):
    """(cell, activation, args, grads): the keyword arguments of the forward and backward."""
    cell = draw(st.sampled_from(sorted(CELLS)))
    activation = draw(st.sampled_from(["tanh", "relu"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    T, B, I, H = (draw(st.integers(0, 6)), draw(st.integers(1, 5)), draw(st.integers(0, 5)),
                  draw(st.integers(1, 6)))
    args, grads = random_problem(cell, T, B, I, H, dtype, draw(st.integers(0, 2**31 - 1)))
    lengths = draw(st.none() | st.lists(st.integers(0, T), min_size=B, max_size=B))
    args["lengths"] = None if lengths is None else np.array(lengths, np.int64)
    if activation == "tanh":      # relu has no saturation, and huge relu states overflow
        args["x"] = args["x"] * dtype(draw(st.sampled_from([1, 1, 1e30])))
    for name in OPTIONAL:
        if name in args and draw(st.booleans()):
            args[name] = None
    return cell, activation, args, grads


def run(cell, backend, activation, args, grads):
    """Forward (train=True) then backward: [y, h_T, (c_T,) dx, dh0, (dc0,) dw_ih, ...] and names."""
    out = getattr(fastrnn, f"{cell}_forward")(**args, activation=activation, train=True,
                                              backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    pairs = [(k, v) for k, v in (*zip(out._fields[:-1], out[:-1]), *back._asdict().items())
             if v is not None]           # dw_hr: None without a projection
    return [k for k, _ in pairs], [a.copy_to_host() if hasattr(a, "copy_to_host")
                                   else np.asarray(a) for _, a in pairs]


def compare(cell, backend, activation, args, grads, what):
    names, ref = run(cell, "numpy", activation, args, grads)
    _, got = run(cell, backend, activation, args, grads)
    for name, g, r in zip(names, got, ref):
        assert_close(g, r, f"{what}: {name}")


@pytest.mark.skipif("cpu" not in fastrnn.available_backends(), reason="no Numba")
@fuzz_settings(EXAMPLES)
@given(problem=problems(), variant=st.sampled_from(["batch", "units"]))
def test_cpu_matches_the_reference(problem, variant):
    cell, activation, args, grads = problem
    T, B, I = args["x"].shape
    H = grads["dh_T"].shape[1]
    what = (f"{cell} {activation} {args['x'].dtype} T,B,I,H={T},{B},{I},{H} "
            f"lengths={args['lengths']} variant={variant} "
            f"None: {[k for k in OPTIONAL if k in args and args[k] is None]}")
    old = fastrnn.config.CPU_VARIANT
    fastrnn.config.CPU_VARIANT = variant
    try:
        compare(cell, "cpu", activation, args, grads, what)
    finally:
        fastrnn.config.CPU_VARIANT = old
