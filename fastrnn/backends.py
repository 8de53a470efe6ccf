"""The backends, registered once (docs/design.md, "Backends").

A backend is a module with the kernel contract: for every cell it has,
``<cell>_forward`` and ``<cell>_backward`` with the signatures of the NumPy
reference (``fastrnn.reference``), and for device backends ``own`` (a private
copy of an input, for the tape) and ``zeros`` (a default bias or state on the
device). The registry says, without importing the module, whether the backend
can run here (and why not), whether it takes device arrays, and which cells it
has. Dispatch (``fastrnn._dispatch``), ``fastrnn info``, the CLI's
``--backend`` choices, ``fastrnn bench`` and the asv suite iterate over it.
"""
import importlib
import importlib.util
from typing import Callable, NamedTuple

from .cells import CELLS


def _cuda_device():
    """None when numba.cuda has a GPU (or the simulator) here, else why not."""
    from numba import config, cuda
    if config.ENABLE_CUDASIM:
        return None
    if cuda.is_available():
        return None
    return "no CUDA GPU was found (numba.cuda.is_available() is False)"


class Backend(NamedTuple):
    """One backend's registration.

    Parameters
    ----------
    name : str
        The name users pass: ``backend="cpu"``.
    module : str
        The module with the kernel contract (module docstring), imported on first use.
    requires : tuple of (str, str)
        (module, how to install it) pairs: modules that must be importable.
    device : bool
        Whether it takes device arrays (``__cuda_array_interface__``).
    cells : tuple of str
        The cells it has kernels for.
    doc : str
        One line for ``fastrnn info``.
    probe : callable, optional
        ``probe()`` -> None, or why it cannot run, after ``requires`` are met (e.g.
        no GPU); None: nothing more to check.
    variants : tuple of str, default ()
        Its kernel variants, if it has several (``fastrnn.config``).

    See Also
    --------
    register : Add one to the registry.
    get : The registration of a name.

    Examples
    --------
    >>> from fastrnn import backends
    >>> cpu = backends.get("cpu")
    >>> cpu.module, cpu.device, cpu.cells, cpu.variants
    ('fastrnn.cpu', False, ('rnn', 'lstm', 'gru'), ('batch', 'units'))
    """
    name: str                  # the name users pass: backend="cpu"
    module: str                # the module with the kernel contract, imported on first use
    requires: tuple            # (module, how to install it) that must be importable
    device: bool               # takes device arrays (``__cuda_array_interface__``)
    cells: tuple               # the cells it has kernels for
    doc: str                   # one line for ``fastrnn info``
    probe: Callable = None     # () -> None or why it cannot run, after ``requires`` are met
    variants: tuple = ()       # its kernel variants, if it has several (``fastrnn.config``)

    def why_unavailable(self):
        """None when this backend can run here, else the reason it cannot.

    Looks for its module and ``requires`` without importing them, then runs
    ``probe``.

    Returns
    -------
    str or None
        Why it cannot run, e.g. "numba is not installed (pip install numba)".

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.get("numpy").why_unavailable() is None
    True
        """
        if importlib.util.find_spec(self.module) is None:
            return f"this fastrnn build has no {self.module} module"
        for module, install in self.requires:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed ({install})"
        return self.probe() if self.probe else None

    def kernels(self):
        """The backend's module (imported now, once).

    Returns
    -------
    module
        The module named ``module``, with the kernel contract.

    Raises
    ------
    ImportError
        If it cannot be imported (see `why_unavailable`).

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.get("numpy").kernels().__name__
    'fastrnn.reference'
        """
        return importlib.import_module(self.module)

    def kernel(self, cell, way):
        """The backend's ``<cell>_<way>`` function.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        One of ``cells``.
    way : {"forward", "backward"}
        Which kernel.

    Returns
    -------
    callable
        The kernel, with the signature of the NumPy reference's.

    Raises
    ------
    AttributeError
        If the module has no such function.

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.get("numpy").kernel("gru", "forward").__name__
    'gru_forward'
        """
        return getattr(self.kernels(), f"{cell}_{way}")


_NUMBA = ("numba", "pip install numba")
#: every backend by name, in order of preference for host arrays
REGISTRY = {}


def register(backend):
    """Add ``backend`` (a ``Backend``) to the registry; its name must be new.

    Registered backends are tried for "auto" after those before them (``REGISTRY``
    keeps the order), and become choices of ``backend=``, ``fastrnn info`` and the
    CLI's ``--backend``.

    Parameters
    ----------
    backend : Backend
        The registration.

    Returns
    -------
    Backend
        ``backend``.

    Raises
    ------
    ValueError
        If a backend of that name is registered already, or the name is "auto".

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.register(backends.get("numpy"))
    Traceback (most recent call last):
        ...
    ValueError: a backend named 'numpy' is registered already
    """
    if backend.name in REGISTRY or backend.name == "auto":
        raise ValueError(f"a backend named {backend.name!r} is registered already")
    REGISTRY[backend.name] = backend
    return backend


register(Backend("numpy", "fastrnn.reference", (), False, tuple(CELLS),
                 "the NumPy reference: readable loops, the test oracle"))
register(Backend("cpu", "fastrnn.cpu", (_NUMBA,), False, tuple(CELLS),
                 "Numba kernels on fastrnn's own threads", variants=("batch", "units")))
register(Backend("cuda", "fastrnn.cuda",
                 (_NUMBA, ("numba.cuda", "pip install 'fastrnn[cuda]'")), True, tuple(CELLS),
                 "numba.cuda kernels on an NVIDIA GPU", _cuda_device))


def names():
    """Every registered backend's name.

    Returns
    -------
    tuple of str
        In order of registration (of preference for host arrays), whether or not
        each can run here (``fastrnn.available_backends()`` says which can).

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.names()
    ('numpy', 'cpu', 'cuda')
    """
    return tuple(REGISTRY)


def get(name):
    """The registration of backend ``name``.

    Parameters
    ----------
    name : str
        One of `names`.

    Returns
    -------
    Backend
        Its registration.

    Raises
    ------
    KeyError
        If no backend has that name.

    Examples
    --------
    >>> from fastrnn import backends
    >>> backends.get("cuda").device
    True
    """
    return REGISTRY[name]
