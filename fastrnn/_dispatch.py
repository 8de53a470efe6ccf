"""Backend registry and choice.

A backend is a module exposing the kernel contract (DESIGN §3):
``rnn_forward/rnn_backward``, ``lstm_forward/lstm_backward``,
``gru_forward/gru_backward``. Which one runs is decided, first match wins, by

1. the ``backend=`` argument of a call, when it is not None;
2. the innermost ``with fastrnn.use_backend(name):`` block;
3. the ``FASTRNN_BACKEND`` environment variable;
4. "auto": ``cuda`` for device arrays, else ``cpu`` when Numba is installed,
   else ``numpy``. The CUDA simulator is never chosen for speed.
"""
import contextlib
import contextvars
import importlib
import importlib.util
import os

from ._validate import is_device_array

BACKENDS = ("numpy", "cpu", "cuda")
_MODULES = {"numpy": "fastrnn.reference", "cpu": "fastrnn.cpu", "cuda": "fastrnn.cuda"}
_current = contextvars.ContextVar("fastrnn_backend", default=None)


def _why_unavailable(name):
    """None when backend ``name`` can run here, else the reason it cannot."""
    if name == "numpy":
        return None
    if importlib.util.find_spec(_MODULES[name]) is None:
        return f"this fastrnn build has no {_MODULES[name]} module"
    if importlib.util.find_spec("numba") is None:
        return "Numba is not installed (pip install numba)"
    if name == "cpu":
        return None
    if importlib.util.find_spec("numba.cuda") is None:
        return "numba-cuda is not installed (pip install 'fastrnn[cuda]')"
    from numba import config, cuda
    if config.ENABLE_CUDASIM:
        return None
    return None if cuda.is_available() else "no CUDA GPU was found (numba.cuda.is_available() is False)"


def available_backends():
    """The names of the backends that can run on this machine, in order of preference."""
    return [name for name in BACKENDS if _why_unavailable(name) is None]


def _check_name(name, source):
    if name not in BACKENDS + ("auto",):
        raise ValueError(f"unknown backend {name!r} (from {source}); "
                         f"expected one of {BACKENDS + ('auto',)}")
    return name


def current_backend():
    """The backend name in force now: the ``use_backend`` block, else FASTRNN_BACKEND, else "auto"."""
    name = _current.get()
    if name is not None:
        return name
    env = os.environ.get("FASTRNN_BACKEND")
    return _check_name(env, "the FASTRNN_BACKEND environment variable") if env else "auto"


@contextlib.contextmanager
def use_backend(name):
    """Run the calls inside the ``with`` block on backend ``name`` (unless a call says otherwise).

    >>> with fastrnn.use_backend("numpy"):
    ...     out = fastrnn.lstm_forward(x, w_ih, w_hh)
    """
    token = _current.set(_check_name(name, "use_backend"))
    try:
        yield name
    finally:
        _current.reset(token)


def resolve(backend, x=None):
    """Name of the backend a call with ``backend=`` and first input ``x`` runs on."""
    name = current_backend() if backend is None else _check_name(backend, "backend=")
    if name == "auto":
        return "cuda" if is_device_array(x) else ("cpu" if _why_unavailable("cpu") is None else "numpy")
    why = _why_unavailable(name)
    if why is not None:
        raise RuntimeError(f"backend {name!r} is not available: {why}; "
                           f"available: {available_backends()}")
    if is_device_array(x) and name != "cuda":
        raise TypeError(f"x is a CUDA device array but backend {name!r} runs on the host; "
                        f"use backend='cuda' or pass NumPy arrays")
    return name


def get_module(name):
    """The backend module for ``name`` (imported on first use)."""
    return importlib.import_module(_MODULES[name])
