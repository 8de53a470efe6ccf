"""The cpu backend's forward variants side by side ("batch", "units": ``fastrnn.config``).

``auto`` picks one of them by batch size (``CPU_UNITS_MAX_B``); this suite is
where that crossover is seen over commits: float32, inference, the shapes
around it.
"""
import fastrnn

from .common import best_seconds, flops, problem, require_backend

VARIANTS = ("batch", "units")
SHAPES = ("100,1,128,256", "100,4,128,256", "100,16,256,256", "28,64,28,128")


class CpuVariant:
    """``fastrnn.<cell>_forward(..., backend="cpu")`` with ``fastrnn.config.CPU_VARIANT`` set."""
    params = (("lstm", "gru"), VARIANTS, SHAPES)
    param_names = ("cell", "variant", "shape")
    timeout = 120

    def setup(self, cell, variant, shape):
        require_backend("cpu")
        self.before = fastrnn.config.CPU_VARIANT
        fastrnn.config.CPU_VARIANT = variant
        self.forward = getattr(fastrnn, f"{cell}_forward")
        self.args, _ = problem(cell, shape, "float32", "cpu")
        self.forward(**self.args)       # compile or load outside the timing

    def teardown(self, cell, variant, shape):
        fastrnn.config.CPU_VARIANT = self.before

    def time_forward(self, cell, variant, shape):
        self.forward(**self.args)

    def track_gflops(self, cell, variant, shape):
        return flops(cell, shape, train=False) / best_seconds(lambda: self.forward(**self.args)) / 1e9

    track_gflops.unit = "GFLOP/s"
