"""The BLAS our kernels call: ``gemm`` inside Numba code, on the calling thread only.

``gemm`` binds to NumPy's own OpenBLAS where NumPy ships one (its ILP64 CBLAS
``scipy_cblas_sgemm64_``/``dgemm64_``, registered with LLVM under a name of
ours so that cached code finds it again in a new process): at the weight
gradients' shapes it ran 1.25-1.4× faster than SciPy's older OpenBLAS (61-70
against 84-87 GFLOP/s on one thread). Elsewhere it binds, like Numba's own
``np.dot``, to SciPy's (``scipy.linalg.cython_blas``, through Numba's
``numba_xxgemm`` helper). Either way it takes strided row-major views and a
β, so the kernels multiply sub-blocks (a thread's rows or gate columns) in
place, and compiles one small implementation per dtype.

Every thread of ours calls it on its own share of the work: the library must
not start threads of its own, or two pools would fight for the cores.
``one_thread()`` sets it to one thread for the duration of a call and
restores its count after (NumPy's or SciPy's BLAS, whichever ``gemm`` calls:
a NumPy product made in another thread meanwhile runs on one thread).
"""
import contextlib
import ctypes
import functools
import threading

import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable
from numba.np.linalg import _BLAS, ensure_blas, get_blas_kind

#: NumPy's OpenBLAS's ILP64 CBLAS gemm of each dtype, and the names we register them under
_CBLAS = {"s": ("scipy_cblas_sgemm64_", "fastrnn_cblas_sgemm"),
          "d": ("scipy_cblas_dgemm64_", "fastrnn_cblas_dgemm")}


@functools.lru_cache(maxsize=None)
def _numpy_openblas():
    """threadpoolctl's controller of NumPy's OpenBLAS once its gemms are registered with LLVM,
    or None where NumPy has no such library (then ``gemm`` calls SciPy's)."""
    import threadpoolctl
    for lib in threadpoolctl.ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and "numpy" in lib.filepath:
            try:
                dll = ctypes.CDLL(lib.filepath)
                addresses = {ours: ctypes.cast(getattr(dll, name), ctypes.c_void_p).value
                             for name, ours in _CBLAS.values()}
            except (OSError, AttributeError):
                return None
            for ours, address in addresses.items():
                binding.add_symbol(ours, address)
            return lib
    return None


@intrinsic
def _cblas_gemm(typingctx, ta, tb, M, N, K, a, lda, b, ldb, beta, c, ldc):
    """NumPy's CBLAS gemm, row-major: c = op(a) op(b) + beta c (α = 1); flat float arrays."""
    def codegen(context, builder, sig, args):
        ta_, tb_, M_, N_, K_, a_, lda_, b_, ldb_, beta_, c_, ldc_ = args
        dtype = sig.args[5].dtype
        fty = context.get_value_type(dtype)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        ptr = [context.make_array(sig.args[i])(context, builder, v).data
               for i, v in ((5, a_), (7, b_), (10, c_))]
        name = _CBLAS["s" if dtype == types.float32 else "d"][1]
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            ir.VoidType(), [i32, i32, i32, i64, i64, i64, fty, ptr[0].type, i64, ptr[1].type,
                            i64, fty, ptr[2].type, i64]), name)
        trans = [builder.select(t, ir.Constant(i32, 112), ir.Constant(i32, 111))
                 for t in (ta_, tb_)]
        builder.call(fn, [ir.Constant(i32, 101), *trans, M_, N_, K_, ir.Constant(fty, 1.0),
                          ptr[0], lda_, ptr[1], ldb_, context.cast(builder, beta_,
                                                                  sig.args[9], dtype),
                          ptr[2], ldc_])
        return context.get_dummy_value()
    return types.void(types.boolean, types.boolean, types.int64, types.int64, types.int64, a,
                      types.int64, b, types.int64, beta, c, types.int64), codegen


def gemm(ta, tb, a, b, c, beta):
    """c = op(a) op(b) + beta c, with op(m) = mᵀ when its flag is True.

    a, b, c are 2-D row-major views (last stride 1, any row stride) of one float
    dtype; c is (M, N), op(a) (M, K), op(b) (K, N). With beta = 0, c is not read
    (it may hold garbage). Numba-only (the implementation is an ``overload``).
    """
    raise NotImplementedError("gemm is called from Numba-compiled code only")


@overload(gemm, jit_options=dict(cache=True, nogil=True))
def _gemm(ta, tb, a, b, c, beta):
    if _numpy_openblas() is not None:
        def call(ta, tb, M, N, K, a, lda, b, ldb, beta, c, ldc):
            _cblas_gemm(ta, tb, M, N, K, a, lda, b, ldb, beta, c, ldc)
    else:
        ensure_blas()
        xxgemm = _BLAS().numba_xxgemm(a.dtype)
        kind = ord(get_blas_kind(a.dtype, "gemm"))
        no, yes = ord("n"), ord("t")

        def call(ta, tb, M, N, K, a, lda, b, ldb, beta, c, ldc):
            alpha, scale = np.ones(1, c.dtype), np.full(1, beta, c.dtype)
            # a row-major (r, s) view with row stride ld is BLAS's column-major (s, r): so
            # BLAS computes cᵀ = op(b)ᵀ op(a)ᵀ, reading b and a as they lie
            xxgemm(kind, yes if tb else no, yes if ta else no, N, M, K, alpha.ctypes, b.ctypes,
                   ldb, a.ctypes, lda, scale.ctypes, c.ctypes, ldc)
    call = register_jitable(call)

    def impl(ta, tb, a, b, c, beta):
        M, N = c.shape
        K = a.shape[0] if ta else a.shape[1]
        if M == 0 or N == 0:
            return
        if K == 0:
            if beta == 0:
                c[:] = 0
            return
        item = c.itemsize
        call(ta, tb, M, N, K, a, max(a.strides[0] // item, a.shape[1], 1), b,
             max(b.strides[0] // item, b.shape[1], 1), beta, c,
             max(c.strides[0] // item, N, 1))
    return impl


@functools.lru_cache(maxsize=None)
def _kernel_blas():
    """threadpoolctl's controller of the BLAS ``gemm`` calls (NumPy's OpenBLAS, else
    SciPy's), or None where it cannot be found."""
    lib = _numpy_openblas()
    if lib is not None:
        return lib
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


# register NumPy's gemms with LLVM now: code loaded from Numba's cache links them by name
_numpy_openblas()
