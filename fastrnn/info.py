"""``fastrnn info``: what this installation runs on."""
import os
import platform


def add_arguments(parser):
    """Add ``fastrnn info``'s options to ``parser``: it has none.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import info
    >>> info.add_arguments(argparse.ArgumentParser(prog="fastrnn info"))
    """


def collect():
    """What this installation runs on: versions, backends, threads and BLAS.

    Returns
    -------
    list of tuple of str
        ``(key, value)`` rows, in the order ``fastrnn info`` prints them.

    Examples
    --------
    >>> from fastrnn import info
    >>> rows = dict(info.collect())
    >>> rows["backend numpy"]
    'available'
    """
    import numpy as np

    import fastrnn
    from fastrnn import _dispatch
    rows = [("fastrnn", fastrnn.__version__), ("python", platform.python_version()),
            ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs"), ("numpy", np.__version__)]
    for mod in ("numba", "numba_cuda"):
        try:
            rows.append((mod, __import__(mod).__version__))
        except ImportError:
            rows.append((mod, "not installed"))
    from fastrnn import backends
    for name in backends.names():
        why = backends.get(name).why_unavailable()
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
    """``fastrnn info``: print every row of `collect`.

    A bad ``FASTRNN_BACKEND`` is shown in its row, then raised.

    Parameters
    ----------
    args : argparse.Namespace
        The (no) options.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    ValueError
        After printing, if ``FASTRNN_BACKEND`` names no backend (the command line
        reports it in one line, exit status 2).

    Examples
    --------
    >>> from fastrnn.cli import main
    >>> main(["info"])
    fastrnn ...
    backend numpy ... available
    ...
    0
    """
    rows = collect()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    from . import _dispatch
    _dispatch.current_backend()     # raises ValueError for a bad FASTRNN_BACKEND
    return 0
