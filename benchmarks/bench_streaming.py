"""Streaming: the latency of one step at batch 1, through the functional API and through streams.

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


class StreamStep:
    """``module.stream(batch_size=1).step(x_t)``: the streaming API's step (``fastrnn.stream``),
    one layer, float32, state kept by the stream; B = 1."""
    params = (CELLS, SIZES)
    param_names = ("cell", "I,H")

    def setup(self, cell, size):
        require_backend("cpu")
        I, H = (int(v) for v in size.split(","))
        module = {"rnn": fastrnn.RNN, "lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[cell](I, H, seed=0)
        self.stream = module.stream(batch_size=1)
        self.x = problem(cell, f"1,1,{size}", "float32", "cpu")[0]["x"][0]
        self.out = self.stream.step(self.x)             # compile or load outside the timing

    def time_step(self, cell, size):
        self.stream.step(self.x, out=self.out)
