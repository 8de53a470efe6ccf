"""Inference: one layer, one direction, ``train=False``, on every backend.

Time per call, the process's peak memory, and GFLOP/s (FLOPs as in common.py)
for RNN, LSTM and GRU over the float32/float64 x bench-shape grid.
"""
from .common import CellBench, best_seconds, flops


class Forward(CellBench):
    """``fastrnn.<cell>_forward(x, w_ih, w_hh, b_ih, b_hh, h0[, c0], backend=backend)``."""

    def time_forward(self, cell, backend, dtype, shape):
        self.run_forward()

    def peakmem_forward(self, cell, backend, dtype, shape):
        self.run_forward()

    def track_gflops(self, cell, backend, dtype, shape):
        return flops(cell, shape, train=False) / best_seconds(self.run_forward) / 1e9

    track_gflops.unit = "GFLOP/s"
