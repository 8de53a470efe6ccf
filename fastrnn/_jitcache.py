"""Numba's disk cache, keyed on every module a cached function may call, not only its own.

Numba keys a cached function on the contents of its own source file. But a
compiled function carries its own machine code of every function it calls
(``cpu/_loops.py``'s time loops hold the microkernel's callers from
``cpu/_tile.py``, the gate kernels of ``cpu/_cells.py``...), so a change to
one module alone left the cache of the others valid: a checkout in an
editable install, or an upgrade (pip leaves Numba's ``.nbi``/``.nbc`` files
in ``__pycache__``), that changed ``_tile.py`` and not ``_loops.py`` loaded
the old loops, which called the new microkernel with the old arguments: the
forward returned at once with wrong numbers (seen with a git worktree).

So every function fastrnn compiles with ``cache=True`` is stamped with the
digest of all the ``.py`` files of its own package directory (where each
module's Numba callees live) as well as Numba's own stamp:

    install(caching)   put a ``Locator`` first among the module's locator classes

for Numba's ``numba.core.caching.CacheImpl`` (``install_numba``, called by
``fastrnn.cpu`` and ``fastrnn._adam`` before they define a kernel) and
numba-cuda's ``numba.cuda.core.caching.CacheImpl`` (``install_cuda``, when
the cuda backend is imported). A ``Locator`` wraps the locator Numba would
have chosen (the same cache directory) for files inside fastrnn and declines
every other file.
"""
import functools
import hashlib
import os

#: the fastrnn package directory: functions defined below it are ours
ROOT = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def sources_digest(directory):
    """SHA-256 of the names and contents of the ``.py`` files in ``directory`` (read once per
    process)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            with open(os.path.join(directory, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


def _ours(py_file):
    return os.path.abspath(py_file).startswith(ROOT + os.sep)


def locator_class(caching, originals):
    """A locator class of the module ``caching`` that wraps the first of ``originals`` (the
    locator classes Numba tries) to accept one of fastrnn's functions."""

    class Locator(caching._CacheLocator):
        """Numba's locator for one of fastrnn's functions, with the package directory's
        sources in its stamp."""
        fastrnn = True

        def __init__(self, inner, py_file):
            self._inner, self._directory = inner, os.path.dirname(os.path.abspath(py_file))

        def ensure_cache_path(self):
            self._inner.ensure_cache_path()

        def get_cache_path(self):
            return self._inner.get_cache_path()

        def get_source_stamp(self):
            return self._inner.get_source_stamp(), sources_digest(self._directory)

        def get_disambiguator(self):
            return self._inner.get_disambiguator()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _ours(py_file):
                return None
            for original in originals:
                inner = original.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner, py_file)
            return None

    return Locator


def install(caching):
    """Put a ``Locator`` first among the locator classes of a Numba caching module (once).
    Its cache machinery is ``CacheImpl`` (Numba ≥ 0.61, numba-cuda) or ``_CacheImpl``
    (earlier Numba); a module with neither, or without ``_CacheLocator``, is left as it is:
    its cache then works as Numba made it."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if (classes is not None and hasattr(caching, "_CacheLocator")
            and not any(getattr(c, "fastrnn", False) for c in classes)):
        classes.insert(0, locator_class(caching, tuple(classes)))


def install_numba():
    """``install`` for Numba's CPU cache: the first thing the modules that compile with it
    (``fastrnn.cpu``, ``fastrnn._adam``) do, so that ``import fastrnn`` still loads no
    Numba."""
    from numba.core import caching
    install(caching)


def install_cuda():
    """``install`` for numba-cuda's cache (the cuda backend calls it on import)."""
    from numba.cuda.core import caching
    install(caching)
