"""The tape: what a training forward of the functional API keeps for its backward.

A leaf module (it imports nothing of fastrnn's), so that the argument checks,
the dispatch and the functional API can all name it without an import cycle.
What the tape owns and why is in docs/design.md, "Tape ownership".
"""
from typing import Any, NamedTuple

import numpy as np


class Tape(NamedTuple):
    """What a training forward keeps for its backward. Treat it as opaque.

    A forward with ``train=True`` (`rnn_forward`, `lstm_forward`, `gru_forward`)
    returns one as the ``tape`` of its named tuple; the matching backward takes it.
    The tape owns everything its backward reads, by copying: the states and gates the
    forward computed are written into the tape's own arrays, and x, w_ih, w_hh (and
    w_hr) are copied unless validation already made a private copy. So the gradients
    depend only on the forward call that made the tape and on backward's own
    arguments: changing y, x, the weights, biases, states or lengths in place
    afterwards changes nothing (docs/design.md, "Tape ownership").

    Parameters
    ----------
    cell, backend, dims, dtype, host, data
        The fields, in this order (see Attributes); made by the forward functions,
        not by hand.

    Attributes
    ----------
    cell : {"rnn", "lstm", "gru"}
        The cell of the forward that made it (a name of ``fastrnn.cells.CELLS``).
    backend : str
        The backend that made it, and that runs its backward.
    dims : tuple of int
        (T, B, I, H, P): P = H, or the LSTM's projection size.
    dtype : numpy.dtype
        The dtype of the forward's arrays, and of the gradients backward takes and
        returns.
    host : bool
        True for NumPy inputs, False for device arrays.
    data : object
        The backend's own record: the fields of ``Cell.tape`` (the states entering
        every step, the gates, ...) and more.

    See Also
    --------
    fastrnn.rnn_forward : Returns a tape with ``train=True``.
    fastrnn.lstm_forward : Returns a tape with ``train=True``.
    fastrnn.gru_forward : Returns a tape with ``train=True``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (12, 3)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (12, 4)).astype(np.float32)
    >>> out = fastrnn.gru_forward(x, w_ih, w_hh, train=True)
    >>> out.tape.cell, out.tape.dims, out.tape.dtype, out.tape.host
    ('gru', (5, 2, 3, 4, 4), dtype('float32'), True)

    The tape owns what its backward reads: overwriting x and the weights after the
    forward leaves the gradients as they were.

    >>> before = fastrnn.gru_backward(out.tape, dy=np.ones_like(out.y))
    >>> x[:], w_ih[:], w_hh[:] = 0, 0, 0
    >>> after = fastrnn.gru_backward(out.tape, dy=np.ones_like(out.y))
    >>> all(np.allclose(a, b) for a, b in zip(before, after))
    True
    """
    cell: str          # "rnn" | "lstm" | "gru": a name of ``fastrnn.cells.CELLS``
    backend: str       # the backend that made it, and that runs its backward
    dims: tuple        # (T, B, I, H, P): P = H, or the LSTM's projection size
    dtype: np.dtype
    host: bool         # True for NumPy inputs, False for device arrays
    data: Any          # the backend's own record: the fields of ``Cell.tape`` and more
