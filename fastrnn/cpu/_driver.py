"""The cpu backend's drivers: choose a variant, allocate, run the loops (``_loops``) on our threads.

Forward:   y, h_T[, c_T] from the "batch" or the "units" loop (``fastrnn.config``);
           the input projection x W_ihᵀ is computed inside, in chunks of
           ``CPU_CHUNK_ROWS`` rows, so inference allocates no (T,B,G·H) buffer.
Backward:  the reverse walk fills the gate gradients da, chunk by chunk of steps, and
           from each chunk dx = da W_ih,  dW_ih = daᵀ x,  dW_hh = dghᵀ h_prev,  db = Σ da
           (dgh = da except for the GRU's n block), into per-thread partial sums.

The tape owns what the forward wrote: the state entering every step hs
(T+1,B,H) (and cs for the LSTM), the gates, and h W_hnᵀ + b_hn for the GRU.
It borrows x, the weights and lengths (the validated arrays of the call).
The returned y is not part of it: changing y does not change the gradients.
"""
import math
import os

import numpy as np

from .. import _buffers, _threads, backends, cells, config
from . import _pool
from ._cells import GRU, LSTM, RNN
from ._loops import chunk_steps, specialize, weight_grads
from ._tile import pack_into, pack_t_into, panels_shape, width

#: the kernels' integer tag of each cell of ``fastrnn.cells``
TAGS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
#: the forward variants by name (``fastrnn.config.CPU_VARIANT``, FASTRNN_CPU_VARIANT)
VARIANTS = ("auto", *backends.get("cpu").variants)
#: the machine's CPUs, read once (``os.cpu_count`` reads sysfs: 6 µs, every call of "auto")
CORES = os.cpu_count() or 1


def _open_loadavg():
    """A descriptor of /proc/loadavg, kept open (None where it cannot be opened)."""
    try:
        return os.open("/proc/loadavg", os.O_RDONLY)
    except OSError:
        return None


_LOADAVG = _open_loadavg()


def _runnable_others():
    """The system's runnable threads (the 4th field of /proc/loadavg) less the calling one;
    0 where that file cannot be read. A read at offset 0 of the open file is fresh each
    time: 1.1 µs, against 4.7 to open, read and close it."""
    try:
        text = os.pread(_LOADAVG, 128, 0)
        return max(0, int(text.split()[3].split(b"/")[0]) - 1)
    except (OSError, TypeError, ValueError, IndexError):
        return 0


def _runnable_not_ours():
    """``_runnable_others`` less the pool's awake workers (``_pool.spinning``): they wait for
    this call, they are not other work."""
    return max(0, _runnable_others() - _pool.spinning())


def busy_cores():
    """How many cores other work keeps busy now (``_runnable_not_ours``). A count above 0 is
    read again after yielding the core once: a thread that was only passing through (any
    short task) has blocked by then; a busy one has not."""
    busy = _runnable_not_ours()
    if busy:
        os.sched_yield()
        busy = min(busy, _runnable_not_ours())
    return busy


def variant(B, threads, backward=False):
    """The variant a forward (or, ``backward``, a reverse walk) with batch B runs on
    ``threads`` threads (config read now).

    "auto": "units" for B ≤ CPU_UNITS_MAX_B (the backward: for B < threads, where its batch
    split would leave threads idle) when every one of the threads can have a core of its
    own now (its barrier per step waits a whole scheduler slice whenever one of them is
    descheduled), else "batch", which never waits for another thread."""
    name = config.CPU_VARIANT or os.environ.get("FASTRNN_CPU_VARIANT") or "auto"
    if name not in VARIANTS:
        raise ValueError(f"unknown cpu variant {name!r} (fastrnn.config.CPU_VARIANT or the "
                         f"FASTRNN_CPU_VARIANT environment variable); expected one of {VARIANTS}")
    if name == "auto":
        small = threads > 1 and (B < threads if backward else B <= config.CPU_UNITS_MAX_B)
        if small and config.CPU_AVOID_BUSY_CORES:
            small = busy_cores() + threads <= CORES
        return "units" if small else "batch"
    return name


def _packed(w, dtype, r0=0, r1=None, transpose=False):
    """``_tile.pack_into`` of rows [r0, r1) of w, or ``_tile.pack_t_into`` of all of wᵀ, into
    recycled memory (``_buffers``: a weight's panels are megabytes, which fresh memory
    would fault in at every call); no panels (of ``dtype``) for w None."""
    if w is None:
        return np.empty((0, 0, 1), dtype)
    if transpose:
        return pack_t_into(w, _buffers.empty(panels_shape(w.shape[1], w.shape[0], dtype), dtype))
    r1 = w.shape[0] if r1 is None else r1
    return pack_into(w, r0, r1, _buffers.empty(panels_shape(r1 - r0, w.shape[1], dtype), dtype))


def reset_rows(cell, options, H):
    """q0: W_hh's rows [q0, G·H) multiply r ⊙ h_{t-1} instead of h_{t-1}: the n block (from
    2H) of the GRU without reset_after; G·H (no such rows) for every other cell."""
    return 2 * H if TAGS[cell] == GRU and not options.reset_after else cells.get(cell).G * H


def _flags(options):
    """The kernels' (relu, hard, after) from ``fastrnn.cells.Options``: act is relu, σ is the
    hard sigmoid, the GRU resets after its product."""
    return (options.activation == "relu", options.gate_activation == "hard_sigmoid",
            bool(options.reset_after))


def _loops(cell, options, train, proj):
    """The time loops compiled for this cell, its options, ``train`` (the forward writes the
    tape) and ``proj`` (the LSTM's projection; ``_loops.specialize``) and the (relu, hard)
    they take."""
    relu, hard, after = _flags(options)
    return specialize(TAGS[cell], after or TAGS[cell] != GRU, not (relu or hard),
                      bool(train), proj), (relu, hard)


def forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, options, train, w_hr=None):
    """The kernel contract's ``<cell>_forward``; c0 is None except for the LSTM, w_hr (P,H)
    the LSTM's projection or None. Returns y (T,B,P), h_T (B,P), c_T (B,H) or None, tape
    (dict) or None (P = H without a projection)."""
    kind, G = TAGS[cell], cells.get(cell).G
    T, B, I = x.shape
    H, P = w_hh.shape[0] // G, w_hh.shape[1]
    dtype = x.dtype
    q0 = reset_rows(cell, options, H)
    before = q0 < G * H
    # the GRU without reset_after needs every unit's r before its n block, a projection
    # every unit's m: not "units", which splits the units
    name = "batch" if before or w_hr is not None else variant(B, _threads.get_num_threads())
    Hc = H if kind == LSTM else 0
    c0 = c0 if kind == LSTM else np.empty((B, 0), dtype)
    y, h_T, c_T = _buffers.empty((T, B, P), dtype), np.empty((B, P), dtype), np.empty((B, Hc), dtype)
    # the tape (recycled memory: ``_buffers``); in inference no states, and one step of
    # gates the kernels are given as scratch (the LSTM's write it; ``_cells.lstm_units``)
    Tt = T if train else 1
    hs = _buffers.empty((T + 1 if train else 0, B, P), dtype)
    cs = _buffers.empty((T + 1 if train else 0, B, Hc), dtype)
    gates = _buffers.empty((Tt, B, G * H if kind != RNN else 0), dtype)
    ghn = _buffers.empty((Tt, B, H if kind == GRU else 0), dtype)
    ms = _buffers.empty((T if train and w_hr is not None else 0, B, H), dtype)
    loops, flags = _loops(cell, options, train, w_hr is not None)
    common = (*flags, x)
    tail = (cells.get(cell).fold_bias(b_ih, b_hh, options), b_hh, h0, c0, lengths, y, h_T, c_T,
            hs, cs, gates, ghn)
    # no BLAS in the forward: every product is the microkernel's
    with _pool.reserve(_threads.get_num_threads()) as threads:
        if name == "units":
            parts = max(1, min(threads, H))
            scratch = (np.empty((2, B, H), dtype), np.empty((B, Hc), dtype),
                       np.zeros(1, np.int64))
            _pool.run(loops.forward_units, parts, *common, w_ih, w_hh, *tail,
                      config.CPU_CHUNK_ROWS, *scratch)
        else:
            panels = (_packed(w_ih, dtype), _packed(w_hh, dtype, 0, q0),
                      _packed(w_hh, dtype, q0), _packed(w_hr, dtype))
            parts = max(1, min(threads, B))
            n = -(-B // parts)      # the largest share's rows
            steps = chunk_steps.py_func(T, n, config.CPU_CHUNK_ROWS)
            gis = _padded(parts, steps * n, G * H, dtype)
            xcs = _buffers.empty((parts, steps * n, I), dtype)
            _pool.run(loops.forward_batch, parts, *common, *panels, *tail, ms, steps, gis, xcs)
    tape = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, lengths=lengths,
                options=options, hs=hs, cs=cs, gates=gates, ghn=ghn, ms=ms) if train else None
    return y, h_T, (c_T if kind == LSTM else None), tape


def backward(tape, dy, dh_T, dc_T):
    """The kernel contract's ``<cell>_backward``; dc_T is None except for the LSTM.
    Returns dx, dh0, dc0 (None but for the LSTM), dw_ih, dw_hh, db_ih, db_hh, dw_hr (None
    without a projection).

    When every thread has batch rows of its own, each computes the weight gradients of
    its rows chunk by chunk during its walk (``backward_batch`` fused) into partials of
    its own, added here: da never exists whole. With fewer rows than threads the walk is
    split by units ("units", ``backward_units``; by batch rows where the cell or a
    projection rules that out, or the variant is "batch"); it keeps da (T,B,G·H) and the
    weight gradients follow on every thread (``weight_grads``: its own gate rows, and its
    own steps of dx)."""
    kind, G = TAGS[tape["cell"]], cells.get(tape["cell"]).G
    x, w_ih, w_hh, hs, cs = tape["x"], tape["w_ih"], tape["w_hh"], tape["hs"], tape["cs"]
    w_hr, ms = tape["w_hr"], tape["ms"]
    T, B, I = x.shape
    H, P = w_hh.shape[0] // G, w_hh.shape[1]
    GH, dtype = G * H, x.dtype
    dh0, dc0 = np.empty((B, P), dtype), np.empty((B, cs.shape[2]), dtype)
    dc_T = dc_T if kind == LSTM else dc0
    q0 = reset_rows(tape["cell"], tape["options"], H)
    hq = tape["ghn"] if q0 < GH else hs
    # packed W_hhᵀ; without reset_after the GRU's W_hn (from row 2H) multiplies q = r ⊙ h
    # (the tape's ghn); with a projection W_hrᵀ for dm = dh W_hr; W_ihᵀ for dx = da W_ih
    panels = (_packed(w_hh, dtype, transpose=True),
              _packed(w_hh[q0:] if q0 < GH else None, dtype, transpose=True),
              _packed(w_hr, dtype, transpose=True))
    witp = _packed(w_ih, dtype, transpose=True)
    dx = _buffers.empty(x.shape, dtype)
    nr = width(dtype)
    with _pool.reserve(_threads.get_num_threads()) as threads:
        # as the forward's: "units" needs every unit's da_n and m apart from the others
        name = "batch" if q0 < GH or w_hr is not None else variant(B, threads, backward=True)
        rows = max(1, min(threads, B))
        fused = rows == threads and name == "batch"
        # the fused walk's shares each sum into partials of their own; after an unfused one
        # the shares write disjoint rows of one. Room for whole panels (``_tile.matmul_t``)
        sums = rows if fused else 1

        def room(*shape):
            return _zeros((sums, *shape[:-1], -(-shape[-1] // nr) * nr), dtype)
        dwi, dwh, dbi, dbh = room(GH, I), room(GH, P), room(GH), room(GH)
        dwr = room(*((0, 0) if w_hr is None else w_hr.shape))
        kept = 0 if fused else T
        da = _buffers.empty((kept, B, GH), dtype)
        dgh = _buffers.empty(da.shape, dtype) if kind == GRU else da
        dhs = _buffers.empty((kept if w_hr is not None else 0, B, P), dtype)
        grads = (witp, dx, dwi, dwh, dwr, dbi, dbh)
        loops, flags = _loops(tape["cell"], tape["options"], True, w_hr is not None)
        if name == "units":
            _pool.run(loops.backward_units, max(1, min(threads, panels[0].shape[0])), *flags,
                      panels[0], hs, cs, tape["gates"], tape["ghn"], tape["lengths"], dy, dh_T,
                      dc_T, dh0, dc0, da, dgh, np.zeros(1, np.int64))
        else:
            # the fused walk's chunks: steps·n rows of each share's own scratch (n the largest
            # share's rows); an unfused walk is one chunk of T steps, into da, dgh, dhs
            n = -(-B // rows)
            steps = chunk_steps.py_func(T, n, config.CPU_CHUNK_ROWS) if fused else T
            K = steps * n if fused else 0
            chunks = (*_chunk_scratch(rows, K, x, hs, hq, ms, witp),
                      _buffers.empty((rows, K, GH), dtype),
                      _buffers.empty((rows, K if kind == GRU else 0, GH), dtype),
                      _buffers.empty((rows, K, P if w_hr is not None else 0), dtype))
            _pool.run(loops.backward_batch, rows, *flags, *panels, hs, cs, tape["gates"],
                      tape["ghn"], tape["lengths"], dy, dh_T, dc_T, dh0, dc0, da, dgh, dhs, fused,
                      steps, q0, x, ms, *grads, *chunks)
        if not fused:
            steps = chunk_steps.py_func(T, B, config.CPU_CHUNK_ROWS)
            _pool.run(weight_grads, threads, q0, x, hs, hq, ms, da, dgh, dhs, *grads, steps,
                      *_chunk_scratch(threads, steps * B, x, hs, hq, ms, witp))
    dw_ih, dw_hh = _sum(dwi, w_ih.shape), _sum(dwh, w_hh.shape)
    db_ih, db_hh = _sum(dbi, (GH,)), _sum(dbh, (GH,))
    dw_hr = None if w_hr is None else _sum(dwr, w_hr.shape)
    return (dx, dh0, (dc0 if kind == LSTM else None), dw_ih, dw_hh, db_ih, db_hh, dw_hr)


def _padded(parts, rows, cols, dtype):
    """Each of ``parts`` shares' (rows, cols + NR) scratch in recycled memory: room for the
    last panel that ``_tile.matmul`` writes whole (``_loops.padded``, per share)."""
    return _buffers.empty((parts, rows, cols + width(dtype)), dtype)


def _chunk_scratch(parts, K, x, hs, hq, ms, witp):
    """Each of ``parts`` shares' scratch for chunks of up to K rows, in recycled memory:
    ``_loops.chunk_grads``' buf (flat room for the panels of its widest operand, NP·K·NR)
    and ``chunk_dx``'s dxs (K, NP_I·NR + NR), NP_I·NR the columns of W_ihᵀ's panels."""
    widest = max(x.shape[2], hs.shape[2], hq.shape[2], ms.shape[2])
    return (_buffers.empty((parts, math.prod(panels_shape(widest, K, x.dtype))), x.dtype),
            _padded(parts, K, witp.shape[0] * witp.shape[2], x.dtype))


def _zeros(shape, dtype):
    """Zeros in recycled memory (``_buffers``)."""
    out = _buffers.empty(shape, dtype)
    out.fill(0)
    return out


def _sum(partials, shape):
    """Σ over the shares of partials (parts, ...) cut to ``shape`` (their padding dropped)."""
    cut = partials[(slice(None), *(slice(0, n) for n in shape))]
    return np.sum(cut, axis=0, out=_buffers.empty(shape, partials.dtype))
