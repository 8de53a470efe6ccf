"""The ops around the recurrent nodes, in NumPy: one table of op type → function.

Each function takes the node's inputs (a list of NumPy arrays, None where an
optional input is not given) and its attributes (a dict, strings decoded,
tensors as arrays) and returns the list of its outputs. The semantics are
ONNX's at opset 13 and later (inputs for the axes of Squeeze, Unsqueeze and
Slice; Softmax over one axis).
"""
import functools

import numpy as np

from ._proto import numpy_dtype


def _axes(inputs, attrs, position=1):
    """The ``axes`` of a node: its input at ``position`` (opset ≥ 13), else its attribute."""
    if len(inputs) > position and inputs[position] is not None:
        return [int(a) for a in inputs[position]]
    return attrs.get("axes")


def _squeeze(inputs, attrs):
    axes = _axes(inputs, attrs)
    return [np.squeeze(inputs[0], axis=None if axes is None else tuple(axes))]


def _unsqueeze(inputs, attrs):
    x, axes = inputs[0], _axes(inputs, attrs)
    rank = x.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = np.expand_dims(x, axis)
    return [x]


def _reshape(inputs, attrs):
    x, shape = inputs[0], [int(s) for s in inputs[1]]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def _slice(inputs, attrs):
    x, starts, ends = inputs[:3]
    axes = _axes(inputs, {}, 3)
    axes = range(len(starts)) if axes is None else axes
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        # ONNX clamps starts and ends as Python's slices do; INT64 extremes included
        index[axis] = slice(int(start), int(end), int(step))
    return [x[tuple(index)]]


def _gemm(inputs, attrs):
    a, b = inputs[0], inputs[1]
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = a @ b * a.dtype.type(attrs.get("alpha", 1.0))
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + inputs[2] * a.dtype.type(attrs.get("beta", 1.0))
    return [y]


def _softmax(inputs, attrs):
    x = inputs[0]
    axis = attrs.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [e / e.sum(axis=axis, keepdims=True)]


def _sigmoid(x):
    # σ(x) = (1 + tanh(x/2)) / 2: no overflow for large |x|
    return (np.tanh(x * x.dtype.type(0.5)) + 1) * x.dtype.type(0.5)


def _shape(inputs, attrs):
    shape = np.array(inputs[0].shape, np.int64)
    return [shape[attrs.get("start", 0):attrs.get("end", None)]]


def _constant(inputs, attrs):
    for name, kind in (("value", None), ("value_float", np.float32),
                       ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if name in attrs:
            return [np.array(attrs[name], kind)]
    raise NotImplementedError(f"Constant with attributes {sorted(attrs)}: only value, "
                              f"value_float(s) and value_int(s) are supported")


def _constant_of_shape(inputs, attrs):
    value = attrs.get("value", np.zeros(1, np.float32))
    return [np.full([int(s) for s in inputs[0]], value.reshape(-1)[0], value.dtype)]


def _expand(inputs, attrs):
    x, shape = inputs[0], tuple(int(s) for s in inputs[1])
    return [np.broadcast_to(x, np.broadcast_shapes(x.shape, shape)).copy()]


def _divide(a, b):
    """ONNX's Div: integers divide truncating toward zero."""
    if a.dtype.kind in "iu":
        return (np.abs(a) // np.abs(b) * np.sign(a) * np.sign(b)).astype(a.dtype)
    return a / b


def _gather_nd(inputs, attrs):
    data, idx = inputs[0], inputs[1].astype(np.int64)
    b, k = attrs.get("batch_dims", 0), idx.shape[-1]
    n = int(np.prod(data.shape[:b], dtype=np.int64))
    data_r, idx_r = data.reshape((n,) + data.shape[b:]), idx.reshape((n,) + idx.shape[b:])
    mid = idx_r.shape[1:-1]
    rows = np.arange(n).reshape((n,) + (1,) * len(mid))
    out = data_r[(rows, *(idx_r[..., j] for j in range(k)))]
    return [out.reshape(idx.shape[:b] + mid + data.shape[b + k:])]


def _reduce(f):
    """A Reduce op: over ``axes`` (input or attribute; none: every axis), ``keepdims`` 1."""
    def reduce(inputs, attrs):
        axes = _axes(inputs, attrs)
        return [f(inputs[0], axis=None if not axes else tuple(axes),
                  keepdims=bool(attrs.get("keepdims", 1)))]
    return reduce


def _variadic(f):
    """Min, Max: ``f`` of every input, broadcast."""
    return lambda inputs, attrs: [functools.reduce(f, inputs)]


def _elementwise(f):
    return lambda inputs, attrs: [f(*inputs)]


def _cast(inputs, attrs):
    return [inputs[0].astype(numpy_dtype(attrs["to"]))]


#: op type → function(inputs, attributes) → outputs; fastrnn.onnx.session adds the
#: recurrent nodes (LSTM, GRU, RNN)
OPS = {
    "Identity": _elementwise(lambda x: x),
    "Transpose": lambda inputs, attrs: [np.transpose(inputs[0], attrs.get("perm"))],
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Reshape": _reshape,
    "Expand": _expand,
    "Concat": lambda inputs, attrs: [np.concatenate(inputs, axis=attrs["axis"])],
    "Slice": _slice,
    "Gather": lambda inputs, attrs: [np.take(inputs[0], inputs[1], axis=attrs.get("axis", 0))],
    "GatherND": _gather_nd,
    "Shape": _shape,
    "MatMul": _elementwise(np.matmul),
    "Gemm": _gemm,
    "Add": _elementwise(np.add),
    "Sub": _elementwise(np.subtract),
    "Mul": _elementwise(np.multiply),
    "Div": _elementwise(_divide),
    "Max": _variadic(np.maximum),
    "Min": _variadic(np.minimum),
    "Range": lambda inputs, attrs: [np.arange(*inputs, dtype=inputs[0].dtype)],
    "Equal": _elementwise(np.equal),
    "Not": _elementwise(np.logical_not),
    "ReduceMax": _reduce(np.max),
    "ReduceSum": _reduce(np.sum),
    "Relu": _elementwise(lambda x: np.maximum(x, x.dtype.type(0))),
    "Tanh": _elementwise(np.tanh),
    "Sigmoid": _elementwise(_sigmoid),
    "Softmax": _softmax,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Cast": _cast,
}
