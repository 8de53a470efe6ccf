"""Backend choice: argument, context manager, environment variable, "auto"; the kernel contract."""
import importlib.util
import inspect

import numpy as np
import pytest

import fastrnn
from fastrnn import _dispatch, backends
from fastrnn.cells import random_problem


@pytest.mark.parametrize("name", [b for b in backends.names()
                                  if importlib.util.find_spec(backends.get(b).module)])
def test_every_backend_module_follows_the_kernel_contract(name):
    """For every cell it declares, the reference's function names and signatures
    (docs/design.md, "Backends"); a device backend also has own and zeros."""
    backend, ref = backends.get(name), backends.get("numpy")
    for cell in backend.cells:
        for way in ("forward", "backward"):
            assert inspect.signature(backend.kernel(cell, way)) == \
                inspect.signature(ref.kernel(cell, way)), (cell, way)
    if backend.device:
        assert callable(backend.kernels().own) and callable(backend.kernels().zeros)


def _which_backend(**kw):
    args, _ = random_problem("rnn", 2, 1, 2, 3, np.float64)
    return fastrnn.rnn_forward(**args, train=True, **kw).tape.backend


def test_auto_picks_cpu_when_available_else_numpy(monkeypatch):
    monkeypatch.delenv("FASTRNN_BACKEND", raising=False)
    expected = "cpu" if "cpu" in fastrnn.available_backends() else "numpy"
    assert _which_backend() == expected
    assert _which_backend(backend="auto") == expected


def test_precedence_argument_context_environment(monkeypatch):
    monkeypatch.setenv("FASTRNN_BACKEND", "numpy")
    assert fastrnn.current_backend() == "numpy"
    assert _which_backend() == "numpy"
    with fastrnn.use_backend("auto"):
        assert fastrnn.current_backend() == "auto"
        with fastrnn.use_backend("numpy"):
            assert _which_backend() == "numpy"
        assert fastrnn.current_backend() == "auto"
    with fastrnn.use_backend("numpy"):
        assert _which_backend(backend="numpy") == "numpy"


def test_unknown_backends_are_refused(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown backend 'gpu' \(from backend=\)"):
        _which_backend(backend="gpu")
    with pytest.raises(ValueError, match=r"unknown backend 'fast' \(from use_backend\)"):
        with fastrnn.use_backend("fast"):
            pass
    monkeypatch.setenv("FASTRNN_BACKEND", "torch")
    with pytest.raises(ValueError, match="from the FASTRNN_BACKEND environment variable"):
        _which_backend()


def test_unavailable_backend_says_why(monkeypatch):
    monkeypatch.setattr(_dispatch, "_why_unavailable",
                        lambda name: None if name == "numpy" else "no such hardware")
    with pytest.raises(RuntimeError, match=r"backend 'cuda' is not available: no such hardware; "
                                           r"available: \['numpy'\]"):
        _which_backend(backend="cuda")
    assert _which_backend() == "numpy"      # auto falls back to the reference

