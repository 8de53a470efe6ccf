"""The cpu backend's GEMM microkernel (``fastrnn.cpu._tile``) against NumPy's matmul.

Every block of ``_tile.BLOCKS`` (rows 1..MR_MAX, one or two panels per call), padded
last panels, sub-ranges of rows, strided operands, accumulation, empty extents and
non-finite values, in float32 and float64; ``pack_t_into`` against ``pack`` of the transpose.
"""
import numpy as np
import pytest

from fastrnn.cpu._tile import (MR_MAX, PREFETCH_BYTES, matmul, pack, pack_t_into, panels_shape,
                               width)

DTYPES = [np.float32, np.float64]

# (M, K, N): every tile height, one or two panels per call (M ≤ 4), padding (N not a
# multiple of NR), the shapes of a step (K = H), and degenerate extents
SHAPES = [(m, 7, 33) for m in range(1, 2 * MR_MAX + 2)] + [
    (1, 1, 1), (3, 128, 512), (17, 64, 100), (64, 28, 96), (2, 5, 64), (0, 4, 8), (5, 0, 8)]


def rtol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def ref_matmul(a, w):
    return (a.astype(np.float64) @ w.astype(np.float64).T).astype(a.dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("M,K,N", SHAPES, ids=lambda v: str(v))
def test_matmul_matches_numpy(M, K, N, dtype):
    rng = np.random.default_rng(M * 1000 + K * 10 + N)
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N + 9, K)).astype(dtype)
    r0, r1 = 4, N + 4                          # a sub-range of w's rows
    panels = pack(w, r0, r1)
    NR = width(dtype)
    assert panels.shape == (-(-N // NR), K, NR)
    cols = panels.shape[0] * NR
    c = np.full((M, 3 + cols + 5), 7, dtype)   # 3 columns before, 5 after the block
    a_before, w_before = a.copy(), w.copy()
    matmul(a, panels, c, 3, False)
    want = ref_matmul(a, w[r0:r1])
    np.testing.assert_allclose(c[:, 3:3 + N], want, rtol=rtol(dtype), atol=rtol(dtype) * 4 * K)
    assert (c[:, 3 + N:3 + cols] == 0).all(), "the padded columns are zero"
    assert (c[:, :3] == 7).all() and (c[:, 3 + cols:] == 7).all(), "nothing outside written"
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(w, w_before)
    # the panels last to first: the same sums, every panel's columns its own
    once = c.copy()
    c[:] = 7
    matmul(a, panels, c, 3, False, True)
    np.testing.assert_array_equal(c, once)
    # accumulate: c += a wᵀ
    matmul(a, panels, c, 3, True)
    np.testing.assert_allclose(c[:, 3:3 + N], 2 * want, rtol=rtol(dtype),
                               atol=rtol(dtype) * 8 * K)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("K,N", [(7, 33), (1, 1), (64, 32), (5, 0), (0, 5)], ids=str)
def test_pack_t_into_packs_the_transpose(K, N, dtype):
    """pack_t_into(w, out) is pack(wᵀ): the panels of wᵀ, the padding zero (out held NaN
    before), w itself unchanged."""
    w = np.random.default_rng(K * 100 + N).standard_normal((K, N)).astype(dtype)
    before = w.copy()
    out = np.full(panels_shape(N, K, dtype), np.nan, dtype)
    np.testing.assert_array_equal(pack_t_into(w, out), pack(np.ascontiguousarray(w.T), 0, N))
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("M", [5, 9, 17])
def test_matmul_prefetching_large_panels(M, dtype):
    """Panels past ``PREFETCH_BYTES`` take the microkernel's prefetching path (single-panel
    blocks, M > 4): the same sums as without it, three blocks of k (K = 300)."""
    rng = np.random.default_rng(M)
    K, N = 300, 1800
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    panels = pack(w, 0, N)
    assert panels.nbytes > PREFETCH_BYTES
    c = np.empty((M, panels.shape[0] * width(dtype)), dtype)
    matmul(a, panels, c, 0, False)
    np.testing.assert_allclose(c[:, :N], ref_matmul(a, w), rtol=rtol(dtype),
                               atol=rtol(dtype) * K)


def panels_of(w, r0, r1):
    """pack(w, r0, r1) built with NumPy: rows [r0, r1) padded with zero rows to whole panels,
    each panel (NR, K) transposed to (K, NR)."""
    NR = width(w.dtype)
    NP = -(-(r1 - r0) // NR)
    rows = np.zeros((NP * NR, w.shape[1]), w.dtype)
    rows[:r1 - r0] = w[r0:r1]
    return rows.reshape(NP, NR, w.shape[1]).transpose(0, 2, 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("K", [1, 7, 8, 15, 16, 17, 33, 64], ids=lambda k: f"K{k}")
@pytest.mark.parametrize("view", ["whole", "columns", "strided"])
def test_pack_is_the_panels(K, view, dtype):
    """pack copies whole W × W blocks with ``transpose`` (W: 16 float32, 8 float64) and the
    rest element by element: every K around a block's multiples, panels with a partial
    last block of rows, a row sub-range, a view with a longer row stride (``columns``) and
    one whose columns are not contiguous (``strided``, element by element throughout)."""
    rng = np.random.default_rng(K)
    base = rng.standard_normal((90, 2 * K + 3)).astype(dtype)
    w = {"whole": base[:, :K], "columns": base[:, 3:K + 3], "strided": base[:, 1::2][:, :K]}[view]
    w = np.ascontiguousarray(w) if view == "whole" else w
    before = base.copy()
    for r0, r1 in ((0, 90), (3, 83), (5, 6), (10, 10)):
        np.testing.assert_array_equal(pack(w, r0, r1), panels_of(w, r0, r1))
    np.testing.assert_array_equal(base, before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_matmul_strided_rows(dtype):
    """a and c as views with row strides (a step's rows of x, every n-th row of gi)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3, 10)).astype(dtype)
    w = rng.standard_normal((40, 10)).astype(dtype)
    panels = pack(w, 0, 40)
    c = np.zeros((24, panels.shape[0] * width(dtype)), dtype)
    matmul(x[:, 1], panels, c[1::2], 0, False)
    np.testing.assert_allclose(c[1::2, :40], ref_matmul(x[:, 1], w), rtol=rtol(dtype),
                               atol=rtol(dtype) * 40)
    assert (c[0::2] == 0).all()


def test_matmul_propagates_non_finite():
    """inf and NaN reach exactly the outputs they feed, as in NumPy."""
    a = np.ones((3, 4), np.float32)
    w = np.ones((5, 4), np.float32)
    a[1, 2], w[3, 0] = np.inf, np.nan
    c = np.zeros((3, width(np.float32)), np.float32)
    matmul(a, pack(w, 0, 5), c, 0, False)
    with np.errstate(invalid="ignore"):
        want = a @ w.T
    np.testing.assert_array_equal(c[:, :5], want)


def test_matmul_refuses_short_output():
    """The microkernel writes raw memory: an output without room for the panels is refused."""
    w = np.ones((5, 4), np.float32)
    panels = pack(w, 0, 5)
    with pytest.raises(ValueError, match="matmul"):
        matmul(np.ones((2, 4), np.float32), panels, np.zeros((2, 5), np.float32), 0, False)
    with pytest.raises(ValueError, match="matmul"):
        matmul(np.ones((2, 3), np.float32), panels, np.zeros((2, 64), np.float32), 0, False)
