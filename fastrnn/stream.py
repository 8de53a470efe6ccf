"""Streaming inference: a recurrent module run one frame at a time, its state kept between frames.

::

    stream = lstm.stream(batch_size=1)       # zero state, or stream(state=...)
    y_t = stream.step(x_t)                   # x_t (B, I) -> y_t (B, H): the top layer's h_t
    stream.state                             # as lstm(x)[1] after the same steps
    stream.reset()                           # zeros; reset(rows) for some rows only

A step is one call of one compiled kernel (``_step``) over every layer, on the
calling thread, with arguments built when the stream is made: it checks only
``x_t``'s type, shape and dtype, and allocates nothing but its returned output
(nothing with ``step(x_t, out=buf)``). Per layer l and row b::

    gi = x W_ihᵀ,  gh = h_l W_hhᵀ            (``dots``: the weights as they lie)
    h_l, c_l ← the cell of ``fastrnn.cpu._cells`` (biases folded as the cpu backend does)
    x ← h_l                                 (the next layer's input)

The arithmetic is the cpu backend's: T steps give what the module gives for
the same T steps, within float rounding. A stream belongs to one thread;
streams in different threads run at once (the kernel releases the GIL).
A bidirectional module cannot stream: its reverse direction needs the future.
"""
import numba
import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .cpu._cells import GRU, JIT, LSTM, RNN, forward_units
from .cpu._driver import fused_bias
from .cpu._loops import copy, dots

KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@intrinsic
def _pointer(typingctx, address, zero):
    """The integer ``address`` as a pointer to values of ``zero``'s type (float32 or float64)."""
    ptr = types.CPointer(zero)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))
    return ptr(address, zero), codegen


@njit(**JIT)
def _step(cell, relu, zero, L, B, I, H, G, x, w_ih0, w_ih, w_hh, bias, b_hh, h, c, gi, gh, hn,
          gates, ct, ghn, out):
    """One step of every layer, in place, on the stream's own buffers given by address.

    Views (G·H rows of gates; c, gates, ct, ghn have a last axis of 0 where the cell has
    none): x (B,I) this frame; w_ih0 (G·H,I) layer 0's W_ih; w_ih (L−1,G·H,H) the others';
    w_hh (L,G·H,H); bias, b_hh (L,G·H) as in ``_cells``; h (L,B,H), c (L,B,H) the state,
    updated; scratch gi, gh (B,G·H), hn (B,H), gates (B,G·H), ct (B,H), ghn (B,H);
    out (B,H): the top layer's new h. Arguments are integers (and ``zero``, the dtype),
    so a call unboxes no array: it allocates nothing."""
    GH = G * H
    Hc, Hg = H if cell == LSTM else 0, H if cell == GRU else 0
    x, out = carray(_pointer(x, zero), (B, I)), carray(_pointer(out, zero), (B, H))
    w_ih0, w_ih = carray(_pointer(w_ih0, zero), (GH, I)), carray(_pointer(w_ih, zero),
                                                                (L - 1, GH, H))
    w_hh = carray(_pointer(w_hh, zero), (L, GH, H))
    bias, b_hh = carray(_pointer(bias, zero), (L, GH)), carray(_pointer(b_hh, zero), (L, GH))
    h, c = carray(_pointer(h, zero), (L, B, H)), carray(_pointer(c, zero), (L, B, Hc))
    gi, gh = carray(_pointer(gi, zero), (B, GH)), carray(_pointer(gh, zero), (B, GH))
    hn, ct = carray(_pointer(hn, zero), (B, H)), carray(_pointer(ct, zero), (B, Hc))
    gates = carray(_pointer(gates, zero), (B, GH if cell != RNN else 0))
    ghn = carray(_pointer(ghn, zero), (B, Hg))
    for layer in range(L):
        if layer == 0:
            dots(x, w_ih0, 0, GH, gi, False)
        else:
            dots(h[layer - 1], w_ih[layer - 1], 0, GH, gi, False)
        dots(h[layer], w_hh[layer], 0, GH, gh, False)
        for b in range(B):
            forward_units(cell, relu, 0, H, gi[b], gh[b], bias[layer], b_hh[layer], h[layer, b],
                          hn[b], c[layer, b], gates[b], ct[b], ghn[b])
        copy(h[layer], hn)
    copy(out, h[L - 1])


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
        from . import _validate
        if module.bidirectional:
            raise ValueError("a bidirectional module cannot stream: its reverse direction "
                             "reads the sequence from its end (use bidirectional=False)")
        B = _validate.check_int("batch_size", batch_size)
        self.module, self.batch_size = module, B
        L, H, dt = module.num_layers, module.hidden_size, module.dtype
        G = _validate.GATES[module.cell]
        kind = KINDS[module.cell]

        def param(layer, i):
            names = module._names(layer, 0)
            if i < len(names):
                return np.asarray(module.params[names[i]], dt)
            return np.zeros(G * H, dt)          # bias=False
        b_ih = [param(layer, 2) for layer in range(L)]
        b_hh = np.stack([param(layer, 3) for layer in range(L)])
        self._h = np.zeros((L, B, H), dt)
        self._c = np.zeros((L, B, H if kind == LSTM else 0), dt)
        self._x, self._out = np.zeros((B, module.input_size), dt), np.zeros((B, H), dt)
        # every buffer the kernel reads or writes, owned here (contiguous; the kernel takes
        # their addresses): weights copied, the state, scratch
        self._buffers = [
            self._x, np.ascontiguousarray(param(0, 0)),
            np.stack([param(layer, 0) for layer in range(1, L)]) if L > 1
            else np.zeros((0, G * H, H), dt),
            np.stack([param(layer, 1) for layer in range(L)]),
            np.stack([fused_bias(kind, bi, bh) for bi, bh in zip(b_ih, b_hh)]), b_hh,
            self._h, self._c, *(np.zeros((B, G * H), dt) for _ in range(4)),
            np.zeros((B, H), dt), np.zeros((B, H), dt), self._out]
        self._args = (kind, module.activation == "relu", dt.type(0), L, B, module.input_size, H,
                      G, *(a.ctypes.data for a in self._buffers))
        self._shape = (B, module.input_size)
        self._entry = None
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
            A writable ``(B, H)`` array of the dtype to fill instead of allocating.

        Returns
        -------
        numpy.ndarray
            The top layer's new h_t, ``(B, H)``: a new array, or ``out``.

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
        entry = self._entry
        if entry is None:
            _step(*self._args)           # compiles, or loads from the cache, once
            sig = tuple(numba.typeof(a) for a in self._args)
            self._entry = _step.overloads[sig].entry_point
        else:
            entry(*self._args)           # no type dispatch: its cost is most of a small step
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
                          f"{'I = input_size' if name == 'x_t' else 'H = hidden_size'}), got "
                          f"shape {a.shape}")

    def __repr__(self):
        return f"<Stream of {self.module!r}, batch_size={self.batch_size}>"

