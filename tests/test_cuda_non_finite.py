"""The non-finite policy on the cuda backend (``make test-cuda``: under the Numba CUDA simulator,
or on a GPU): NaN and ±inf in x propagate as in the NumPy reference, and check_finite=True
names the input, for NumPy and device arrays. Tiny shapes."""
import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from fastrnn.check import CELLS

from conftest import assert_close, random_problem, run_cell

#: the simulator computes in Python and NumPy scalars, which warn on inf - inf and 0·inf
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)


def _nan_aware_equal(got, ref, what):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN positions")
    np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(ref) * np.sign(ref),
                                  err_msg=f"{what}: inf positions")
    fin = np.isfinite(ref)
    assert_close(np.where(fin, got, 0), np.where(fin, ref, 0), what)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("cell", CELLS)
def test_cuda_non_finite_input_propagates_as_in_the_reference(cell, value, activation):
    args, grads = random_problem(cell, 3, 2, 2, 3, np.float64, seed=7)
    args["lengths"] = None
    args["activation"] = activation
    args["x"][1, 0, 1] = value
    with np.errstate(over="ignore", invalid="ignore"):
        ref = run_cell(cell, "numpy", args, grads)
        got = run_cell(cell, "cuda", args, grads)
    for i, (g, r) in enumerate(zip(got, ref)):
        _nan_aware_equal(g, r, f"{cell} {activation} x[1,0,1]={value} output/gradient #{i}")


@pytest.mark.parametrize("on_device", [False, True], ids=["numpy-inputs", "device-inputs"])
def test_cuda_check_finite_names_the_argument(on_device):
    args, _ = random_problem("gru", 2, 2, 2, 3, np.float32)
    args["h0"][1, 2] = np.nan
    if on_device:
        args = {k: cuda.to_device(v) if k != "lengths" else v for k, v in args.items()}
    with pytest.raises(ValueError, match="^h0 holds NaN or inf"):
        fastrnn.gru_forward(**args, check_finite=True, backend="cuda")
