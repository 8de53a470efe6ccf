"""Who ``fastrnn bench`` compares, whether each can run here, and running one in its own process.

Each peer runs in a fresh ``python -m fastrnn.bench.worker`` process per
shape and thread count (``--concurrent K``: K such processes at once), so
that no two runtimes (Numba's and PyTorch's thread pools, say) share a
process or distort each other's timings, and so that thread counts (and a
cpu variant) can be set in the environment before anything is imported.
While the workers time a task the parent samples how busy the machine is
with other processes' work (load.py).
"""
import importlib.util
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
from typing import NamedTuple

from .. import backends
from . import load
from .workloads import GEMMS, PASSES, STEP


class Peer(NamedTuple):
    module: str        # the module with setup(job) and make(job, cell, kind, inputs)
    devices: tuple     # where it runs
    kinds: tuple       # what it times: passes, or the GEMM products
    label: str         # one line for the help text


#: fastrnn's backends (``fastrnn.backends``) by bench peer name: the reference is "ref"
OWN = {("ref" if name == "numpy" else name): name for name in backends.names()}


def _own_peer(peer, name):
    """The bench peer of fastrnn's backend ``name``: device backends time device arrays;
    the cpu backend also times a stream's step."""
    backend = backends.get(name)
    devices = ("cuda",) if backend.device else ("cpu",)
    kinds = PASSES + ((STEP,) if name == "cpu" else ())
    what = "; --stream: module.stream().step" if name == "cpu" else ""
    return Peer("fastrnn.bench.peer_fastrnn", devices, kinds,
                f"fastrnn backend {name!r} ({backend.doc}){what}")


PEERS = {
    **{peer: _own_peer(peer, name) for peer, name in OWN.items()},
    "torch": Peer("fastrnn.bench.peer_torch", ("cpu", "cuda"), PASSES + (STEP,),
                  "PyTorch nn.LSTM/nn.GRU (oneDNN on the CPU, cuDNN on CUDA), autograd"),
    "ort": Peer("fastrnn.bench.peer_ort", ("cpu",), PASSES[:1] + (STEP,),
                "ONNX Runtime, one LSTM/GRU node (inference only)"),
    "gemm": Peer("fastrnn.bench.gemm", ("cpu", "cuda"), GEMMS,
                 "float32 GEMM at the same sizes (NumPy's BLAS; cuBLAS via torch on CUDA)"),
}
#: fastrnn's own peers, fastest first: the first one present is the one the ratios compare with
OURS = tuple(sorted(OWN, key=lambda peer: peer == "ref"))
#: the peers a user would otherwise pick
RIVALS = ("torch", "ort")
#: environment variables that set a child's thread count before it imports anything
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: OpenBLAS overrides removed from a child's environment: they slow NumPy's BLAS on this kind of machine
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def why_unavailable(name, device):
    """None when peer ``name`` can run on ``device`` here, else the reason it cannot."""
    if device not in PEERS[name].devices:
        return f"it does not run on {device}"
    needs = {"torch": ["torch"], "ort": ["onnxruntime", "onnx"],
             "gemm": ["torch"] if device == "cuda" else []}.get(name, [])
    missing = [module for module in needs if importlib.util.find_spec(module) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (optional: pip install {' '.join(missing)})"
    return backends.get(OWN[name]).why_unavailable() if name in OWN and name != "ref" else None


def child_env(threads, extra=None):
    """The environment of one benchmark process: ``threads`` in every pool (None: as it is), no OpenBLAS
    overrides, and the variables of ``extra`` (a cpu variant's ``FASTRNN_CPU_VARIANT``)."""
    env = {key: value for key, value in os.environ.items() if key not in OPENBLAS_OVERRIDES}
    if threads:
        env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    env.update(extra or {})
    return env


class Outcome(NamedTuple):
    info: dict         # the versions the peer reported
    process: dict      # pid (pids with copies), runtimes (numba, torch, onnxruntime) loaded, loadavg
    error: str         # None, or one line on why the process (a copy) failed


def run(job, on_result, copies=1, busy=()):
    """Run ``job`` (see worker.py) in ``copies`` fresh processes at once; ``on_result(row)`` per task.

    Every copy starts each task at the same moment (the worker's barrier),
    and a task's row comes once every copy has timed it: the copies' rows
    combined (``combine``) with the load figures of that task (load.py):
    ``load``, ``load_max``, ``load_samples``, ``cpu_others``, ``steal``, and
    the 1-minute load average before the processes started
    (``loadavg_before``) and when the task ended (``loadavg_after``). ``busy``
    are the pids of the ``--load`` processes: ours, not counted as load.
    Returns an ``Outcome``.
    """
    job = dict(job, barrier=True)
    env = child_env(job["threads"], job.get("env"))
    before = load.loadavg()
    events = queue.Queue()
    children, stderrs = [], []
    try:
        for _ in range(copies):
            stderrs.append(tempfile.TemporaryFile("w+"))
            children.append(subprocess.Popen([sys.executable, "-m", "fastrnn.bench.worker"], text=True,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=stderrs[-1], env=env))
        for index, child in enumerate(children):
            _send(child, json.dumps(job))
            threading.Thread(target=_read, args=(index, child.stdout, events), daemon=True).start()
        pids = [os.getpid(), *(child.pid for child in children), *busy]
        sampler = load.Sampler(lambda: pids)
        info, processes = {}, [{} for _ in children]
        live, ready, got = set(range(copies)), set(), {}
        while live:
            try:
                index, message = events.get(timeout=load.INTERVAL)
            except queue.Empty:
                sampler.sample()
                continue
            sampler.sample()
            if message is None:              # this copy's output ended: it exited
                live.discard(index)
                ready.discard(index)
            elif "ready" in message:
                ready.add(index)
            elif "info" in message:
                info.update(message["info"])
            elif "process" in message:
                processes[index] = message["process"]
            else:
                got[index] = message
            if got and got.keys() >= live:       # every copy still running has timed this task
                row = combine([got[i] for i in sorted(got)])
                after = load.loadavg()
                row.update(sampler.end(), loadavg_before=before and before["load1"],
                           loadavg_after=after and after["load1"])
                if copies > 1:
                    row["copies_timed"] = len(got)
                got = {}
                on_result(row)
            if live and not got and ready >= live:    # all at the barrier: start the next task
                ready = set()
                sampler.begin()
                for i in live:
                    _send(children[i], "")
        for child in children:
            child.stdin.close()
            child.wait()
    finally:     # interrupted: no orphan keeps timing on the cores
        for child in children:
            if child.poll() is None:
                child.kill()
        for child in children:
            child.wait()
    errors = []
    for index, (child, stderr) in enumerate(zip(children, stderrs)):
        with stderr:
            if child.returncode != 0:
                stderr.seek(0)
                last = (stderr.read().strip().splitlines() or [f"exit status {child.returncode}"])[-1]
                errors.append(f"copy {index + 1} of {copies}: {last}" if copies > 1 else last)
    after = load.loadavg()
    process = dict(processes[0]) if copies == 1 else dict(
        pids=[p.get("pid") for p in processes],
        runtimes=sorted({r for p in processes for r in p.get("runtimes", [])}))
    process.update(loadavg_before=before and before["load1"], loadavg_after=after and after["load1"])
    return Outcome(info, process, "; ".join(errors) or None)


def _send(child, line):
    """One line to a worker's stdin; a worker that has exited is not an error here (its exit status is)."""
    try:
        child.stdin.write(line + "\n")
        child.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _read(index, stream, events):
    """A reader thread: each JSON object a worker writes, as (index, message); (index, None) at the end."""
    try:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:       # a library printing on stdout: not ours
                continue
            if isinstance(message, dict):
                events.put((index, message))
    finally:
        events.put((index, None))


def combine(rows):
    """One task's rows from the copies of a job -> one row.

    One copy: its row. Several: ms is the median of the copies' medians,
    ms_all every run of every copy (its min-max is the spread shown), runs
    the fewest any copy made; ``copies`` keeps each copy's ms, runs and
    ms_all. Any copy's error makes the row an error.
    """
    if len(rows) == 1:
        return dict(rows[0])
    row = {key: rows[0][key] for key in ("task", "cell", "kind", "shape") if key in rows[0]}
    failed = [r["error"] for r in rows if "error" in r]
    if failed:
        return dict(row, error=f"{len(failed)} of {len(rows)} copies failed: {failed[0]}")
    return dict(row, ms=statistics.median(r["ms"] for r in rows), runs=min(r["runs"] for r in rows),
                ms_all=[t for r in rows for t in r["ms_all"]],
                warmup_runs=min(r.get("warmup_runs", 0) for r in rows),
                copies=[{key: r[key] for key in ("ms", "runs", "ms_all")} for r in rows])
