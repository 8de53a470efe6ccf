"""Training step: a forward with ``train=True`` (it keeps a tape) then its backward.

Time per step, GFLOP/s, the process's peak memory during a step (compare
with ``bench_forward.Forward.peakmem_forward``: the difference is the tape and
the backward's work arrays) and the MiB the tape holds beyond the forward's
inputs and outputs (which it may keep references to at no cost).
"""
import numpy as np

from .common import CellBench, best_seconds, flops


def owned_nbytes(record, others):
    """Bytes of the arrays in ``record`` (nested dicts, tuples, lists) that are not ``others``' memory.

    An array that is, or is a view of, one of ``others`` costs the record
    nothing; an array met twice is counted once.
    """
    seen, total, stack = set(), 0, [record]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (tuple, list)):
            stack.extend(obj)
        elif hasattr(obj, "nbytes") and hasattr(obj, "shape") and id(obj) not in seen:
            seen.add(id(obj))
            if not any(obj is a or (isinstance(obj, np.ndarray) and isinstance(a, np.ndarray)
                                    and np.shares_memory(obj, a)) for a in others):
                total += obj.nbytes
    return total


class TrainingStep(CellBench):
    """``out = fastrnn.<cell>_forward(..., train=True)`` then ``fastrnn.<cell>_backward(out.tape, dy, dh_T[, dc_T])``."""

    def warm(self):
        self.run_train_step()

    def time_train_step(self, cell, backend, dtype, shape):
        self.run_train_step()

    def peakmem_train_step(self, cell, backend, dtype, shape):
        self.run_train_step()

    def track_gflops(self, cell, backend, dtype, shape):
        return flops(cell, shape, train=True) / best_seconds(self.run_train_step) / 1e9

    track_gflops.unit = "GFLOP/s"

    def track_tape_mib(self, cell, backend, dtype, shape):
        *outputs, tape = self.forward(**self.args, train=True)
        return owned_nbytes(tape.data, [*self.args.values(), *outputs]) / 2**20

    track_tape_mib.unit = "MiB"
