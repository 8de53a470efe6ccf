"""The cuda backend at realistic sizes on a real GPU (skipped without one, and under the simulator).

Same comparison as tests/test_cuda.py, at shapes where the GPU tiles are
full in some dimensions and ragged in others (H = 100 is no multiple of the
16/64 tiles), plus inputs from CuPy and PyTorch through
``__cuda_array_interface__`` when those are installed. ``benchmarks/gpu_check.sh``
runs this file on a lent GPU.
"""
import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from conftest import assert_close, random_problem, run_cell

if config.ENABLE_CUDASIM or not cuda.is_available():
    pytest.skip("needs a real CUDA GPU", allow_module_level=True)

#: T, B, I, H: lengths spread over T..0; float32 reductions stay within a few hundred terms
SHAPE = (24, 16, 60, 100)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"),
                                              ("lstm", "relu"), ("gru", "tanh"), ("gru", "relu")])
def test_matches_the_reference_at_a_realistic_size(cell, activation, dtype):
    args, grads = random_problem(cell, *SHAPE, dtype, seed=5)
    args["activation"] = activation
    for i, (g, r) in enumerate(zip(run_cell(cell, "cuda", args, grads),
                                   run_cell(cell, "numpy", args, grads))):
        assert_close(g, r, f"{cell}/{activation}/{dtype} output {i}")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_persistent_kernels_match_the_reference(cell, monkeypatch):
    """One cooperative launch per pass, many blocks meeting at grid barriers."""
    from fastrnn.cuda import driver
    monkeypatch.setattr(driver, "PERSISTENT", True)
    args, grads = random_problem(cell, *SHAPE, "float64", seed=7)
    for i, (g, r) in enumerate(zip(run_cell(cell, "cuda", args, grads),
                                   run_cell(cell, "numpy", args, grads))):
        assert_close(g, r, f"persistent {cell} output {i}")


@pytest.mark.parametrize("persistent", [False, True], ids=["step-kernels", "persistent"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_projection_matches_the_reference(dtype, persistent, monkeypatch):
    """The LSTM with w_hr (P = 40 of H = 100): two kernels a step, or two grid barriers."""
    from fastrnn.cuda import driver
    monkeypatch.setattr(driver, "PERSISTENT", persistent)
    args, grads = random_problem("lstm", *SHAPE, dtype, seed=8, P=40)
    for i, (g, r) in enumerate(zip(run_cell("lstm", "cuda", args, grads),
                                   run_cell("lstm", "numpy", args, grads))):
        assert_close(g, r, f"projection/{dtype}/persistent={persistent} output {i}")


@pytest.mark.parametrize("library", ["cupy", "torch"])
def test_cuda_array_interface_inputs_stay_on_the_device(library):
    """CuPy arrays and PyTorch CUDA tensors go in without a copy; device arrays come out."""
    lib = pytest.importorskip(library)
    if library == "torch" and not lib.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    def to_dev(a):
        return lib.asarray(a) if library == "cupy" else lib.from_numpy(a).cuda()
    args, grads = random_problem("gru", 8, 4, 12, 20, "float32", seed=6)
    dev = {k: (to_dev(v) if k != "lengths" else v) for k, v in args.items()}
    out = fastrnn.gru_forward(**dev, train=True)
    back = fastrnn.gru_backward(out.tape, **{k: to_dev(v) for k, v in grads.items()})
    ref = run_cell("gru", "numpy", args, grads)
    for i, (g, r) in enumerate(zip((*out[:-1], *back), ref)):
        assert not isinstance(g, np.ndarray)
        assert_close(g.copy_to_host(), r, f"{library} output {i}")
