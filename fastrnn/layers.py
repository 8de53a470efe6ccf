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
        return 2 if self.bidirectional else 1

    @property
    def _decl(self):
        """This module's cell declaration (``fastrnn.cells``)."""
        return cells.get(self.cell)

    @property
    def output_size(self):
        """P, the units of h and of each direction's y: proj_size, or hidden_size."""
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
        """A copy of the parameters, keyed by PyTorch state_dict names."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy ``state_dict`` (name -> array, e.g. a PyTorch module's) into the parameters.

        Every name must be present with the right shape and this module's dtype;
        all problems are listed in one ValueError (names, shapes) or TypeError (dtypes).
        Arrays are copied, so the parameters stay this module's own.
        """
        copy_state_dict(self.params, state_dict)

    def config(self):
        """The constructor arguments, JSON-serialisable (stored by ``save``)."""
        return dict(input_size=self.input_size, hidden_size=self.hidden_size,
                    num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                    dropout=self.dropout, bidirectional=self.bidirectional,
                    **self._option_args(), dtype=self.dtype.name,
                    **({"proj_size": self.proj_size} if self.proj_size else {}))

    def save(self, path):
        """Write the config and parameters to an ``.npz`` file (no pickle).

        ``.npz`` is added to the name when missing, as ``load`` does; the write is
        atomic (a temporary file in the same folder, then renamed). Returns the path.
        """
        return save_npz(path, type(self).__name__, self.config(), self.params)

    @classmethod
    def load(cls, path, **overrides):
        """Rebuild a module saved by ``save`` (``overrides``: e.g. backend=).

        A missing file raises FileNotFoundError; a malformed one (not .npz, no or bad
        header, another kind, a bad config, missing or mis-shaped arrays) one ValueError
        naming the file and the problem.
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
        layer's h_t (batch_size, hidden_size); ``state`` (None: zeros) is shaped as
        this module's. Unidirectional modules only.
        """
        from .stream import Stream
        return Stream(self, batch_size, state)

    def __call__(self, x, state=None, lengths=None):
        """Inference: ``y, state = module(x, state, lengths)``; see ``forward``."""
        y, state, _ = self.forward(x, state, lengths, train=False)
        return y, state

    def forward(self, x, state=None, lengths=None, train=True):
        """Run every layer and direction.

        x (T, B, I), or (B, T, I) with batch_first; state: initial states, None for
        zeros, h0 (L·D, B, H) — for LSTM the pair (h0, c0); lengths (B,) or None.
        Returns y (T, B, D·H) (or (B, T, D·H)), the final states shaped like
        ``state``, and a tape for ``backward`` (None unless ``train``).
        """
        x = self._check_input(x)
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
        y = x.transpose(1, 0, 2).copy() if self.batch_first else x
        tape = LayerTape(tapes, masks, lengths, (T, B)) if train else None
        return y, state, tape

    def backward(self, tape, dy=None, dstate=None):
        """Backprop through every layer; fills (overwrites) ``self.grads``.

        dy: gradient of the loss w.r.t. y, shaped like y (None = zeros); dstate:
        w.r.t. the final states, shaped like them (None = zeros). Returns
        ``dx`` shaped like x and ``dstate0`` shaped like the initial state.
        """
        if not isinstance(tape, LayerTape):
            raise TypeError(f"tape must be the tape of {type(self).__name__}.forward(..., "
                            f"train=True), got {type(tape).__name__}")
        T, B = tape.dims
        L, D, H = self.num_layers, self.num_directions, self.output_size
        dy = self._check_grad("dy", dy, (B, T, D * H) if self.batch_first else (T, B, D * H))
        if dy is not None and self.batch_first:
            dy = dy.transpose(1, 0, 2)
        dfinal = self._check_dstate(dstate, B)
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
        dx = dy.transpose(1, 0, 2).copy() if self.batch_first else dy
        return dx, (tuple(dstate0) if len(dstate0) > 1 else dstate0[0])

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

    RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh" | "relu", bias=True,
        batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
        seed=None, backend=None). State h (L·D, B, H).
    """
    cell = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kwargs):
        if "activation" in kwargs:
            raise TypeError("RNN takes nonlinearity= (PyTorch's name), not activation=")
        super().__init__(input_size, hidden_size, num_layers, activation=nonlinearity, **kwargs)

    @property
    def nonlinearity(self):
        return self.activation

    def config(self):
        config = super().config()
        config["nonlinearity"] = config.pop("activation")
        return config


class LSTM(_RNNBase):
    """LSTM layers (gates i, f, g, o; see ``fastrnn.lstm_forward``). State (h, c), each (L·D, B, H).

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
         bidirectional=False, activation="tanh" | "relu", dtype=np.float32, seed=None,
         backend=None, gate_activation="sigmoid" | "hard_sigmoid", proj_size=0).

    With proj_size = P > 0 (PyTorch's): h_t = W_hr (o ⊙ act(c_t)), h and y of P units
    (``weight_hr_l{k}[_reverse]`` (P, H) in the state dict), c of H.
    """
    cell = "lstm"


class GRU(_RNNBase):
    """GRU layers (gates r, z, n; see ``fastrnn.gru_forward``). State h (L·D, B, H).

    Same arguments as ``LSTM``, and reset_after=True (PyTorch's: r multiplies h W_hnᵀ + b_hn)
    | False (Keras reset_after=False, ONNX linear_before_reset=0: r multiplies h first).
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
