"""fastrnn.onnx: the session (ONNX Runtime's interface), its ops, ONNX's own backend node
tests for LSTM, GRU and RNN, to_onnx against onnxruntime, load_onnx's exact round trip,
graphs written by torch.onnx.export, and every refusal's error.

Skipped without onnx; the comparisons with onnxruntime (float32: its LSTM, GRU and
RNN kernels have no float64) without onnxruntime, those with torch without torch.
"""
import importlib
import io
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import nn

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from fastrnn.onnx import InferenceSession, backend  # noqa: E402


def ort_session(model):
    ort = pytest.importorskip("onnxruntime")
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def node_model(op, inputs, outputs, **attrs):
    """A one-node model; ``inputs`` maps names to arrays (None: absent), every output a
    graph output."""
    given = {k: v for k, v in inputs.items() if v is not None}
    graph = helper.make_graph(
        [helper.make_node(op, [k if v is not None else "" for k, v in inputs.items()],
                          outputs, **attrs)], op,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in given.items()],
        [helper.make_empty_tensor_value_info(o) for o in outputs if o])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), given


# ---- ONNX's backend node tests -------------------------------------------------------------
def node_test_cases():
    """ONNX's node test cases of LSTM, GRU and RNN (the wheel ships no data for them):
    importing their modules runs their export_* functions, which record the cases (a few
    ms; collect_testcases() imports every op's module, about 12 s)."""
    from onnx.backend.test.case import node
    for name in ("lstm", "gru", "rnn"):
        importlib.import_module(f"onnx.backend.test.case.node.{name}")
    cases = getattr(node, "_NodeTestCases", None) or node.collect_testcases()
    return [c for c in cases if c.model.graph.node[0].op_type in ("LSTM", "GRU", "RNN")]


CASES = node_test_cases()


def test_every_recurrent_node_test_is_collected():
    names = {c.name for c in CASES}
    assert len(names) >= 18
    assert {"test_lstm_with_peepholes", "test_gru_seq_length", "test_simple_rnn_batchwise",
            "test_lstm_bidirectional"} <= names


@pytest.mark.parametrize("name", fastrnn.available_backends())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_onnx_backend_node_test(case, name):
    rep = backend.prepare(case.model)
    with fastrnn.use_backend(name):        # the recurrent nodes run on the current backend
        check_node_test(case, rep)


def check_node_test(case, rep):
    for inputs, outputs in case.data_sets:
        if case.name == "test_lstm_with_peepholes":
            with pytest.raises(NotImplementedError, match=r"LSTM input P \(peepholes\)"):
                rep.run(inputs)
            continue
        got = rep.run(inputs)
        assert len(got) == len(outputs)
        for a, b in zip(got, outputs):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=case.rtol, atol=case.atol)


def test_backend_run_node_and_devices():
    x = np.ones((3, 2, 2), np.float32)
    w = np.full((1, 3 * 4, 2), 0.1, np.float32)
    r = np.full((1, 3 * 4, 4), 0.1, np.float32)
    node = helper.make_node("GRU", ["X", "W", "R"], ["", "Y_h"], hidden_size=4)
    (y_h,) = backend.run_node(node, [x, w, r])
    assert y_h.shape == (1, 2, 4)
    assert backend.supports_device("CPU") and not backend.supports_device("TPU")


# ---- recurrent nodes' attributes against onnxruntime ----------------------------------------
def recurrent_inputs(op, dtype, D=1, T=5, B=3, I=2, H=4, lengths=True, states=True,
                     layout=0, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    x = rng.standard_normal((B, T, I) if layout else (T, B, I)).astype(dtype)
    state_shape = (B, D, H) if layout else (D, B, H)
    inputs = {"X": x, "W": rng.uniform(-0.6, 0.6, (D, G * H, I)).astype(dtype),
              "R": rng.uniform(-0.6, 0.6, (D, G * H, H)).astype(dtype),
              "B": rng.uniform(-0.5, 0.5, (D, 2 * G * H)).astype(dtype) if bias else None,
              "sequence_lens": np.array([5, 2, 4][:B], np.int32) if lengths else None,
              "initial_h": rng.standard_normal(state_shape).astype(dtype) if states else None}
    if op == "LSTM":
        inputs["initial_c"] = rng.standard_normal(state_shape).astype(dtype) if states else None
    return inputs


def outputs_of(op):
    return ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]


ATTRIBUTE_CASES = [
    ("LSTM", dict(direction="forward"), {}),
    ("LSTM", dict(direction="reverse"), {}),
    ("LSTM", dict(direction="bidirectional"), dict(D=2)),
    ("LSTM", dict(direction="bidirectional", activations=["Sigmoid", "Relu", "Relu"] * 2),
     dict(D=2)),
    ("LSTM", dict(activations=["HardSigmoid", "Tanh", "Tanh"], activation_alpha=[1 / 6],
                  activation_beta=[0.5]), {}),
    ("LSTM", dict(direction="reverse"), dict(lengths=False, states=False, bias=False)),
    ("GRU", dict(direction="bidirectional"), dict(D=2)),
    ("GRU", dict(direction="bidirectional", linear_before_reset=1), dict(D=2)),
    ("GRU", dict(direction="reverse", linear_before_reset=1,
                 activations=["HardSigmoid", "Relu"], activation_alpha=[1 / 6],
                 activation_beta=[0.5]), {}),
    ("GRU", dict(), dict(lengths=False)),
    ("RNN", dict(direction="bidirectional", activations=["Relu", "Relu"]), dict(D=2)),
    ("RNN", dict(direction="reverse"), {}),
    ("RNN", dict(), dict(states=False, bias=False)),
]


@pytest.mark.parametrize("op,attrs,shape", ATTRIBUTE_CASES)
def test_recurrent_node_matches_onnxruntime(op, attrs, shape):
    H = 4
    inputs = recurrent_inputs(op, np.float32, H=H, **shape)
    model, feed = node_model(op, inputs, outputs_of(op), hidden_size=H, **attrs)
    expected = ort_session(model).run(None, feed)
    got = InferenceSession(model.SerializeToString()).run(None, feed)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # float64 (which onnxruntime's recurrent kernels lack): the same to float32's precision
    feed64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in feed.items()}
    model64, _ = node_model(op, {k: feed64.get(k) for k in inputs}, outputs_of(op),
                            hidden_size=H, **attrs)
    for a, b in zip(InferenceSession(model64).run(None, feed64), expected):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_layout_1_is_layout_0_transposed(op, direction):
    D = 2 if direction == "bidirectional" else 1
    inputs = recurrent_inputs(op, np.float64, D=D)
    model, feed = node_model(op, inputs, outputs_of(op), direction=direction)
    ref = InferenceSession(model).run(None, feed)
    batchwise = dict(feed, X=feed["X"].transpose(1, 0, 2),
                     initial_h=feed["initial_h"].transpose(1, 0, 2))
    if op == "LSTM":
        batchwise["initial_c"] = feed["initial_c"].transpose(1, 0, 2)
    model1, _ = node_model(op, {k: batchwise.get(k) for k in inputs}, outputs_of(op),
                           direction=direction, layout=1)
    got = InferenceSession(model1).run(None, batchwise)
    np.testing.assert_array_equal(got[0], ref[0].transpose(2, 0, 1, 3))
    for a, b in zip(got[1:], ref[1:]):
        np.testing.assert_array_equal(a, b.transpose(1, 0, 2))


def test_padded_steps_are_zero_and_reverse_reads_each_rows_prefix():
    inputs = recurrent_inputs("GRU", np.float64, D=2)
    model, feed = node_model("GRU", inputs, ["Y", "Y_h"], direction="bidirectional")
    y, y_h = InferenceSession(model).run(None, feed)
    assert (y[2:, :, 1] == 0).all() and (y[4:, :, 2] == 0).all()
    np.testing.assert_array_equal(y_h[0, 1], y[1, 0, 1])     # forward: its last valid step
    np.testing.assert_array_equal(y_h[1, 1], y[0, 1, 1])     # reverse: step 0


def test_all_zero_peepholes_are_accepted():
    inputs = recurrent_inputs("LSTM", np.float32)
    with_p = dict(inputs, P=np.zeros((1, 12), np.float32))
    model, feed = node_model("LSTM", inputs, ["Y", "Y_h", "Y_c"])
    model_p, feed_p = node_model("LSTM", with_p, ["Y", "Y_h", "Y_c"])
    for a, b in zip(InferenceSession(model_p).run(None, feed_p),
                    InferenceSession(model).run(None, feed)):
        np.testing.assert_array_equal(a, b)


# ---- refusals ---------------------------------------------------------------------------------
REFUSED = [
    ("LSTM", dict(clip=3.0), NotImplementedError, "LSTM attribute clip=3.0 is not supported"),
    ("GRU", dict(clip=1.0), NotImplementedError, "GRU attribute clip"),
    ("LSTM", dict(input_forget=1), NotImplementedError, "input_forget=1 is not supported"),
    ("LSTM", dict(activations=["HardSigmoid", "Tanh", "Tanh"]), NotImplementedError,
     "HardSigmoid with alpha=0.2.* fastrnn's hard_sigmoid has alpha=1/6"),
    ("LSTM", dict(activations=["Sigmoid", "Tanh", "Relu"]), NotImplementedError,
     "the same for g and h"),
    ("GRU", dict(activations=["Sigmoid", "Elu"]), NotImplementedError, "Tanh or Relu"),
    ("GRU", dict(activations=["Tanh", "Tanh"]), NotImplementedError,
     "gate activation 'tanh' is not supported"),
    ("RNN", dict(direction="bidirectional", activations=["Tanh", "Relu"]), NotImplementedError,
     "activations differ between the directions"),
    ("RNN", dict(activations=["Tanh", "Tanh"]), ValueError, "activations must list 1 per"),
    ("RNN", dict(direction="sideways"), ValueError, "direction must be one of"),
]


@pytest.mark.parametrize("op,attrs,error,match", REFUSED)
def test_refused_attributes_fail_at_session_creation(op, attrs, error, match):
    D = 2 if attrs.get("direction") == "bidirectional" else 1
    model, _ = node_model(op, recurrent_inputs(op, np.float32, D=D), outputs_of(op), **attrs)
    with pytest.raises(error, match=match):
        InferenceSession(model.SerializeToString())


def test_peepholes_are_refused():
    inputs = dict(recurrent_inputs("LSTM", np.float32), P=np.full((1, 12), 0.1, np.float32))
    model, feed = node_model("LSTM", inputs, ["Y"])
    session = InferenceSession(model)
    with pytest.raises(NotImplementedError, match=r"LSTM input P \(peepholes\) is not "
                                                  r"supported"):
        session.run(None, feed)


def test_float16_is_refused():
    inputs = {k: (v.astype(np.float16) if v is not None and v.dtype == np.float32 else v)
              for k, v in recurrent_inputs("RNN", np.float32).items()}
    model, feed = node_model("RNN", inputs, ["Y"])
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got float16"):
        InferenceSession(model).run(None, feed)


def test_unsupported_ops_are_listed_in_one_error():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("LeakyRelu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Erf", ["b"], ["c"]),
             helper.make_node("Custom", ["c"], ["y"], domain="com.example")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    with pytest.raises(NotImplementedError, match="does not run: Erf, LeakyRelu, "
                                                  "com.example.Custom"):
        InferenceSession(model)


# ---- the session's interface ------------------------------------------------------------------
@pytest.fixture(scope="module")
def lstm_model():
    lstm = fastrnn.LSTM(3, 4, num_layers=2, seed=0)
    return lstm, fastrnn.to_onnx(lstm).SerializeToString()


def test_session_inputs_and_outputs_as_onnxruntime(lstm_model, tmp_path):
    _, data = lstm_model
    path = tmp_path / "lstm.onnx"
    path.write_bytes(data)
    ours = InferenceSession(str(path))
    theirs = ort_session(data)
    for a, b in ((ours.get_inputs(), theirs.get_inputs()),
                 (ours.get_outputs(), theirs.get_outputs())):
        assert [(i.name, i.type, i.shape) for i in a] == [(i.name, i.type, i.shape) for i in b]


def test_session_run_selected_outputs(lstm_model):
    lstm, data = lstm_model
    session = InferenceSession(onnx.load_model_from_string(data))
    x = np.ones((5, 2, 3), np.float32)
    lengths = np.array([5, 3], np.int32)
    c_n, y = session.run(["c_n", "y"], {"x": x, "sequence_lens": lengths})
    y_ref, (_, c_ref) = lstm(x, lengths=lengths)
    np.testing.assert_allclose(y, y_ref, atol=1e-6)
    np.testing.assert_allclose(c_n, c_ref, atol=1e-6)


@pytest.mark.parametrize("feed,error,match", [
    ({"x": np.ones((5, 2, 3), np.float32)}, ValueError, r"missing \['sequence_lens'\]"),
    ({"x": np.ones((5, 2, 3), np.float32), "sequence_lens": np.ones(2, np.int32),
      "h0": np.ones(1)}, ValueError, r"unknown \['h0'\]"),
    ({"x": np.ones((5, 2, 3)), "sequence_lens": np.ones(2, np.int32)}, TypeError,
     r"input 'x' must have type tensor\(float\) \(float32\), got float64"),
    ({"x": np.ones((5, 3), np.float32), "sequence_lens": np.ones(2, np.int32)}, ValueError,
     "input 'x' must have 3 dimensions"),
    ([np.ones((5, 2, 3), np.float32)], TypeError, "input_feed must be a dict"),
])
def test_session_run_errors(lstm_model, feed, error, match):
    with pytest.raises(error, match=match):
        InferenceSession(lstm_model[1]).run(None, feed)


def test_session_unknown_output(lstm_model):
    feed = {"x": np.ones((5, 2, 3), np.float32), "sequence_lens": np.ones(2, np.int32)}
    with pytest.raises(ValueError, match=r"unknown output names \['z'\]"):
        InferenceSession(lstm_model[1]).run(["z"], feed)


def test_inputs_are_not_modified(lstm_model):
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    lengths = np.array([5, 3], np.int32)
    before = x.copy(), lengths.copy()
    InferenceSession(lstm_model[1]).run(None, {"x": x, "sequence_lens": lengths})
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(lengths, before[1])


# ---- the ops against onnxruntime -----------------------------------------------------------
rng = np.random.default_rng(0)
A = rng.standard_normal((2, 3, 4)).astype(np.float32)
M = rng.standard_normal((4, 5)).astype(np.float32)
i64 = np.int64
OP_CASES = [
    ("Identity", [A], {}),
    ("Transpose", [A], dict(perm=[2, 0, 1])),
    ("Transpose", [A], {}),
    ("Squeeze", [A[:1], np.array([0], i64)], {}),
    ("Squeeze", [A[:1, :, :1]], {}),
    ("Unsqueeze", [A, np.array([0, -1], i64)], {}),
    ("Reshape", [A, np.array([0, -1], i64)], {}),
    ("Reshape", [A, np.array([4, 0, 2], i64)], {}),
    ("Expand", [A[:, :1], np.array([3, 1, 1, 1], i64)], {}),
    ("Concat", [A, A * 2], dict(axis=-1)),
    ("Slice", [A, np.array([1, -1], i64), np.array([3, 9223372036854775807], i64),
               np.array([1, 2], i64)], {}),
    ("Slice", [A, np.array([-1], i64), np.array([-9223372036854775807], i64),
               np.array([2], i64), np.array([-1], i64)], {}),
    ("Gather", [A, np.array([2, -1], i64)], dict(axis=1)),
    ("Gather", [A, np.array(0, i64)], {}),
    ("GatherND", [A, np.array([[1], [0]], i64)], dict(batch_dims=1)),
    ("GatherND", [A, np.array([[0, 2], [1, 1]], i64)], {}),
    ("Shape", [A], {}),
    ("Shape", [A], dict(start=1, end=-1)),
    ("MatMul", [A, M], {}),
    ("Gemm", [A[0], M[:, :3]], dict(alpha=0.5, beta=2.0)),
    ("Gemm", [M, A[0], np.ones(3, np.float32)], dict(transA=1, transB=1, beta=0.5)),
    ("Add", [A, A[0, 0]], {}),
    ("Sub", [A, A[:, :1]], {}),
    ("Mul", [A, A], {}),
    ("Div", [A, A + 5], {}),
    ("Div", [np.array([7, -7, 6], i64), np.array([2, 2, -4], i64)], {}),
    ("Relu", [A], {}),
    ("Tanh", [A], {}),
    ("Sigmoid", [A * 30], {}),
    ("Softmax", [A], {}),
    ("Equal", [A, A[:, :, :1]], {}),
    ("Not", [A > 0], {}),
    ("ReduceMax", [A], dict(axes=[-1], keepdims=0)),
    ("ReduceMax", [A], {}),
    ("ReduceSum", [A, np.array([1], i64)], {}),
    ("ReduceSum", [A, np.array([0, 2], i64)], dict(keepdims=0)),
    ("Softmax", [A], dict(axis=1)),
    ("Max", [A, A[0], A[:, :1]], {}),
    ("Min", [np.arange(4), np.array([[1], [2]], i64)], {}),
    ("Range", [np.array(0, i64), np.array(7, i64), np.array(2, i64)], {}),
    ("Range", [np.array(1.0, np.float32), np.array(-2.0, np.float32),
               np.array(-0.5, np.float32)], {}),
    ("ConstantOfShape", [np.array([2, 3], i64)], {}),
    ("ConstantOfShape", [np.array([2], i64)],
     dict(value=helper.make_tensor("v", TensorProto.INT64, [1], [7]))),
    ("Cast", [A], dict(to=TensorProto.INT64)),
    ("Cast", [np.array([1, 2], i64)], dict(to=TensorProto.FLOAT)),
]


@pytest.mark.parametrize("op,inputs,attrs", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_op_matches_onnxruntime(op, inputs, attrs):
    model, feed = node_model(op, {f"in{i}": a for i, a in enumerate(inputs)}, ["out"], **attrs)
    (expected,) = ort_session(model).run(None, feed)
    (got,) = InferenceSession(model).run(None, feed)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("attrs", [dict(value=helper.make_tensor("v", TensorProto.FLOAT, [2],
                                                                 [1.5, 2])),
                                   dict(value_float=0.5), dict(value_ints=[1, 2])])
def test_constant_matches_onnxruntime(attrs):
    model, feed = node_model("Constant", {}, ["out"], **attrs)
    (expected,) = ort_session(model).run(None, {})
    (got,) = InferenceSession(model).run(None, {})
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


# ---- to_onnx against onnxruntime, and the round trip ---------------------------------------
def layer_cases(dtype):
    return [fastrnn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=0),
            fastrnn.LSTM(3, 4, bias=False, batch_first=True, activation="relu",
                         gate_activation="hard_sigmoid", dtype=dtype, seed=1),
            fastrnn.GRU(3, 4, num_layers=2, dtype=dtype, seed=2),
            fastrnn.GRU(3, 4, bidirectional=True, reset_after=False,
                        gate_activation="hard_sigmoid", dtype=dtype, seed=3),
            fastrnn.RNN(3, 4, nonlinearity="relu", bidirectional=True, batch_first=True,
                        dtype=dtype, seed=4),
            fastrnn.RNN(3, 4, num_layers=3, dropout=0.2, dtype=dtype, seed=5)]


def model_cases(dtype):
    rec = dict(dtype=dtype)
    return [
        nn.Sequential([nn.Recurrent("lstm", 3, 6, activation="relu", seed=0, **rec),
                       nn.Dense(6, 3, seed=1, dtype=dtype), nn.Activation("softmax")]),
        nn.Sequential([nn.Recurrent("lstm", 3, 6, return_sequences=True, bidirectional=True,
                                    merge_mode="ave", seed=0, **rec), nn.Dropout(0.3),
                       nn.Recurrent("gru", 6, 5, go_backwards=True, reset_after=False, seed=1,
                                    **rec),
                       nn.Dense(5, 3, seed=2, dtype=dtype), nn.Activation("sigmoid")]),
        nn.Sequential([nn.Recurrent("rnn", 3, 4, return_sequences=True, bidirectional=True,
                                    merge_mode="mul", num_layers=2, seed=0, **rec),
                       nn.Dense(4, 2, seed=1, dtype=dtype), nn.Activation("tanh")]),
        nn.Sequential([nn.Recurrent("gru", 3, 4, bidirectional=True, merge_mode="sum",
                                    seed=0, **rec), nn.Activation("relu"),
                       nn.Dense(4, 2, seed=1, dtype=dtype), nn.Activation("linear")]),
        nn.Sequential([nn.Recurrent("lstm", 3, 4, return_sequences=True, bidirectional=True,
                                    gate_activation="hard_sigmoid", seed=0, **rec)]),
        nn.Sequential([nn.Recurrent("gru", 3, 4, return_sequences=True, go_backwards=True,
                                    num_layers=2, seed=0, **rec),
                       nn.Recurrent("lstm", 4, 5, return_sequences=True, masked_output="last",
                                    seed=1, **rec),
                       nn.Recurrent("rnn", 5, 3, return_sequences=True, masked_output="last",
                                    go_backwards=True, seed=2, **rec)]),
        nn.SequenceClassifier(3, 5, 4, cell="gru", num_layers=2, bidirectional=True,
                              dtype=dtype, seed=0),
        nn.SequenceClassifier(3, 5, 2, cell="rnn", dtype=dtype, seed=1),
    ]


LAYERS = (fastrnn.RNN, fastrnn.LSTM, fastrnn.GRU)


def run_fastrnn(model, x, lengths):
    if isinstance(model, LAYERS):       # a layer: y and its final states
        y, state = model(x, lengths=lengths)
        return [y, *(state if isinstance(state, tuple) else (state,))]
    return [model(x, lengths)]


def feed_for(model, dtype):
    x = np.random.default_rng(7).standard_normal((4, 6, 3)).astype(dtype)   # (N, T, I)
    lengths = np.array([6, 1, 3, 4], np.int32)
    if isinstance(model, LAYERS) and not model.batch_first:
        x = x.transpose(1, 0, 2).copy()
    return x, lengths


ALL = [(i, "layer") for i in range(6)] + [(i, "model") for i in range(8)]


def build(index, kind, dtype):
    return (layer_cases if kind == "layer" else model_cases)(dtype)[index]


@pytest.mark.parametrize("index,kind", ALL)
def test_to_onnx_runs_in_onnxruntime_with_the_same_outputs(index, kind):
    model = build(index, kind, np.float32)
    x, lengths = feed_for(model, np.float32)
    expected = run_fastrnn(model, x, lengths)
    proto = fastrnn.to_onnx(model)
    assert proto.opset_import[0].version >= 14
    got = ort_session(proto).run(None, {"x": x, "sequence_lens": lengths})
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index,kind", ALL)
def test_round_trip_is_exact(index, kind, dtype, tmp_path):
    model = build(index, kind, dtype)
    x, lengths = feed_for(model, dtype)
    expected = run_fastrnn(model, x, lengths)
    path = tmp_path / "model.onnx"
    fastrnn.to_onnx(model, path)
    again = fastrnn.load_onnx(str(path))
    assert type(again) is type(model)
    assert again.params.keys() == model.params.keys()
    for k, v in model.params.items():
        assert np.array_equal(again.params[k], v) and again.params[k].dtype == v.dtype, k
    for a, b in zip(run_fastrnn(again, x, lengths), expected):
        assert np.array_equal(a, b)
    # and fastrnn's session runs the graph (float64 included) with the model's outputs
    got = InferenceSession(str(path)).run(None, {"x": x, "sequence_lens": lengths})
    for a, b in zip(got, expected):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("mask_value", [0.0, -1.5])
def test_masking_sets_the_lengths_from_x(mask_value):
    model = nn.Sequential([nn.Masking(mask_value),
                           nn.Recurrent("lstm", 3, 5, bidirectional=True, merge_mode="sum",
                                        return_sequences=True, seed=0),
                           nn.Recurrent("gru", 5, 4, seed=1), nn.Dense(4, 2, seed=2)])
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    for row, length in enumerate([6, 2, 4, 0]):
        x[row, length:] = mask_value
    x[0, 1, 0] = mask_value                 # one feature at the mask value: a valid step
    expected = model(x)
    proto = fastrnn.to_onnx(model)
    ignored = np.full(4, 6, np.int32)       # Masking replaces the given lengths
    for session in (ort_session(proto), InferenceSession(proto)):
        (got,) = session.run(None, {"x": x, "sequence_lens": ignored})
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(fastrnn.load_onnx(proto)(x), expected)


KERAS_GOLDEN = sorted(p for p in (pathlib.Path(__file__).parent / "golden" / "keras").glob("*.keras")
                      if p.with_suffix(".npz").exists())


@pytest.mark.parametrize("path", KERAS_GOLDEN, ids=lambda p: p.stem)
def test_models_loaded_from_keras_export(path):
    """Keras's models (Masking, stacked layers returning sequences, Bidirectional, both GRUs)
    as fastrnn loads them, through ONNX: the same outputs in onnxruntime and back."""
    model = fastrnn.load_keras(path)
    x = np.load(path.with_suffix(".npz"))["x"]
    expected = model(x)
    proto = fastrnn.to_onnx(model)
    feed = {"x": x, "sequence_lens": np.full(len(x), x.shape[1], np.int32)}
    for session in (ort_session(proto), InferenceSession(proto)):
        np.testing.assert_allclose(session.run(None, feed)[0], expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(fastrnn.load_onnx(proto)(x), expected)


def test_to_onnx_writes_to_a_file_object_and_loads_from_bytes():
    gru = fastrnn.GRU(3, 4, seed=0)
    f = io.BytesIO()
    proto = fastrnn.to_onnx(gru, f)
    assert f.getvalue() == proto.SerializeToString()
    again = fastrnn.load_onnx(f.getvalue(), backend="numpy")
    assert again.backend == "numpy"
    assert np.array_equal(again.params["weight_hh_l0"], gru.params["weight_hh_l0"])


@pytest.mark.parametrize("model,error,match", [
    (fastrnn.LSTM(3, 4, proj_size=2), ValueError, "ONNX's LSTM has no projection"),
    (nn.Dense(3, 4), TypeError, "model must be a fastrnn RNN, LSTM or GRU"),
])
def test_to_onnx_refusals(model, error, match):
    with pytest.raises(error, match=match):
        fastrnn.to_onnx(model)


def test_load_onnx_refuses_a_graph_not_written_by_fastrnn():
    model, _ = node_model("Relu", {"x": np.ones(2, np.float32)}, ["y"])
    with pytest.raises(ValueError, match="not written by fastrnn.to_onnx"):
        fastrnn.load_onnx(model)


def test_fine_tuning_the_loaded_model():
    model = nn.Sequential([nn.Recurrent("gru", 3, 4, seed=0), nn.Dense(4, 2, seed=1)])
    again = fastrnn.load_onnx(fastrnn.to_onnx(model))
    x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32)
    history = again.fit(x, np.arange(8) % 2, epochs=1, batch_size=4, progress=False)
    assert len(history["loss"]) == 1
    assert not np.array_equal(again.params["1.weight"], model.params["1.weight"])


# ---- graphs written by torch.onnx.export ---------------------------------------------------
def torch_model(cell, bidirectional, num_layers, batch_first, dynamo):
    """A torch RNN + Linear model and the ONNX graph torch.onnx.export wrote for it: with the
    TorchScript exporter (dynamo=False, dynamic batch and time axes), or the default dynamo
    one (which needs onnxscript; static shapes (4, 7, 3))."""
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, cell)(3, 5, num_layers=num_layers,
                                               batch_first=batch_first,
                                               bidirectional=bidirectional)
            self.fc = torch.nn.Linear(5 * (1 + bidirectional), 2)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y)

    torch.manual_seed(0)
    model = Model().eval()
    example = (torch.randn(4, 7, 3),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            return model, torch.onnx.export(model, example, dynamo=True, input_names=["x"],
                                             output_names=["y"]).model_proto.SerializeToString()
        f = io.BytesIO()
        torch.onnx.export(model, example, f, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "a", 1: "b"}})
    return model, f.getvalue()


@pytest.mark.torch
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_torch_onnx_export_runs_with_onnxruntimes_outputs(cell, bidirectional, num_layers,
                                                          batch_first, dynamo):
    torch = pytest.importorskip("torch")
    model, data = torch_model(cell, bidirectional, num_layers, batch_first, dynamo)
    x = np.random.default_rng(0).standard_normal((4, 7, 3) if dynamo else (3, 6, 3))
    x = x.astype(np.float32)
    expected = ort_session(data).run(None, {"x": x})[0]
    got = InferenceSession(data).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=1e-5)


# ---- without onnx ---------------------------------------------------------------------------
def test_without_onnx_the_error_says_how_to_install_it():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import fastrnn, fastrnn.onnx\n"
            "for call in (lambda: fastrnn.to_onnx(fastrnn.GRU(3, 4)),\n"
            "             lambda: fastrnn.load_onnx(b''),\n"
            "             lambda: fastrnn.onnx.InferenceSession(b'')):\n"
            "    try:\n"
            "        call()\n"
            "    except ImportError as err:\n"
            "        print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["fastrnn.onnx needs the onnx package, an optional extra: "
                   "pip install 'fastrnn[onnx]'"] * 3
