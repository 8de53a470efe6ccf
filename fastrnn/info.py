"""``fastrnn info``: what this installation runs on."""
import os
import platform


def add_arguments(parser):
    pass


def collect():
    """A list of (key, value) describing versions, backends, threads and BLAS."""
    import numpy as np

    import fastrnn
    from fastrnn import _dispatch
    rows = [("fastrnn", fastrnn.__version__), ("python", platform.python_version()),
            ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs"), ("numpy", np.__version__)]
    for mod in ("scipy", "numba", "numba_cuda"):
        try:
            rows.append((mod, __import__(mod).__version__))
        except ImportError:
            rows.append((mod, "not installed"))
    for name in _dispatch.BACKENDS:
        why = _dispatch._why_unavailable(name)
        rows.append((f"backend {name}", "available" if why is None else f"unavailable: {why}"))
    try:
        rows.append(("default backend", _dispatch.current_backend()))
    except ValueError as err:
        rows.append(("default backend", f"error: {err}"))
    try:
        import numba
        from fastrnn import _threads, config
        rows.append(("cpu threads", f"{_threads.get_num_threads()} of {_threads._limit()} "
                     "(fastrnn's own; no Numba threading layer)"))
        rows.append(("cpu variant", config.CPU_VARIANT or os.environ.get("FASTRNN_CPU_VARIANT")
                     or "auto"))
        rows.append(("cuda simulator", str(bool(numba.config.ENABLE_CUDASIM))))
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        rows.append(("threadpoolctl", "not installed (pip install threadpoolctl): no BLAS details"))
        threadpool_info = list
    for pool in threadpool_info():
        detail = " ".join(str(pool[k]) for k in ("internal_api", "version", "architecture")
                          if pool.get(k))
        rows.append((f"{pool['user_api']} pool {pool['prefix']}",
                     f"{detail}, {pool['num_threads']} threads"))
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "OPENBLAS_CORETYPE", "FASTRNN_BACKEND"):
        if var in os.environ:
            rows.append((var, os.environ[var]))
    return rows


def run(args):
    """Print every row; a bad FASTRNN_BACKEND is shown in its row, then reported as the
    one-line error (exit status 2)."""
    rows = collect()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    from . import _dispatch
    _dispatch.current_backend()     # raises ValueError for a bad FASTRNN_BACKEND
    return 0
