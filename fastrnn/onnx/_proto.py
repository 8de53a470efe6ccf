"""What fastrnn.onnx reads from the ``onnx`` package: imported on first use, with a clear
error when the optional extra is not installed."""
import functools

INSTALL = "pip install 'fastrnn[onnx]'"


@functools.cache
def onnx():
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx as module
        import onnx.numpy_helper       # noqa: F401 -- its submodules used here
        import onnx.helper             # noqa: F401
    except ImportError as err:
        raise ImportError(f"fastrnn.onnx needs the onnx package, an optional extra: "
                          f"{INSTALL}") from err
    return module


def numpy_dtype(elem_type):
    """The NumPy dtype of an ONNX ``TensorProto`` element type."""
    return onnx().helper.tensor_dtype_to_np_dtype(elem_type)


def type_name(elem_type):
    """ONNX Runtime's name of a tensor type: ``tensor(float)``, ``tensor(int64)``."""
    return f"tensor({onnx().TensorProto.DataType.Name(elem_type).lower()})"


def attributes(node):
    """A node's attributes as a dict: strings decoded, tensors as NumPy arrays."""
    helper, numpy_helper = onnx().helper, onnx().numpy_helper
    out = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif hasattr(value, "raw_data") or hasattr(value, "dims"):
            value = numpy_helper.to_array(value)
        out[attr.name] = value
    return out


def load_model(model):
    """A ``ModelProto`` from a path, the serialized bytes, or a ``ModelProto``."""
    module = onnx()
    if isinstance(model, module.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return module.load_model_from_string(bytes(model))
    return module.load(model)
