"""`Sequential`: a model made of layers, as Keras's, trainable with `fastrnn.nn`'s toolkit.

Sequences are batch first, ``x (N, T, I)``, with optional per-row ``lengths (N,)``
in ``[0, T]`` (right padding: steps ``t ≥ lengths[n]`` are padding). Each layer
maps a batch and its lengths to the next; a recurrent layer without
``return_sequences`` ends the time axis, ``(N, T, F)`` → ``(N, F)``.

The layers, re-exported by `fastrnn.nn`:

``Recurrent(cell, input_size, hidden_size, return_sequences=False, go_backwards=False, merge_mode="concat", masked_output="zero", **module_args)``
    A `fastrnn.LSTM`, `fastrnn.GRU` or `fastrnn.RNN` (``cell`` "lstm", "gru"
    or "rnn"), batch first. ``module_args`` go to that module: ``num_layers``,
    ``bidirectional``, ``activation`` ("tanh" or "relu"; the RNN's
    ``nonlinearity``), ``gate_activation`` ("sigmoid" or "hard_sigmoid"; LSTM
    and GRU), ``reset_after`` (GRU), ``proj_size`` (LSTM), ``bias``,
    ``dropout`` (between the module's layers), ``dtype``, ``seed``,
    ``backend``. Output ``(N, T, F)`` with ``return_sequences``, else each
    row's output at its last valid step ``(N, F)``. ``go_backwards``
    (unidirectional only) reads each row's valid steps last to first and, as
    Keras, returns the sequence in that reversed order. ``merge_mode`` joins a
    bidirectional layer's two directions: "concat" (F = 2P), "sum", "mul" or
    "ave" (F = P). ``masked_output``: what the padded steps of a returned
    sequence hold, "zero" or "last" (the row's last valid output, as Keras's
    unidirectional layers; only without ``bidirectional``).
``Dense(in_features, out_features, dtype=numpy.float32, seed=None)``
    `fastrnn.nn.Dense`, on the last axis.
``Activation(name)``
    Elementwise "linear", "relu", "tanh", "sigmoid", or "softmax" over the last axis.
``Dropout(rate, seed=None)``
    Zeroes each entry with probability ``rate`` and scales the others by
    1/(1−rate), in training only; the identity at inference.
``Masking(mask_value=0.0)``
    Steps whose every feature equals ``mask_value`` are padding: sets each row's
    length from them (they must all come after the row's last valid step) and
    zeroes them, as Keras's ``Masking``; the layers after it see those lengths.

Parameters are keyed ``"{index}.{name}"``, the layer's position and its own
name (``"0.weight_ih_l0"``, ``"1.weight"``), as PyTorch's ``nn.Sequential``.
A model whose output is ``(N, C)`` trains with ``fit`` (softmax cross-entropy
on the scores before a final ``Activation("softmax")``, or on the output when
it has none) and has ``evaluate``, ``predict`` and ``predict_proba`` as
`fastrnn.nn.SequenceClassifier`'s; ``model(x)`` returns the output itself.
"""
import numbers

import numpy as np

from . import layers, _validate
from .nn import Dense, _Classifier, _check_int

__all__ = ["Sequential", "Recurrent", "Activation", "Dropout", "Masking"]

MERGE_MODES = ("concat", "sum", "mul", "ave")


def _take(a, src):
    """``a[n, src[n, t]]``: a (N, T, F), src (N, T') → (N, T', F)."""
    return a[np.arange(a.shape[0])[:, None], src]


def _put(d, src, T):
    """The gradient of `_take`: ``d`` (N, T', F) added back at the steps it came from."""
    out = np.zeros((d.shape[0], T) + d.shape[2:], d.dtype)
    np.add.at(out, (np.arange(d.shape[0])[:, None], src), d)
    return out


def _reversed_steps(lengths, T):
    """(N, T): each row's valid steps last to first, its padded steps where they are."""
    t = np.arange(T)
    return np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


class Recurrent:
    """A recurrent layer of a `Sequential`: a `fastrnn.LSTM`, `GRU` or `RNN`, batch first.

    ``x (N, T, I)`` with lengths gives ``(N, T, F)`` with ``return_sequences``,
    else ``(N, F)``: each row's output at its last valid step (for the reverse
    direction and ``go_backwards``, after reading the row's first step).

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
        The module: `fastrnn.LSTM`, `fastrnn.GRU` or `fastrnn.RNN`.
    input_size : int
        I, the features of each step.
    hidden_size : int
        H, the units of each layer and direction.
    return_sequences : bool, default False
        Return every step ``(N, T, F)`` rather than the last valid one ``(N, F)``.
    go_backwards : bool, default False
        Keras's: read each row's valid steps last to first, and return the
        sequence in that order (its padded steps first, as zeros). Only without
        ``bidirectional``.
    merge_mode : {"concat", "sum", "mul", "ave"}, default "concat"
        How a bidirectional layer joins its directions: concatenated (F = 2P),
        or their sum, product or mean (F = P). P = ``proj_size`` or H.
    masked_output : {"zero", "last"}, default "zero"
        What the padded steps of a returned sequence hold: zeros (PyTorch), or
        the row's last valid output (Keras's unidirectional layers). "last"
        only without ``bidirectional``; with ``go_backwards`` the padded steps
        come first and hold zeros either way.
    **module_args
        The module's own arguments: ``num_layers``, ``bidirectional``,
        ``activation`` ("tanh" or "relu"), ``gate_activation`` ("sigmoid" or
        "hard_sigmoid"; LSTM and GRU), ``reset_after`` (GRU), ``proj_size``
        (LSTM), ``bias``, ``dropout``, ``dtype``, ``seed``, ``backend``.

    Attributes
    ----------
    module : fastrnn.LSTM, fastrnn.GRU or fastrnn.RNN
        The recurrent module (batch first); its ``params`` are this layer's.
    output_size : int
        F, the features of each output step.

    Raises
    ------
    ValueError
        If ``cell``, ``merge_mode`` or ``masked_output`` is not one of its choices,
        ``go_backwards`` or ``masked_output="last"`` comes with
        ``bidirectional``, or the module refuses its arguments.
    TypeError
        If the module refuses its arguments (an unknown one).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> layer = nn.Recurrent("gru", 3, 4, bidirectional=True, merge_mode="sum", seed=0)
    >>> y, lengths, tape = layer.forward(np.ones((2, 5, 3), np.float32), np.array([5, 2]))
    >>> y.shape
    (2, 4)
    """
    CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.RNN}

    def __init__(self, cell, input_size, hidden_size, return_sequences=False,
                 go_backwards=False, merge_mode="concat", masked_output="zero", **module_args):
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {tuple(self.CELLS)}, got {cell!r}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        if masked_output not in ("zero", "last"):
            raise ValueError(f"masked_output must be 'zero' or 'last', got {masked_output!r}")
        if "batch_first" in module_args:
            raise TypeError("Recurrent takes no batch_first: a Sequential is batch first")
        if cell == "rnn" and "activation" in module_args:
            module_args["nonlinearity"] = module_args.pop("activation")
        module = self.CELLS[cell](input_size, hidden_size, batch_first=True, **module_args)
        if module.bidirectional and go_backwards:
            raise ValueError("go_backwards needs a unidirectional layer (bidirectional=False)")
        if module.bidirectional and masked_output == "last":
            raise ValueError("masked_output='last' needs a unidirectional layer "
                             "(bidirectional=False)")
        self.cell, self.module = cell, module
        self.return_sequences, self.go_backwards = bool(return_sequences), bool(go_backwards)
        self.merge_mode, self.masked_output = merge_mode, masked_output
        P = module.output_size
        self.output_size = 2 * P if module.bidirectional and merge_mode == "concat" else P

    @property
    def input_size(self):
        """I, the features of each input step."""
        return self.module.input_size

    @property
    def dtype(self):
        """The dtype of the parameters."""
        return self.module.dtype

    @property
    def params(self):
        """The module's parameters, keyed by PyTorch's ``state_dict`` names."""
        return self.module.params

    @property
    def grads(self):
        """Their gradients, filled by `backward`."""
        return self.module.grads

    def config(self):
        """The constructor arguments, JSON-serialisable.

        Returns
        -------
        dict
            The arguments of ``Recurrent(**config)``, ``dtype`` as its name.

        Examples
        --------
        >>> from fastrnn import nn
        >>> nn.Recurrent("rnn", 3, 4, go_backwards=True).config()["go_backwards"]
        True
        """
        config = self.module.config()
        del config["batch_first"]
        if self.cell == "rnn":
            config["activation"] = config.pop("nonlinearity")
        return dict(cell=self.cell, **config, return_sequences=self.return_sequences,
                    go_backwards=self.go_backwards, merge_mode=self.merge_mode,
                    masked_output=self.masked_output)

    def _sources(self, lengths, T):
        """The steps each direction's output is taken from: one (N, T') array of step
        indices into the module's output per direction."""
        N = len(lengths)
        last = np.maximum(lengths - 1, 0)[:, None]         # a row of length 0 reads step 0: zeros
        if self.go_backwards:
            # the module read the reversed valid steps; Keras returns them in that order
            return [_reversed_steps(lengths, T)[:, ::-1] if self.return_sequences else last]
        if self.return_sequences:
            steps = np.broadcast_to(np.arange(T), (N, T))
            fwd = np.minimum(steps, last) if self.masked_output == "last" else steps
            return [fwd, steps][:self.module.num_directions]
        # the reverse direction's last output is at step 0, after it read the whole row
        return [last, np.zeros((N, 1), np.int64)][:self.module.num_directions]

    def forward(self, x, lengths, train=False):
        """Run the layer on a batch.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)`` of the layer's dtype.
        lengths : numpy.ndarray of int
            ``(N,)`` int64 lengths in ``[0, T]``.
        train : bool, default False
            Keep the tape for `backward` (and apply the module's dropout).

        Returns
        -------
        y : numpy.ndarray
            ``(N, T, F)`` with ``return_sequences``, else ``(N, F)``.
        lengths : numpy.ndarray of int
            The lengths of ``y``'s rows (those given).
        tape : tuple or None
            What `backward` needs; None unless ``train``.
        """
        T = x.shape[1]
        full = bool((lengths == T).all())
        module_lengths = None if full else lengths
        reversed_steps = _reversed_steps(lengths, T) if self.go_backwards else None
        xin = _take(x, reversed_steps) if self.go_backwards else x
        y, _, module_tape = self.module.forward(xin, lengths=module_lengths, train=train)
        P = self.module.output_size
        sources = self._sources(lengths, T)
        halves = [_take(y[:, :, d * P:(d + 1) * P], src) for d, src in enumerate(sources)]
        out = _merge(self.merge_mode, halves)
        out = out if self.return_sequences else out[:, 0]
        tape = (module_tape, sources, reversed_steps, halves, y.shape) if train else None
        return out, lengths, tape

    def backward(self, tape, dy):
        """Backprop through time; fills the module's ``grads``.

        Parameters
        ----------
        tape, dy
            The tape of ``forward(..., train=True)``, and the gradient of the loss
            with respect to that forward's output (shaped like it).

        Returns
        -------
        numpy.ndarray
            ``dx (N, T, I)``.
        """
        module_tape, sources, reversed_steps, halves, y_shape = tape
        dy = dy if self.return_sequences else dy[:, None]
        T = y_shape[1]
        dhalves = _merge_backward(self.merge_mode, halves, dy)
        dmodule = np.concatenate([_put(d, src, T) for d, src in zip(dhalves, sources)], axis=2)
        dx, _ = self.module.backward(module_tape, dmodule)
        return _put(dx, reversed_steps, T) if self.go_backwards else dx

    def __repr__(self):
        return f"Recurrent({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


def _merge(mode, halves):
    if len(halves) == 1:
        return halves[0]
    a, b = halves
    if mode == "concat":
        return np.concatenate(halves, axis=2)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) * a.dtype.type(0.5)


def _merge_backward(mode, halves, d):
    if len(halves) == 1:
        return [d]
    a, b = halves
    if mode == "concat":
        return np.split(d, 2, axis=2)
    if mode == "sum":
        return [d, d]
    if mode == "mul":
        return [d * b, d * a]
    half = d * d.dtype.type(0.5)
    return [half, half]


class _Layer:
    """The parameterless layers' protocol: `forward`, `backward`, `config`.

    A subclass names its constructor arguments in ``_args`` and computes in
    ``_forward(x, lengths, train)`` → ``(y, lengths, tape)`` and
    ``_backward(tape, dy)`` → ``dx``.
    """
    _args = ()

    def config(self):
        """The constructor arguments, JSON-serialisable (a seed is not kept).

        Returns
        -------
        dict
            The arguments of ``type(layer)(**config)``.
        """
        return {name: getattr(self, name) for name in self._args}

    def forward(self, x, lengths, train=False):
        """Apply the layer to a batch.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, F)`` or ``(N, F)``.
        lengths : numpy.ndarray of int or None
            ``(N,)`` lengths of the rows of ``x``.
        train : bool, default False
            Keep the tape for `backward` (and, for `Dropout`, drop).

        Returns
        -------
        y : numpy.ndarray
            Shaped like ``x``.
        lengths : numpy.ndarray of int or None
            The lengths of ``y``'s rows: those given, or `Masking`'s.
        tape : object
            What `backward` needs; None unless ``train``.

        Raises
        ------
        ValueError
            From `Masking`, if a row has a padded step followed by a valid one.
        """
        return self._forward(x, lengths, train)

    def backward(self, tape, dy):
        """Backpropagate ``dy``.

        Parameters
        ----------
        tape : object
            The tape of ``forward(..., train=True)``.
        dy : numpy.ndarray
            Gradient with respect to the output, shaped like it.

        Returns
        -------
        numpy.ndarray
            The gradient with respect to the input.
        """
        return self._backward(tape, dy)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(map(repr, self.config().values()))})"


class Activation(_Layer):
    """An elementwise activation layer of a `Sequential` (softmax: over the last axis).

    Parameters
    ----------
    name : {"linear", "relu", "tanh", "sigmoid", "softmax"}
        The function.

    Raises
    ------
    ValueError
        If ``name`` is not one of them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> y, _, _ = nn.Activation("softmax").forward(np.zeros((1, 4)), None)
    >>> y
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    NAMES = ("linear", "relu", "tanh", "sigmoid", "softmax")
    _args = ("name",)

    def __init__(self, name):
        if name not in self.NAMES:
            raise ValueError(f"activation must be one of {self.NAMES}, got {name!r}")
        self.name = name

    def _forward(self, x, lengths, train):
        name = self.name
        if name == "linear":
            y = x
        elif name == "relu":
            y = np.maximum(x, 0)
        elif name == "tanh":
            y = np.tanh(x)
        elif name == "sigmoid":
            # σ(x) = (1 + tanh(x/2)) / 2: no overflow for large |x|
            y = (np.tanh(x * x.dtype.type(0.5)) + 1) * x.dtype.type(0.5)
        else:
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        return y, lengths, ((x, y) if train else None)

    def _backward(self, tape, dy):
        x, y = tape
        name = self.name
        if name == "linear":
            return dy
        if name == "relu":
            return dy * (x > 0)
        if name == "tanh":
            return dy * (1 - y * y)
        if name == "sigmoid":
            return dy * y * (1 - y)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


class Dropout(_Layer):
    """Dropout layer of a `Sequential`: the identity at inference.

    In training each entry is zeroed with probability ``rate`` and the others
    scaled by 1/(1 − rate).

    Parameters
    ----------
    rate : float
        The probability, in [0, 1).
    seed : int, numpy.random.SeedSequence or None, default None
        Seed of the masks.

    Raises
    ------
    ValueError
        If ``rate`` is not a number in [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> x = np.ones((2, 3), np.float32)
    >>> nn.Dropout(0.5, seed=0).forward(x, None)[0] is x
    True
    """
    _args = ("rate",)

    def __init__(self, rate, seed=None):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self._rng = np.random.default_rng(layers.seed_sequence(seed))

    def _forward(self, x, lengths, train):
        if not (train and self.rate):
            return x, lengths, None
        keep = self._rng.random(x.shape) >= self.rate
        mask = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * mask, lengths, mask

    def _backward(self, tape, dy):
        return dy if tape is None else dy * tape


class Masking(_Layer):
    """Keras's ``Masking`` in a `Sequential`: steps equal to ``mask_value`` set the lengths.

    A step of ``x (N, T, F)`` whose every feature equals ``mask_value`` is
    padding. Each row's padding must come after its last valid step (right
    padding): `forward` raises ValueError otherwise, naming the row and the
    steps. The row's length is then its count of valid steps, and the padded
    steps are zeroed, as Keras does.

    Parameters
    ----------
    mask_value : float, default 0.0
        The value of padded steps.

    Raises
    ------
    TypeError
        If ``mask_value`` is not a number.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> x = np.array([[[1.0], [2.0], [0.0]], [[3.0], [0.0], [0.0]]])
    >>> nn.Masking().forward(x, None)[1]
    array([2, 1])
    """
    _args = ("mask_value",)

    def __init__(self, mask_value=0.0):
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise TypeError(f"mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def _forward(self, x, lengths, train):
        valid = (x != x.dtype.type(self.mask_value)).any(axis=2)
        lengths = valid.sum(axis=1).astype(np.int64)
        right = np.arange(x.shape[1]) < lengths[:, None]
        bad = np.argwhere(valid != right)
        if bad.size:
            n = int(bad[0, 0])
            t = int(np.flatnonzero(~valid[n])[0])
            raise ValueError(f"Masking: row {n} has a padded step (all features = "
                             f"{self.mask_value}) at t = {t} followed by a valid one at "
                             f"t = {int(np.flatnonzero(valid[n])[-1])}; only right-padded "
                             f"sequences are supported (padding after each row's last valid "
                             f"step)")
        mask = right[:, :, None].astype(x.dtype)
        return x * mask, lengths, (mask if train else None)

    def _backward(self, tape, dy):
        return dy * tape


#: the layer classes a Sequential holds, by the name its saved configuration gives
LAYERS = {cls.__name__: cls for cls in (Recurrent, Dense, Activation, Dropout, Masking)}


def _dense_config(layer):
    return {"in_features": layer.in_features, "out_features": layer.out_features}


class Sequential(_Classifier):
    """Layers applied in turn, batch first: ``model(x)`` is Keras's ``model.predict(x)``.

    ``x (N, T, I)`` with optional lengths ``(N,)`` in ``[0, T]`` gives the last
    layer's output: ``(N, F)`` after a recurrent layer without
    ``return_sequences``, else ``(N, T, F)``. The layers are `Recurrent`,
    `fastrnn.nn.Dense`, `Activation`, `Dropout` and `Masking` (see
    `fastrnn.sequential`).

    Parameters
    ----------
    layers : sequence of layers
        At least one `Recurrent` or `Dense`, all of one dtype; the first sized
        layer sets the input features I, and each layer's input features must be
        the output features of the one before it. A `Recurrent` or `Masking` reads
        sequences: it comes before any recurrent layer without
        ``return_sequences``.

    Attributes
    ----------
    layers : list
        The layers.
    input_size : int
        I, the features of each input step.
    output_size : int
        F, the features of the output.
    returns_sequences : bool
        Whether the output is ``(N, T, F)``.

    Raises
    ------
    TypeError
        If ``layers`` is not a list or tuple, a layer is not one of those classes,
        or the layers' dtypes differ.
    ValueError
        If there is no layer, no `Recurrent` or `Dense`, the features of two
        layers do not match, or a sequence layer comes after the time axis ended.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> model = nn.Sequential([nn.Recurrent("lstm", 3, 8, activation="relu", seed=0),
    ...                        nn.Dense(8, 2, seed=1), nn.Activation("softmax")])
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((16, 5, 3), dtype=np.float32)
    >>> history = model.fit(x, rng.integers(0, 2, 16), epochs=1, batch_size=8, progress=False)
    >>> model(x[:4]).shape                 # probabilities: the softmax head's output
    (4, 2)
    >>> bool(np.allclose(model(x[:4]), model.predict_proba(x[:4])))
    True
    """

    def __init__(self, layers):
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, tuple(LAYERS.values())):
                raise TypeError(f"layers[{i}] must be one of {tuple(LAYERS)}, got "
                                f"{type(layer).__name__}")
        sized = [layer for layer in layers if isinstance(layer, (Recurrent, Dense))]
        if not sized:
            raise ValueError("layers must hold a Recurrent or a Dense layer (they set the "
                             "features)")
        dtypes = {layer.dtype for layer in sized}
        if len(dtypes) > 1:
            raise TypeError(f"the layers must have one dtype, got {sorted(d.name for d in dtypes)}")
        self.layers = layers
        self.dtype = sized[0].dtype
        self.input_size = sized[0].input_size if isinstance(sized[0], Recurrent) \
            else sized[0].in_features
        features, sequence = self.input_size, True
        for i, layer in enumerate(layers):
            if isinstance(layer, (Recurrent, Masking)) and not sequence:
                raise ValueError(f"layers[{i}] ({type(layer).__name__}) reads sequences, but "
                                 f"an earlier recurrent layer returns only its last step "
                                 f"(return_sequences=False)")
            if isinstance(layer, (Recurrent, Dense)):
                expected = layer.input_size if isinstance(layer, Recurrent) else layer.in_features
                if expected != features:
                    raise ValueError(f"layers[{i}] ({type(layer).__name__}) takes {expected} "
                                     f"input features, but the layer before it gives {features}")
            if isinstance(layer, Recurrent):
                features, sequence = layer.output_size, layer.return_sequences
            elif isinstance(layer, Dense):
                features = layer.out_features
        self.output_size, self.returns_sequences = features, sequence

    # ---- what the shared training code needs -------------------------------------------
    @property
    def params(self):
        """All parameters, the layers' own arrays, keyed ``"{index}.{name}"``.

        An optimizer built on this dict (``nn.Adam(model.params)``) updates the model.
        """
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in getattr(layer, "params", {}).items()}

    @property
    def grads(self):
        """The gradients of the last `backward`, keyed as `params` (scratch space)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in getattr(layer, "grads", {}).items()}

    @property
    def _input_size(self):
        return self.input_size

    @property
    def _num_classes(self):
        if self.returns_sequences:
            raise ValueError("fit, evaluate and predict need a model that ends in class "
                             "scores (N, C); this one returns sequences (N, T, F) (its last "
                             "recurrent layer has return_sequences=True): call the model "
                             "instead")
        return self.output_size

    def _lengths(self, x, lengths):
        return _validate.check_lengths(lengths, x.shape[1], x.shape[0])

    @property
    def _softmax_head(self):
        last = self.layers[-1]
        return isinstance(last, Activation) and last.name == "softmax"

    def _run(self, layers, x, lengths, train):
        tapes = []
        for layer in layers:
            if isinstance(layer, Dense):
                x, tape = layer.forward(x)
            else:
                x, lengths, tape = layer.forward(x, lengths, train)
            tapes.append(tape)
        return x, tapes

    def forward(self, x, lengths=None, train=False):
        """Run every layer on a batch.

        Parameters
        ----------
        x : numpy.ndarray
            ``(B, T, I)``, batch first, of the model's dtype.
        lengths : array_like of int, optional
            ``(B,)`` lengths in ``[0, T]`` (None: every row has T steps; a
            `Masking` layer replaces them).
        train : bool, default False
            Keep the tape for `backward` (and apply dropout).

        Returns
        -------
        y : numpy.ndarray
            The output, ``(B, F)`` or ``(B, T, F)``.
        tape : list or None
            What `backward` needs; None unless ``train``.

        Raises
        ------
        TypeError, ValueError
            If ``x`` or ``lengths`` is wrong, naming it; a `Masking` layer's
            ValueError for padding that is not on the right.
        """
        lengths = self._lengths(x, lengths)
        y, tapes = self._run(self.layers, x, lengths, train)
        return y, (tapes if train else None)

    def logits(self, x, lengths=None, train=False):
        """Class scores of a batch: the output before a final softmax.

        Parameters
        ----------
        x, lengths, train
            As for `forward`.

        Returns
        -------
        numpy.ndarray or tuple
            The scores ``(B, C)``, or with ``train=True`` the pair (scores, tape).

        Raises
        ------
        ValueError
            If the model returns sequences; `forward`'s errors.
        """
        self._num_classes          # noqa: B018 -- refuses a model that returns sequences
        body = self.layers[:-1] if self._softmax_head else self.layers
        z, tapes = self._run(body, x, self._lengths(x, lengths), train)
        return (z, tapes) if train else z

    def backward(self, tape, dy):
        """Backpropagate through every layer; fills `grads`.

        Parameters
        ----------
        tape : list
            The tape of ``forward(..., train=True)`` (with respect to its output
            ``dy``) or of ``logits(..., train=True)`` (with respect to the scores).
        dy : numpy.ndarray
            Gradient of the loss with respect to that output.

        Returns
        -------
        numpy.ndarray
            The gradient with respect to ``x``, ``(B, T, I)``.
        """
        for layer, layer_tape in zip(reversed(self.layers[:len(tape)]), reversed(tape)):
            dy = layer.backward(layer_tape, dy)
        return dy

    def __call__(self, x, lengths=None, batch_size=256):
        """The network's output, as Keras's ``model.predict(x)``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)`` of the model's dtype, finite; N may be 0.
        lengths : array_like of int, optional
            ``(N,)`` lengths in ``[0, T]`` (None: every row has T steps).
        batch_size : int, default 256
            Sequences per forward.

        Returns
        -------
        numpy.ndarray
            ``(N, F)``, or ``(N, T, F)`` when the model returns sequences;
            probabilities for a softmax head.

        Raises
        ------
        TypeError, ValueError
            If an argument is wrong, naming it; a `Masking` layer's ValueError for
            padding that is not on the right.
        """
        x = self._check_x(x, "predict")
        lengths = self._lengths(x, lengths)
        batch_size = _check_int("batch_size", batch_size, 1)
        parts = [self.forward(x[s:s + batch_size], lengths[s:s + batch_size])[0]
                 for s in range(0, len(x), batch_size)]
        if parts:
            return np.concatenate(parts)
        shape = (0, x.shape[1], self.output_size) if self.returns_sequences \
            else (0, self.output_size)
        return np.zeros(shape, self.dtype)

    def config(self):
        """The layers' types and constructor arguments, JSON-serialisable.

        Returns
        -------
        dict
            ``{"layers": [{"type": name, **arguments}, ...]}``; seeds and backends
            are not kept.

        Examples
        --------
        >>> from fastrnn import nn
        >>> model = nn.Sequential([nn.Dense(3, 2), nn.Activation("relu")])
        >>> model.config()["layers"][1]
        {'type': 'Activation', 'name': 'relu'}
        """
        return {"layers": [{"type": type(layer).__name__,
                            **(_dense_config(layer) if isinstance(layer, Dense)
                               else layer.config())} for layer in self.layers]}

    def save(self, path):
        """Write the configuration and every parameter to an ``.npz`` file (no pickle).

        The write is atomic: a temporary file in the same folder, flushed to disk,
        then renamed over ``path``, so an interrupted save leaves the old file intact.

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            Where to write; ``.npz`` is added when missing, as `load` does.

        Returns
        -------
        str or file object
            The path written, or the file object.

        Examples
        --------
        >>> import os, tempfile
        >>> from fastrnn import nn
        >>> model = nn.Sequential([nn.Recurrent("gru", 3, 4), nn.Dense(4, 2)])
        >>> path = model.save(os.path.join(tempfile.mkdtemp(), "model"))
        >>> nn.Sequential.load(path).output_size
        2
        """
        config = dict(self.config(), dtype=self.dtype.name)
        return layers.save_npz(path, "Sequential", config, self.params)

    @classmethod
    def load(cls, path, backend=None):
        """Rebuild a model saved by `save`.

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            A file `save` wrote (``.npz`` is added to a name without it).
        backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
            Where the recurrent layers run (None: the current backend).

        Returns
        -------
        Sequential
            The saved layers, with their parameters.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            Naming the file and what is wrong with it, as
            `fastrnn.nn.SequenceClassifier.load` does.
        """
        def build(config, params):
            dtype = np.dtype(config["dtype"])
            model = cls([_build_layer(spec, dtype, backend) for spec in config["layers"]])
            model.load_state_dict(params)
            return model
        return layers.load_module(path, "Sequential", build)

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])"


def _build_layer(spec, dtype, backend):
    """A layer from its saved ``{"type": name, **arguments}``."""
    spec = dict(spec)
    kind = spec.pop("type")
    if kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r} (expected one of {tuple(LAYERS)})")
    if kind == "Recurrent":
        return Recurrent(**dict(spec, dtype=np.dtype(spec["dtype"])), backend=backend)
    if kind == "Dense":
        return Dense(**spec, dtype=dtype)
    return LAYERS[kind](**spec)
