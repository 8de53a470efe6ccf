"""Streaming inference: a recurrent module run one frame at a time, its state kept between frames.

::

    stream = lstm.stream(batch_size=1)       # zero state, or stream(state=...)
    y_t = stream.step(x_t)                   # x_t (B, I) -> y_t (B, P): the top layer's h_t
    stream.state                             # as lstm(x)[1] after the same steps
    stream.reset()                           # zeros; reset(rows) for some rows only

A step is one call of the cpu backend's compiled step over every layer
(``Stepper`` of ``fastrnn.cpu``, reached through ``fastrnn.backends``), on the
calling thread, with arguments built when the stream is made: it checks only
``x_t``'s type, shape and dtype, and allocates nothing but its returned output
(nothing with ``step(x_t, out=buf)``). With two threads and H ≥
``fastrnn.config.CPU_STREAM_SPLIT_MIN_H``, steps that come back to back are
split by hidden units with a partner thread that spins between them for
``CPU_STREAM_SPIN_US``, then sleeps (``fastrnn/cpu/_partner.py``).

The arithmetic is the cpu backend's: T steps give what the module gives for
the same T steps, within float rounding. A stream belongs to one thread;
streams in different threads run at once (the kernel releases the GIL).
A bidirectional module cannot stream: its reverse direction needs the future.
"""
import numpy as np

from . import _validate, backends, cells


class Stream:
    """A recurrent module's layers run one frame at a time, the state kept between frames.

    Made by ``module.stream(batch_size=1, state=None)`` of a unidirectional
    `fastrnn.RNN`, `fastrnn.LSTM` or `fastrnn.GRU`. A step is one call of one
    compiled kernel over every layer, on the calling thread; it checks only
    ``x_t``'s type, shape and dtype and allocates nothing but its output (nothing
    with ``out=``). The weights are copied: later changes to the module's
    parameters do not reach the stream (make a new one). A stream belongs to one
    thread; streams in different threads run at once.

    Parameters
    ----------
    module : fastrnn.RNN, fastrnn.LSTM or fastrnn.GRU
        The module, unidirectional (any layers, activation and dtype).
    batch_size : int, default 1
        B, the rows of every frame.
    state : numpy.ndarray or tuple of numpy.ndarray, optional
        The initial state as the module takes it: h ``(L, B, H)``, for the LSTM
        ``(h, c)`` (None: zeros).

    Attributes
    ----------
    module : fastrnn.RNN, fastrnn.LSTM or fastrnn.GRU
        The module the stream was made from.
    batch_size : int
        B.

    Raises
    ------
    ValueError
        If the module is bidirectional (its reverse direction reads the sequence
        from its end), or ``batch_size`` is not an integer ≥ 1, or ``state`` has
        the wrong shape.
    TypeError
        If ``state`` is not an array (pair) of the module's dtype.

    See Also
    --------
    fastrnn.LSTM.stream : How a stream is made.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> gru = fastrnn.GRU(3, 4, num_layers=2, seed=0)
    >>> stream = gru.stream(batch_size=1)
    >>> frames = np.random.default_rng(0).random((5, 1, 3), dtype=np.float32)
    >>> for x_t in frames:
    ...     y_t = stream.step(x_t)            # (1, 3) -> (1, 4): the top layer's h_t
    >>> y, h = gru(frames)                    # the whole sequence at once
    >>> bool(np.allclose(y_t, y[-1], atol=1e-6)), stream.state.shape
    (True, (2, 1, 4))
    """

    def __init__(self, module, batch_size=1, state=None):
        if module.bidirectional:
            raise ValueError("a bidirectional module cannot stream: its reverse direction "
                             "reads the sequence from its end (use bidirectional=False)")
        cpu = backends.get("cpu")
        why = cpu.why_unavailable()
        if why is not None:
            raise RuntimeError(f"streams run on the cpu backend, which is not available: {why}")
        B = _validate.check_int("batch_size", batch_size)
        self.module, self.batch_size = module, B
        L, H, dt = module.num_layers, module.hidden_size, module.dtype
        G = cells.get(module.cell).G

        def params(layer):
            w = {p.name: module.params[n]
                 for p, n in zip(module._params(), module._names(layer, 0))}
            zero = np.zeros(G * H, dt)                            # bias=False
            return [w.get(name, zero) for name in ("w_ih", "w_hh", "b_ih", "b_hh")] + (
                [w["w_hr"]] if "w_hr" in w else [])
        self._stepper = cpu.kernels().Stepper(module.cell, module.options,
                                              [params(layer) for layer in range(L)],
                                              B, module.input_size, H, dt,
                                              module.output_size)
        self._h, self._c = self._stepper.h, self._stepper.c
        self._x, self._out = self._stepper.x, self._stepper.out
        self._shape = (B, module.input_size)
        self.reset()
        if state is not None:
            self.state = state

    # ---- state ------------------------------------------------------------------
    @property
    def state(self):
        """A copy of the state, shaped as the module returns it: h ``(L, B, H)``, for the LSTM ``(h, c)``.

        Assigning sets it (checked as the module checks an initial state).
        """
        if self.module.cell == "lstm":
            return self._h.copy(), self._c.copy()
        return self._h.copy()

    @state.setter
    def state(self, state):
        parts = self.module._check_state(state, self.batch_size)
        for dst, src in zip((self._h, self._c), parts):
            dst[...] = src

    def reset(self, rows=None):
        """Zero the state of every row, or of some rows only.

        One batch of B rows can so serve B sessions that start and end at
        different times.

        Parameters
        ----------
        rows : int, sequence of int or array of bool, optional
            The rows to zero: indices, or a mask of B (None: every row).

        Raises
        ------
        IndexError
            If an index is outside ``[-B, B)`` or a mask is not B long.

        Examples
        --------
        >>> import numpy as np
        >>> import fastrnn
        >>> stream = fastrnn.RNN(2, 3, seed=0).stream(batch_size=2)
        >>> _ = stream.step(np.ones((2, 2), np.float32))
        >>> stream.reset([0])                 # row 0 starts a new sequence
        >>> bool((stream.state[0, 0] == 0).all()), bool((stream.state[0, 1] != 0).any())
        (True, True)
        """
        if rows is None:
            self._h[...] = 0
            self._c[...] = 0
            return
        index = np.arange(self.batch_size)[rows]     # raises IndexError for a bad index
        self._h[:, index] = 0
        self._c[:, index] = 0

    # ---- stepping ---------------------------------------------------------------
    def step(self, x_t, out=None):
        """Feed one frame through every layer.

        Parameters
        ----------
        x_t : numpy.ndarray
            The frame, ``(B, I)``, of the module's dtype.
        out : numpy.ndarray, optional
            A writable ``(B, P)`` array of the dtype to fill instead of allocating (P =
            hidden_size, or the LSTM's proj_size).

        Returns
        -------
        numpy.ndarray
            The top layer's new h_t, ``(B, P)``: a new array, or ``out``.

        Raises
        ------
        TypeError
            If ``x_t`` or ``out`` is not a NumPy array of the module's dtype.
        ValueError
            If ``x_t`` or ``out`` has the wrong shape, or ``out`` is read-only.

        Examples
        --------
        >>> import numpy as np
        >>> import fastrnn
        >>> stream = fastrnn.LSTM(3, 2, seed=0).stream()
        >>> out = np.empty((1, 2), np.float32)
        >>> stream.step(np.zeros((1, 3), np.float32), out=out) is out
        True
        """
        if not isinstance(x_t, np.ndarray) or x_t.dtype != self.module.dtype \
                or x_t.shape != self._shape:
            raise self._bad("x_t", x_t, self._shape)
        if out is not None and not (isinstance(out, np.ndarray) and out.dtype == self.module.dtype
                                    and out.shape == self._out.shape and out.flags.writeable):
            raise self._bad("out", out, self._out.shape, "a writable ")
        np.copyto(self._x, x_t)
        self._stepper.step()
        if out is None:
            return self._out.copy()
        np.copyto(out, self._out)
        return out

    def _bad(self, name, a, shape, what="an "):
        dt = self.module.dtype
        if not isinstance(a, np.ndarray):
            return TypeError(f"{name} must be a NumPy array of shape {shape} and dtype {dt}, "
                             f"got {type(a).__name__}")
        if a.dtype != dt:
            return TypeError(f"{name} must have dtype {dt} like the module, got {a.dtype}")
        return ValueError(f"{name} must be {what}array of shape {shape} (B = batch_size, "
                          f"{'I = input_size' if name == 'x_t' else 'P = hidden_size or proj_size'}), got "
                          f"shape {a.shape}")

    def __repr__(self):
        return f"<Stream of {self.module!r}, batch_size={self.batch_size}>"

