"""`to_onnx` and `load_onnx`: fastrnn models as ONNX graphs (opset 17) and back.

The graph's inputs are ``x`` and ``sequence_lens`` (int32, one length per
row); the recurrent layers are ONNX ``LSTM``, ``GRU`` and ``RNN`` nodes (one
per layer, both directions in one node) reading ``sequence_lens``, with the
ops around them: Transpose, Reshape, Gather, GatherND, Concat, Slice, Add, Sub,
Mul, Max, Min, MatMul, Cast, Squeeze, Unsqueeze, Shape, Range, the activations,
and for a Masking layer Equal, Not, ReduceMax and ReduceSum. Initial states are zeros.

Initializers are named after fastrnn's parameters: ``{prefix}W_l{k}``,
``{prefix}R_l{k}``, ``{prefix}B_l{k}`` for layer k of a recurrent module (ONNX's
layouts and gate orders), a Dense layer's ``{prefix}weight`` (transposed, read by
MatMul) and ``{prefix}bias``; helper constants start with ``_``. The model's
``metadata_props`` entry ``fastrnn`` holds its kind and configuration (what its
``save`` writes), so `load_onnx` rebuilds the same model with the graph's weights.
"""
import io
import json
import os

import numpy as np

from .. import layers, nn
from . import _proto
from ._recurrent import CELLS, HARD_SIGMOID, reorder

OPSET = 17
#: the metadata key holding the model's kind and configuration
METADATA = "fastrnn"
#: the kinds of model, by the name their save files use
KINDS = {"RNN": layers.RNN, "LSTM": layers.LSTM, "GRU": layers.GRU,
         "Sequential": nn.Sequential, "SequenceClassifier": nn.SequenceClassifier}
ACTIVATION_OPS = {"linear": "Identity", "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}


class _Graph:
    """The nodes and initializers of a graph being written."""

    def __init__(self, dtype):
        self.helper = _proto.onnx().helper
        self.numpy_helper = _proto.onnx().numpy_helper
        self.dtype = dtype
        self.nodes, self.initializers, self.count = [], [], 0

    def add(self, op, inputs, outputs=1, **attrs):
        """Append a node; returns the names of its outputs (one name if ``outputs`` is 1)."""
        names = [f"_{op.lower()}{self.count}_{i}" for i in range(outputs)]
        self.count += 1
        self.nodes.append(self.helper.make_node(op, inputs, names, **attrs))
        return names if outputs > 1 else names[0]

    def const(self, array, name=None):
        """An initializer holding ``array``; a helper constant when ``name`` is None."""
        if name is None:
            name = f"_const{self.count}"
            self.count += 1
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name


def _attributes(module):
    """The ONNX attributes of one of ``module``'s recurrent nodes."""
    op = module.cell.upper()
    D = module.num_directions
    gate = ["HardSigmoid" if getattr(module, "gate_activation", "") == "hard_sigmoid"
            else "Sigmoid"] if op != "RNN" else []
    act = module.activation.capitalize()
    acts = (gate + [act] * (2 if op == "LSTM" else 1)) * D
    attrs = dict(hidden_size=module.hidden_size, activations=acts,
                 direction="bidirectional" if D == 2 else "forward")
    if gate == ["HardSigmoid"]:
        attrs.update(activation_alpha=[float(HARD_SIGMOID[0])] * D,
                     activation_beta=[float(HARD_SIGMOID[1])] * D)
    if op == "GRU":
        attrs["linear_before_reset"] = int(module.reset_after)
    return attrs


def _recurrent(g, module, prefix, x, lens, reverse=False):
    """The nodes of a recurrent module on time-major ``x`` (T, N, I), one per layer, every
    direction "reverse" with ``reverse``; returns the top layer's Y (T, D, N, P), the same as
    (T, N, D·P) (what the module returns), and every layer's final states [[Y_h, Y_c], ...]."""
    if module.proj_size:
        raise ValueError(f"{prefix or 'the '}LSTM has proj_size={module.proj_size}: ONNX's LSTM "
                         f"has no projection, so it cannot be exported")
    op = module.cell.upper()
    order = np.argsort(CELLS[op]["order"])        # fastrnn's gate blocks in ONNX's order
    attrs = _attributes(module)
    if reverse:
        attrs["direction"] = "reverse"
    D = module.num_directions
    finals = []
    for k in range(module.num_layers):
        sfx = [f"_l{k}", f"_l{k}_reverse"][:D]
        p = module.params

        def stack(stem):
            return np.stack([reorder(p[f"{stem}{s}"], order, axis=0) for s in sfx])
        inputs = [x, g.const(stack("weight_ih"), f"{prefix}W_l{k}"),
                  g.const(stack("weight_hh"), f"{prefix}R_l{k}")]
        if module.bias:
            inputs.append(g.const(np.concatenate([stack("bias_ih"), stack("bias_hh")], axis=1),
                                  f"{prefix}B_l{k}"))
        else:
            inputs.append("")
        inputs.append(lens)
        y, *states = g.add(op, inputs, 1 + len(CELLS[op]["states"]), **attrs)
        finals.append(states)
        # the next layer reads (T, N, D·P)
        x = g.add("Reshape", [g.add("Transpose", [y], perm=[0, 2, 1, 3]),
                              g.const(np.array([0, 0, -1], np.int64))])
    return y, x, finals


def _merge(g, mode, halves):
    """The merge of a bidirectional Sequential layer's two directions (sum, mul or ave)."""
    a, b = halves
    if mode == "sum":
        return g.add("Add", [a, b])
    if mode == "mul":
        return g.add("Mul", [a, b])
    return g.add("Mul", [g.add("Add", [a, b]), g.const(np.array(0.5, g.dtype))])


def _last(g, lens):
    """(N, 1) int64: each row's last valid step, max(length − 1, 0)."""
    last = g.add("Max", [g.add("Sub", [g.add("Cast", [lens], to=_proto.onnx().TensorProto.INT64),
                                       g.const(np.array(1, np.int64))]),
                         g.const(np.array(0, np.int64))])
    return g.add("Unsqueeze", [last, g.const(np.array([1], np.int64))])


def _hold_last(g, y, lens):
    """Batch-first ``y`` (N, T, P) with each row's padded steps holding its last valid output
    (``masked_output="last"``): y[n, min(t, last_n)]."""
    T = g.add("Squeeze", [g.add("Shape", [y], start=1, end=2), g.const(np.array([0], np.int64))])
    steps = g.add("Range", [g.const(np.array(0, np.int64)), T, g.const(np.array(1, np.int64))])
    index = g.add("Unsqueeze", [g.add("Min", [steps, _last(g, lens)]),
                                g.const(np.array([-1], np.int64))])            # (N, T, 1)
    return g.add("GatherND", [y, index], batch_dims=1)


def _sequential_recurrent(g, layer, prefix, x, lens):
    """A Sequential's `Recurrent` layer on batch-first ``x``: its batch-first output.

    With ``go_backwards`` every ONNX layer runs in reverse: the top one's Y is the
    module's output in the input's order, whose last valid output is Y_h, and which
    reversed in time is what the layer returns with ``return_sequences``.
    """
    module = layer.module
    y, _, finals = _recurrent(g, module, prefix, g.add("Transpose", [x], perm=[1, 0, 2]), lens,
                              reverse=layer.go_backwards)
    D = module.num_directions
    if layer.return_sequences:                        # y (T, D, N, P)
        if D == 1 or layer.merge_mode == "concat":
            out = g.add("Reshape", [g.add("Transpose", [y], perm=[2, 0, 1, 3]),
                                    g.const(np.array([0, 0, -1], np.int64))])
            if layer.go_backwards:
                return g.add("Slice", [out, *(g.const(np.array([v], np.int64))
                                              for v in (-1, -2 ** 63, 1, -1))])
            return _hold_last(g, out, lens) if layer.masked_output == "last" else out
        halves = [g.add("Gather", [y, g.const(np.array(d, np.int64))], axis=1) for d in (0, 1)]
        return g.add("Transpose", [_merge(g, layer.merge_mode, halves)], perm=[1, 0, 2])
    # each row's last valid output is each direction's final state: Y_h (D, N, P)
    h = finals[-1][0]
    if D == 1 or layer.merge_mode == "concat":
        return g.add("Reshape", [g.add("Transpose", [h], perm=[1, 0, 2]),
                                 g.const(np.array([0, -1], np.int64))])
    halves = [g.add("Gather", [h, g.const(np.array(d, np.int64))], axis=0) for d in (0, 1)]
    return _merge(g, layer.merge_mode, halves)


def _dense(g, dense, prefix, x):
    return g.add("Add", [g.add("MatMul", [x, g.const(dense.params["weight"].T.copy(),
                                                     f"{prefix}weight")]),
                         g.const(dense.params["bias"], f"{prefix}bias")])


def _masking(g, layer, x):
    """A `Masking` layer: steps whose every feature is the mask value are padding; each row's
    length is its count of valid steps, and the padded steps become zeros (for right-padded
    rows, what fastrnn's Masking accepts)."""
    valid = g.add("ReduceMax", [g.add("Cast", [g.add("Not", [g.add("Equal", [
        x, g.const(np.array(layer.mask_value, g.dtype))])])], to=_elem(g.dtype))],
        axes=[-1], keepdims=0)                                             # (N, T): 1 or 0
    lens = g.add("Cast", [g.add("ReduceSum", [valid, g.const(np.array([1], np.int64))],
                                keepdims=0)], to=_proto.onnx().TensorProto.INT32)
    return g.add("Mul", [x, g.add("Unsqueeze", [valid, g.const(np.array([-1], np.int64))])]), lens


def _elem(dtype):
    return _proto.onnx().helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _sequential(g, model, x, lens):
    for i, layer in enumerate(model.layers):
        prefix = f"{i}."
        if isinstance(layer, nn.Recurrent):
            x = _sequential_recurrent(g, layer, prefix, x, lens)
        elif isinstance(layer, nn.Dense):
            x = _dense(g, layer, prefix, x)
        elif isinstance(layer, nn.Activation):
            x = g.add("Softmax", [x], axis=-1) if layer.name == "softmax" else \
                g.add(ACTIVATION_OPS[layer.name], [x])
        elif isinstance(layer, nn.Masking):
            x, lens = _masking(g, layer, x)
        # Dropout: the identity at inference, no node
    return [("y", x, ["N", "T", model.output_size] if model.returns_sequences
             else ["N", model.output_size])]


def _module(g, module, x, lens):
    xt = g.add("Transpose", [x], perm=[1, 0, 2]) if module.batch_first else x
    _, y, finals = _recurrent(g, module, "", xt, lens)
    y = g.add("Transpose", [y], perm=[1, 0, 2]) if module.batch_first else y
    LD = module.num_layers * module.num_directions
    outs = [("y", y, ["N", "T", module.num_directions * module.hidden_size]
             if module.batch_first else ["T", "N", module.num_directions * module.hidden_size])]
    for s, name in enumerate(["h_n", "c_n"][:len(finals[0])]):
        parts = [f[s] for f in finals]
        outs.append((name, g.add("Concat", parts, axis=0) if len(parts) > 1
                     else g.add("Identity", parts), [LD, "N", module.hidden_size]))
    return outs


def _classifier(g, model, x, lens):
    _, y, _ = _recurrent(g, model.rnn, "rnn.", g.add("Transpose", [x], perm=[1, 0, 2]), lens)
    # the output at each row's last valid step (both directions there, as last_valid)
    h = g.add("GatherND", [g.add("Transpose", [y], perm=[1, 0, 2]), _last(g, lens)],
              batch_dims=1)
    return [("probabilities", g.add("Softmax", [_dense(g, model.fc, "fc.", h)], axis=-1),
             ["N", model.fc.out_features])]


def _kind(model):
    for kind, cls in KINDS.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"model must be a fastrnn RNN, LSTM or GRU, a fastrnn.nn.Sequential or a "
                    f"SequenceClassifier, got {type(model).__name__}")


def _config(model):
    """What the model's ``save`` stores as its configuration."""
    if isinstance(model, nn.Sequential):
        return dict(model.config(), dtype=model.dtype.name)
    if isinstance(model, nn.SequenceClassifier):
        return model._config
    return model.config()


def to_onnx(model, path=None):
    """Write a fastrnn model as an ONNX graph (opset 17) that ONNX Runtime runs.

    The graph's inputs are ``x`` and ``sequence_lens`` (int32 (N,), each row's
    length, the ``lengths`` of the model's calls); its recurrent layers are ONNX
    ``LSTM``, ``GRU`` and ``RNN`` nodes, initial states zeros. Its outputs:

    - a layer (`fastrnn.LSTM`, ``GRU``, ``RNN``): ``y`` as ``layer(x,
      lengths=...)[0]`` ((T, N, D·H), or (N, T, D·H) with ``batch_first``) and the
      final states ``h_n`` (and ``c_n``), (L·D, N, H);
    - a `fastrnn.nn.Sequential`: ``y``, what ``model(x, lengths)`` returns (a
      `fastrnn.nn.Masking` layer sets the lengths from x, as in fastrnn, for the
      right-padded rows it accepts: the graph cannot raise fastrnn's error for others);
    - a `fastrnn.nn.SequenceClassifier`: ``probabilities``, ``model(x, lengths)``.

    Parameters
    ----------
    model : fastrnn.RNN, fastrnn.LSTM, fastrnn.GRU, fastrnn.nn.Sequential or fastrnn.nn.SequenceClassifier
        The model. Sequential models hold `fastrnn.nn.Recurrent`, ``Dense``,
        ``Activation``, ``Masking`` and ``Dropout`` layers (Dropout writes no node).
    path : str, os.PathLike or binary file object, optional
        Where to write the model; None: only return it.

    Returns
    -------
    onnx.ModelProto
        The model.

    Raises
    ------
    ImportError
        If the onnx package is not installed.
    TypeError
        If ``model`` is none of those.
    ValueError
        If the model holds an LSTM with ``proj_size``, which ONNX's LSTM cannot compute.

    See Also
    --------
    load_onnx : The model back, from the graph.
    fastrnn.onnx.InferenceSession : Runs the graph.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import fastrnn
    >>> from fastrnn import nn
    >>> model = nn.Sequential([nn.Recurrent("gru", 3, 8, seed=0), nn.Dense(8, 2, seed=1),
    ...                        nn.Activation("softmax")])
    >>> f = io.BytesIO()
    >>> onnx_model = fastrnn.to_onnx(model, f)
    >>> sorted({node.op_type for node in onnx_model.graph.node})
    ['Add', 'GRU', 'Identity', 'MatMul', 'Reshape', 'Softmax', 'Transpose']
    >>> x = np.ones((4, 5, 3), np.float32)
    >>> lengths = np.array([5, 4, 2, 1], np.int32)
    >>> session = fastrnn.onnx.InferenceSession(f.getvalue())
    >>> (y,) = session.run(None, {"x": x, "sequence_lens": lengths})
    >>> bool(np.allclose(y, model(x, lengths), atol=1e-6))
    True
    """
    onnx = _proto.onnx()
    helper = onnx.helper
    kind = _kind(model)
    dtype = np.dtype(model.dtype)
    g = _Graph(dtype)
    elem = _elem(dtype)
    batch_first = kind in ("Sequential", "SequenceClassifier") or model.batch_first
    I = model.input_size if kind != "SequenceClassifier" else model.rnn.input_size
    build = {"Sequential": _sequential, "SequenceClassifier": _classifier}.get(kind, _module)
    outs = build(g, model, "x", "sequence_lens")
    inputs = [helper.make_tensor_value_info("x", elem, ["N", "T", I] if batch_first
                                            else ["T", "N", I]),
              helper.make_tensor_value_info("sequence_lens", onnx.TensorProto.INT32, ["N"])]
    outputs = []
    for name, value, shape in outs:
        g.nodes.append(helper.make_node("Identity", [value], [name]))
        outputs.append(helper.make_tensor_value_info(name, elem, shape))
    graph = helper.make_graph(g.nodes, f"fastrnn_{kind}", inputs, outputs, g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fastrnn")
    helper.set_model_props(proto, {METADATA: json.dumps({"kind": kind,
                                                         "config": _config(model)})})
    onnx.checker.check_model(proto)
    if path is not None:
        if hasattr(path, "write"):
            path.write(proto.SerializeToString())
        else:
            onnx.save(proto, os.fspath(path))
    return proto


def load_onnx(path, backend=None):
    """The fastrnn model a graph written by `to_onnx` holds, with the graph's weights.

    For fine-tuning or saving as ``.npz``: the model is the one that was exported (its
    kind and configuration are in the graph's metadata), its parameters exactly the
    graph's initializers, so its outputs are the exported model's.

    Parameters
    ----------
    path : str, os.PathLike, bytes or onnx.ModelProto
        The graph: a file, its serialized bytes, or the proto.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of the model's recurrent layers.

    Returns
    -------
    fastrnn.RNN, fastrnn.LSTM, fastrnn.GRU, fastrnn.nn.Sequential or fastrnn.nn.SequenceClassifier
        The model.

    Raises
    ------
    ImportError
        If the onnx package is not installed.
    ValueError
        If the graph was not written by `to_onnx` (no ``fastrnn`` metadata; run
        other graphs with `fastrnn.onnx.InferenceSession`), or its weights do not
        fit its configuration.

    See Also
    --------
    to_onnx : Writes the graph.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import fastrnn
    >>> lstm = fastrnn.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    >>> f = io.BytesIO()
    >>> _ = fastrnn.to_onnx(lstm, f)
    >>> again = fastrnn.load_onnx(f.getvalue())
    >>> all(np.array_equal(again.params[k], v) for k, v in lstm.params.items())
    True
    """
    proto = _proto.load_model(path)
    numpy_helper = _proto.onnx().numpy_helper
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA not in meta:
        raise ValueError("the graph was not written by fastrnn.to_onnx (it has no 'fastrnn' "
                         "metadata); fastrnn.onnx.InferenceSession runs other graphs")
    header = json.loads(meta[METADATA])
    arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    nodes = proto.graph.node
    transposed = {n.input[1] for n in nodes if n.op_type == "MatMul"}
    recurrent = {name for n in nodes if n.op_type in CELLS for name in n.input[1:4]}
    params = {name: (a.T if name in transposed else a) for name, a in arrays.items()
              if not name.startswith("_") and name not in recurrent}
    for node in nodes:
        if node.op_type in CELLS:
            params.update(_state_dict(node, arrays))
    f = io.BytesIO()
    layers.save_npz(f, header["kind"], header["config"], params)
    f.seek(0)
    return KINDS[header["kind"]].load(f, backend=backend)


def _state_dict(node, arrays):
    """fastrnn's parameters of one recurrent node written by `to_onnx`."""
    order = CELLS[node.op_type]["order"]
    w_name = node.input[1]
    prefix, k = w_name.rsplit("W_l", 1)
    w, r = arrays[w_name], arrays[node.input[2]]
    b = arrays.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    out = {}
    for d in range(w.shape[0]):
        sfx = f"_l{k}" + ("_reverse" if d else "")
        out[f"{prefix}weight_ih{sfx}"] = reorder(w[d], order)
        out[f"{prefix}weight_hh{sfx}"] = reorder(r[d], order)
        if b is not None:
            wb, rb = np.split(b[d], 2)
            out[f"{prefix}bias_ih{sfx}"] = reorder(wb, order, axis=0)
            out[f"{prefix}bias_hh{sfx}"] = reorder(rb, order, axis=0)
    return out
