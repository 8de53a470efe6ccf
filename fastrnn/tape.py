"""The tape: what a training forward of the functional API keeps for its backward.

A leaf module (it imports nothing of fastrnn's), so that the argument checks,
the dispatch and the functional API can all name it without an import cycle.
What the tape owns and why is in docs/design.md, "Tape ownership".
"""
from typing import Any, NamedTuple

import numpy as np


class Tape(NamedTuple):
    """What a training forward keeps for its backward. Treat it as opaque."""
    cell: str          # "rnn" | "lstm" | "gru": a name of ``fastrnn.cells.CELLS``
    backend: str       # the backend that made it, and that runs its backward
    dims: tuple        # (T, B, I, H, P): P = H, or the LSTM's projection size
    dtype: np.dtype
    host: bool         # True for NumPy inputs, False for device arrays
    data: Any          # the backend's own record: the fields of ``Cell.tape`` and more
