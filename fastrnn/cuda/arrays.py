"""Host ↔ device conversion for the cuda backend.

Accepted device inputs: Numba device arrays (real or the simulator's) and
anything with ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors),
wrapped without a copy by ``cuda.as_cuda_array``. NumPy inputs are copied to
the device; the drivers copy results back to NumPy for them.
"""
import numpy as np
from numba import cuda


def as_device(name, a):
    """``a`` as a C-contiguous Numba device array: copied if NumPy, wrapped if on the device."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    d = a if getattr(a, "__cuda_ndarray__", False) else cuda.as_cuda_array(a)
    if not d.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous on the device (make a contiguous copy)")
    return d


def device_zeros(shape, dtype):
    """A zero-filled device array (biases and states left as None by the caller)."""
    return cuda.to_device(np.zeros(shape, dtype))


def empty(shape, dtype):
    """An uninitialised device array."""
    return cuda.device_array(shape, dtype)


def copy(a):
    """A device copy of device array ``a``."""
    out = cuda.device_array(a.shape, a.dtype)
    out.copy_to_device(a)
    return out


def to_host(arrays, host):
    """The device ``arrays`` as NumPy arrays when ``host``, else unchanged (None stays None)."""
    if not host:
        return tuple(arrays)
    return tuple(None if a is None else a.copy_to_host() for a in arrays)
