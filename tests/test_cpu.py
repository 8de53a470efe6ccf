"""The Numba CPU backend against the NumPy reference: every variant, cell, output and gradient, both dtypes.

Both variants ("batch", "units": ``fastrnn.config.CPU_VARIANT``; it chooses
the forward's split and the reverse walk's) run every case. Shapes cover B=1,
T=1, H not a power of two, I ≠ H, lengths from T down to 0, non-zero initial
states (``random_problem``), a batch split into
uneven shares, more threads than rows or units, and chunked input projections
(``CPU_CHUNK_ROWS`` smaller than T·B). The tolerances live in conftest.py.
"""
import os

import numpy as np
import pytest

import fastrnn
from fastrnn.cpu import VARIANTS
from fastrnn.cpu._tile import MR_MAX

from conftest import assert_close, random_problem, run_cell

CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("lstm", "relu"),
         ("gru", "tanh"), ("gru", "relu")]
SHAPES = [(7, 1, 5, 9),                   # B=1, length T
          (5, 4, 6, 7),                   # lengths 5..0
          (6, 7, 3, 10),                  # uneven shares, lengths 6..0
          (1, 3, 4, 4),                   # T=1, lengths 1, 0, 0 (rounded linspace)
          (0, 2, 3, 4),                   # T=0: outputs are the initial states
          (9, 3, 0, 5),                   # I=0: no input at all
          (4, 33, 3, 6),                  # 33 rows: per-step products through BLAS on 1 thread
          (6, 2, 3, 40),                  # "units": 40 units in 3 panels (float32), 5 (float64)
          (5, 2, 3, 33)]                  # "units" on 2 threads: 16 and 17 units, 1 and 2
                                          # panels a gate block in float64
DTYPES = [np.float32, np.float64]
FORWARD_VARIANTS = [v for v in VARIANTS if v != "auto"]
NAMES = {"rnn": "y h_T dx dh0 dw_ih dw_hh db_ih db_hh",
         "lstm": "y h_T c_T dx dh0 dc0 dw_ih dw_hh db_ih db_hh",
         "gru": "y h_T dx dh0 dw_ih dw_hh db_ih db_hh"}


@pytest.fixture(params=FORWARD_VARIANTS)
def variant(request, monkeypatch):
    """Each forward variant in turn, with the input projection in chunks of a few steps."""
    monkeypatch.setattr(fastrnn.config, "CPU_VARIANT", request.param)
    monkeypatch.setattr(fastrnn.config, "CPU_CHUNK_ROWS", 8)
    return request.param


def problem(cell, activation, shape, dtype, seed=0):
    args, grads = random_problem(cell, *shape, dtype, seed)
    args["activation"] = activation
    return args, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("cell,activation", CASES)
def test_matches_reference(variant, cell, activation, shape, dtype):
    args, grads = problem(cell, activation, shape, dtype)
    ref = run_cell(cell, "numpy", args, grads)
    got = run_cell(cell, "cpu", args, grads)
    for name, g, r in zip(NAMES[cell].split(), got, ref):
        assert_close(g, r, f"{variant} {cell} {activation} {shape} {np.dtype(dtype).name} {name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("cell,activation", CASES)
def test_one_thread_matches_reference(variant, cell, activation, dtype):
    """On one thread, more rows than one microkernel tile holds (``_tile.MR_MAX``: tiles of
    uneven rows) and units that end inside a panel (its padded columns)."""
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        shape = (4, 2 * MR_MAX + 3, 3, 37)
        args, grads = problem(cell, activation, shape, dtype)
        ref = run_cell(cell, "numpy", args, grads)
        got = run_cell(cell, "cpu", args, grads)
    finally:
        fastrnn.set_num_threads(before)
    for name, g, r in zip(NAMES[cell].split(), got, ref):
        assert_close(g, r, f"{variant} {cell} {activation} 1 thread {name}")


@pytest.mark.parametrize("cell,activation", CASES)
def test_inference_equals_training_forward(variant, cell, activation):
    args, _ = problem(cell, activation, (4, 5, 3, 5), np.float32)
    forward = getattr(fastrnn, f"{cell}_forward")
    for B in (1, 5):
        sub = {k: (v[:, :B] if k == "x" else v[:B] if k in ("h0", "c0", "lengths") else v)
               for k, v in args.items()}
        infer = forward(**sub, backend="cpu")
        train = forward(**sub, train=True, backend="cpu")
        assert infer.tape is None and train.tape is not None
        for a, b in zip(infer[:-1], train[:-1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_inputs_unchanged_and_runs_identical(variant, cell):
    for B in (2, 5):
        args, grads = problem(cell, "tanh", (5, B, 3, 6), np.float64, seed=1)
        before = {k: np.copy(v) for k, v in {**args, **grads}.items() if k != "activation"}
        first = run_cell(cell, "cpu", args, grads)
        second = run_cell(cell, "cpu", args, grads)
        for k, v in before.items():
            np.testing.assert_array_equal({**args, **grads}[k], v, err_msg=f"{k} was modified")
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(fastrnn._threads._limit() < 2, reason="needs NUMBA_NUM_THREADS ≥ 2")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_thread_counts_agree(variant, cell):
    """1, 2 (and 3 where allowed: `make test` runs this file once with NUMBA_NUM_THREADS=3)
    threads: shares of the batch and the units that are uneven, and more threads than rows."""
    before = fastrnn.get_num_threads()
    try:
        for B in (1, 2, 7):
            args, grads = problem(cell, "tanh", (6, B, 5, 33), np.float32, seed=2)
            runs = []
            for n in range(1, min(3, fastrnn._threads._limit()) + 1):
                fastrnn.set_num_threads(n)
                assert fastrnn.get_num_threads() == n
                runs.append(run_cell(cell, "cpu", args, grads))
            for run in runs[1:]:
                for name, a, b in zip(NAMES[cell].split(), runs[0], run):
                    assert_close(b, a, f"{cell} B={B} {name}: 1 vs more threads")
    finally:
        fastrnn.set_num_threads(before)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_changing_y_after_forward_leaves_gradients(variant, cell):
    """The tape owns the states it needs: y is the caller's to modify."""
    args, grads = problem(cell, "tanh", (5, 3, 4, 6), np.float64, seed=3)
    want = run_cell(cell, "cpu", args, grads)
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend="cpu")
    out.y[...] = 7.0
    got = [g for g in getattr(fastrnn, f"{cell}_backward")(out.tape, **grads) if g is not None]
    for name, a, b in zip(NAMES[cell].split()[-len(got):], got, want[-len(got):]):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_inference_memory_is_outputs_plus_a_chunk():
    """No (T, B, G·H) projection buffer: what NumPy allocates is y and the states, plus
    a scratch step of gates; the kernels' per-thread chunks are O(CPU_CHUNK_ROWS · G·H)."""
    import tracemalloc
    T, B, I, H = 3000, 4, 8, 16
    args, _ = problem("lstm", "tanh", (T, B, I, H), np.float32)
    fastrnn.lstm_forward(**args, backend="cpu")     # compiled outside the measurement
    tracemalloc.start()
    try:
        out = fastrnn.lstm_forward(**args, backend="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    chunks = fastrnn.get_num_threads() * fastrnn.config.CPU_CHUNK_ROWS * (4 * H + I) * 4
    projection = T * B * 4 * H * 4
    assert chunks < projection / 10      # the test can tell the two apart
    assert peak < out.y.nbytes + 2 * chunks, (peak, out.y.nbytes, chunks)


def _forward_in_child(queue, args):
    queue.put(fastrnn.gru_forward(**args, backend="cpu").y)


def test_a_process_that_used_the_threads_can_fork():
    import multiprocessing
    args, _ = problem("gru", "tanh", (6, 3, 4, 5), np.float64)
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(2)
        want = fastrnn.gru_forward(**args, backend="cpu").y     # the pool's threads exist now
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_forward_in_child, args=(queue, args))
        child.start()
        got = queue.get(timeout=60)
        child.join(timeout=60)
    finally:
        fastrnn.set_num_threads(before)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, want)


def test_calls_from_several_threads_at_once(variant):
    """Concurrent calls share our pool without waiting on each other's barriers, and give
    the results of a lone call (within rounding: a call made while another holds the pool
    runs on one thread, which sums in another order)."""
    from concurrent.futures import ThreadPoolExecutor
    problems = [problem("lstm", "tanh", (20, B, 4, 8), np.float32, seed=B) for B in (1, 2, 5, 1)]
    want = [run_cell("lstm", "cpu", *p) for p in problems]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: run_cell("lstm", "cpu", *p), problems * 3))
    for i, g in enumerate(got):
        for a, b in zip(g, want[i % len(problems)]):
            assert_close(a, b, f"call {i}")


def test_variant_choice_and_unknown_names(monkeypatch):
    from fastrnn.cpu import _driver
    from fastrnn.cpu._driver import variant
    monkeypatch.setattr(fastrnn.config, "CPU_VARIANT", None)
    monkeypatch.delenv("FASTRNN_CPU_VARIANT", raising=False)
    monkeypatch.setattr(_driver, "busy_cores", lambda: 0)
    monkeypatch.setattr(_driver, "CORES", 2)
    small = fastrnn.config.CPU_UNITS_MAX_B
    assert (variant(small, 2), variant(small + 1, 2), variant(1, 1)) == ("units", "batch", "batch")
    # the reverse walk: "units" only where the batch rows cannot keep every thread busy
    assert [variant(B, 2, backward=True) for B in (1, 2)] == ["units", "batch"]
    assert variant(1, 1, backward=True) == "batch"
    # another process keeps a core busy: no barrier per step
    monkeypatch.setattr(_driver, "busy_cores", lambda: 1)
    assert variant(1, 2) == variant(1, 2, backward=True) == "batch"
    monkeypatch.setattr(fastrnn.config, "CPU_AVOID_BUSY_CORES", False)
    assert variant(1, 2) == "units"
    monkeypatch.setenv("FASTRNN_CPU_VARIANT", "units")
    assert variant(64, 2) == "units"
    monkeypatch.setattr(fastrnn.config, "CPU_VARIANT", "batch")     # the attribute wins
    assert variant(1, 2) == "batch"
    monkeypatch.setattr(fastrnn.config, "CPU_VARIANT", "fastest")
    args, _ = problem("rnn", "tanh", (2, 2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="unknown cpu variant 'fastest'.*FASTRNN_CPU_VARIANT"):
        fastrnn.rnn_forward(**args, backend="cpu")


def test_busy_cores_counts_a_spinning_process():
    import subprocess
    import sys
    import time
    from fastrnn.cpu._driver import busy_cores
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("no /proc/loadavg here")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert max(busy_cores() for _ in range(20)) >= 1
    finally:
        spinner.kill()
        spinner.wait()


def test_set_num_threads_sets_ours_and_numpys_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        assert fastrnn.get_num_threads() == 1
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
