"""One peer's measurements, in a process of its own: ``python -m fastrnn.bench.worker``.

Reads a job as JSON on stdin::

    {"peer": "torch", "device": "cpu", "threads": 2,
     "tasks": [["lstm", "fwd", [T, B, I, H]], ...],
     "warmup": 1, "repeats": 5, "time_cap": 30}

and writes JSON lines on stdout: first ``{"info": {...versions...}}``, then
one per task, ``{"cell", "kind", "shape", "ms", "runs", "ms_all"}``, or with
``"error"`` in place of the timings when that task failed; last
``{"process": {"pid", "runtimes"}}``, the runtimes this process loaded. The parent has set
the thread-count environment variables before this process started.
"""
import importlib
import json
import os
import sys

from .peers import PEERS
from .timing import measure
from .workloads import Shape, make_inputs


#: runtimes with thread pools of their own: no process should hold two of them
RUNTIMES = ("numba", "torch", "onnxruntime")


def _emit(message):
    print(json.dumps(message), flush=True)


def main():
    job = json.load(sys.stdin)
    peer = importlib.import_module(PEERS[job["peer"]].module)
    _emit({"info": peer.setup(job)})
    for cell, kind, shape in job["tasks"]:
        row = {"cell": cell, "kind": kind, "shape": shape}
        try:
            run = peer.make(job, cell, kind, make_inputs(cell, Shape(*shape)))
            row.update(measure(run, job["warmup"], job["repeats"], job["time_cap"]))
        except Exception as exc:     # one failed task must not lose the others' timings
            row["error"] = f"{type(exc).__name__}: {exc}"
        _emit(row)
    _emit({"process": {"pid": os.getpid(), "runtimes": [m for m in RUNTIMES if m in sys.modules]}})


if __name__ == "__main__":
    main()
