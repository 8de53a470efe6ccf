"""Which backend a call runs on (the backends themselves: ``fastrnn.backends``).

Decided, first match wins, by

1. the ``backend=`` argument of a call, when it is not None;
2. the innermost ``with fastrnn.use_backend(name):`` block;
3. the ``FASTRNN_BACKEND`` environment variable;
4. "auto": ``cuda`` for device arrays, else ``cpu`` when Numba is installed,
   else ``numpy``. The CUDA simulator is never chosen for speed.
"""
import contextlib
import contextvars
import os

from . import backends
from ._validate import is_device_array

_current = contextvars.ContextVar("fastrnn_backend", default=None)


def _why_unavailable(name):
    """None when backend ``name`` can run here, else the reason it cannot."""
    return backends.get(name).why_unavailable()


def available_backends():
    """The names of the backends that can run on this machine, in order of preference.

    A backend is missing when what it needs is not (Numba for "cpu"; numba.cuda and
    a GPU, or the CUDA simulator, for "cuda"); ``fastrnn info`` says why.

    Returns
    -------
    list of str
        Names of ``fastrnn.backends.names()``, "numpy" (the reference) always among
        them.

    See Also
    --------
    use_backend : Choose the backend of the calls in a block.
    current_backend : The backend in force now.

    Examples
    --------
    >>> import fastrnn
    >>> "numpy" in fastrnn.available_backends()
    True
    >>> fastrnn.available_backends()        # doctest: +SKIP
    ['numpy', 'cpu']
    """
    return [name for name in backends.names() if _why_unavailable(name) is None]


def _check_name(name, source):
    if name not in backends.names() + ("auto",):
        raise ValueError(f"unknown backend {name!r} (from {source}); "
                         f"expected one of {backends.names() + ('auto',)}")
    return name


def current_backend():
    """The backend name in force now: the ``use_backend`` block, else FASTRNN_BACKEND, else "auto".

    What a call with ``backend=None`` runs on (for "auto", the backend is picked per
    call: "cuda" for device arrays, else "cpu" when Numba is installed, else "numpy").

    Returns
    -------
    str
        "auto" or a backend's name.

    Raises
    ------
    ValueError
        If the FASTRNN_BACKEND environment variable names no backend.

    See Also
    --------
    use_backend : Choose the backend of the calls in a block.
    available_backends : The backends that can run here.

    Examples
    --------
    >>> import fastrnn
    >>> with fastrnn.use_backend("numpy"):
    ...     fastrnn.current_backend()
    'numpy'
    """
    name = _current.get()
    if name is not None:
        return name
    env = os.environ.get("FASTRNN_BACKEND")
    return _check_name(env, "the FASTRNN_BACKEND environment variable") if env else "auto"


@contextlib.contextmanager
def use_backend(name):
    """Run the calls inside the ``with`` block on backend ``name`` (unless a call says otherwise).

    The innermost block wins; a call's own ``backend=`` wins over any block. The
    setting is a context variable: a block in one thread does not change the backend
    of the others.

    Parameters
    ----------
    name : {"auto", "numpy", "cpu", "cuda"}
        The backend's name (``fastrnn.backends.names()``) or "auto".

    Yields
    ------
    str
        ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a backend's name nor "auto" (when the block is entered).

    See Also
    --------
    current_backend : The backend in force now.
    available_backends : The backends that can run here.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> x = np.ones((5, 2, 3), np.float32)
    >>> w_ih = np.full((16, 3), 0.1, np.float32)
    >>> w_hh = np.full((16, 4), 0.1, np.float32)
    >>> with fastrnn.use_backend("numpy"):
    ...     out = fastrnn.lstm_forward(x, w_ih, w_hh, train=True)
    >>> out.tape.backend
    'numpy'
    """
    token = _current.set(_check_name(name, "use_backend"))
    try:
        yield name
    finally:
        _current.reset(token)


def resolve(backend, x=None):
    """Name of the backend a call with ``backend=`` and first input ``x`` runs on."""
    name = current_backend() if backend is None else _check_name(backend, "backend=")
    device = is_device_array(x)
    if name == "auto":
        # device arrays: the first device backend (if it cannot run, the error below says
        # why); host arrays: the first that can run other than the reference, else it
        fits = [b for b in backends.names() if backends.get(b).device == device]
        name = fits[0] if device else next(
            (b for b in fits if b != "numpy" and _why_unavailable(b) is None), "numpy")
    why = _why_unavailable(name)
    if why is not None:
        raise RuntimeError(f"backend {name!r} is not available: {why}; "
                           f"available: {available_backends()}")
    if device and not backends.get(name).device:
        raise TypeError(f"x is a CUDA device array but backend {name!r} runs on the host; "
                        f"use backend='cuda' or pass NumPy arrays")
    return name


def get_module(name):
    """The backend module for ``name`` (imported on first use)."""
    return backends.get(name).kernels()
