"""Our own tiled GEMM (numba.cuda has no BLAS) and the column sums for bias gradients.

    c (M, N) = op(a) (M, K) · op(b) (K, N)   [+ c when ``accumulate``]
    op(a) = a or aᵀ (``trans_a``), op(b) = b or bᵀ (``trans_b``)

One kernel covers the three products fastrnn needs: ``x W_ihᵀ`` and
``h W_hhᵀ`` (trans_b), ``dA W`` (neither) and ``dAᵀ x`` (trans_a).

Tiling: a block of TPB_Y × TPB_X threads owns a BM × BN tile of c, with
BM = TPB_Y·RM and BN = TPB_X·RN, so each thread keeps RM × RN accumulators in
registers. The K dimension is walked in slabs of BK: the block loads the
BM × BK slab of op(a) and the BK × BN slab of op(b) into shared memory (reading
along the contiguous axis of a and b so loads coalesce), synchronises, and
every thread does RM·RN·BK multiply-adds from shared memory. Thread (ty, tx)
owns rows ty + r·TPB_Y and columns tx + s·TPB_X, so neighbouring threads
write neighbouring columns. Loads and stores are guarded, so M, N, K need not
be multiples of the tile.

Tile sizes are compile-time constants (shared and local arrays need them):
sized for a GPU by default, and tiny under the CUDA simulator
(``numba.config.ENABLE_CUDASIM``), where every thread is a Python thread, so
that the tests run several blocks and every boundary guard on small shapes.
Change them here: the kernel cache follows this file.
"""
import math

from numba import config, cuda

if config.ENABLE_CUDASIM:
    TPB_X, TPB_Y, RM, RN, BK = 4, 2, 2, 2, 3
    #: threads per block of the 1-D kernels (column sums)
    THREADS = 8
else:
    TPB_X, TPB_Y, RM, RN, BK = 16, 16, 4, 4, 16
    THREADS = 256
BM, BN = TPB_Y * RM, TPB_X * RN
#: shared tile rows, padded by one so that stores along k hit 32 different banks
BM_PAD, BN_PAD = BM + 1, BN + 1


@cuda.jit(cache=True)
def gemm_kernel(a, b, c, trans_a, trans_b, accumulate):
    """c = op(a) · op(b) (+ c): a (M, K) or (K, M); b (K, N) or (N, K); c (M, N)."""
    M, N = c.shape
    K = a.shape[0] if trans_a else a.shape[1]
    a_tile = cuda.shared.array((BK, BM_PAD), dtype=c.dtype)
    b_tile = cuda.shared.array((BK, BN_PAD), dtype=c.dtype)
    acc = cuda.local.array((RM, RN), dtype=c.dtype)
    zero = c.dtype.type(0)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    tid, nthreads = ty * TPB_X + tx, TPB_X * TPB_Y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    for r in range(RM):
        for s in range(RN):
            acc[r, s] = zero
    for k0 in range(0, K, BK):
        # a_tile[k, i] = op(a)[row0 + i, k0 + k]; consecutive threads read along a's rows
        for e in range(tid, BK * BM, nthreads):
            if trans_a:
                k, i = e // BM, e % BM
            else:
                i, k = e // BK, e % BK
            m, kk = row0 + i, k0 + k
            v = zero
            if m < M and kk < K:
                v = a[kk, m] if trans_a else a[m, kk]
            a_tile[k, i] = v
        # b_tile[k, j] = op(b)[k0 + k, col0 + j]
        for e in range(tid, BK * BN, nthreads):
            if trans_b:
                j, k = e // BK, e % BK
            else:
                k, j = e // BN, e % BN
            n, kk = col0 + j, k0 + k
            v = zero
            if n < N and kk < K:
                v = b[n, kk] if trans_b else b[kk, n]
            b_tile[k, j] = v
        cuda.syncthreads()
        # RM × RN outer products per k from shared memory
        for k in range(BK):
            for r in range(RM):
                a_rk = a_tile[k, ty + r * TPB_Y]
                for s in range(RN):
                    acc[r, s] += a_rk * b_tile[k, tx + s * TPB_X]
        cuda.syncthreads()
    for r in range(RM):
        m = row0 + ty + r * TPB_Y
        for s in range(RN):
            n = col0 + tx + s * TPB_X
            if m < M and n < N:
                c[m, n] = acc[r, s] + c[m, n] if accumulate else acc[r, s]


@cuda.jit(cache=True)
def colsum_kernel(a, out):
    """out (N,) = Σ_m a[m, :] for a (M, N): one thread per column, coalesced across threads."""
    n = cuda.grid(1)
    if n < out.shape[0]:
        total = a.dtype.type(0)
        for m in range(a.shape[0]):
            total += a[m, n]
        out[n] = total


def gemm(a, b, c, trans_a=False, trans_b=False, accumulate=False):
    """Launch ``gemm_kernel`` over c's tiles (nothing to do when c is empty)."""
    M, N = c.shape
    if M and N:
        grid = (math.ceil(N / BN), math.ceil(M / BM))
        gemm_kernel[grid, (TPB_X, TPB_Y)](a, b, c, trans_a, trans_b, accumulate)


def colsum(a, out):
    """out = a.sum(axis=0) for a device (M, N) array."""
    if out.shape[0]:
        colsum_kernel[math.ceil(out.shape[0] / THREADS), THREADS](a, out)
