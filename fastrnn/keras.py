"""`load_keras`: a Keras 3 ``Sequential`` model as a `fastrnn.nn.Sequential`, without Keras.

A ``.keras`` file is a zip of ``config.json`` (the architecture) and
``model.weights.h5`` (the weights); both are read with :mod:`json` and
:mod:`h5py`, so neither Keras nor its backend need be installed. An in-memory
``keras.Model`` is read through its ``get_config()`` and ``get_weights()``.

The layers and options it takes (anything else is one ``ValueError`` that names
each layer and option it cannot take):

==================================  ==========================================================
Keras                               fastrnn
==================================  ==========================================================
``InputLayer``                      (nothing: x is ``(N, T, I)``, float32)
``Masking(mask_value)``             `fastrnn.nn.Masking`: right padding → per-row lengths;
                                    other padding is a ``ValueError`` when the model is called
``SimpleRNN``, ``LSTM``, ``GRU``    `fastrnn.nn.Recurrent` with ``cell`` "rnn", "lstm",
                                    "gru": ``activation`` tanh or relu,
                                    ``recurrent_activation`` sigmoid or hard_sigmoid,
                                    ``use_bias``, ``return_sequences``, ``go_backwards``,
                                    ``reset_after`` (GRU); ``dropout`` and
                                    ``recurrent_dropout`` (training only) are dropped
``Bidirectional(layer)``            the same, ``bidirectional=True``, ``merge_mode`` concat,
                                    sum, mul or ave
``Dense(activation)``               `fastrnn.nn.Dense`, then `fastrnn.nn.Activation` unless
                                    linear (relu, tanh, sigmoid, softmax)
``Activation(activation)``          `fastrnn.nn.Activation`: linear, relu, tanh, sigmoid,
                                    softmax
``Dropout(rate)``                   `fastrnn.nn.Dropout` (the identity at inference)
==================================  ==========================================================

Weights: Keras's kernels ``(I, G·H)`` are the transposes of fastrnn's (PyTorch's)
``weight_ih`` ``(G·H, I)``. The LSTM's gates i, f, c, o are fastrnn's i, f, g, o;
the GRU's z, r, h become r, z, n. Keras's single bias becomes ``bias_ih``, with
``bias_hh = 0``, except the GRU's with ``reset_after=True``, whose ``(2, 3H)``
bias holds ``bias_ih`` and ``bias_hh``.

Masked steps, as Keras 3 computes them: a unidirectional layer that returns
sequences repeats a row's last valid output over its padding
(``masked_output="last"``); a ``Bidirectional`` one outputs zeros there; with
``go_backwards`` the sequence comes back in reversed order, its padding first
(zeros), and the layers after it keep the original lengths, as Keras keeps the
original mask.
"""
import io
import json
import os
import re
import zipfile

import numpy as np

from .nn import Dense
from .sequential import Activation, Dropout, Masking, Recurrent, Sequential

__all__ = ["load_keras"]

#: Keras's recurrent layers and fastrnn's cells
CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
SUPPORTED = ("InputLayer", "Masking", *CELLS, "Bidirectional", "Dense", "Activation",
             "Dropout")
#: the recurrent layers' options and the values fastrnn takes (the others do not change
#: the outputs: initializers, regularizers, constraints, dropout, unroll, seed, ...)
RNN_OPTIONS = {"return_state": (False,), "stateful": (False,),
               "activation": ("tanh", "relu"),
               "recurrent_activation": ("sigmoid", "hard_sigmoid"),
               "time_major": (False,)}
DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")


def load_keras(path_or_model, backend=None):
    """A Keras 3 ``Sequential`` model, from a ``.keras`` file or in memory, as a `Sequential`.

    Parameters
    ----------
    path_or_model : str, os.PathLike, binary file object or keras.Model
        A ``.keras`` file (read with json and h5py: Keras need not be installed),
        or a built ``keras.Sequential``.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of the model's recurrent layers.

    Returns
    -------
    fastrnn.nn.Sequential
        The same network: ``model(x)`` with ``x (N, T, I)`` float32 gives what
        Keras's ``model.predict(x)`` gives.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a Keras 3 ``.keras`` archive, or the model has a layer
        or an option fastrnn does not take: one error listing each, by layer name.
    TypeError
        If ``path_or_model`` is neither a path, a file nor a Keras model.

    See Also
    --------
    fastrnn.keras : The layers and options it takes, and how they map.

    Examples
    --------
    A file that Keras wrote (one of fastrnn's test files: Masking, two LSTMs and a
    Dense with tanh):

    >>> from pathlib import Path
    >>> import numpy as np
    >>> import fastrnn
    >>> path = Path(fastrnn.__file__).parents[1] / "tests/golden/keras/lstm.keras"
    >>> model = fastrnn.load_keras(path)
    >>> [type(layer).__name__ for layer in model.layers]
    ['Masking', 'Recurrent', 'Recurrent', 'Dense', 'Activation']
    >>> model(np.ones((4, 7, 3), np.float32)).shape
    (4, 2)

    From a model in memory: ``fastrnn.load_keras(keras_model)``.
    """
    if hasattr(path_or_model, "get_config") and hasattr(path_or_model, "layers"):
        kind, config, weights = _from_model(path_or_model)
        where = f"the Keras model {getattr(path_or_model, 'name', '')!r}"
    elif isinstance(path_or_model, (str, bytes, os.PathLike)) or hasattr(path_or_model, "read"):
        where = (str(getattr(path_or_model, "name", "the file")) if hasattr(path_or_model, "read")
                 else os.fsdecode(path_or_model))
        kind, config, weights = _from_file(path_or_model, where)
    else:
        raise TypeError(f"path_or_model must be a path to a .keras file, a binary file or a "
                        f"keras.Model, got {type(path_or_model).__name__}")
    return _build(kind, config, weights, where, backend)


# ---- reading: the model's class, its config and each layer's weights -------------------
def _from_model(model):
    """(class name, config, {layer name: [arrays in Keras's order]}) of an in-memory model."""
    weights = {layer.name: [np.asarray(w) for w in layer.get_weights()]
               for layer in model.layers}
    return type(model).__name__, model.get_config(), weights


def _from_file(path, where):
    if not hasattr(path, "read"):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no Keras model file {where}")
        if os.path.isdir(path):
            raise ValueError(f"{where} is a directory, not a .keras file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{where} is not a Keras 3 .keras file (a zip archive)"
                         + ("; it looks like a legacy HDF5 model: save it with "
                            "model.save('model.keras')" if _is_hdf5(path) else "")) from None
    with archive:
        names = archive.namelist()
        missing = [n for n in ("config.json", "model.weights.h5") if n not in names]
        if missing:
            raise ValueError(f"{where} is not a Keras 3 .keras file: it lacks {missing}")
        try:
            top = json.loads(archive.read("config.json"))
        except ValueError as err:
            raise ValueError(f"{where}: config.json is not valid JSON ({err})") from None
        weights_h5 = archive.read("model.weights.h5")
    if not isinstance(top, dict) or not isinstance(top.get("config"), dict):
        raise ValueError(f"{where}: config.json does not describe a Keras model")
    import h5py
    config = top["config"]
    with h5py.File(io.BytesIO(weights_h5), "r") as f:
        weights = _weights_from_h5(f, config.get("layers", []))
    return top.get("class_name"), config, weights


def _is_hdf5(path):
    if hasattr(path, "read"):
        return False
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _snake_case(name):
    """Keras's ``naming.to_snake_case``, the name of a layer's group in the weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _weights_from_h5(f, layer_configs):
    """{layer name: arrays} from model.weights.h5: Keras stores the model's layers (not its
    InputLayer) under ``layers/<class in snake case>``, numbered ``_1``, ``_2`` ... from
    the second of a class on; each object's arrays in ``vars/0``, ``vars/1`` ..."""
    def arrays(group, *path):
        for part in path:
            if part not in group:
                return []
            group = group[part]
        vars_ = group.get("vars", {})
        return [np.asarray(vars_[str(i)]) for i in range(len(vars_))]

    weights, used = {}, {}
    for spec in layer_configs:
        cls = spec.get("class_name")
        if cls == "InputLayer":
            continue
        key = _snake_case(str(cls))
        n = used.get(key, 0)
        used[key] = n + 1
        group = f"layers/{key}" + (f"_{n}" if n else "")
        name = spec.get("config", {}).get("name")
        if cls == "Bidirectional":
            weights[name] = (arrays(f, group, "forward_layer", "cell")
                             + arrays(f, group, "backward_layer", "cell"))
        else:
            weights[name] = arrays(f, group) + arrays(f, group, "cell")
    return weights


# ---- building the fastrnn model ----------------------------------------------------------
def _build(kind, config, weights, where, backend):
    if kind != "Sequential":
        raise ValueError(f"load_keras: {where} is a {kind} model; only keras.Sequential "
                         f"models are supported (a plain stack of layers)")
    problems, built = [], []
    for spec in config.get("layers", []):
        cls, cfg = spec.get("class_name"), spec.get("config", {})
        name = cfg.get("name", "?")
        label = f"layer {name!r} ({cls})"
        if cls not in SUPPORTED:
            problems.append(f"{label} is not supported (supported: {', '.join(SUPPORTED)})")
            continue
        issues = _check_dtype(cfg) + _check_options(cls, cfg)
        if issues:
            problems.extend(f"{label}: {issue}" for issue in issues)
            continue
        built.append((label, cls, cfg, weights.get(name, [])))
    if problems:
        raise ValueError(f"load_keras: {where} cannot be loaded: " + "; ".join(problems))
    layers = []
    for label, cls, cfg, arrays in built:
        try:
            layers.extend(_convert(cls, cfg, arrays, backend))
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ValueError(f"load_keras: {where}: {label}: its weights do not match its "
                             f"configuration ({type(err).__name__}: {err})") from None
    try:
        return Sequential(layers)
    except (ValueError, TypeError) as err:
        raise ValueError(f"load_keras: {where}: {err}") from None


def _check_dtype(cfg):
    dtype = cfg.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", dtype.get("class_name"))
    return [] if dtype in (None, "float32") else [f"dtype={dtype!r} is not supported (only "
                                                  f"float32)"]


def _check_options(cls, cfg):
    """The options of one layer's config fastrnn cannot take, as messages."""
    issues = []

    def refuse(option, allowed):
        value = cfg.get(option, allowed[0])
        if value not in allowed:
            issues.append(f"{option}={value!r} is not supported (expected "
                          f"{' or '.join(map(repr, allowed))})")

    if cls == "InputLayer":
        refuse("sparse", (False,))
        refuse("ragged", (False,))
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape is not None and len(shape) != 3:
            issues.append(f"batch_shape={shape} is not supported (expected (batch, time, "
                          f"features))")
    elif cls in CELLS:
        for option, allowed in RNN_OPTIONS.items():
            if cls != "SimpleRNN" or option != "recurrent_activation":
                refuse(option, allowed)
    elif cls == "Bidirectional":
        refuse("merge_mode", ("concat", "sum", "mul", "ave"))
        forward, backward = cfg.get("layer", {}), cfg.get("backward_layer") or {}
        inner = forward.get("class_name")
        if inner not in CELLS:
            issues.append(f"a Bidirectional {inner} is not supported (expected one of "
                          f"{', '.join(CELLS)})")
            return issues
        issues += [f"its {inner}: {issue}" for issue in
                   _check_dtype(forward.get("config", {}))
                   + _check_options(inner, forward.get("config", {}))]
        if forward.get("config", {}).get("go_backwards"):
            issues.append("go_backwards=True in the forward layer is not supported")
        if backward:
            same = ("class_name",)
            options = ("units", "activation", "recurrent_activation", "use_bias",
                       "return_sequences", "reset_after")
            differ = [k for k in same if backward.get(k) != forward.get(k)] + [
                k for k in options
                if backward.get("config", {}).get(k) != forward.get("config", {}).get(k)]
            if differ:
                issues.append(f"a backward_layer that differs from the forward one in "
                              f"{differ} is not supported")
    elif cls == "Dense":
        refuse("activation", DENSE_ACTIVATIONS)
        refuse("lora_rank", (None,))
    elif cls == "Activation":
        refuse("activation", DENSE_ACTIVATIONS)
    elif cls == "Dropout":
        refuse("noise_shape", (None,))
    return issues


def _rnn_args(cls, cfg):
    """The `Recurrent` arguments of one Keras recurrent layer's config."""
    args = dict(cell=CELLS[cls], hidden_size=int(cfg["units"]),
                return_sequences=bool(cfg.get("return_sequences", False)),
                activation=cfg.get("activation", "tanh"), bias=bool(cfg.get("use_bias", True)))
    if cls != "SimpleRNN":
        args["gate_activation"] = cfg.get("recurrent_activation", "sigmoid")
    if cls == "GRU":
        args["reset_after"] = bool(cfg.get("reset_after", True))
    return args


def _cell_params(cls, cfg, arrays, suffix):
    """One direction's fastrnn parameters from Keras's kernel, recurrent kernel and bias."""
    H = int(cfg["units"])
    kernel, recurrent = arrays[0], arrays[1]
    order = np.arange(kernel.shape[1])
    if cls == "GRU":          # Keras z, r, h → fastrnn r, z, n
        order = np.concatenate([order[H:2 * H], order[:H], order[2 * H:]])
    params = {f"weight_ih_l0{suffix}": kernel[:, order].T,
              f"weight_hh_l0{suffix}": recurrent[:, order].T}
    if cfg.get("use_bias", True):
        bias = arrays[2]
        if bias.ndim == 2:    # the GRU with reset_after: (2, 3H), input and recurrent biases
            b_ih, b_hh = bias[0][order], bias[1][order]
        else:
            b_ih, b_hh = bias[order], np.zeros_like(bias)
        params[f"bias_ih_l0{suffix}"], params[f"bias_hh_l0{suffix}"] = b_ih, b_hh
    return params, kernel.shape[0]


def _convert(cls, cfg, arrays, backend):
    """The fastrnn layers of one Keras layer, with its weights."""
    if cls == "InputLayer":
        return []
    if cls == "Masking":
        return [Masking(cfg.get("mask_value", 0.0))]
    if cls == "Dropout":
        return [Dropout(cfg.get("rate", 0.0))]
    if cls == "Activation":
        return [Activation(cfg["activation"])]
    if cls == "Dense":
        kernel = arrays[0]
        dense = Dense(kernel.shape[0], kernel.shape[1])
        bias = arrays[1] if cfg.get("use_bias", True) else np.zeros(kernel.shape[1], np.float32)
        dense.params["weight"][...] = kernel.T
        dense.params["bias"][...] = bias
        activation = cfg.get("activation", "linear")
        return [dense] + ([Activation(activation)] if activation != "linear" else [])
    if cls == "Bidirectional":
        inner = cfg["layer"]
        inner_cls, inner_cfg = inner["class_name"], inner["config"]
        # the forward layer's arrays, then the backward layer's
        params, I = _cell_params(inner_cls, inner_cfg, arrays, "")
        reverse, _ = _cell_params(inner_cls, inner_cfg, arrays[len(arrays) // 2:], "_reverse")
        args = dict(_rnn_args(inner_cls, inner_cfg), bidirectional=True,
                    merge_mode=cfg.get("merge_mode", "concat"))
        params.update(reverse)
    else:
        params, I = _cell_params(cls, cfg, arrays, "")
        go_backwards = bool(cfg.get("go_backwards", False))
        args = dict(_rnn_args(cls, cfg), go_backwards=go_backwards,
                    masked_output="zero" if cfg.get("zero_output_for_mask") else "last")
    layer = Recurrent(input_size=I, **args, backend=backend)
    layer.module.load_state_dict({k: np.ascontiguousarray(v, np.float32)
                                  for k, v in params.items()})
    return [layer]
