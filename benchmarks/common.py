"""What every benchmark file shares: the grid, the inputs, the FLOP counts and the skip rules.

The grid (``T,B,I,H`` shapes are the project's bench shapes):

    cell     rnn | lstm | gru                    G = 1 | 4 | 3 gate blocks
    backend  numpy (the reference) | cpu | cuda
    dtype    float32 | float64
    shape    28,64,28,128   100,1,128,256   100,16,256,256   100,64,512,512

A combination that cannot run here raises ``NotImplementedError`` from
``setup``, which asv records as skipped (n/a) rather than failed.

FLOPs of one layer, one direction (the multiply-adds of the two GEMMs; the
pointwise gate work is not counted):

    forward         2 · T · B · G·H · (I + H)
    training step   3 × forward   (forward, then dX/dh and dW in the backward)
"""
import time

import numpy as np

import fastrnn
from fastrnn.bench import workloads
from fastrnn import backends, cells
from fastrnn.cells import random_problem

CELLS = tuple(cells.CELLS)
BACKENDS = backends.names()
DTYPES = ("float32", "float64")
SHAPES = ("28,64,28,128", "100,1,128,256", "100,16,256,256", "100,64,512,512")

#: the NumPy reference (the oracle, not a product) is not timed at the largest
#: shape: a training step there takes 1-30 s on this 2-core machine
#: (depending on its load), so asv's repeats would spend many minutes on it.
REFERENCE_LARGEST_SHAPE = SHAPES[-1]


def dims(shape):
    """``"T,B,I,H"`` -> (T, B, I, H) as ints."""
    return tuple(int(v) for v in shape.split(","))


def require_backend(backend, shape=None):
    """Raise NotImplementedError (asv: skip) when ``backend`` cannot be timed here (at ``shape``).

    The CUDA simulator counts as available to fastrnn but is never timed; the
    reference is not timed at ``REFERENCE_LARGEST_SHAPE``.
    """
    if backend == "numpy" and shape == REFERENCE_LARGEST_SHAPE:
        raise NotImplementedError(f"the reference is not timed at {shape} (too slow)")
    if backend not in fastrnn.available_backends():
        raise NotImplementedError(f"backend {backend!r} is not available here")
    if backend == "cuda":
        from numba import config
        if config.ENABLE_CUDASIM:
            raise NotImplementedError("the CUDA simulator is not timed")


def to_backend(arrays, backend):
    """The dict ``arrays`` with its arrays on the backend's device (cuda) or as they are."""
    if backend != "cuda":
        return dict(arrays)
    from numba import cuda
    return {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v
            for k, v in arrays.items()}


def synchronize(backend):
    """Wait for the device's queued work, so that a timing covers it (no-op on the host)."""
    if backend == "cuda":
        from numba import cuda
        cuda.synchronize()


def problem(cell, shape, dtype, backend):
    """Inputs of ``fastrnn.<cell>_forward`` and ``<cell>_backward`` on ``backend``: full-length sequences.

    Returns (forward kwargs: x (T,B,I), w_ih (G·H,I), w_hh (G·H,H), b_ih, b_hh (G·H,),
    h0[, c0] (B,H), backend; backward kwargs: dy (T,B,H), dh_T[, dc_T] (B,H)).
    """
    args, grads = random_problem(cell, *dims(shape), dtype, seed=0)
    del args["lengths"]          # every sequence runs all T steps
    args = to_backend(args, backend)
    args["backend"] = backend
    return args, to_backend(grads, backend)


def flops(cell, shape, train):
    """FLOPs of one forward (``train=False``) or one training step (``train=True``); see the module doc."""
    return workloads.flops(cell, "train" if train else "fwd", dims(shape))


def best_seconds(fn, min_total=0.3, min_calls=3):
    """The fastest of at least ``min_calls`` calls of ``fn()``, calling for at least ``min_total`` s."""
    best, total, calls = np.inf, 0.0, 0
    while calls < min_calls or total < min_total:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, total, calls = min(best, dt), total + dt, calls + 1
    return best


class CellBench:
    """Base of the forward and training benchmarks: the full grid, inputs built and the JIT warmed in setup.

    ``run_forward()`` is one inference forward; ``run_train_step()`` one forward
    with ``train=True`` followed by its backward; both wait for the device.
    """
    params = (CELLS, BACKENDS, DTYPES, SHAPES)
    param_names = ("cell", "backend", "dtype", "shape")
    #: seconds asv lets one combination run (its repeats included)
    timeout = 300

    def setup(self, cell, backend, dtype, shape):
        require_backend(backend, shape)
        self.cell, self.backend, self.shape = cell, backend, shape
        self.forward = getattr(fastrnn, f"{cell}_forward")
        self.backward = getattr(fastrnn, f"{cell}_backward")
        self.args, self.grads = problem(cell, shape, dtype, backend)
        self.warm()

    def warm(self):
        """Compile (or load from the cache) what the timed calls run."""
        self.run_forward()

    def run_forward(self):
        out = self.forward(**self.args)
        synchronize(self.backend)
        return out

    def run_train_step(self):
        out = self.forward(**self.args, train=True)
        grads = self.backward(out.tape, **self.grads)
        synchronize(self.backend)
        return grads
