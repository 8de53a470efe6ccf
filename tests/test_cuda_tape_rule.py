"""The tape's rule on the cuda backend (``make test-cuda``: under the Numba CUDA simulator, or on
a GPU): after a forward with train=True, changing y, x or the weights (w_hr of a projection
too) in place, on the host or on the device, never changes what backward returns. Tiny shapes:
the simulator runs every GPU thread as a Python thread."""
import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from fastrnn.check import CELLS

from conftest import random_problem

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

SHAPE = (3, 2, 2, 3)    # T, B, I, H; lengths 3 and 0


def _host(a):
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def _change(a):
    """Change every entry in place: a NumPy array, or a device array (through a host copy)."""
    new = -2 * _host(a) + 0.5
    if isinstance(a, np.ndarray):
        a[...] = new
    else:
        a.copy_to_device(new.astype(a.dtype))


def _grads(cell, args, grads, on_device, what=None):
    args = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    if on_device:
        args = {k: cuda.to_device(v) if k != "lengths" else v for k, v in args.items()}
        grads = {k: cuda.to_device(v) for k, v in grads.items()}
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend="cuda")
    for name in what or ():
        _change(args[name] if name in args else getattr(out, name))
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    return [_host(g) for g in back if g is not None]     # dw_hr: None without a projection


#: (cell, P): every cell, and the LSTM with a projection of P = 2 units (w_hr)
CASES = [(cell, None) for cell in CELLS] + [("lstm", 2)]


@pytest.mark.parametrize("on_device", [False, True], ids=["numpy-inputs", "device-inputs"])
@pytest.mark.parametrize("cell, proj", CASES,
                         ids=[cell + (f"-proj_size={p}" if p else "") for cell, p in CASES])
def test_cuda_backward_ignores_in_place_changes(cell, proj, on_device):
    args, grads = random_problem(cell, *SHAPE, np.float64, seed=1, P=proj)
    want = _grads(cell, args, grads, on_device)
    for what in (["y"], ["x"], ["w_ih", "w_hh"]) + ((["w_hr"],) if proj else ()):
        got = _grads(cell, args, grads, on_device, what)
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_array_equal(g, w, err_msg=f"{cell}: changing {what}: gradient #{k}")
