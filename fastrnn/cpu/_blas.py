"""The BLAS our kernels call: ``gemm`` inside Numba code, on the calling thread only.

``gemm`` binds, like Numba's own ``np.dot``, to SciPy's OpenBLAS
(``scipy.linalg.cython_blas``, through Numba's ``numba_xxgemm`` helper), but
takes strided row-major views and a β, so the kernels multiply sub-blocks
(a thread's rows or gate columns) in place, accumulate (β = 1), and compile
one small implementation per dtype instead of one ``np.dot`` per layout.

Every thread of ours calls it on its own share of the work: the library must
not start threads of its own, or two pools would fight for the cores.
``one_thread()`` sets it to one thread for the duration of a call and
restores its count after, so SciPy's own routines keep the user's setting.
NumPy's BLAS is not touched: the cpu backend never calls it.
"""
import contextlib
import functools
import threading

import numpy as np
from numba.extending import overload
from numba.np.linalg import _BLAS, ensure_blas, get_blas_kind


def gemm(ta, tb, a, b, c, beta):
    """c = op(a) op(b) + beta c, with op(m) = mᵀ when its flag is True.

    a, b, c are 2-D row-major views (last stride 1, any row stride) of one float
    dtype; c is (M, N), op(a) (M, K), op(b) (K, N). With beta = 0, c is not read
    (it may hold garbage). Numba-only (the implementation is an ``overload``).
    """
    raise NotImplementedError("gemm is called from Numba-compiled code only")


@overload(gemm, jit_options=dict(cache=True, nogil=True))
def _gemm(ta, tb, a, b, c, beta):
    ensure_blas()
    xxgemm = _BLAS().numba_xxgemm(a.dtype)
    kind = ord(get_blas_kind(a.dtype, "gemm"))
    no, yes = ord("n"), ord("t")

    def impl(ta, tb, a, b, c, beta):
        M, N = c.shape
        K = a.shape[0] if ta else a.shape[1]
        if M == 0 or N == 0:
            return
        if K == 0:
            if beta == 0:
                c[:] = 0
            return
        alpha, scale = np.ones(1, c.dtype), np.full(1, beta, c.dtype)
        item = c.itemsize
        # a row-major (r, s) view with row stride ld is BLAS's column-major (s, r): so BLAS
        # computes cᵀ = op(b)ᵀ op(a)ᵀ, reading b and a as they lie
        lda = max(a.strides[0] // item, a.shape[1], 1)
        ldb = max(b.strides[0] // item, b.shape[1], 1)
        ldc = max(c.strides[0] // item, N, 1)
        xxgemm(kind, yes if tb else no, yes if ta else no, N, M, K, alpha.ctypes, b.ctypes, ldb,
               a.ctypes, lda, scale.ctypes, c.ctypes, ldc)
    return impl


@functools.lru_cache(maxsize=None)
def _kernel_blas():
    """threadpoolctl's controller of SciPy's BLAS, or None where it cannot be found."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library gemm calls)
    import threadpoolctl
    for lib in threadpoolctl.ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and "scipy" in lib.filepath and "numpy" not in lib.filepath:
            return lib
    return None


_users = 0                    # calls inside one_thread() now
_saved = 1                    # the library's thread count before the first of them
_lock = threading.Lock()


@contextlib.contextmanager
def one_thread():
    """Run the block with the BLAS that ``gemm`` calls on one thread (calls from several
    Python threads may overlap: the first in saves the count, the last out restores it)."""
    global _users, _saved
    lib = _kernel_blas()
    with _lock:
        if _users == 0 and lib is not None:
            _saved = lib.get_num_threads()
            if _saved != 1:
                lib.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and lib is not None and _saved != 1:
                lib.set_num_threads(_saved)
