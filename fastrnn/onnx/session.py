"""`InferenceSession`: ONNX Runtime's interface over fastrnn, for recurrent models.

The graph's nodes run in order: LSTM, GRU and RNN through fastrnn's functional
API on the current backend (`fastrnn.onnx._recurrent`), the ops around them in
NumPy (`fastrnn.onnx._ops`).
"""
import functools

import numpy as np

from . import _ops, _proto, _recurrent

#: every op a session runs: op type → function(inputs, attributes) → outputs
RUNNERS = {**_ops.OPS, **{op: functools.partial(_recurrent.run, op) for op in _recurrent.CELLS}}
#: the domains of ONNX's standard ops
DOMAINS = ("", "ai.onnx")


class NodeArg:
    """A graph input or output, as ONNX Runtime's ``NodeArg``: its name, shape and type.

    Parameters
    ----------
    name : str
        The name the session's ``run`` knows it by.
    shape : list of int, str or None
        Each dimension: its size, the name of a symbolic one (``"N"``), or None.
    type : str
        ONNX Runtime's type name, e.g. ``"tensor(float)"``.

    Examples
    --------
    >>> from fastrnn.onnx import NodeArg
    >>> NodeArg("x", ["N", 5, 3], "tensor(float)")
    NodeArg(name='x', type='tensor(float)', shape=['N', 5, 3])
    """

    def __init__(self, name, shape, type):
        self.name, self.shape, self.type = name, shape, type

    @classmethod
    def from_value_info(cls, info):
        """The NodeArg of a graph's ``ValueInfoProto``.

        Parameters
        ----------
        info : onnx.ValueInfoProto
            A graph input or output.

        Returns
        -------
        NodeArg
            Its name, shape and type.
        """
        tensor = info.type.tensor_type
        shape = None
        if tensor.HasField("shape"):
            shape = [d.dim_value if d.HasField("dim_value") else
                     (d.dim_param if d.HasField("dim_param") else None) for d in tensor.shape.dim]
        return cls(info.name, shape, _proto.type_name(tensor.elem_type))

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


class InferenceSession:
    """Runs an ONNX graph of recurrent nodes as ``onnxruntime.InferenceSession`` does.

    Supports the ``LSTM``, ``GRU`` and ``RNN`` nodes with the attributes fastrnn
    computes exactly (`fastrnn.onnx`'s docstring lists them and what is refused)
    and the ops exporters put around them (``fastrnn.onnx.session.RUNNERS``). A
    graph with any other op is refused at creation, with one error listing them.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike, bytes or onnx.ModelProto
        The model: a file, its serialized bytes, or the proto.
    sess_options, providers, provider_options : optional
        Accepted for ONNX Runtime's signature, and ignored: the recurrent nodes run
        on fastrnn's current backend (`fastrnn.use_backend`).
    **kwargs
        ONNX Runtime's other keyword arguments, accepted and ignored.

    Raises
    ------
    ImportError
        If the onnx package is not installed.
    NotImplementedError
        Listing every op of the graph that is not supported; or naming the first
        recurrent node's attribute that is not (``clip``, ``input_forget``, an
        activation fastrnn does not have).

    See Also
    --------
    fastrnn.to_onnx : Writes such a graph.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> from fastrnn.onnx import InferenceSession
    >>> f = __import__("io").BytesIO()
    >>> lstm = fastrnn.LSTM(3, 4, seed=0)
    >>> _ = fastrnn.to_onnx(lstm, f)
    >>> session = InferenceSession(f.getvalue())
    >>> [(i.name, i.type) for i in session.get_inputs()]
    [('x', 'tensor(float)'), ('sequence_lens', 'tensor(int32)')]
    >>> x = np.ones((5, 2, 3), np.float32)
    >>> y, h_n, c_n = session.run(None, {"x": x, "sequence_lens": np.array([5, 3], np.int32)})
    >>> bool(np.allclose(y, lstm(x, lengths=[5, 3])[0], atol=1e-6))
    True
    """

    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None,
                 **kwargs):
        numpy_helper = _proto.onnx().numpy_helper
        model = _proto.load_model(path_or_bytes)
        graph = model.graph
        unsupported = sorted({node.op_type if node.domain in DOMAINS
                              else f"{node.domain}.{node.op_type}" for node in graph.node
                              if node.domain not in DOMAINS or node.op_type not in RUNNERS})
        if unsupported:
            raise NotImplementedError(f"the graph has ops fastrnn.onnx does not run: "
                                      f"{', '.join(unsupported)} (it runs "
                                      f"{', '.join(sorted(RUNNERS))})")
        self._nodes = [(n.op_type, list(n.input), list(n.output), _proto.attributes(n))
                       for n in graph.node]
        for op, _, _, attrs in self._nodes:
            if op in _recurrent.CELLS:
                _recurrent.options(op, attrs)        # refuses what cannot run, now
        self._constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self._inputs = [NodeArg.from_value_info(i) for i in graph.input
                        if i.name not in self._constants]
        self._outputs = [NodeArg.from_value_info(o) for o in graph.output]
        self._dtypes = {i.name: _proto.numpy_dtype(i.type.tensor_type.elem_type)
                        for i in graph.input}

    def get_inputs(self):
        """The graph's inputs (those not given by an initializer).

        Returns
        -------
        list of NodeArg
            Their names, shapes and types.
        """
        return list(self._inputs)

    def get_outputs(self):
        """The graph's outputs.

        Returns
        -------
        list of NodeArg
            Their names, shapes and types.
        """
        return list(self._outputs)

    def run(self, output_names, input_feed, run_options=None):
        """Compute outputs from the inputs.

        Parameters
        ----------
        output_names : list of str or None
            The outputs wanted, in this order; None: every output of the graph.
        input_feed : dict of str to numpy.ndarray
            A value for every input of `get_inputs`, with its type and rank.
        run_options : optional
            Accepted for ONNX Runtime's signature, and ignored.

        Returns
        -------
        list of numpy.ndarray
            The outputs, in the order of ``output_names``.

        Raises
        ------
        ValueError
            If an input is missing or unknown, has the wrong rank, or an output name
            is unknown.
        TypeError
            If ``input_feed`` is not a mapping, or an input has another type.
        NotImplementedError
            If an LSTM's peepholes P are not all zeros.
        """
        if not hasattr(input_feed, "items"):
            raise TypeError(f"input_feed must be a dict of input names to arrays, got "
                            f"{type(input_feed).__name__}")
        names = [i.name for i in self._inputs]
        missing = [n for n in names if n not in input_feed]
        unknown = [n for n in input_feed if n not in names]
        if missing or unknown:
            raise ValueError(f"input_feed must give the inputs {names}: "
                             + "; ".join(([f"missing {missing}"] if missing else [])
                                         + ([f"unknown {unknown}"] if unknown else [])))
        values = dict(self._constants)
        for arg in self._inputs:
            value = np.asarray(input_feed[arg.name])
            if value.dtype != self._dtypes[arg.name]:
                raise TypeError(f"input {arg.name!r} must have type {arg.type} "
                                f"({self._dtypes[arg.name]}), got {value.dtype}")
            if arg.shape is not None and value.ndim != len(arg.shape):
                raise ValueError(f"input {arg.name!r} must have {len(arg.shape)} dimensions "
                                 f"{arg.shape}, got shape {value.shape}")
            values[arg.name] = value
        wanted = [o.name for o in self._outputs] if output_names is None else list(output_names)
        known = {o for _, _, outs, _ in self._nodes for o in outs} | set(values)
        bad = [n for n in wanted if n not in known]
        if bad:
            raise ValueError(f"unknown output names {bad}; the graph's outputs are "
                             f"{[o.name for o in self._outputs]}")
        for op, ins, outs, attrs in self._nodes:
            results = RUNNERS[op]([values[n] if n else None for n in ins], attrs)
            values.update((n, v) for n, v in zip(outs, results) if n)
        return [np.asarray(values[n]) for n in wanted]
