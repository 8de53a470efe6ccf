"""One knob for the threads fastrnn uses: the cpu backend's own threads, and NumPy's BLAS.

The cpu backend runs its kernels on ``get_num_threads()`` threads of its own
(``fastrnn.cpu._pool``), each calling a single-threaded BLAS on its share.
``set_num_threads`` also limits NumPy's BLAS to the same count, for the
GEMMs of the code around ours. The maximum, and the default, is
``NUMBA_NUM_THREADS`` (an environment variable; default: the number of CPUs).
When that variable is set, the CPU backend starts with NumPy's BLAS limited
to it as well.
"""
import numbers
import os

_count = None


def _limit():
    try:
        return max(1, int(os.environ.get("NUMBA_NUM_THREADS", "")))
    except ValueError:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)


def set_num_threads(n):
    """Use ``n`` threads in the cpu backend and in NumPy's BLAS.

    Parameters
    ----------
    n : int
        The number of threads, in ``[1, NUMBA_NUM_THREADS]`` (that variable's
        default: the CPUs this process may run on).

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n`` is outside ``[1, NUMBA_NUM_THREADS]``.

    See Also
    --------
    get_num_threads : The number in use.

    Examples
    --------
    >>> import fastrnn
    >>> before = fastrnn.get_num_threads()
    >>> fastrnn.set_num_threads(1)
    >>> fastrnn.get_num_threads()
    1
    >>> fastrnn.set_num_threads(before)
    """
    global _count
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer number of threads, got {n!r}")
    limit = _limit()
    if not 1 <= n <= limit:
        raise ValueError(f"n must lie in [1, NUMBA_NUM_THREADS={limit}], got {n}")
    _count = int(n)
    limit_blas(_count)


def get_num_threads():
    """The number of threads the cpu backend uses now.

    Returns
    -------
    int
        The count last given to `set_num_threads`, else ``NUMBA_NUM_THREADS``
        (default: the CPUs this process may run on).

    See Also
    --------
    set_num_threads : Change it.

    Examples
    --------
    >>> import fastrnn
    >>> fastrnn.get_num_threads() >= 1
    True
    """
    return _limit() if _count is None else _count


def limit_blas(n):
    """Limit NumPy's BLAS to ``n`` threads (the cpu backend calls no BLAS: its threads are its own).

    Parameters
    ----------
    n : int
        The number of threads, ≥ 1.

    Examples
    --------
    >>> from fastrnn import _threads
    >>> _threads.limit_blas(_threads.get_num_threads())
    """
    import threadpoolctl
    threadpoolctl.threadpool_limits(n, user_api="blas")
