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


def model_bytes(cell, inputs):
    """The serialized ONNX model: input X (T, B, I) -> output Y (T, 1, B, H), weights as initializers."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    T, B, I = inputs["x"].shape
    H = inputs["w_hh"].shape[1]
    weights = dict(W=inputs["w_ih"][None], R=inputs["w_hh"][None],
                   B=np.concatenate([inputs["b_ih"], inputs["b_hh"]])[None])
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    node = helper.make_node(cell.upper(), ["X", "W", "R", "B"], ["Y"], hidden_size=H, **extra)
    graph = helper.make_graph(
        [node], f"fastrnn_bench_{cell}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, I])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [T, 1, B, H])],
        initializer=[numpy_helper.from_array(a, name) for name, a in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8     # the oldest that opset 17 allows: any recent runtime loads it
    return model.SerializeToString()


def make(job, cell, kind, inputs):
    """A no-argument callable that runs the forward of ``cell`` on ``inputs`` (``kind`` is "fwd")."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = job["threads"] or 0     # 0: ORT's default
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model_bytes(cell, inputs), options,
                                   providers=["CPUExecutionProvider"])
    feed = {"X": inputs["x"]}
    return lambda: session.run(None, feed)
