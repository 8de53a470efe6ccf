"""One knob for every thread pool fastrnn uses: Numba's (parallel loops) and BLAS's (GEMMs).

The CPU backend runs one pool at a time: BLAS threads during GEMMs, Numba
threads in the fused small-batch loop. Both get the same count. The maximum
is Numba's ``NUMBA_NUM_THREADS`` (an environment variable read when Numba is
imported; default: the number of CPUs). When that variable is set, the CPU
backend starts with BLAS limited to it as well.
"""
import numbers


def set_num_threads(n):
    """Use ``n`` threads (1 ≤ n ≤ NUMBA_NUM_THREADS) in Numba kernels and in BLAS (NumPy's and
    the SciPy BLAS that Numba's ``np.dot`` calls)."""
    import numba
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer number of threads, got {n!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"n must lie in [1, NUMBA_NUM_THREADS={limit}], got {n}")
    numba.set_num_threads(int(n))
    limit_blas(int(n))


def get_num_threads():
    """The number of threads fastrnn's Numba kernels use now."""
    import numba
    return numba.get_num_threads()


def limit_blas(n):
    """Limit every loaded BLAS to ``n`` threads (loading SciPy's first: Numba's np.dot uses it)."""
    import scipy.linalg.cython_blas  # noqa: F401
    import threadpoolctl
    threadpoolctl.threadpool_limits(n, user_api="blas")
