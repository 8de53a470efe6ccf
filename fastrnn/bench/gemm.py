"""The machine's own float32 GEMM throughput at a workload's sizes: the practical ceiling.

Two products per workload (see workloads.py):

    "in"   x (T·B × I) · w_ihᵀ (I × G·H), the hoisted input projection, once
    "rec"  h (B × H) · w_hhᵀ (H × G·H), the recurrent product, T times into one output

On the CPU with NumPy's BLAS (its thread count set by the environment); on
CUDA with PyTorch's cuBLAS, when torch is installed.
"""
import numpy as np

from .timing import no_sync


def setup(job):
    info = {"numpy": np.__version__}
    if job["device"] == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError("PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)")
        return dict(info, torch=torch.__version__, gpu=torch.cuda.get_device_name())
    from threadpoolctl import threadpool_info
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            info["blas"] = f"{pool['internal_api']} {pool['version']} {pool.get('architecture', '')}"
            break
    return info


def make(job, cell, kind, inputs):
    """A no-argument callable that runs the ``kind`` ("in" or "rec") products of ``cell``."""
    T, B, I = inputs["x"].shape
    x, w_ih, w_hh, h = inputs["x"].reshape(T * B, I), inputs["w_ih"], inputs["w_hh"], inputs["dy"][0]
    matmul, empty, sync = np.matmul, np.empty, no_sync
    if job["device"] == "cuda":
        import torch
        x, w_ih, w_hh, h = (torch.from_numpy(a).cuda() for a in (x, w_ih, w_hh, h))
        matmul, sync = torch.matmul, torch.cuda.synchronize

        def empty(shape, dtype):
            return torch.empty(shape, dtype=torch.float32, device="cuda")
    out = empty((x.shape[0] if kind == "in" else B, w_hh.shape[0]), np.float32)

    def input_projection():
        matmul(x, w_ih.T, out=out)
        sync()

    def recurrent_products():
        for _ in range(T):
            matmul(h, w_hh.T, out=out)
        sync()
    return input_projection if kind == "in" else recurrent_products
