"""Shared test helpers: the tolerances per dtype (kept here, and only here) and the oracle comparison.

A backend is compared with the NumPy reference element-wise as
``|got - ref| <= atol + rtol * |ref|``.

- float64: the backends sum the same products in a different order (blocked
  GEMMs, gradients accumulated in another sequence), so they differ from the
  reference by a few ulps per reduction, amplified along the time recursion.
  atol 1e-12 / rtol 1e-9 leaves ~4 decimal orders of headroom over what
  T ≤ 30 steps produce (≈1e-14) and still catches any real error.
- float32: the same reasoning with eps = 6e-8: reductions of up to a few
  hundred terms over up to 30 steps give ~1e-6 relative; atol 1e-5 /
  rtol 1e-4 catches a wrong sign, gate, mask or index while allowing it.
"""
import contextlib
import itertools

import numpy as np
import pytest

import fastrnn

from fastrnn.cells import CELLS, OPTIONS, random_problem  # noqa: F401  (re-exported)
from fastrnn.check import run_cell  # noqa: F401  (re-exported for the tests)


def cell_options(cell, skip=()):
    """Every combination of the options ``cell`` declares (``fastrnn.cells``), as dicts of
    keyword arguments of its functional forward; the options in ``skip`` keep their default."""
    names = [n for n in CELLS[cell].options if n not in skip]
    return [dict(zip(names, values))
            for values in itertools.product(*(OPTIONS[n].choices for n in names))]


#: (cell, options) for every cell and every combination of its options: the test matrix
#: a new cell or option joins without new test code
CELL_VARIANTS = [(cell, options) for cell in CELLS for options in cell_options(cell)]
#: the variants of the cells that can have a projection (the LSTM's proj_size, ``w_hr``),
#: each run with one on every backend
PROJECTING = [(cell, options) for cell, options in CELL_VARIANTS if CELLS[cell].projects]


def variant_id(cell, options):
    """A short test id: the cell and its options' values."""
    return "-".join([cell, *(f"{k}={v}" for k, v in options.items())])

#: the host backends here (cuda's tests live in files named *cuda*)
HOST_BACKENDS = [b for b in fastrnn.available_backends() if b != "cuda"]
#: every host backend, the cpu backend once per forward variant
VARIANTS = ["numpy"] + (["cpu-batch", "cpu-units"] if "cpu" in HOST_BACKENDS else [])


@contextlib.contextmanager
def variant(name):
    """The backend of ``name`` ("numpy", "cpu-batch", "cpu-units"), with that cpu variant set."""
    backend, _, cpu_variant = name.partition("-")
    old = fastrnn.config.CPU_VARIANT
    fastrnn.config.CPU_VARIANT = cpu_variant or old
    try:
        yield backend
    finally:
        fastrnn.config.CPU_VARIANT = old


TOLERANCES = {
    np.dtype(np.float64): dict(atol=1e-12, rtol=1e-9),
    np.dtype(np.float32): dict(atol=1e-5, rtol=1e-4),
}


def assert_close(got, ref, what=""):
    """Element-wise ``|got - ref| <= atol + rtol |ref|`` with the tolerance of ref's dtype; same dtype too."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, expected {ref.dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    np.testing.assert_allclose(got, ref, err_msg=what, **TOLERANCES[ref.dtype])


def pytest_collection_modifyitems(config, items):
    """Tests in files named *cuda* carry the ``cuda`` marker (run by `make test-cuda`)."""
    for item in items:
        if "cuda" in item.path.name:
            item.add_marker(pytest.mark.cuda)
