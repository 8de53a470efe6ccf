"""The Examples sections of the docstrings run as written (doctest).

Add a module to MODULES once its docstrings have numpydoc Examples.
"""
import doctest
import importlib

import pytest

MODULES = [
    "fastrnn.nn",
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


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
