"""ONNX for fastrnn: run recurrent ONNX graphs as ONNX Runtime does, export and import.

`InferenceSession` has ONNX Runtime's interface (``run``, ``get_inputs``,
``get_outputs``) and runs graphs of ``LSTM``, ``GRU`` and ``RNN`` nodes, their
recurrences on fastrnn's current backend through the functional API, and the
ops exporters put around them (Transpose, Squeeze, Unsqueeze, Reshape, Expand,
Concat, Slice, Gather, GatherND, Shape, Range, MatMul, Gemm, Add, Sub, Mul, Div,
Max, Min, Equal, Not, ReduceMax, ReduceSum, Relu, Tanh, Sigmoid, Softmax,
Identity, Constant, ConstantOfShape, Cast) in NumPy; a
graph with any other op is refused at creation with one error listing them.
`to_onnx` writes fastrnn models as such graphs (opset 17) and `load_onnx` reads
them back. ``fastrnn.onnx.backend`` is fastrnn as an ``onnx.backend`` backend.

The recurrent nodes: every ``direction`` and ``layout``, ``sequence_lens``,
``initial_h``, ``initial_c``, ``hidden_size``, ``linear_before_reset``
(fastrnn's GRU ``reset_after``); ``activations`` Sigmoid or HardSigmoid with
alpha = 1/6, beta = 0.5 for the gates (fastrnn's ``hard_sigmoid``, Keras 3's)
and Tanh or Relu for the candidate (the LSTM's g and h the same), both
directions alike. Refused with a NotImplementedError naming the attribute:
``clip``, ``input_forget=1``, peepholes ``P`` other than zeros, other
activations or HardSigmoid's other parameters.

Needs the onnx package (``pip install 'fastrnn[onnx]'``) when a session, an
export or an import is made; importing this module does not import it.
"""
from .export import load_onnx, to_onnx
from .session import InferenceSession, NodeArg

__all__ = ["InferenceSession", "NodeArg", "to_onnx", "load_onnx"]
