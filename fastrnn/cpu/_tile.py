"""Our GEMM: a register-tiled microkernel on packed weights, for the products inside a time loop.

    panels = pack(w, r0, r1)               rows [r0, r1) of w (N, K) as (NP, K, NR) panels
    pack_into(w, r0, r1, out)              the same into out (≥ NP, K, NR)
    pack_t_into(w, out)                    the same of wᵀ, read along w's rows
    matmul(a, panels, c, c0, acc[, rev])   c[:, c0 : c0 + NP·NR] (+)= a · w[r0:r1]ᵀ

A step's product h W_hhᵀ has few rows (the batch, or a thread's share of it)
and an inner dimension of H: BLAS packs W on every call, which is most of a
small product's cost, and dot products over K (``dots`` in earlier versions)
spend a horizontal sum per output, which at K = 128 costs as much as the
multiply-adds. Here W is packed once per call into panels of NR columns
(``NR = NV`` SIMD vectors of 64 bytes: 32 float32, 16 float64), laid out
[panel][k][NR] so that step k of a panel is one contiguous NR-wide row (the
copy is a transpose of w's rows, a W × W block at a time in registers by
``transpose``, W the lanes of a vector), and the microkernel holds an
(MR × NR) block of c in registers (MR ≤ ``MR_MAX`` rows of a, 2 vectors
each: up to 16 of AVX-512's 32 registers) while it walks k: per k, NV
vector loads of the panel, MR broadcasts of a, MR·NV fused multiply-adds.
No horizontal sums, no packing per step; measured at 93-107 GFLOP/s on one
Zen 4 core in float32 (NumPy's sgemm: about 100), 1.3-2.7× the dot
products at the per-step shapes, 2× at B = 1. Panels too
large for a core's L2 (``PREFETCH_BYTES``) stream from L3; there the first
tile of rows of each block of k prefetches the next block into L2.

The microkernel is LLVM IR written with llvmlite (``tile``): Numba has no
SIMD types, and LLVM vectorises neither an accumulator block held in an
array (it cannot prove that c and the panel do not alias) nor an unrolled
one. The vector width is LLVM's generic ``<W x float>``, which LLVM lowers
to whatever the CPU has (one AVX-512 register, two AVX2 ones, four NEON).

Rounding: each output is Σ_k a·w summed in k order with fused multiply-adds
in blocks of KC = 128 terms, each block from 0 and then added to c (to what c
held, with ``acc``): a sum of K terms rounds like one of KC plus K / KC, not
K (the weight gradients sum T·B terms), within the float tolerance of NumPy's
``a @ w.T``.
"""
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: the most rows of a one microkernel call holds in registers (MR)
MR_MAX = 8
#: the inner dimension's block: each microkernel call sums at most KC products (128: a block of
#: a panel, 16 KB in float32, stays in L1 across the row tiles; 64 measured 10% slower on
#: a tall product, 256 no faster)
KC = 128
#: SIMD vectors (64 bytes each) per panel row: NR = NV · 64 / itemsize columns
NV = 2
#: panels larger than this (half a core's 1 MB L2, which they share with the loop's other
#: operands) are read a block of k ahead into L2 (``tile``'s ahead) by each first tile of
#: rows of a single-panel block: one core, 32 × 1024 × 4096 (16 MB of panels) 96-103 →
#: 105-110 GF/s; no change from 256 KB to 4 MB; slower for blocks of two panels (M ≤ 4:
#: 37-41 → 28-34 GF/s), so never there
PREFETCH_BYTES = 1 << 19
JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)
_KERNEL_JIT = dict(cache=True, nopython=True, error_model="numpy", boundscheck=False)


def _vector_type(dtype):
    """LLVM's 64-byte vector of the dtype and its lane count."""
    lanes = 16 if dtype == types.float32 else 8
    return ir.VectorType(ir.FloatType() if dtype == types.float32 else ir.DoubleType(), lanes)


def _align(vty):
    """The alignment the kernels' vector loads and stores assume: one element's."""
    return 4 if isinstance(vty.element, ir.FloatType) else 8


def _emit_tile(builder, vty, mr, npan, pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc,
               ahead):
    """The IR of one block of mr rows by npan panels (npan·NV vectors): c[c0 + i·ldc + q·NR + j]
    (+)= Σ_{k<K} a[a0 + i·sa_i + k·sa_k] · b[b0 + q·ps + k·NR + j] (ps: one panel's
    length). ``ahead`` (i1): per k, also prefetch into L2 the panel rows KC·NR elements
    further on (the next block of k, which the next call reads; each vector is one cache
    line). The accumulators are allocas, which LLVM promotes to registers; npan = 2 gives
    a block of few rows enough independent multiply-add chains to hide their latency."""
    i64, W = ir.IntType(64), vty.count
    single = isinstance(vty.element, ir.FloatType)
    align = _align(vty)
    const = lambda v: ir.Constant(i64, v)   # noqa: E731
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{W}f{32 if single else 64}")
    nr, cols = NV * W, [(q, v) for q in range(npan) for v in range(NV)]
    accs = [[cgutils.alloca_once(builder, vty) for _ in cols] for _ in range(mr)]
    for row in accs:
        for a in row:
            builder.store(ir.Constant(vty, None), a)
    lane0 = ir.Constant(ir.VectorType(ir.IntType(32), W), None)
    undef = ir.Constant(vty, ir.Undefined)
    panel = ps
    prefetch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
        ir.VoidType(), [ir.IntType(8).as_pointer(), *[ir.IntType(32)] * 3]), "llvm.prefetch.p0")
    i32 = lambda v: ir.Constant(ir.IntType(32), v)   # noqa: E731
    with cgutils.for_range(builder, K) as loop:
        k = loop.index
        bk = builder.add(b0, builder.mul(k, const(nr)))
        # row k of each panel q of the block
        rows = [builder.add(bk, builder.mul(const(q), panel)) for q in range(npan)]
        with builder.if_then(ahead, likely=False):
            for q, v in cols:
                at = builder.gep(pb, [builder.add(rows[q], const(KC * nr + v * W))])
                builder.call(prefetch, [builder.bitcast(at, ir.IntType(8).as_pointer()),
                                        i32(0), i32(2), i32(1)])
        bv = [builder.load(builder.bitcast(
            builder.gep(pb, [builder.add(rows[q], const(v * W))]), vty.as_pointer()),
            align=align) for q, v in cols]
        ak = builder.add(a0, builder.mul(k, sa_k))
        for i in range(mr):
            ai = builder.load(builder.gep(pa, [builder.add(ak, builder.mul(const(i), sa_i))]))
            splat = builder.shuffle_vector(
                builder.insert_element(undef, ai, ir.Constant(ir.IntType(32), 0)), undef, lane0)
            for n, b in enumerate(bv):
                builder.store(builder.call(fma, [splat, b, builder.load(accs[i][n])]),
                              accs[i][n])
    for i in range(mr):
        for n, (q, v) in enumerate(cols):
            ptr = builder.bitcast(builder.gep(pc, [builder.add(
                c0, builder.add(builder.mul(const(i), ldc), const(q * nr + v * W)))]),
                vty.as_pointer())
            value = builder.load(accs[i][n])
            with builder.if_else(acc) as (then, otherwise):
                with then:
                    builder.store(builder.fadd(builder.load(ptr, align=align), value), ptr,
                                  align=align)
                with otherwise:
                    builder.store(value, ptr, align=align)


#: the blocks ``tile`` has code for, by its ``kind``: (rows, panels); rows ≤ 4 take two
#: panels at once where there are two
BLOCKS = [(mr, 1) for mr in range(1, MR_MAX + 1)] + [(mr, 2) for mr in range(1, 5)]


def _tile_function(module, vty, ptr):
    """The microkernel as one function of ``module``: a switch over ``BLOCKS`` to each
    block's code, compiled only into ``_kernel_f32`` / ``_kernel_f64`` (below)."""
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, i64, i64, i64, ptr, i64, i64,
                                                             i64, ptr, i64, i64, ir.IntType(1),
                                                             ir.IntType(1), i64]),
                     "fastrnn_tile_blocks")
    fn.linkage = "internal"
    pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind = fn.args
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    done = fn.append_basic_block("tile.done")
    switch = builder.switch(kind, done)
    for k, (mr, npan) in enumerate(BLOCKS):
        block = fn.append_basic_block(f"tile.{mr}x{npan}")
        switch.add_case(ir.Constant(i64, k), block)
        builder.position_at_end(block)
        _emit_tile(builder, vty, mr, npan, pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc,
                   ahead)
        builder.branch(done)
    builder.position_at_end(done)
    builder.ret_void()
    return fn


@intrinsic
def _blocks(typingctx, pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind):
    """The body of ``_kernel_f32`` / ``_kernel_f64``: their arguments (raw pointers, offsets,
    acc ≠ 0 and ahead ≠ 0) passed to the switch of blocks."""
    def codegen(context, builder, sig, args):
        vty = _vector_type(sig.args[0].dtype)
        fn = _tile_function(builder.module, vty, args[0].type)
        flags = [builder.icmp_unsigned("!=", v, ir.Constant(v.type, 0)) for v in args[11:13]]
        builder.call(fn, [*args[:11], *flags, args[13]])
        return context.get_dummy_value()

    return types.void(pa, *[types.int64] * 3, pb, *[types.int64] * 3, pc,
                      *[types.int64] * 5), codegen


def _kernel_type(dtype):
    """The C signature of the out-of-line microkernel of one dtype: pointers to a, b, c and
    int64 offsets, strides, acc, ahead and kind (the arguments of ``tile``)."""
    ptr, i64 = types.CPointer(dtype), types.int64
    return types.void(ptr, i64, i64, i64, ptr, i64, i64, i64, ptr, i64, i64, i64, i64, i64)


# The microkernel is compiled once per dtype, as a C function of its own, and every caller
# only calls it by name. Numba gives each compiled function its own machine code of every
# function it calls, so a microkernel linked into the callers (matmul, the forward and
# backward loops and those between) was compiled again for each of them: seconds of cold
# start apiece. ``cache=True`` keeps these two like any kernel; their addresses are bound to
# the names the callers use (``llvmlite.binding.add_symbol``) before any caller is loaded.
@cfunc(_kernel_type(types.float32), **_KERNEL_JIT)
def _kernel_f32(pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind):
    _blocks(pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind)


@cfunc(_kernel_type(types.float64), **_KERNEL_JIT)
def _kernel_f64(pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind):
    _blocks(pa, a0, sa_i, sa_k, pb, b0, K, ps, pc, c0, ldc, acc, ahead, kind)


def _transpose_function(module, vty, ptr):
    """The IR of one W × W transpose (W = the lanes of vty): dst[d0 + k·ldd + i] =
    src[s0 + i·lds + k] for i, k < W. W loads of a row each, log₂ W rounds of two-source
    shuffles (round r pairs vectors i and i + W/2 and interleaves their low halves into
    2i, their high halves into 2i + 1), W stores: 64 shuffles for 256 float32 where the
    element-wise copy made 256 loads and 256 stores of a strided column each."""
    i64, W = ir.IntType(64), vty.count
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, i64, i64, ptr, i64, i64]),
                     "fastrnn_transpose_block")
    fn.linkage = "internal"
    src, s0, lds, dst, d0, ldd = fn.args
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    align = _align(vty)

    def at(base, start, stride, i):
        offset = builder.add(start, builder.mul(ir.Constant(i64, i), stride))
        return builder.bitcast(builder.gep(base, [offset]), vty.as_pointer())

    rows = [builder.load(at(src, s0, lds, i), align=align) for i in range(W)]
    half = W // 2
    mask = [ir.Constant(ir.VectorType(ir.IntType(32), W), [x for j in js for x in (j, W + j)])
            for js in (range(half), range(half, W))]
    for _ in range(W.bit_length() - 1):
        rows = [builder.shuffle_vector(rows[i], rows[i + half], m)
                for i in range(half) for m in mask]
    for k, row in enumerate(rows):
        builder.store(row, at(dst, d0, ldd, k), align=align)
    builder.ret_void()
    return fn


@intrinsic
def _transpose_body(typingctx, src, s0, lds, dst, d0, ldd):
    """The body of ``_transpose_f32`` / ``_transpose_f64``: their arguments passed on."""
    def codegen(context, builder, sig, args):
        fn = _transpose_function(builder.module, _vector_type(sig.args[0].dtype), args[0].type)
        builder.call(fn, args)
        return context.get_dummy_value()

    return types.void(src, types.int64, types.int64, dst, types.int64, types.int64), codegen


def _transpose_type(dtype):
    """The C signature of the out-of-line transpose of one dtype: src, s0, lds, dst, d0, ldd."""
    ptr, i64 = types.CPointer(dtype), types.int64
    return types.void(ptr, i64, i64, ptr, i64, i64)


@cfunc(_transpose_type(types.float32), **_KERNEL_JIT)
def _transpose_f32(src, s0, lds, dst, d0, ldd):
    _transpose_body(src, s0, lds, dst, d0, ldd)


@cfunc(_transpose_type(types.float64), **_KERNEL_JIT)
def _transpose_f64(src, s0, lds, dst, d0, ldd):
    _transpose_body(src, s0, lds, dst, d0, ldd)


KERNELS = {"fastrnn_tile_f32": _kernel_f32, "fastrnn_tile_f64": _kernel_f64,
           "fastrnn_transpose_f32": _transpose_f32, "fastrnn_transpose_f64": _transpose_f64}
for _name, _kernel in KERNELS.items():
    llvm.add_symbol(_name, _kernel.address)


def _call_kernel(context, builder, sig, args, stem):
    """Call the out-of-line kernel ``fastrnn_<stem>_f32`` (or ``_f64``) by name: arrays passed
    as their data pointers, booleans as int64, integers as they are."""
    values = []
    for ty, value in zip(sig.args, args):
        if isinstance(ty, types.Array):
            value = context.make_array(ty)(context, builder, value).data
        elif ty == types.boolean:
            value = builder.zext(value, ir.IntType(64))
        values.append(value)
    dtype = next(ty.dtype for ty in sig.args if isinstance(ty, types.Array))
    name = f"fastrnn_{stem}_{'f32' if dtype == types.float32 else 'f64'}"
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [v.type for v in values]), name)
    builder.call(fn, values)
    return context.get_dummy_value()


def _same_float(*arrays):
    """Whether the arrays share one dtype, float32 or float64 (the kernels' two)."""
    return (all(a.dtype == arrays[0].dtype for a in arrays)
            and arrays[0].dtype in (types.float32, types.float64))


@intrinsic
def tile(typingctx, a, a0, sa_i, sa_k, b, b0, K, ps, c, c0, ldc, acc, ahead, kind):
    """c[c0 + i·ldc + j] (+)= Σ_{k<K} a[a0 + i·sa_i + k·sa_k] · b[b0 + k·NR + j] for i < rows
    and j < panels·NR, where (rows, panels) = BLOCKS[kind] (the second panel's b starts ps
    later): one microkernel call, on flat element offsets of the arrays a, b (packed
    panels) and c, all of one float dtype. ``ahead``: prefetch the next block of k into
    L2 as it goes."""
    if not _same_float(a, b, c):
        return None

    def codegen(context, builder, sig, args):
        return _call_kernel(context, builder, sig, args, "tile")

    return types.void(a, types.int64, types.int64, types.int64, b, types.int64, types.int64,
                      types.int64, c, types.int64, types.int64, types.boolean, types.boolean,
                      types.int64), codegen


@intrinsic
def transpose(typingctx, src, s0, lds, dst, d0, ldd):
    """dst[d0 + k·ldd + i] = src[s0 + i·lds + k] for i, k < W (16 float32, 8 float64): one
    block transposed in registers, on flat element offsets of two arrays of one float dtype."""
    if not _same_float(src, dst):
        return None

    def codegen(context, builder, sig, args):
        return _call_kernel(context, builder, sig, args, "transpose")

    return types.void(src, types.int64, types.int64, dst, types.int64, types.int64), codegen


def width(dtype):
    """NR, the columns of a panel, for a NumPy dtype."""
    return NV * 64 // np.dtype(dtype).itemsize


@njit(inline="always", **JIT)
def panel_width(w):
    """NR for the dtype of w."""
    return NV * 64 // w.itemsize


@njit(inline="always", **JIT)
def n_panels(rows, nr):
    """How many panels of nr columns ``rows`` rows of a weight make: ⌈rows / nr⌉."""
    return (rows + nr - 1) // nr


@njit(**JIT)
def pack_into(w, r0, r1, out):
    """out[p, k, j] = w[r0 + p·NR + j, k] (0 past r1): rows [r0, r1) of w (N, K) as panels
    (n_panels, K, NR); out is (≥ n_panels, K, NR). Returns out.

    Each W × W block of whole rows and columns (W = NR / NV, a vector's lanes) is one
    ``transpose``; the columns of a last partial block of k, and the rows of a panel's
    last partial block, are copied one element at a time (all of it, where w's columns
    or out are not contiguous). (1024, 256) float32 on one Zen 4 core: 41 µs (a copy of it:
    24), against 113 element by element, and 51 when every panel also ran its (empty) pass
    over k; (2048, 512): 0.22 ms against 1.1."""
    K, nr = w.shape[1], out.shape[2]
    W = nr // NV
    isz = w.itemsize
    fast = (w.strides[1] == isz and out.strides[2] == isz and out.strides[1] == nr * isz
            and out.strides[0] == K * nr * isz)
    lds = w.strides[0] // isz
    kf = K // W * W if fast else 0        # k below kf: whole blocks of W columns
    for p in range(n_panels(r1 - r0, nr)):
        panel, n = out[p], min(nr, r1 - r0 - p * nr)
        rows = w[r0 + p * nr:r0 + p * nr + n]
        full = n // W * W if fast else 0  # rows below full: whole blocks of W rows
        for k0 in range(0, kf, W):
            for i0 in range(0, full, W):
                transpose(w, (r0 + p * nr + i0) * lds + k0, lds, out, (p * K + k0) * nr + i0, nr)
        if full == n and kf == K and n == nr:
            continue        # no partial block, no padding: a pass over k finds nothing to do
        for k in range(K):
            line = panel[k]
            for j in range(full if k < kf else 0, n):
                line[j] = rows[j, k]
            for j in range(n, nr):
                line[j] = 0
    return out


@njit(**JIT)
def pack(w, r0, r1):
    """Rows [r0, r1) of w (N, K) as new panels (n_panels, K, NR)."""
    nr = panel_width(w)
    return pack_into(w, r0, r1, np.empty((n_panels(r1 - r0, nr), w.shape[1], nr), w.dtype))


@njit(**JIT)
def pack_t_into(w, out):
    """out[p, k, j] = w[k, p·NR + j] (0 past N): ``pack_into(wᵀ, 0, N, out)`` of w (K, N)
    without making wᵀ; out is (≥ n_panels(N), K, NR). Returns out. Each panel row is a
    contiguous run of one row of w, so the copy reads w in order: 8-20× faster than
    packing a transposed copy, which read it by columns, and 1.6-2.4× faster than
    ``pack`` of the view w.T, which reads in the same order through strides Numba does not
    know to be 1 (1024×4096: 1.5, 3.5 ms)."""
    K, N = w.shape
    nr = out.shape[2]
    for p in range(n_panels(N, nr)):
        n = min(nr, N - p * nr)
        for k in range(K):
            line, row = out[p, k], w[k, p * nr:p * nr + n]
            for j in range(n):
                line[j] = row[j]
            for j in range(n, nr):
                line[j] = 0
    return out


def panels_shape(rows, K, dtype):
    """The shape of the panels of ``rows`` rows of a weight (·, K) of ``dtype``: (n_panels,
    K, NR), for callers in Python that pack into memory of their own (``pack_into``)."""
    nr = width(dtype)
    return n_panels.py_func(rows, nr), K, nr


@njit(**JIT)
def matmul(a, panels, c, c0, acc, rev=False):
    """c[:, c0 : c0 + NP·NR] (+)= a · panelsᵀ, i.e. a · w[r0:r1]ᵀ for ``panels = pack(w, r0,
    r1)``, and the NP·NR − (r1 − r0) columns after those zero (or unchanged, with ``acc``).

    a (M, K): any row stride, unit column stride; panels (NP, K, NR); c (M, ≥ c0 + NP·NR)
    with unit column stride. ``acc``: add to c instead of overwriting it. The rows of a go
    in near-equal tiles of at most MR_MAX; K in blocks of KC, each block of a panel staying
    in L1 across the tiles. ``rev``: the panels last to first (the same sums: each panel's
    columns are its own). A time loop that multiplies by the same panels at every step
    alternates it: each step then begins with the panels the one before read last, still
    in the core's cache, where panels about as large as its L2 (W_hh at B = 1) were read
    from L3 at every step in one order (one core, 1 × 256 by 1 MB of panels: 8.8 → 8.0-8.3
    µs a step). For M ≤ 4 only (``_product``)."""
    if a.shape[0] > 0 and a.shape[1] > 0 and a.strides[1] != a.itemsize:
        raise ValueError("matmul: a (M,K) needs a unit column stride")
    _product(any_layout(a), a.shape[0], a.shape[1], a.strides[0] // a.itemsize,
             a.strides[1] // a.itemsize, panels, any_layout(c), c0 + 0, acc == True,  # noqa: E712
             rev == True)  # noqa: E712


@njit(**JIT)
def matmul_t(at, panels, c, c0, acc):
    """``matmul`` of a = atᵀ: c[:, c0 : c0 + NP·NR] (+)= atᵀ · panelsᵀ, at (K, M) with any row
    stride and a unit column stride, as the weight gradients need it (daᵀ x over the rows
    of T·B): no transposed copy of at is made."""
    if at.shape[0] > 0 and at.shape[1] > 0 and at.strides[1] != at.itemsize:
        raise ValueError("matmul_t: at (K,M) needs a unit column stride")
    _product(any_layout(at), at.shape[1], at.shape[0], at.strides[1] // at.itemsize,
             at.strides[0] // at.itemsize, panels, any_layout(c), c0 + 0, acc == True,  # noqa: E712
             acc != acc)     # rev: False, as a run-time value (``any_layout``)


@njit(inline="always", **JIT)
def any_layout(m):
    """m as a view of Numba's any-layout type: so that ``_product``, which holds the
    microkernel's code, is compiled once per dtype, whatever layout its callers' arrays
    have (each compilation costs seconds of LLVM work). For the same reason c0 and acc
    reach it as plain values (``c0 + 0``, ``acc == True``), never as literals; a caller whose
    other calls of ``matmul`` or ``matmul_t`` pass views uses it to pass a whole array too."""
    return m[:, :m.shape[1]]


@njit(**JIT)
def _product(a, M, K, sa_i, sa_k, panels, c, c0, acc, rev):
    """c[:, c0 : c0 + NP·NR] (+)= A · panelsᵀ with A[i, k] = a.flat-offset i·sa_i + k·sa_k
    (M, K), the panels last to first with ``rev``: the body of ``matmul`` and ``matmul_t``."""
    NP, NR = panels.shape[0], panels.shape[2]
    if M == 0 or NP == 0:
        return
    if K == 0:
        if not acc:
            for m in range(M):
                for j in range(NP * NR):
                    c[m, c0 + j] = 0
        return
    # the microkernel reads and writes raw memory: check every extent it relies on
    if (c.strides[1] != c.itemsize or c.shape[0] < M
            or c0 < 0 or c.shape[1] < c0 + NP * NR or panels.shape[1] != K
            or panels.strides[2] != panels.itemsize or panels.strides[1] != NR * panels.itemsize
            or panels.strides[0] != K * NR * panels.itemsize):
        raise ValueError("matmul: c (≥M, ≥c0 + NP·NR) needs a unit column stride, "
                         "panels C-contiguous (NP,K,NR)")
    ldc = c.strides[0] // c.itemsize
    tiles = (M + MR_MAX - 1) // MR_MAX
    pair = M <= 4      # one tile of at most 4 rows: two panels per call (BLOCKS)
    # K in blocks of KC: each block's sums start from 0 and are added to c, so a long sum
    # (the weight gradients' T·B) rounds like one of KC terms plus K / KC, not K; a panel
    # is still read in order, and each block of it (KC·NR elements) stays in L1 across
    # the tiles of rows
    ahead = not pair and NP * K * NR * panels.itemsize > PREFETCH_BYTES
    # rev only where the panels go two by two: at more rows it gained nothing (1 %, 8 rows),
    # and the prefetch above reads the panels in order
    rev = rev and pair
    step = 2 if pair else 1
    last = (NP - 1) // step * step      # the first panel of the last call
    for i in range(0, NP, step):
        p = last - i if rev else i
        two = pair and p + 1 < NP
        for k0 in range(0, K, KC):
            kc = min(KC, K - k0)
            add = acc or k0 > 0
            for q in range(tiles):
                m0, m1 = q * M // tiles, (q + 1) * M // tiles
                tile(a, m0 * sa_i + k0 * sa_k, sa_i, sa_k, panels, p * K * NR + k0 * NR, kc,
                     K * NR, c, m0 * ldc + c0 + p * NR, ldc, add, ahead and q == 0,
                     m1 - m0 - 1 + (MR_MAX if two else 0))
