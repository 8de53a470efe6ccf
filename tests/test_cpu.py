"""The Numba CPU backend against the NumPy reference: every cell, output and gradient, both dtypes.

Shapes cover both forward loops (B ≤ FUSED_MAX_B: fused, else BLAS GEMM per step),
B=1, T=1, H not a power of two, I ≠ H, lengths from T down to 0 and non-zero
initial states (``random_problem``). The tolerances live in conftest.py.
"""
import numba
import numpy as np
import pytest

import fastrnn
from fastrnn.cpu._driver import FUSED_MAX_B

from conftest import assert_close, random_problem, run_cell

CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("lstm", "relu"),
         ("gru", "tanh"), ("gru", "relu")]
SHAPES = [(7, 1, 5, 9),                   # B=1: fused loop, length T
          (5, FUSED_MAX_B, 6, 7),         # fused loop with lengths 5..0
          (6, FUSED_MAX_B + 2, 3, 10),    # GEMM loop with lengths 6..0
          (1, 3, 4, 4),                   # T=1, lengths 1, 0, 0 (rounded linspace)
          (0, 2, 3, 4)]                   # T=0: outputs are the initial states
DTYPES = [np.float32, np.float64]
NAMES = {"rnn": "y h_T dx dh0 dw_ih dw_hh db_ih db_hh",
         "lstm": "y h_T c_T dx dh0 dc0 dw_ih dw_hh db_ih db_hh",
         "gru": "y h_T dx dh0 dw_ih dw_hh db_ih db_hh"}


def problem(cell, activation, shape, dtype, seed=0):
    args, grads = random_problem(cell, *shape, dtype, seed)
    args["activation"] = activation
    return args, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("cell,activation", CASES)
def test_matches_reference(cell, activation, shape, dtype):
    args, grads = problem(cell, activation, shape, dtype)
    ref = run_cell(cell, "numpy", args, grads)
    got = run_cell(cell, "cpu", args, grads)
    for name, g, r in zip(NAMES[cell].split(), got, ref):
        assert_close(g, r, f"{cell} {activation} {shape} {np.dtype(dtype).name} {name}")


@pytest.mark.parametrize("cell,activation", CASES)
def test_inference_equals_training_forward(cell, activation):
    args, _ = problem(cell, activation, (4, FUSED_MAX_B + 1, 3, 5), np.float32)
    forward = getattr(fastrnn, f"{cell}_forward")
    for B in (1, FUSED_MAX_B + 1):     # both loops
        sub = {k: (v[:, :B] if k == "x" else v[:B] if k in ("h0", "c0", "lengths") else v)
               for k, v in args.items()}
        infer = forward(**sub, backend="cpu")
        train = forward(**sub, train=True, backend="cpu")
        assert infer.tape is None and train.tape is not None
        for a, b in zip(infer[:-1], train[:-1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_inputs_unchanged_and_runs_identical(cell):
    for B in (2, FUSED_MAX_B + 1):
        args, grads = problem(cell, "tanh", (5, B, 3, 6), np.float64, seed=1)
        before = {k: np.copy(v) for k, v in {**args, **grads}.items() if k != "activation"}
        first = run_cell(cell, "cpu", args, grads)
        second = run_cell(cell, "cpu", args, grads)
        for k, v in before.items():
            np.testing.assert_array_equal({**args, **grads}[k], v, err_msg=f"{k} was modified")
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS ≥ 2")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_one_and_two_threads_agree(cell):
    before = fastrnn.get_num_threads()
    try:
        for B in (1, FUSED_MAX_B + 1):
            args, grads = problem(cell, "tanh", (6, B, 5, 33), np.float32, seed=2)
            runs = []
            for n in (1, 2):
                fastrnn.set_num_threads(n)
                assert fastrnn.get_num_threads() == n
                runs.append(run_cell(cell, "cpu", args, grads))
            for name, a, b in zip(NAMES[cell].split(), *runs):
                assert_close(a, b, f"{cell} B={B} {name}: 1 vs 2 threads")
    finally:
        fastrnn.set_num_threads(before)


def test_set_num_threads_sets_numba_and_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        assert numba.get_num_threads() == 1
        blas = threadpoolctl.threadpool_info()
        assert blas and all(lib["num_threads"] == 1 for lib in blas if lib["user_api"] == "blas")
    finally:
        fastrnn.set_num_threads(before)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-1, ValueError), (10 ** 6, ValueError),
                                       (1.5, TypeError), ("2", TypeError), (True, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error):
    with pytest.raises(error, match="n must"):
        fastrnn.set_num_threads(bad)


def test_auto_picks_cpu_for_numpy_inputs(monkeypatch):
    monkeypatch.delenv("FASTRNN_BACKEND", raising=False)
    args, _ = problem("gru", "tanh", (2, 2, 3, 4), np.float32)
    assert fastrnn._dispatch.resolve(None, args["x"]) == "cpu"
    assert fastrnn.gru_forward(**args, train=True).tape.backend == "cpu"


def test_signatures_match_reference():
    import inspect

    import fastrnn.cpu
    import fastrnn.reference
    for name in fastrnn.reference.__all__:
        assert (inspect.signature(getattr(fastrnn.cpu, name))
                == inspect.signature(getattr(fastrnn.reference, name))), name
