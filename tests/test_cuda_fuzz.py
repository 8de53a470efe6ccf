"""Fuzzing the cuda backend against the NumPy reference (``make test-cuda``: under the Numba CUDA
simulator, or on a GPU): the draws of tests/test_fuzz.py, NumPy or device inputs, a small fixed
budget (the simulator runs every GPU thread as a Python thread). More on demand:
FASTRNN_FUZZ_CUDA_EXAMPLES=200 (and FASTRNN_FUZZ_SEED for other examples)."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import config, cuda

import test_fuzz as fuzz
from conftest import assert_close

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

EXAMPLES = int(os.environ.get("FASTRNN_FUZZ_CUDA_EXAMPLES", "20"))


@fuzz.fuzz_settings(EXAMPLES)
@given(problem=fuzz.problems(), on_device=st.booleans())
def test_cuda_matches_the_reference(problem, on_device):
    cell, activation, args, grads = problem
    names, ref = fuzz.run(cell, "numpy", activation, args, grads)
    if on_device:
        args = {k: cuda.to_device(v) if isinstance(v, np.ndarray) and k != "lengths" else v
                for k, v in args.items()}
        grads = {k: cuda.to_device(v) for k, v in grads.items()}
    _, got = fuzz.run(cell, "cuda", activation, args, grads)
    T, B, I = args["x"].shape
    for name, g, r in zip(names, got, ref):
        assert_close(g, r, f"{cell} {activation} {r.dtype} T,B,I,H={T},{B},{I},"
                           f"{ref[1].shape[1]} device={on_device}: {name}")
