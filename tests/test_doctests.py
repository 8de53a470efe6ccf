"""The Examples sections of the docstrings run as written (doctest).

Add a module to MODULES once its docstrings have numpydoc Examples. ``doctest.testmod``
collects the examples of the objects a module defines (whose ``__module__`` is the
module's name): the package's names are listed by the modules that define them
(``fastrnn`` itself: the named tuples of ``fastrnn.functional``, made there).
"""
import doctest
import importlib

import pytest

MODULES = [
    "fastrnn",
    "fastrnn.functional",
    "fastrnn.tape",
    "fastrnn.layers",
    "fastrnn._dispatch",
    "fastrnn.cells",
    "fastrnn.backends",
    "fastrnn.dask",
    "fastrnn.nn",
    "fastrnn.sequential",
    "fastrnn.keras",
    "fastrnn.pytorch",
    "fastrnn.onnx.session",
    "fastrnn.onnx.export",
    "fastrnn.onnx.backend",
    "fastrnn.stream",
    "fastrnn.config",
    "fastrnn._threads",
    "fastrnn.cli",
    "fastrnn.demo",
    "fastrnn.data",
    "fastrnn.predict",
    "fastrnn.check",
    "fastrnn.info",
    "fastrnn.warmup",
]
#: what a module of MODULES needs besides fastrnn's dependencies (an extra): skipped without it
NEEDS = {"fastrnn.dask": ("dask", "distributed"), "fastrnn.pytorch": ("torch",), "fastrnn.onnx.session": ("onnx",),
         "fastrnn.onnx.export": ("onnx",), "fastrnn.onnx.backend": ("onnx",)}


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    for extra in NEEDS.get(name, ()):
        pytest.importorskip(extra)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
