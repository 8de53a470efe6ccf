"""ONNX Runtime as a bench peer: one ONNX ``LSTM`` or ``GRU`` node built with ``onnx.helper``.

Inference only: ONNX Runtime has no training step for these nodes. The GRU
uses ``linear_before_reset=1``, the PyTorch/cuDNN variant fastrnn computes.
The weights are passed in PyTorch's gate order, not ONNX's (LSTM i,o,f,c;
GRU z,r,h): the outputs differ from fastrnn's, the work and the time do not.
"""
OPSET = 17


def setup(job):
    import onnx
    import onnxruntime
    return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}


def model_bytes(cell, inputs, stateful=False):
    """The serialized ONNX model: input X (T, B, I) -> output Y (T, 1, B, H), weights as
    initializers. ``stateful``: also inputs initial_h[, initial_c] and outputs Y_h[, Y_c]
    (1, B, H), for a caller that feeds the state back (ONNX Runtime keeps none)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    T, B, I = inputs["x"].shape
    H = inputs["w_hh"].shape[1]
    weights = dict(W=inputs["w_ih"][None], R=inputs["w_hh"][None],
                   B=np.concatenate([inputs["b_ih"], inputs["b_hh"]])[None])
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    states = (["initial_h", "initial_c"] if cell == "lstm" else ["initial_h"]) if stateful else []
    finals = (["Y_h", "Y_c"] if cell == "lstm" else ["Y_h"]) if stateful else []
    node = helper.make_node(cell.upper(), ["X", "W", "R", "B", "", *states], ["Y", *finals],
                            hidden_size=H, **extra)
    graph = helper.make_graph(
        [node], f"fastrnn_bench_{cell}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, I])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, B, H]) for n in states],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [T, 1, B, H])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, B, H]) for n in finals],
        initializer=[numpy_helper.from_array(a, name) for name, a in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8     # the oldest that opset 17 allows: any recent runtime loads it
    return model.SerializeToString()


def make(job, cell, kind, inputs):
    """A no-argument callable that runs the forward of ``cell`` on ``inputs`` ("fwd"), or one
    streaming step ("step": T = 1, the state fed back through initial_h/initial_c)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = job["threads"] or 0     # 0: ORT's default
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    step = kind == "step"
    if step:
        inputs = {**inputs, "x": inputs["x"][:1]}
    session = ort.InferenceSession(model_bytes(cell, inputs, stateful=step), options,
                                   providers=["CPUExecutionProvider"])
    feed = {"X": inputs["x"]}
    if not step:
        return lambda: session.run(None, feed)
    import numpy as np
    B, H = inputs["x"].shape[1], inputs["w_hh"].shape[1]
    names = ["initial_h", "initial_c"] if cell == "lstm" else ["initial_h"]
    feed.update({n: np.zeros((1, B, H), np.float32) for n in names})
    outputs = ["Y_h", "Y_c"] if cell == "lstm" else ["Y_h"]

    def stream_step():
        feed.update(zip(names, session.run(outputs, feed)))
    return stream_step
