"""RNN, LSTM and GRU modules: several layers, both directions, parameters and gradients.

A module stacks ``num_layers`` layers of one cell; each layer runs one or two
directions through the functional API (``fastrnn.lstm_forward`` etc.), so every
backend works through the same code. With D directions, layer l reads

    x_0 = x (T, B, I),   x_l = dropout(y_{l-1}) (T, B, D·H)
    y_l = [y_l^fwd, y_l^rev]   concatenated on the last axis      (T, B, D·H)

and the reverse direction follows PyTorch's PackedSequence semantics: each
sequence's valid prefix x[:len_b, b] is reversed, run forward, and the result
reversed back; padded steps output zeros. Dropout (probability ``dropout``,
scaled by 1/(1−p)) acts between layers, in training only, with masks drawn
from a generator seeded by ``seed``.

Parameters and gradients are dicts keyed by PyTorch ``state_dict`` names:
``weight_ih_l{l}{sfx}`` (G·H, I_l), ``weight_hh_l{l}{sfx}`` (G·H, H),
``bias_ih_l{l}{sfx}``, ``bias_hh_l{l}{sfx}`` (G·H,), sfx "" or "_reverse",
G = 1 (RNN), 4 (LSTM, gates i f g o), 3 (GRU, gates r z n). Initialization
follows PyTorch: every parameter uniform in ±1/√H. States are shaped
``(num_layers·D, B, H)``, index l·D + d, as in PyTorch.
"""
import contextlib
import json
import os
import stat
import tempfile
from typing import Any, NamedTuple

import numpy as np

from . import cells, functional, _validate


class LayerTape(NamedTuple):
    """What ``forward(..., train=True)`` keeps for ``backward``. Treat it as opaque."""
    tapes: list        # tapes[l][d]: the functional tape of layer l, direction d
    masks: list        # masks[l]: dropout mask applied to layer l's output, or None
    lengths: Any       # (B,) int64, or None when every sequence has length T
    dims: tuple        # (T, B)


def reverse_padded(a, lengths):
    """Reverse each sequence's valid prefix along time; padded steps stay where they are.

    a (T, B, ...); lengths (B,) int64 or None (= T for all). An involution:
    out[t, b] = a[len_b − 1 − t, b] for t < len_b, else a[t, b].
    """
    if lengths is None:
        return a[::-1].copy()
    T, B = a.shape[:2]
    t = np.arange(T)[:, None]
    src = np.where(t < lengths, lengths - 1 - t, t)     # (T, B) source step of each entry
    return a[src, np.arange(B)]


class _RNNBase:
    """Shared machinery of RNN, LSTM and GRU; subclasses set ``cell``."""
    cell = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, activation="tanh", dtype=np.float32,
                 seed=None, backend=None, proj_size=0, **options):
        self.input_size = _validate.check_int("input_size", input_size)
        self.hidden_size = _validate.check_int("hidden_size", hidden_size)
        self.proj_size = _validate.check_int("proj_size", proj_size, minimum=0)
        if self.proj_size and not self._decl.projects:
            raise TypeError(f"{self._decl.title} takes no proj_size (only the LSTM projects)")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size = {self.hidden_size} "
                             f"(0: no projection), got {self.proj_size}")
        self.num_layers = _validate.check_int("num_layers", num_layers)
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        # the cell's options (``fastrnn.cells.OPTIONS``): activation, and gate_activation,
        # reset_after where the cell takes them; each also an attribute
        self.options = _validate.check_options(self._decl, dict(options, activation=activation))
        for name in self._decl.options:
            setattr(self, name, getattr(self.options, name))
        self.dtype = np.dtype(dtype)
        if self.dtype not in _validate.FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.seed, self.backend = seed, backend
        init_seed, dropout_seed = seed_sequence(seed).spawn(2)
        self._dropout_rng = np.random.default_rng(dropout_seed)
        self.params = self._init_params(np.random.default_rng(init_seed))
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    # ---- parameters -------------------------------------------------------------
    @property
    def num_directions(self):
        """D: 2 when bidirectional, else 1.

        Examples
        --------
        >>> import fastrnn
        >>> fastrnn.GRU(3, 4, bidirectional=True).num_directions
        2
        """
        return 2 if self.bidirectional else 1

    @property
    def _decl(self):
        """This module's cell declaration (``fastrnn.cells``)."""
        return cells.get(self.cell)

    @property
    def output_size(self):
        """P, the units of h and of each direction's y: proj_size, or hidden_size.

        Examples
        --------
        >>> import fastrnn
        >>> fastrnn.LSTM(3, 4).output_size, fastrnn.LSTM(3, 4, proj_size=2).output_size
        (4, 2)
        """
        return self.proj_size or self.hidden_size

    def _params(self):
        """The cell's parameters this module has (no biases with bias=False, no w_hr
        without a projection)."""
        return [p for p in self._decl.params
                if (self.bias or not p.bias) and (self.proj_size or not p.optional)]

    def _names(self, layer, direction):
        """State-dict names of the parameters of one layer and direction, in ``_params`` order."""
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        return [f"{p.torch}{sfx}" for p in self._params()]

    def _shapes(self):
        """Every parameter's name and shape, in PyTorch's order."""
        H, P, D = self.hidden_size, self.output_size, self.num_directions
        shapes = {}
        for layer in range(self.num_layers):
            dims = self._decl.dims(0, 0, self.input_size if layer == 0 else D * P, H, P)
            for d in range(D):
                for name, p in zip(self._names(layer, d), self._params()):
                    shapes[name] = cells.shape(p.shape, dims)
        return shapes

    def _init_params(self, rng):
        # PyTorch: every parameter ~ U(−1/√H, 1/√H), drawn in state_dict order
        k = 1 / np.sqrt(self.hidden_size)
        return {name: rng.uniform(-k, k, shape).astype(self.dtype)
                for name, shape in self._shapes().items()}

    def state_dict(self):
        """A copy of the parameters, keyed by PyTorch state_dict names.

    Returns
    -------
    dict of str to numpy.ndarray
        Copies: changing them does not change the module (`load_state_dict` does).

    Examples
    --------
    >>> import fastrnn
    >>> {k: v.shape for k, v in fastrnn.GRU(3, 4).state_dict().items()}
    {'weight_ih_l0': (12, 3), 'weight_hh_l0': (12, 4), 'bias_ih_l0': (12,), 'bias_hh_l0': (12,)}
        """
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy ``state_dict`` (name -> array, e.g. a PyTorch module's) into the parameters.

    Every name must be present with the right shape and this module's dtype; all
    problems are listed in one error. Arrays are copied, so the parameters stay this
    module's own.

    Parameters
    ----------
    state_dict : mapping of str to array_like
        An array for every name of ``params``, e.g. ``{k: v.numpy() for k, v in
        torch_module.state_dict().items()}``.

    Raises
    ------
    ValueError
        Listing every missing, unexpected or mis-shaped entry (and those of another
        dtype, if any is wrong in those ways).
    TypeError
        Listing every entry of another dtype, when that is the only problem; or if
        ``state_dict`` is not a mapping.

    Examples
    --------
    >>> import fastrnn
    >>> a, b = fastrnn.LSTM(3, 4, seed=0), fastrnn.LSTM(3, 4, seed=1)
    >>> b.load_state_dict(a.state_dict())
    >>> bool((a.params["weight_ih_l0"] == b.params["weight_ih_l0"]).all())
    True
        """
        copy_state_dict(self.params, state_dict)

    def config(self):
        """The constructor arguments, JSON-serialisable (stored by ``save``).

    Returns
    -------
    dict
        The arguments of ``type(module)(**config)``, ``dtype`` as its name;
        ``seed`` and ``backend`` are not kept, ``proj_size`` only when it is not 0.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.GRU(3, 4).config()["reset_after"]
    True
        """
        return dict(input_size=self.input_size, hidden_size=self.hidden_size,
                    num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                    dropout=self.dropout, bidirectional=self.bidirectional,
                    **self._option_args(), dtype=self.dtype.name,
                    **({"proj_size": self.proj_size} if self.proj_size else {}))

    def save(self, path):
        """Write the config and parameters to an ``.npz`` file (no pickle).

    ``.npz`` is added to the name when missing, as ``load`` does; the write is atomic
    (a temporary file in the same folder, flushed, then renamed over the target), so
    an interrupted save leaves the old file or the new one, never a partial one.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        Where to write; an open file is written directly.

    Returns
    -------
    str or file object
        The path written (with ``.npz``), or the file object.

    Raises
    ------
    OSError
        If the file cannot be written.

    See Also
    --------
    load : Rebuild the module from the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastrnn
    >>> path = fastrnn.LSTM(3, 4, seed=0).save(os.path.join(tempfile.mkdtemp(), "lstm"))
    >>> os.path.basename(path)
    'lstm.npz'
    >>> fastrnn.LSTM.load(path).hidden_size
    4
        """
        return save_npz(path, type(self).__name__, self.config(), self.params)

    @classmethod
    def load(cls, path, **overrides):
        """Rebuild a module saved by ``save``.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The file; ``.npz`` is added to a name when missing.
    **overrides
        Constructor arguments that replace the saved ones, e.g. ``backend="numpy"``.

    Returns
    -------
    RNN, LSTM or GRU
        A module of this class, with the saved config and parameters.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is malformed (not an ``.npz``, no or a bad header, another kind
        of module, a bad config, missing or mis-shaped arrays), naming the file and
        the problem; or if it is a directory.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import io
    >>> import fastrnn
    >>> f = io.BytesIO()
    >>> _ = fastrnn.GRU(3, 4, reset_after=False).save(f)
    >>> _ = f.seek(0)
    >>> fastrnn.GRU.load(f, backend="numpy").reset_after
    False
        """
        def build(config, params):
            module = cls(**{**_from_config(config), **overrides})
            module.load_state_dict(params)
            return module
        return load_module(path, cls.__name__, build)

    # ---- forward and backward ----------------------------------------------------
    def stream(self, batch_size=1, state=None):
        """A ``fastrnn.stream.Stream``: these layers run one frame at a time, the state kept.

    ``stream.step(x_t)`` takes x_t (batch_size, input_size) and returns the top
    layer's h_t (batch_size, output_size). Unidirectional modules only.

    Parameters
    ----------
    batch_size : int, default 1
        B, the rows of every frame.
    state : numpy.ndarray or tuple of numpy.ndarray, optional
        The initial state, shaped as this module's (h, or the LSTM's pair (h, c));
        None: zeros.

    Returns
    -------
    fastrnn.stream.Stream
        The stream; its weights are a copy of the module's parameters now.

    Raises
    ------
    ValueError
        If the module is bidirectional, ``batch_size`` is not an integer ≥ 1 or
        ``state`` has the wrong shape.
    TypeError
        If ``state`` is not an array (pair) of the module's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> stream = fastrnn.LSTM(3, 4, seed=0).stream()
    >>> stream.step(np.ones((1, 3), np.float32)).shape
    (1, 4)
        """
        from .stream import Stream
        return Stream(self, batch_size, state)

    def __call__(self, x, state=None, lengths=None):
        """Inference: ``y, state = module(x, state, lengths)``; see ``forward``.

    Parameters
    ----------
    x : numpy.ndarray
        (T, B, I), or (B, T, I) with ``batch_first``.
    state : numpy.ndarray or tuple of numpy.ndarray, optional
        The initial states, as for ``forward``; None: zeros.
    lengths : array_like of int, shape (B,), optional
        Each sequence's length in [0, T]; None: T.

    Returns
    -------
    y : numpy.ndarray
        (T, B, D·P), or (B, T, D·P) with ``batch_first``.
    state : numpy.ndarray or tuple of numpy.ndarray
        The final states, shaped like ``state``.
        """
        y, state, _ = self.forward(x, state, lengths, train=False)
        return y, state

    def forward(self, x, state=None, lengths=None, train=True):
        """Run every layer and direction.

    The reverse direction follows PyTorch's PackedSequence semantics: each
    sequence's valid prefix is reversed, run forward and the result reversed back;
    padded steps output zeros. With ``train=True`` dropout (if any) acts between
    layers and the tape for ``backward`` is kept.

    Parameters
    ----------
    x : numpy.ndarray
        (T, B, I), or (B, T, I) with ``batch_first``, of the module's dtype.
    state : numpy.ndarray or tuple of numpy.ndarray, optional
        The initial states, None for zeros: h0 (L·D, B, P); for the LSTM the pair
        (h0, c0), c0 (L·D, B, H), either of which may be None.
    lengths : array_like of int, shape (B,), optional
        Each sequence's length in [0, T]; None: every sequence has T steps.
    train : bool, default True
        Keep the tape for ``backward`` (and apply dropout).

    Returns
    -------
    y : numpy.ndarray
        The top layer's output, (T, B, D·P), or (B, T, D·P) with ``batch_first``;
        zeros past each length.
    state : numpy.ndarray or tuple of numpy.ndarray
        The final states of every layer and direction, shaped like ``state``.
    tape : LayerTape or None
        What ``backward`` needs; None unless ``train``.

    Raises
    ------
    TypeError
        If x is not a NumPy array of the module's dtype, or a state is not one; if
        the LSTM's state is not a pair; if ``lengths`` are not integers.
    ValueError
        If x is not 3-D with I = ``input_size``, a state has the wrong shape, or
        ``lengths`` are not B whole numbers in [0, T].

    See Also
    --------
    backward : Backprop through time from the tape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> gru = fastrnn.GRU(3, 4, num_layers=2, seed=0)
    >>> x = np.ones((5, 2, 3), np.float32)
    >>> y, h_n, tape = gru.forward(x, lengths=[5, 2])
    >>> y.shape, h_n.shape, bool((y[2:, 1] == 0).all())
    ((5, 2, 4), (2, 2, 4), True)
        """
        y, state, tape = self._forward(self._check_input(x), state, lengths, train)
        return (y.transpose(1, 0, 2).copy() if self.batch_first else y), state, tape

    def _forward(self, x, state, lengths, train):
        """``forward`` of time-major x (T, B, I) from ``_check_input``, returning y time-major
        (T, B, D·P) whatever ``batch_first`` says: `nn.SequenceClassifier` reads it so,
        without the batch-first copy."""
        T, B, _ = x.shape
        lengths = None if lengths is None else _validate.check_lengths(lengths, T, B)
        states = self._check_state(state, B)
        L, D = self.num_layers, self.num_directions
        forward = getattr(functional, f"{self.cell}_forward")
        tapes, masks, finals = [], [], []
        for layer in range(L):
            outs, layer_tapes = [], []
            for d in range(D):
                # the reverse direction reads each sequence's valid prefix back to front
                xd = reverse_padded(x, lengths) if d else x
                w = {p.name: self.params[n] for p, n in zip(self._params(), self._names(layer, d))}
                s0 = dict(zip(self._state_names(), (s[layer * D + d] for s in states)))
                out = forward(xd, **w, **s0, lengths=lengths, train=train, backend=self.backend,
                              **self._option_args())
                outs.append(reverse_padded(out.y, lengths) if d else out.y)
                finals.append(out[1:-1])
                layer_tapes.append(out.tape)
            x = np.concatenate(outs, axis=2) if D > 1 else outs[0]
            # dropout between layers, in training only
            mask = None
            if train and self.dropout and layer < L - 1:
                keep = self._dropout_rng.random(x.shape) >= self.dropout
                mask = keep.astype(self.dtype) / self.dtype.type(1 - self.dropout)
                x = x * mask
            tapes.append(layer_tapes)
            masks.append(mask)
        state = tuple(np.stack(s) for s in zip(*finals))
        state = state if len(state) > 1 else state[0]
        return x, state, (LayerTape(tapes, masks, lengths, (T, B)) if train else None)

    def backward(self, tape, dy=None, dstate=None):
        """Backprop through every layer; fills (overwrites) ``self.grads``.

    Parameters
    ----------
    tape : LayerTape
        The tape of ``forward(..., train=True)``.
    dy : numpy.ndarray, optional
        The gradient of the loss with respect to y, shaped like y; None: zeros.
    dstate : numpy.ndarray or tuple of numpy.ndarray, optional
        With respect to the final states, shaped like them (the LSTM's pair may hold
        None); None: zeros.

    Returns
    -------
    dx : numpy.ndarray
        The gradient with respect to x, shaped like x.
    dstate0 : numpy.ndarray or tuple of numpy.ndarray
        With respect to the initial states, shaped like them (the LSTM's pair).

    Raises
    ------
    TypeError
        If ``tape`` is not the tape of this class's ``forward``; if a gradient is not a
        NumPy array of the module's dtype; if the LSTM's ``dstate`` is not a pair.
    ValueError
        If a gradient has the wrong shape.

    See Also
    --------
    forward : The forward that makes the tape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> lstm = fastrnn.LSTM(3, 4, bidirectional=True, seed=0)
    >>> x = np.ones((5, 2, 3), np.float32)
    >>> y, (h_n, c_n), tape = lstm.forward(x)
    >>> dx, (dh0, dc0) = lstm.backward(tape, dy=np.ones_like(y))     # loss = y.sum()
    >>> dx.shape, dh0.shape, lstm.grads["weight_hh_l0_reverse"].shape
    ((5, 2, 3), (2, 2, 4), (16, 4))
        """
        if not isinstance(tape, LayerTape):
            raise TypeError(f"tape must be the tape of {type(self).__name__}.forward(..., "
                            f"train=True), got {type(tape).__name__}")
        (T, B), DP = tape.dims, self.num_directions * self.output_size
        dy = self._check_grad("dy", dy, (B, T, DP) if self.batch_first else (T, B, DP))
        if dy is not None and self.batch_first:
            dy = dy.transpose(1, 0, 2)
        dx, dstate0 = self._backward(tape, dy, self._check_dstate(dstate, B))
        return (dx.transpose(1, 0, 2).copy() if self.batch_first else dx), dstate0

    def _backward(self, tape, dy, dfinal):
        """``backward`` of time-major dy (T, B, D·P) or None and the checked final states'
        gradients, returning dx time-major (T, B, I) and the initial states' gradients."""
        B, L, D, H = tape.dims[1], self.num_layers, self.num_directions, self.output_size
        backward = getattr(functional, f"{self.cell}_backward")
        dstate0 = [np.zeros(self._state_shape(s, B), self.dtype) for s in self._decl.states]
        for layer in reversed(range(L)):
            dx = None
            for d in range(D):
                k = layer * D + d
                # this direction's slice of dy, in the order its kernel saw the steps
                dyd = None if dy is None else dy[:, :, d * H:(d + 1) * H]
                if d and dyd is not None:
                    dyd = reverse_padded(dyd, tape.lengths)
                dfinal_k = [None if s is None else s[k] for s in dfinal]
                g = backward(tape.tapes[layer][d], dyd, *dfinal_k)
                dxd = reverse_padded(g.dx, tape.lengths) if d else g.dx
                dx = dxd if dx is None else dx + dxd
                for s0, ds in zip(dstate0, g[1:1 + len(dfinal)]):
                    s0[k] = ds
                self.grads.update((n, getattr(g, f"d{p.name}"))
                                  for p, n in zip(self._params(), self._names(layer, d)))
            # through the dropout that fed this layer
            dy = dx if layer == 0 or tape.masks[layer - 1] is None else dx * tape.masks[layer - 1]
        return dy, (tuple(dstate0) if len(dstate0) > 1 else dstate0[0])

    # ---- argument checks -----------------------------------------------------------
    def _check_input(self, x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise TypeError(f"x must have dtype {self.dtype} like the module's parameters, "
                            f"got {x.dtype}")
        layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x must have shape {layout} with I = input_size = "
                             f"{self.input_size}, got {x.shape}")
        return x.transpose(1, 0, 2) if self.batch_first else x

    def _option_args(self):
        """This module's options as keyword arguments of its functional forward."""
        return {name: getattr(self.options, name) for name in self._decl.options}

    def _state_names(self):
        return tuple(f"{s}0" for s in self._decl.states)

    def _check_states(self, names, states, B):
        """Each of ``states`` None or (L·D, B, P or H) of this dtype; [] when all are None."""
        if all(s is None for s in states):
            return []
        out = []
        for name, s, state in zip(names, states, self._decl.states):
            shape = self._state_shape(state, B)
            out.append(np.zeros(shape, self.dtype) if s is None
                       else self._check_grad(name, s, shape))
        return out

    def _state_shape(self, state, B):
        """(L·D, B, P) for h, (L·D, B, H) for c."""
        size = self.hidden_size if state == "c" else self.output_size
        return (self.num_layers * self.num_directions, B, size)

    def _check_grad(self, name, a, shape):
        if a is None:
            return None
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
        if a.dtype != self.dtype:
            raise TypeError(f"{name} must have dtype {self.dtype}, got {a.dtype}")
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
        return a

    def _split_state(self, state, what):
        """(h,) or (h, c) from ``state`` as the user passes it."""
        n = len(self._decl.states)
        if n == 1:
            return (state,)
        if state is None:
            return (None,) * n
        if not (isinstance(state, (tuple, list)) and len(state) == n):
            names = ", ".join(self._decl.states)
            raise TypeError(f"{what} of an {self._decl.title} must be a "
                            f"{'pair' if n == 2 else f'{n}-tuple'} ({names}), "
                            f"got {type(state).__name__}")
        return tuple(state)

    def _check_state(self, state, B):
        return self._check_states(self._state_names(), self._split_state(state, "state"), B)

    def _check_dstate(self, dstate, B):
        names = tuple(f"d{s}_n" for s in self._decl.states)
        parts = self._check_states(names, self._split_state(dstate, "dstate"), B)
        return parts or [None] * len(names)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class RNN(_RNNBase):
    """Elman RNN layers: h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh), act = nonlinearity.

    ``num_layers`` layers of `fastrnn.rnn_forward`, each in one or both directions;
    layer l > 0 reads layer l − 1's output y, after dropout in training. The parameters are
    PyTorch's ``torch.nn.RNN``'s: ``weight_ih_l{k}{sfx}`` (H, I_k),
    ``weight_hh_l{k}{sfx}`` (H, H), ``bias_ih_l{k}{sfx}`` and
    ``bias_hh_l{k}{sfx}`` (H,), with sfx "" or "_reverse" and I_k = I for the first
    layer, D·H above it; initialised uniform in ±1/√H. The state h is
    (L·D, B, H), index l·D + d, as PyTorch's.

    Parameters
    ----------
    input_size : int
        I, the features of each step.
    hidden_size : int
        H, the units of each layer and direction.
    num_layers : int, default 1
        L, the stacked layers.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        act (PyTorch's name: the functional API's ``activation``).
    **kwargs
        ``bias``, ``batch_first``, ``dropout``, ``bidirectional``, ``dtype``, ``seed``
        and ``backend``, as for `LSTM` and with its defaults.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        The parameters, keyed by PyTorch's ``state_dict`` names; an optimizer
        (``fastrnn.nn.Adam(module.params)``) updates them in place.
    grads : dict of str to numpy.ndarray
        Their gradients, keyed alike, filled (overwritten) by `backward`.
    options : fastrnn.cells.Options
        The cell's options; each of those the cell takes is also an attribute
        (``activation``, and `nonlinearity`).

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64, ``activation=`` is passed (RNN takes
        ``nonlinearity=``), ``proj_size`` is not 0 (only the LSTM projects) or a
        keyword is unknown.
    ValueError
        If ``input_size``, ``hidden_size`` or ``num_layers`` is not an integer ≥ 1,
        ``dropout`` is not a number in [0, 1) or ``nonlinearity`` is not "tanh" or
        "relu".

    See Also
    --------
    fastrnn.rnn_forward : One layer, one direction.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rnn = fastrnn.RNN(3, 4, num_layers=2, bidirectional=True, seed=0)
    >>> x = np.ones((5, 2, 3), np.float32)           # (T, B, I)
    >>> y, h_n = rnn(x)
    >>> y.shape, h_n.shape                           # (T, B, D·H), (L·D, B, H)
    ((5, 2, 8), (4, 2, 4))
    >>> list(rnn.params)[:4]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    """
    cell = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kwargs):
        if "activation" in kwargs:
            raise TypeError("RNN takes nonlinearity= (PyTorch's name), not activation=")
        super().__init__(input_size, hidden_size, num_layers, activation=nonlinearity, **kwargs)

    @property
    def nonlinearity(self):
        """The activation act, "tanh" or "relu" (PyTorch's name of ``activation``).

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.RNN(3, 4, nonlinearity="relu").nonlinearity
    'relu'
        """
        return self.activation

    def config(self):
        """The constructor arguments, JSON-serialisable (stored by ``save``).

    Returns
    -------
    dict
        The arguments of ``RNN(**config)`` (with ``nonlinearity``, PyTorch's name),
        ``dtype`` as its name; ``seed`` and ``backend`` are not kept.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.RNN(3, 4, nonlinearity="relu").config()["nonlinearity"]
    'relu'
        """
        config = super().config()
        config["nonlinearity"] = config.pop("activation")
        return config


class LSTM(_RNNBase):
    """LSTM layers (gates i, f, g, o; see `fastrnn.lstm_forward`), with PyTorch's ``proj_size``.

    ``num_layers`` layers of `fastrnn.lstm_forward`, each in one or both directions;
    layer l > 0 reads layer l − 1's output y, after dropout in training. The parameters are
    PyTorch's ``torch.nn.LSTM``'s: ``weight_ih_l{k}{sfx}`` (4H, I_k),
    ``weight_hh_l{k}{sfx}`` (4H, P), ``bias_ih_l{k}{sfx}`` and
    ``bias_hh_l{k}{sfx}`` (4H,), with a projection ``weight_hr_l{k}{sfx}`` (P, H);
    sfx "" or "_reverse", I_k = I for the first layer, D·P above it; initialised
    uniform in ±1/√H. The state is the pair (h, c): h (L·D, B, P), c (L·D, B, H),
    index l·D + d. P = ``proj_size``, or H without a projection.

    With ``proj_size`` = P > 0 (PyTorch's): h_t = W_hr (o ⊙ act(c_t)), h and y of P
    units, c of H.

    Parameters
    ----------
    input_size : int
        I, the features of each step.
    hidden_size : int
        H, the units of each layer and direction.
    num_layers : int, default 1
        L, the stacked layers.
    bias : bool, default True
        False: no biases (no ``bias_*`` parameters).
    batch_first : bool, default False
        True: x and y are (B, T, ·) instead of (T, B, ·); the states keep their layout.
    dropout : float, default 0.0
        Dropout probability in [0, 1) on the outputs of every layer but the last,
        scaled by 1/(1−p), in training only (``forward(..., train=True)``).
    bidirectional : bool, default False
        Both directions (D = 2): y and each layer's input above the first have D·P
        features.
    activation : {"tanh", "relu"}, default "tanh"
        act, of the candidate g and of the output act(c_t).
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of the parameters, and of the inputs and states they accept.
    seed : int, numpy.random.SeedSequence or None, default None
        Seed of the initial parameters and of the dropout masks (None: fresh entropy).
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of every call (None: the current one, see `fastrnn.use_backend`).
    proj_size : int, default 0
        P, the units h is projected to, 0 ≤ P < H (0: no projection).
    **options
        ``gate_activation``: "sigmoid" (default) or "hard_sigmoid" (Keras 3's
        clip(a/6 + 1/2, 0, 1)), the gates' σ.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        The parameters, keyed by PyTorch's ``state_dict`` names; an optimizer
        (``fastrnn.nn.Adam(module.params)``) updates them in place.
    grads : dict of str to numpy.ndarray
        Their gradients, keyed alike, filled (overwritten) by `backward`.
    options : fastrnn.cells.Options
        The cell's options; each of those the cell takes is also an attribute
        (``activation``, ``gate_activation``).

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64 or an option is unknown.
    ValueError
        If ``input_size``, ``hidden_size`` or ``num_layers`` is not an integer ≥ 1,
        ``dropout`` is not a number in [0, 1), ``proj_size`` is not an integer in
        [0, H) or an option is not one of its choices.

    See Also
    --------
    fastrnn.lstm_forward : One layer, one direction.
    fastrnn.nn.SequenceClassifier : These layers under a classifier.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> lstm = fastrnn.LSTM(3, 4, num_layers=2, batch_first=True, seed=0)
    >>> x = np.ones((2, 5, 3), np.float32)               # (B, T, I)
    >>> y, (h_n, c_n) = lstm(x, lengths=[5, 3])
    >>> y.shape, h_n.shape, c_n.shape
    ((2, 5, 4), (2, 2, 4), (2, 2, 4))
    >>> lstm.params["weight_hh_l1"].shape
    (16, 4)
    >>> fastrnn.LSTM(3, 4, proj_size=2)(np.ones((5, 2, 3), np.float32))[0].shape
    (5, 2, 2)
    """
    cell = "lstm"


class GRU(_RNNBase):
    """GRU layers (gates r, z, n; see `fastrnn.gru_forward`), with PyTorch's or Keras's n gate.

    ``num_layers`` layers of `fastrnn.gru_forward`, each in one or both directions;
    layer l > 0 reads layer l − 1's output y, after dropout in training. The parameters are
    PyTorch's ``torch.nn.GRU``'s: ``weight_ih_l{k}{sfx}`` (3H, I_k),
    ``weight_hh_l{k}{sfx}`` (3H, H), ``bias_ih_l{k}{sfx}`` and
    ``bias_hh_l{k}{sfx}`` (3H,), with sfx "" or "_reverse" and I_k = I for the first
    layer, D·H above it; initialised uniform in ±1/√H. The state h is (L·D, B, H),
    index l·D + d.

    Parameters
    ----------
    input_size : int
        I, the features of each step.
    hidden_size : int
        H, the units of each layer and direction.
    num_layers : int, default 1
        L, the stacked layers.
    bias : bool, default True
        False: no biases (no ``bias_*`` parameters).
    batch_first : bool, default False
        True: x and y are (B, T, ·) instead of (T, B, ·); the states keep their layout.
    dropout : float, default 0.0
        Dropout probability in [0, 1) on the outputs of every layer but the last,
        scaled by 1/(1−p), in training only (``forward(..., train=True)``).
    bidirectional : bool, default False
        Both directions (D = 2): y and each layer's input above the first have D·H
        features.
    activation : {"tanh", "relu"}, default "tanh"
        act, of the candidate n.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of the parameters, and of the inputs and states they accept.
    seed : int, numpy.random.SeedSequence or None, default None
        Seed of the initial parameters and of the dropout masks (None: fresh entropy).
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of every call (None: the current one, see `fastrnn.use_backend`).
    proj_size : int, default 0
        Must be 0: only the LSTM projects (PyTorch's signature has no such argument
        for the GRU either).
    **options
        ``gate_activation``: "sigmoid" (default) or "hard_sigmoid", as for `LSTM`;
        ``reset_after``: True (default; PyTorch's: r multiplies h W_hnᵀ + b_hn) or
        False (Keras ``reset_after=False``, ONNX ``linear_before_reset=0``: r
        multiplies h first).

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        The parameters, keyed by PyTorch's ``state_dict`` names; an optimizer
        (``fastrnn.nn.Adam(module.params)``) updates them in place.
    grads : dict of str to numpy.ndarray
        Their gradients, keyed alike, filled (overwritten) by `backward`.
    options : fastrnn.cells.Options
        The cell's options; each of those the cell takes is also an attribute
        (``activation``, ``gate_activation``, ``reset_after``).

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64, ``proj_size`` is not 0 or an option is
        unknown.
    ValueError
        If ``input_size``, ``hidden_size`` or ``num_layers`` is not an integer ≥ 1,
        ``dropout`` is not a number in [0, 1) or an option is not one of its choices.

    See Also
    --------
    fastrnn.gru_forward : One layer, one direction.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> gru = fastrnn.GRU(3, 4, bidirectional=True, reset_after=False, seed=0)
    >>> y, h_n = gru(np.ones((5, 2, 3), np.float32))
    >>> y.shape, h_n.shape, gru.reset_after
    ((5, 2, 8), (2, 2, 4), False)
    """
    cell = "gru"


# ---- state dicts and files, shared with fastrnn.nn ---------------------------------------
def copy_state_dict(params, state_dict):
    """Copy ``state_dict`` into the arrays of ``params`` (in place, same keys).

    First checks everything and raises one error listing every name missing from or
    unexpected in ``state_dict``, every shape and every dtype that differs from ``params``'.
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict must be a mapping of names to arrays, "
                        f"got {type(state_dict).__name__}")
    missing = [k for k in params if k not in state_dict]
    unexpected = [k for k in state_dict if k not in params]
    shapes, dtypes = [], []
    for k in params:
        if k in state_dict:
            got = state_dict[k]
            got = got if hasattr(got, "dtype") else np.asarray(got)
            shape, dtype = tuple(got.shape), _validate._dtype_of(got)
            if shape != params[k].shape:
                shapes.append(f"{k}: expected {params[k].shape}, got {shape}")
            elif dtype != params[k].dtype:
                dtypes.append(f"{k}: expected {params[k].dtype}, got {dtype}")
    problems = ([f"missing: {missing}"] if missing else []) + (
        [f"unexpected: {unexpected}"] if unexpected else []) + (
        [f"wrong shape: {'; '.join(shapes)}"] if shapes else []) + (
        [f"wrong dtype: {'; '.join(dtypes)}"] if dtypes else [])
    if problems:
        error = TypeError if not (missing or unexpected or shapes) else ValueError
        raise error("state_dict does not match the module's parameters: " + " | ".join(problems))
    for k, p in params.items():
        p[...] = np.asarray(state_dict[k])


def npz_path(path):
    """The file ``save(path)`` writes and ``load(path)`` reads: ``path`` with ``.npz``
    added when its name does not already end in ``.npz`` (as ``np.savez`` does)."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path if path.endswith(".npz") else path + ".npz"


def save_npz(path, kind, config, params):
    """Write ``params`` and a JSON header {kind, config} to ``npz_path(path)`` (no pickle).

    Atomic: the file is written to a temporary file in the same folder, flushed to disk,
    then renamed over ``path`` (``os.replace``), so an interrupted save leaves either the
    old file or the new one, never a partial one. ``path`` may also be an open binary
    file, which is written directly. Returns the path written.
    """
    header = json.dumps({"kind": kind, "config": config})
    if hasattr(path, "write"):
        np.savez(path, __header__=np.array(header), **params)
        return path
    target = npz_path(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __header__=np.array(header), **params)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _file_mode(target):
    """The permissions the saved file gets: the old file's, else 0o666 less the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = None
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _resolve_for_load(path):
    """The file ``load(path)`` reads: ``npz_path(path)``, or ``path`` itself when only that
    exists. Raises FileNotFoundError, or ValueError for a directory."""
    if hasattr(path, "read"):
        return path
    given = os.fspath(path)
    given = os.fsdecode(given) if isinstance(given, bytes) else given
    target = npz_path(given)
    if not os.path.exists(target) and os.path.exists(given):
        target = given
    if os.path.isdir(target):
        raise ValueError(f"{target} is a directory, not a model file (.npz written by save())")
    if not os.path.exists(target):
        tried = target if target == given else f"{target} (nor {given})"
        raise FileNotFoundError(f"no model file {tried}")
    return target


def load_npz(path, kind):
    """Read a file written by ``save_npz``; returns (config, params). Checks the kind.

    ``path`` as for ``save_npz`` (``.npz`` added when missing). A file that is missing
    raises FileNotFoundError; any other problem — not an .npz (zip) file, random or
    truncated bytes, no header, a header that is not a JSON object with "kind" and
    "config", another kind, unreadable arrays — one ValueError naming the file.
    """
    path = _resolve_for_load(path)
    name = getattr(path, "name", path)
    magic = _magic(path)
    if magic is not None and not magic.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        raise ValueError(f"{name} is not a model file written by save(): not an .npz (zip) "
                         f"archive" + (" (the file is empty)" if not magic else ""))
    try:
        f = np.load(path, allow_pickle=False)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{name}: cannot read it as a model file (.npz): {err}") from None
    except Exception as err:       # random bytes: ValueError, UnpicklingError, EOFError, ...
        raise ValueError(f"{name} is not a model file written by save() (.npz): "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{name} is not a model file written by save(): it holds a single "
                         f"array (.npy), not an .npz archive")
    with f:
        try:
            if "__header__" not in f.files:
                raise ValueError("no __header__ entry")
            raw = f["__header__"]
            if raw.shape != () or raw.dtype.kind != "U":
                raise ValueError(f"__header__ must be a JSON text, got an array {raw.dtype} "
                                 f"{raw.shape}")
            try:
                header = json.loads(str(raw))
            except ValueError as err:
                raise ValueError(f"__header__ is not valid JSON ({err})") from None
            if not isinstance(header, dict):
                raise ValueError(f"__header__ must be a JSON object, got "
                                 f"{type(header).__name__}")
            for key, types in (("kind", str), ("config", dict)):
                if not isinstance(header.get(key), types):
                    raise ValueError(f"__header__ has no {key!r} "
                                     f"({'text' if types is str else 'object'}) entry")
            if header["kind"] != kind:
                raise ValueError(f"holds a {header['kind']}, not a {kind}")
            params = {k: f[k] for k in f.files if k != "__header__"}
        except ValueError as err:
            raise ValueError(f"{name}: {err}" if str(err).startswith("holds")
                             else f"{name} is not a valid model file: {err}") from None
        except Exception as err:   # a damaged archive member: BadZipFile, zlib.error, EOFError
            raise ValueError(f"{name} is damaged: {type(err).__name__}: {err}") from None
    return header["config"], params


def _magic(path, size=6):
    """The first bytes of the file at ``path`` (None for an open file object)."""
    if hasattr(path, "read"):
        return None
    with open(path, "rb") as f:
        return f.read(size)


def load_module(path, kind, build):
    """``build(config, params)`` from the file at ``path``; every problem with the file,
    including a config or parameters the model refuses, is one ValueError naming it."""
    path = _resolve_for_load(path)
    config, params = load_npz(path, kind)
    try:
        return build(config, params)
    except (TypeError, ValueError, KeyError, OverflowError, MemoryError) as err:
        what = {KeyError: "its config lacks"}.get(type(err), "")
        detail = f"{what} {err}".strip()
        raise ValueError(f"{getattr(path, 'name', path)} does not hold a valid {kind}: "
                         f"{detail}") from None


def seed_sequence(seed):
    """A NumPy SeedSequence from ``seed``: None (fresh entropy), an int, or a SeedSequence."""
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def _from_config(config):
    return dict(config, dtype=np.dtype(config["dtype"]))
