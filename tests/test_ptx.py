"""Every cuda-backend kernel compiles to PTX, for float32 and float64, without a GPU.

The CUDA simulator runs kernels as Python and so misses typing errors that
real compilation catches; ``cuda.compile_ptx`` runs the whole Numba → NVVM
pipeline. It needs NVVM and NVRTC (the ``nvidia-nvvm`` and
``nvidia-cuda-nvrtc`` wheels of the ``cuda`` extra), and cannot run under the
simulator, so this file has no "cuda" in its name: it runs with the host tests.
The argument types below are the ones the drivers launch with (C-contiguous
arrays, int64 scalars and lengths, bool flags).
"""
import inspect
import types

import numpy as np
import pytest

numba = pytest.importorskip("numba")
if numba.config.ENABLE_CUDASIM:
    pytest.skip("compile_ptx needs real Numba, not the CUDA simulator", allow_module_level=True)
cuda = pytest.importorskip("numba.cuda")

#: H100/H200 (sm_90); given explicitly so no GPU is needed to pick one
CC = (9, 0)


def _ptx_unavailable():
    """None when compile_ptx works here, else the reason."""
    def probe_kernel(a):
        a[0] = 1
    try:
        cuda.compile_ptx(probe_kernel, (numba.types.float32[::1],), cc=CC)
    except Exception as e:   # missing libnvvm / libnvrtc surface as various errors
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return None


@pytest.fixture(scope="module")
def compile_ptx():
    """cuda.compile_ptx at CC; without a GPU, device functions are told CC too.

    (numba-cuda compiles a device function called from a kernel for the
    current device's compute capability, which needs a driver.)
    """
    why = _ptx_unavailable()
    if why is not None:
        pytest.skip(f"cannot compile PTX here: NVVM/NVRTC not found ({why}); "
                    f"pip install 'fastrnn[cuda]' provides them")
    import numba.cuda.dispatcher as dispatcher
    with pytest.MonkeyPatch.context() as mp:
        if not cuda.is_available():
            mp.setattr(dispatcher, "get_current_device",
                       lambda: types.SimpleNamespace(compute_capability=CC))
        # opt=False: typing, lowering and NVVM's verifier are what is tested; optimising
        # would only double the time (and a float32 kernel must be free of float64 even then)
        yield lambda kernel, sig: cuda.compile_ptx(kernel.py_func, sig, cc=CC, opt=False)[0]


def _signatures(dtype):
    """kernel name -> argument types, as the drivers launch them."""
    from numba import types as nt
    f = numba.from_dtype(np.dtype(dtype))
    a1, a2, a3 = (nt.Array(f, n, "C") for n in (1, 2, 3))
    i64, flag, lengths = nt.int64, nt.boolean, nt.Array(nt.int64, 1, "C")
    # forward: t (or T), w_hh, xw, b_ih, b_hh, lengths, act[, sig], y, hs, then the cell's extra
    head = (i64, a2, a3, a1, a1, lengths, i64)
    forward, gated_forward = head + (a3, a3), head + (i64, a3, a3)
    # backward: t (or T), w_hh, dy, lengths, act[, sig], dh, da, then the cell's tape and carries
    backward = (i64, a2, a3, lengths, i64, a2, a3)
    gated_backward = (i64, a2, a3, lengths, i64, i64, a2, a3)
    # family -> (forward, backward, the phases of a forward step, of a backward step)
    families = {
        "rnn": (forward, backward + (a3,), ("",), ("",)),                 # - | hs
        "lstm": (gated_forward + (a3,), gated_backward + (a3, a3, a2),    # cs | gates, cs, dc
                 ("",), ("",)),
        "gru": (gated_forward + (a3,), gated_backward + (a3,) * 4,        # gh_n | gates, hs,
                ("",), ("",)),                                             # gh_n, dgi
        # reset_after=False: two kernels a step, the same arguments for both
        "gru_before": (gated_forward + (a3,), gated_backward + (a3,) * 3,  # q | gates, hs, dan
                       ("_rz", "_n"), ("_zn", "_r")),
        # the LSTM with a projection: two kernels a step; cs, w_hr, ms | gates, cs, dc, w_hr, dhs
        "lstm_proj": (gated_forward + (a3, a2, a3), gated_backward + (a3, a3, a2, a2, a3),
                      ("_cell", "_h"), ("_h", "_cell")),
    }
    sigs = {"gemm_kernel": (a2, a2, a2, flag, flag, flag), "colsum_kernel": (a2, a1)}
    for family, (fwd, bwd, fwd_phases, bwd_phases) in families.items():
        sigs[f"{family}_persistent_kernel"] = fwd
        sigs[f"{family}_grad_persistent_kernel"] = bwd
        for phase in fwd_phases:
            sigs[f"{family}{phase}_step_kernel"] = fwd
        for phase in bwd_phases:
            sigs[f"{family}_grad{phase}_step_kernel"] = bwd
    return sigs


def test_the_driver_launches_every_step_kernel():
    """The driver's table of step and persistent kernels is exactly the cells' kernels."""
    from fastrnn.cuda import driver
    launched = {kernel.py_func.__name__ for phases, persistent in driver.STEP_KERNELS.values()
                for kernel in (*phases, persistent)}
    assert launched == set(_kernels()) - {"gemm_kernel", "colsum_kernel"}


def _kernels():
    """Every ``*_kernel`` of the cuda backend's modules."""
    from fastrnn.cuda import cells, gemm
    return {name: obj for module in (cells, gemm)
            for name, obj in inspect.getmembers(module) if name.endswith("_kernel")}


def test_every_kernel_has_a_signature():
    assert set(_kernels()) == set(_signatures("float32"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_kernel_compiles_to_ptx(compile_ptx, dtype):
    for name, kernel in _kernels().items():
        ptx = compile_ptx(kernel, _signatures(dtype)[name])
        assert ".entry" in ptx, name
        if dtype == "float32":
            # float32 kernels must not promote to float64 (a Python float constant would)
            assert ".f64" not in ptx, f"{name}: float64 arithmetic in the float32 kernel"
