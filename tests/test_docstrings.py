"""Public names have numpydoc docstrings with the sections they need (numpydoc.validate).

Add a module to MODULES once its docstrings follow numpydoc. Its public names are
``__all__``, or else the functions and classes it defines whose names do not start
with ``_``, with their public methods and properties (those they inherit from
fastrnn's own classes too, as the API pages show them). A module in ``__all__`` (the
package's ``nn`` and ``config``) is checked as an entry of MODULES of its own.
"""
import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate")

MODULES = [
    "fastrnn",
    "fastrnn.cells",
    "fastrnn.backends",
    "fastrnn.dask",
    "fastrnn.nn",
    "fastrnn.sequential",
    "fastrnn.keras",
    "fastrnn.pytorch",
    "fastrnn.onnx",
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
NEEDS = {"fastrnn.dask": ("dask", "distributed"), "fastrnn.pytorch": ("torch",), "fastrnn.onnx.backend": ("onnx",)}

#: numpydoc's codes that fail the test: no docstring or summary, parameters not
#: documented, documented but absent or without a description, no Returns or
#: Yields section where there is a value
REQUIRED = {"GL08", "SS01", "PR01", "PR02", "PR07", "RT01", "RT03", "YD01"}
#: ... and for the functions and classes of a module: no Examples section
REQUIRED_TOP = REQUIRED | {"EX01"}


def public_names(module_name):
    """Import paths of the module's public functions and classes, and of their public members."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [
        name for name, obj in vars(module).items()
        if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module_name]
    paths = []
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            assert obj.__name__ in MODULES, f"{module_name}.{name}: add {obj.__name__} to MODULES"
            continue
        paths.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            members = {}      # the subclass's own first, then its fastrnn bases'
            for cls in obj.__mro__:
                if cls.__module__.split(".")[0] == "fastrnn":
                    for member, value in vars(cls).items():
                        members.setdefault(member, value)
            paths += [f"{module_name}.{name}.{member}" for member, value in members.items()
                      if not member.startswith("_")
                      and (inspect.isfunction(value) or isinstance(value, (property, classmethod,
                                                                            staticmethod)))]
    return paths


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_numpydoc_docstrings(module_name):
    for extra in NEEDS.get(module_name, ()):
        pytest.importorskip(extra)
    assert importlib.import_module(module_name).__doc__, f"{module_name} has no docstring"
    problems = []
    for path in public_names(module_name):
        required = REQUIRED_TOP if path.count(".") == module_name.count(".") + 1 else REQUIRED
        for code, message in validate.validate(path)["errors"]:
            if code in required:
                problems.append(f"{path}: {code} {message}")
    assert not problems, "\n".join(problems)
