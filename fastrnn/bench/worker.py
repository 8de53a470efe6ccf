"""One peer's measurements, in a process of its own: ``python -m fastrnn.bench.worker``.

Reads a job as one JSON line on stdin::

    {"peer": "torch", "device": "cpu", "threads": 2,
     "tasks": [["lstm", "fwd", [T, B, I, H]], ...],
     "warmup": 1, "warmup_time": 0.3, "repeats": 5, "min_time": 0.2, "time_cap": 30,
     "barrier": true}

and writes JSON lines on stdout: first ``{"info": {...versions...}}``, then
one per task, ``{"task", "cell", "kind", "shape", "ms", "runs", "ms_all",
"warmup_runs"}``, or with ``"error"`` in place of the timings when that task
failed; last ``{"process": {"pid", "runtimes"}}``, the runtimes this process
loaded. With ``"barrier"``, before each task it writes ``{"ready": i}`` and
waits for a line on stdin: the parent starts the task in every copy of a
``--concurrent`` job at once, and knows when each task's timing begins. The
parent has set the thread-count environment variables (and
``FASTRNN_CPU_VARIANT`` for a cpu variant) before this process started.
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
    job = json.loads(sys.stdin.readline())
    peer = importlib.import_module(PEERS[job["peer"]].module)
    _emit({"info": peer.setup(job)})
    for index, (cell, kind, shape) in enumerate(job["tasks"]):
        if job.get("barrier"):
            _emit({"ready": index})
            if not sys.stdin.readline():     # the parent is gone
                return
        row = {"task": index, "cell": cell, "kind": kind, "shape": shape}
        try:
            run = peer.make(job, cell, kind, make_inputs(cell, Shape(*shape)))
            row.update(measure(run, job["warmup"], job["repeats"], job["time_cap"],
                               job.get("warmup_time", 0.0), job.get("min_time", 0.0)))
        except Exception as exc:     # one failed task must not lose the others' timings
            row["error"] = f"{type(exc).__name__}: {exc}"
        _emit(row)
    _emit({"process": {"pid": os.getpid(), "runtimes": [m for m in RUNTIMES if m in sys.modules]}})


if __name__ == "__main__":
    main()
