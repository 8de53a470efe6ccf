"""Cold start: what the first calls of a fresh process cost, measured in a child process.

The child imports fastrnn and then times its first inference forward, first
training forward and first backward of one cell on a tiny float32 problem
(the float64 specializations compile separately, at a similar cost), so the
number is JIT compilation (or loading it from Numba's cache) plus negligible
compute. Each measurement gets its own ``NUMBA_CACHE_DIR``:

    track_cold_compile   the cache directory is empty: everything compiles
    track_cache_load     a first child fills the directory, a second is timed

Run as a script (``python -m benchmarks.bench_compile CELL BACKEND``) it is
the child: it prints the seconds of those first calls.
"""
import os
import subprocess
import sys
import tempfile
import time

from .common import CELLS, problem, require_backend, synchronize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def first_calls_seconds(cell, backend):
    """Seconds of the first forward (inference), forward (train) and backward in this process."""
    import fastrnn
    forward = getattr(fastrnn, f"{cell}_forward")
    backward = getattr(fastrnn, f"{cell}_backward")
    args, grads = problem(cell, "5,3,4,6", "float32", backend)
    t0 = time.perf_counter()
    forward(**args)
    backward(forward(**args, train=True).tape, **grads)
    synchronize(backend)
    return time.perf_counter() - t0


def child_seconds(cell, backend, cache_dir):
    """Run ``first_calls_seconds`` in a new Python process whose Numba cache is ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_compile", cell, backend],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


class FirstCall:
    """The first forward + training forward + backward of a process, per cell and JIT backend."""
    params = (CELLS, ("cpu", "cuda"))
    param_names = ("cell", "backend")
    timeout = 600
    unit = "seconds"

    def setup(self, cell, backend):
        require_backend(backend)

    def track_cold_compile(self, cell, backend):
        with tempfile.TemporaryDirectory() as cache:
            return child_seconds(cell, backend, cache)

    def track_cache_load(self, cell, backend):
        with tempfile.TemporaryDirectory() as cache:
            child_seconds(cell, backend, cache)
            return child_seconds(cell, backend, cache)


if __name__ == "__main__":
    print(first_calls_seconds(*sys.argv[1:3]))
