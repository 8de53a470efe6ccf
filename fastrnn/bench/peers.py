"""Who ``fastrnn bench`` compares, whether each can run here, and running one in its own process.

Each peer runs in a fresh ``python -m fastrnn.bench.worker`` process per
shape and thread count, so that no two runtimes (Numba's and PyTorch's thread pools,
say) share a process or distort each other's timings, and so that thread
counts can be set in the environment before anything is imported.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import NamedTuple

from .workloads import GEMMS, PASSES


class Peer(NamedTuple):
    module: str        # the module with setup(job) and make(job, cell, kind, inputs)
    devices: tuple     # where it runs
    kinds: tuple       # what it times: passes, or the GEMM products
    label: str         # one line for the help text


PEERS = {
    "cpu": Peer("fastrnn.bench.peer_fastrnn", ("cpu",), PASSES, "fastrnn backend 'cpu' (Numba kernels)"),
    "cuda": Peer("fastrnn.bench.peer_fastrnn", ("cuda",), PASSES,
                 "fastrnn backend 'cuda' (numba.cuda kernels), on device arrays"),
    "ref": Peer("fastrnn.bench.peer_fastrnn", ("cpu",), PASSES,
                "fastrnn backend 'numpy', the reference (slow at big shapes)"),
    "torch": Peer("fastrnn.bench.peer_torch", ("cpu", "cuda"), PASSES,
                  "PyTorch nn.LSTM/nn.GRU (oneDNN on the CPU, cuDNN on CUDA), autograd"),
    "ort": Peer("fastrnn.bench.peer_ort", ("cpu",), PASSES[:1],
                "ONNX Runtime, one LSTM/GRU node (inference only)"),
    "gemm": Peer("fastrnn.bench.gemm", ("cpu", "cuda"), GEMMS,
                 "float32 GEMM at the same sizes (NumPy's BLAS; cuBLAS via torch on CUDA)"),
}
#: fastrnn's own peers, fastest first: the first one present is the one the ratios compare with
OURS = ("cpu", "cuda", "ref")
#: the peers a user would otherwise pick
RIVALS = ("torch", "ort")
#: environment variables that set a child's thread count before it imports anything
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: OpenBLAS overrides removed from a child's environment: they slow NumPy's BLAS on this kind of machine
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def why_unavailable(name, device):
    """None when peer ``name`` can run on ``device`` here, else the reason it cannot."""
    from .. import _dispatch
    if device not in PEERS[name].devices:
        return f"it does not run on {device}"
    needs = {"torch": ["torch"], "ort": ["onnxruntime", "onnx"],
             "gemm": ["torch"] if device == "cuda" else []}.get(name, [])
    missing = [module for module in needs if importlib.util.find_spec(module) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (optional: pip install {' '.join(missing)})"
    backend = {"cpu": "cpu", "cuda": "cuda"}.get(name)
    return _dispatch._why_unavailable(backend) if backend else None


def child_env(threads):
    """The environment of one benchmark process: ``threads`` in every pool (None: as it is), no OpenBLAS overrides."""
    env = {key: value for key, value in os.environ.items() if key not in OPENBLAS_OVERRIDES}
    if threads:
        env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    return env


class Outcome(NamedTuple):
    info: dict         # the versions the peer reported
    process: dict      # pid, and which runtimes (numba, torch, onnxruntime) the process loaded
    error: str         # None, or one line on why the process failed


def run(job, on_result):
    """Run ``job`` (see worker.py) in a fresh process; call ``on_result(row)`` as each result arrives.

    Returns an ``Outcome``.
    """
    messages = {"info": {}, "process": {}}
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "fastrnn.bench.worker"], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                 env=child_env(job["threads"]))
        try:
            child.stdin.write(json.dumps(job))
            child.stdin.close()
            for line in child.stdout:
                message = json.loads(line)
                if message.keys() <= messages.keys():
                    messages.update(message)
                else:
                    on_result(message)
        finally:     # interrupted: no orphan keeps timing on the cores
            if child.poll() is None and sys.exc_info()[0] is not None:
                child.kill()
        error = None
        if child.wait() != 0:
            stderr.seek(0)
            error = (stderr.read().strip().splitlines() or [f"exit status {child.returncode}"])[-1]
        return Outcome(messages["info"], messages["process"], error)
