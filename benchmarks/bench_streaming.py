"""Streaming: the latency of one step at batch 1, the state carried in by the caller.

A streaming user feeds one frame at a time: ``x`` is (1, 1, I) and the
state of the previous call comes back in as ``h0`` (and ``c0``). The time is
everything such a call costs: argument checks, dispatch, the input and the
recurrent products, the gates. Sizes ``I,H`` are those of the bench shapes.
"""
import fastrnn

from .common import BACKENDS, CELLS, DTYPES, SHAPES, dims, problem, require_backend, synchronize

SIZES = tuple(dict.fromkeys(f"{I},{H}" for _, _, I, H in map(dims, SHAPES)))


class StreamingStep:
    """``fastrnn.<cell>_forward(x_t (1,1,I), ..., h0 (1,H)[, c0], backend=backend)``, one call per frame."""
    params = (CELLS, BACKENDS, DTYPES, SIZES)
    param_names = ("cell", "backend", "dtype", "I,H")

    def setup(self, cell, backend, dtype, size):
        require_backend(backend)
        self.forward = getattr(fastrnn, f"{cell}_forward")
        self.backend = backend
        self.args, _ = problem(cell, f"1,1,{size}", dtype, backend)
        self.time_step(cell, backend, dtype, size)      # warm the JIT

    def time_step(self, cell, backend, dtype, size):
        self.forward(**self.args)
        synchronize(self.backend)
