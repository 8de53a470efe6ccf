"""Host <-> device copies for the cuda backend, timed apart from compute.

``bench_forward`` and ``bench_training`` time the cuda backend on arrays that
already live on the device; these are the copies a caller with NumPy arrays
adds around them: the input ``x`` (T, B, I) to the device and the output
``y`` (T, B, H) back to the host, from ordinary (pageable) NumPy memory.
Skipped where no CUDA GPU is available.
"""
import numpy as np

from .common import DTYPES, SHAPES, dims, require_backend


class HostDeviceCopy:
    """``numba.cuda.to_device(x)`` and ``d_y.copy_to_host(y)`` at the bench shapes."""
    params = (DTYPES, SHAPES)
    param_names = ("dtype", "shape")

    def setup(self, dtype, shape):
        require_backend("cuda")
        from numba import cuda
        self.cuda = cuda
        T, B, I, H = dims(shape)
        self.x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype)
        self.y = np.empty((T, B, H), dtype)
        self.d_y = cuda.to_device(self.y)
        self.time_x_to_device(dtype, shape)             # create the context, warm the path

    def time_x_to_device(self, dtype, shape):
        self.cuda.to_device(self.x)
        self.cuda.synchronize()

    def time_y_to_host(self, dtype, shape):
        self.d_y.copy_to_host(self.y)
