"""fastrnn as an ONNX backend (``onnx.backend.base.Backend``), for ONNX's backend tests.

``prepare(model)`` gives a rep whose ``run(inputs)`` returns the graph's outputs in
order; ``run_model`` and ``run_node`` as onnx's backend API defines them. The
graph runs in a `fastrnn.onnx.InferenceSession`. Needs the onnx package.

Examples
--------
>>> import numpy as np
>>> import onnx
>>> from onnx import helper, TensorProto
>>> from fastrnn.onnx import backend
>>> node = helper.make_node("RNN", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=2)
>>> x = np.ones((3, 1, 2), np.float32)
>>> w, r = np.full((1, 2, 2), 0.1, np.float32), np.full((1, 2, 2), 0.1, np.float32)
>>> y, y_h = backend.run_node(node, [x, w, r])
>>> y.shape, y_h.shape
((3, 1, 1, 2), (1, 1, 2))
"""
import onnx.backend.base
from onnx import helper

from .._dispatch import available_backends
from .session import InferenceSession


class BackendRep(onnx.backend.base.BackendRep):
    """A prepared model: `run` computes its outputs.

    Parameters
    ----------
    session : InferenceSession
        The session that runs the graph.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> from fastrnn.onnx import backend
    >>> f = __import__("io").BytesIO()
    >>> _ = fastrnn.to_onnx(fastrnn.GRU(3, 4, seed=0), f)
    >>> rep = backend.prepare(f.getvalue())
    >>> [a.shape for a in rep.run([np.ones((5, 2, 3), np.float32), np.array([5, 2], np.int32)])]
    [(5, 2, 4), (1, 2, 4)]
    """

    def __init__(self, session):
        self.session = session

    def run(self, inputs, **kwargs):
        """The graph's outputs for ``inputs``.

        Parameters
        ----------
        inputs : list of numpy.ndarray or dict of str to numpy.ndarray
            The graph's inputs, in order (or by name).
        **kwargs
            Ignored.

        Returns
        -------
        list of numpy.ndarray
            The graph's outputs, in order.
        """
        if not hasattr(inputs, "items"):
            inputs = {arg.name: value for arg, value in zip(self.session.get_inputs(), inputs)}
        return self.session.run(None, inputs)


class Backend(onnx.backend.base.Backend):
    """fastrnn's ONNX backend: the graph in an `InferenceSession` on fastrnn's backend.

    Examples
    --------
    >>> from fastrnn.onnx.backend import Backend
    >>> Backend.supports_device("CPU")
    True
    """

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        """A `BackendRep` that runs ``model``.

        Parameters
        ----------
        model : onnx.ModelProto, bytes, str or os.PathLike
            The model.
        device : str, default "CPU"
            "CPU", or "CUDA" where fastrnn's cuda backend runs.
        **kwargs
            Ignored.

        Returns
        -------
        BackendRep
            The prepared model.
        """
        return BackendRep(InferenceSession(model))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        """Prepare ``model`` and run it once.

        Parameters
        ----------
        model : onnx.ModelProto, bytes, str or os.PathLike
            The model.
        inputs : list of numpy.ndarray or dict of str to numpy.ndarray
            Its inputs.
        device : str, default "CPU"
            As for `prepare`.
        **kwargs
            Ignored.

        Returns
        -------
        list of numpy.ndarray
            The outputs.
        """
        return cls.prepare(model, device).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """Run one node on ``inputs`` (its inputs in order; None for an absent optional one).

        Parameters
        ----------
        node : onnx.NodeProto
            The node.
        inputs : list of numpy.ndarray
            Its inputs, in order.
        device : str, default "CPU"
            As for `prepare`.
        outputs_info : optional
            Ignored.
        **kwargs
            Ignored.

        Returns
        -------
        list of numpy.ndarray
            The node's outputs (those it names).
        """
        names = [n for n in node.input]
        given = [(n, v) for n, v in zip(names, inputs) if n and v is not None]
        graph = helper.make_graph(
            [node], "node",
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                           v.shape) for n, v in given],
            [helper.make_tensor_value_info(n, 0, None) for n in node.output if n])
        return cls.prepare(helper.make_model(graph)).run(dict(given))

    @classmethod
    def supports_device(cls, device):
        """Whether fastrnn runs on ``device``.

        Parameters
        ----------
        device : str
            "CPU" or "CUDA".

        Returns
        -------
        bool
            True for "CPU"; for "CUDA", whether fastrnn's cuda backend is available.
        """
        return device == "CPU" or (device == "CUDA" and "cuda" in available_backends())


prepare = Backend.prepare
run_model = Backend.run_model
run_node = Backend.run_node
supports_device = Backend.supports_device
