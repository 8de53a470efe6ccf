"""One time step of RNN, LSTM and GRU, forward and backward, each as ONE fused kernel
(two for the GRU with reset_after=False and for the LSTM with a projection, below), and
the persistent kernels that run every step in one launch.

Forward step t. A block owns a tile of STEP_BM batch rows × STEP_BN hidden
units and computes, with ``gate_tile_product``, the recurrent product
gh = h_{t−1} W_hhᵀ for every gate of those units (the G gate columns of unit j
are j, H + j, ..., so the tile gathers them side by side). Each thread then
owns its (b, j) units with all their gates in registers and applies the cell:
biases, the hoisted input projection ``xw[t]``, gates, state update, y[t],
masking. The gate activations overwrite ``xw[t]`` in place (read and written
by the same thread), so the tape costs no extra buffer.

Backward step t (walking time in reverse). The tile product is
da[t+1] W_hh for the block's (b, j): the part of dL/dh_t that flows back
through W_hh from step t+1 (da[T] = 0). Adding the carried rest ``dh`` (0 for
RNN and LSTM, dh_{t+1} ⊙ z for the GRU) and dy[t] gives dh_t; the cell's gate
gradients go to da[t] and the rest for step t−1 back to ``dh``.

Masking: at t ≥ lengths[b] the forward writes y[t, b] = 0 and copies the
state; the backward writes zero gate gradients and passes dh (and dc) through.

Blocks walk the tiles grid-stride, so any grid size covers any (B, H): one
launch per step (``*_step_kernel``), or one launch for all steps
(``*_persistent_kernel``: a cooperative launch of at most as many blocks as can
be resident, with a grid-wide barrier between steps). Between steps every
block needs all of h_{t−1} (or da[t+1]): that barrier is the kernel boundary
or ``grid.sync()``. Each kernel allocates its block's shared tiles
(``shared_tiles``) once and hands them to the step functions it calls: NVVM
refuses a kernel in which two device functions each declare them (the
two-phase persistent kernels below would: "symbol multiply defined").

The GRU with reset_after=False ("reset before": n = act(gi_n + (r ⊙ h_{t−1})
W_hnᵀ + b_hn)) needs r of every unit of a row before the n block's recurrent
product, so each of its steps is TWO fused kernels, with the same barrier
(kernel boundary, or ``grid.sync()`` in its persistent kernel) between them:

    forward   1 ``gru_before_rz``: gh_{r,z} = h_{t−1} W_h{r,z}ᵀ for the tile; r, z;
                q = r ⊙ h_{t−1} into the tape's ghn[t]
              2 ``gru_before_n``: q W_hnᵀ for the tile; n, h_t, y[t]
    backward  1 ``gru_before_grad_zn``: [da_r da_z][t+1] W_h{r,z} for the tile (the
                rest of dh_t: dh_{t+1} ⊙ z + dq ⊙ r is carried in ``dh``); da_n, da_z
              2 ``gru_before_grad_r``: dq = da_n[t] W_hn for the tile; da_r = dq ⊙
                h_{t−1} σ'(r); dh += dq ⊙ r

Its gate gradients are the same on the input and the recurrent side, kept as
da (T+1, B, 2H) = [da_r da_z] and dan (T, B, H) = da_n, so that every GEMM
after the loop reads a whole contiguous array.

The LSTM with a projection (PyTorch's proj_size: w_hr (P, H), P < H; h and y
have P units, c and the gates H; w_hh is (4H, P)) needs m_t = o ⊙ act(c_t) of
every unit of a row before h_t = m_t W_hrᵀ, and h_t before the next step, so
its steps are two fused kernels too ("lstm_proj"), with the same barriers:

    forward   1 ``lstm_proj_cell``: h_{t−1} W_hhᵀ (K = P) for the (B, H) tile; the
                cell (``lstm_step``, as without a projection); m_t into ms[t]
              2 ``lstm_proj_h``: m_t W_hrᵀ (K = H) for the (B, P) tile: h_t, y[t]
    backward  1 ``lstm_proj_grad_h``: dh_t = dh + da[t+1] W_hh + dy[t] (K = 4H) for
                the (B, P) tile, into dhs[t] (the driver's dW_hr = dhsᵀ ms)
              2 ``lstm_proj_grad_cell``: dm = dh_t W_hr (K = P) for the (B, H) tile;
                the gate gradients (``lstm_grad_step``, as without a projection)

One step function serves the LSTM with and without a projection in each
direction: it tells them apart by the state's width (hs or dh has P < H units
of cs with a projection), a uniform run-time branch. ms and dhs are 0 on
finished rows.

Constants are float32 (0, 1, 1/2 and 6 are exact), so compiled float32
kernels stay float32 and float64 kernels promote them exactly. The simulator
runs these functions as Python, where ``math.exp`` returns a Python float that
NumPy 2 would demote to float32 next to a float32 constant: there the
constants are Python floats (every step in double, stored in the array's
dtype). ``act`` is ACT_TANH or ACT_RELU; ``sig``, the gates' nonlinearity σ of
the LSTM and GRU, is SIG_SIGMOID or SIG_HARD (Keras 3's hard sigmoid
clip(a/6 + 1/2, 0, 1)): run-time codes, not compile-time specialisations.
"""
import math

import numpy as np
from numba import config, cuda

ACT_TANH, ACT_RELU = 0, 1
SIG_SIGMOID, SIG_HARD = 0, 1
ZERO, HALF, ONE, SIX = ((0.0, 0.5, 1.0, 6.0) if config.ENABLE_CUDASIM else
                        tuple(np.float32(v) for v in (0, 0.5, 1, 6)))

# The step tiles (compile-time constants, here so that the kernel cache, which
# follows this file, never pairs old tiles with a new launch configuration).
# Blocks of STEP_TY × STEP_TX threads; each thread owns STEP_RM batch rows ×
# STEP_RN hidden units with all their gates; K is walked in slabs of BK.
# Tiny under the simulator, so the tests run several tiles and every guard.
if config.ENABLE_CUDASIM:
    STEP_TX, STEP_TY, STEP_RM, STEP_RN, BK = 2, 2, 1, 2, 3
else:
    STEP_TX, STEP_TY, STEP_RM, STEP_RN, BK = 32, 4, 2, 1, 16
#: a tile: STEP_BM batch rows × STEP_BN hidden units, every gate of those units
STEP_BM, STEP_BN = STEP_TY * STEP_RM, STEP_TX * STEP_RN
#: the most gate blocks of a cell (LSTM)
MAX_GATES = 4
#: shared tiles keep k last, padded by one (shapes must be literal constants)
BK_PAD = BK + 1


@cuda.jit(device=True, cache=True)
def sigmoid(a):
    """σ(a) = 1 / (1 + e^{−a}), written so that e^{|a|} never overflows."""
    if a >= ZERO:
        return ONE / (ONE + math.exp(-a))
    e = math.exp(a)
    return e / (ONE + e)


@cuda.jit(device=True, cache=True)
def gate(a, sig):
    """σ(a): the sigmoid, or the hard sigmoid clip(a/6 + 1/2, 0, 1) (NaN stays NaN, as np.clip)."""
    if sig == SIG_SIGMOID:
        return sigmoid(a)
    s = a / SIX + HALF
    if s <= ZERO:
        return ZERO
    if s >= ONE:
        return ONE
    return s


@cuda.jit(device=True, cache=True)
def gate_grad(d, s, sig):
    """d σ'(a) from s = σ(a): d s (1 − s); for the hard sigmoid d/6 where 0 < s < 1, else d·0."""
    if sig == SIG_SIGMOID:
        return d * s * (ONE - s)
    if s > ZERO and s < ONE:
        return d / SIX
    return d * ZERO


@cuda.jit(device=True, cache=True)
def activate(a, act):
    """tanh(a) or relu(a); relu(NaN) is NaN, as the reference's np.maximum(a, 0)."""
    if act == ACT_TANH:
        return math.tanh(a)
    return ZERO if a <= ZERO else a


@cuda.jit(device=True, cache=True)
def activation_grad(y, act):
    """act'(a) from y = act(a): 1 − y² for tanh, [y > 0] for relu."""
    if act == ACT_TANH:
        return ONE - y * y
    return ONE if y > ZERO else ZERO


@cuda.jit(device=True, cache=True)
def gate_tile_product(a, w, gate_rows, G, H, row0, col0, acc, a_tile, w_tile):
    """acc[r, s, g] = Σ_k a[row0 + ty + r·STEP_TY, k] · W[k, g·H + col0 + tx + s·STEP_TX].

    a (M, K); W = wᵀ with w (G·H, K) when ``gate_rows`` (forward: h W_hhᵀ, G gates
    of each unit side by side), else W = w (K, H) and G = 1 (backward: da W_hh).
    a_tile (STEP_BM, BK_PAD) and w_tile (MAX_GATES, STEP_BN, BK_PAD) are the block's
    shared memory, k last and padded so that neither the loads along k nor the
    reads across units collide in a bank; every thread of the block must call this
    (it synchronises).
    """
    M, K = a.shape
    zero = acc.dtype.type(0)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    tid, nthreads = ty * STEP_TX + tx, STEP_TX * STEP_TY
    for r in range(STEP_RM):
        for s in range(STEP_RN):
            for g in range(MAX_GATES):
                acc[r, s, g] = zero
    for k0 in range(0, K, BK):
        # a_tile[i, k] = a[row0 + i, k0 + k], consecutive threads along a row
        for e in range(tid, BK * STEP_BM, nthreads):
            i, k = e // BK, e % BK
            v = zero
            if row0 + i < M and k0 + k < K:
                v = a[row0 + i, k0 + k]
            a_tile[i, k] = v
        # w_tile[g, j, k] = W[k0 + k, g·H + col0 + j], reading along w's rows
        for e in range(tid, BK * G * STEP_BN, nthreads):
            if gate_rows:
                k, gj = e % BK, e // BK
                g, j = gj // STEP_BN, gj % STEP_BN
            else:
                k, g, j = e // STEP_BN, 0, e % STEP_BN
            v = zero
            if col0 + j < H and k0 + k < K:
                v = w[g * H + col0 + j, k0 + k] if gate_rows else w[k0 + k, col0 + j]
            w_tile[g, j, k] = v
        cuda.syncthreads()
        for k in range(BK):
            for r in range(STEP_RM):
                a_rk = a_tile[ty + r * STEP_TY, k]
                for s in range(STEP_RN):
                    for g in range(MAX_GATES):
                        if g < G:
                            acc[r, s, g] += a_rk * w_tile[g, tx + s * STEP_TX, k]
        cuda.syncthreads()


@cuda.jit(device=True, cache=True)
def tile_count(B, H):
    """Number of STEP_BM × STEP_BN tiles covering (B, H)."""
    return ((B + STEP_BM - 1) // STEP_BM) * ((H + STEP_BN - 1) // STEP_BN)


@cuda.jit(device=True, cache=True)
def tile_origin(tile, H):
    """First batch row and first hidden unit of tile number ``tile``."""
    per_row = (H + STEP_BN - 1) // STEP_BN
    return (tile // per_row) * STEP_BM, (tile % per_row) * STEP_BN


@cuda.jit(device=True, cache=True)
def owned_unit(row0, col0, r, s):
    """(b, j) of this thread's accumulator (r, s) in the tile at (row0, col0)."""
    return row0 + cuda.threadIdx.y + r * STEP_TY, col0 + cuda.threadIdx.x + s * STEP_TX


@cuda.jit(device=True, cache=True)
def shared_tiles(dtype):
    """The block's shared-memory tiles for ``gate_tile_product``."""
    return (cuda.shared.array((STEP_BM, BK_PAD), dtype),
            cuda.shared.array((MAX_GATES, STEP_BN, BK_PAD), dtype))


# ------------------------------------------------------------------ forward: one unit

@cuda.jit(device=True, cache=True)
def output_unit(t, b, j, h, lengths, y, hs):
    """h_t = h: into y[t] and hs[t+1] on a running row; on a finished one y[t] = 0 and
    hs[t+1] = hs[t] (the state is kept, h is not read)."""
    if t < lengths[b]:
        y[t, b, j] = h
        hs[t + 1, b, j] = h
    else:
        y[t, b, j] = ZERO
        hs[t + 1, b, j] = hs[t, b, j]


@cuda.jit(device=True, cache=True)
def rnn_unit(t, b, j, gh, xw, b_ih, b_hh, lengths, act, y, hs):
    """h_t = act(xw[t] + b_ih + gh + b_hh) for unit (b, j), into y[t] and hs[t+1]."""
    h = ZERO
    if t < lengths[b]:
        h = activate(xw[t, b, j] + b_ih[j] + gh + b_hh[j], act)
    output_unit(t, b, j, h, lengths, y, hs)


@cuda.jit(device=True, cache=True)
def lstm_unit(t, b, j, gh_i, gh_f, gh_g, gh_o, xw, b_ih, b_hh, lengths, act, sig, out, hs, cs):
    """Gates i, f, g, o; c_t = f c + i g; m_t = o act(c_t). xw (T,B,4H) ← [i f g o];
    cs (T+1,B,H) ← c_t (c_{t−1} kept on a finished row).

    Without a projection (hs has the H units of cs) h_t = m_t, into out = y and hs
    (``output_unit``). With one (hs (T+1,B,P), P < H) m_t goes to out = ms (T,B,H), 0 on a
    finished row, for the step's second phase, h_t = m_t W_hrᵀ (``lstm_project_step``).
    """
    H = cs.shape[2]
    c_prev = cs[t, b, j]
    m = ZERO
    if t < lengths[b]:
        i = gate(xw[t, b, j] + b_ih[j] + gh_i + b_hh[j], sig)
        f = gate(xw[t, b, H + j] + b_ih[H + j] + gh_f + b_hh[H + j], sig)
        g = activate(xw[t, b, 2 * H + j] + b_ih[2 * H + j] + gh_g + b_hh[2 * H + j], act)
        o = gate(xw[t, b, 3 * H + j] + b_ih[3 * H + j] + gh_o + b_hh[3 * H + j], sig)
        xw[t, b, j], xw[t, b, H + j], xw[t, b, 2 * H + j], xw[t, b, 3 * H + j] = i, f, g, o
        # c' = f c + i g ;  m' = o act(c')
        c = f * c_prev + i * g
        m = o * activate(c, act)
        cs[t + 1, b, j] = c
    else:
        cs[t + 1, b, j] = c_prev
    if hs.shape[2] == H:
        output_unit(t, b, j, m, lengths, out, hs)
    else:
        out[t, b, j] = m


@cuda.jit(device=True, cache=True)
def gru_unit(t, b, j, gh_r, gh_z, gh_n_raw, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n):
    """r, z = σ(gi + gh); n = act(gi_n + r gh_n); h_t = (1 − z) n + z h_{t−1} (reset after).

    gi = xw[t] + b_ih, gh = (gh_r, gh_z, gh_n_raw) + b_hh; xw (T,B,3H) ← [r z n];
    gh_n (T,B,H) ← gh's n block.
    """
    H = hs.shape[2]
    h = ZERO
    if t < lengths[b]:
        r = gate(xw[t, b, j] + b_ih[j] + gh_r + b_hh[j], sig)
        z = gate(xw[t, b, H + j] + b_ih[H + j] + gh_z + b_hh[H + j], sig)
        ghn = gh_n_raw + b_hh[2 * H + j]
        n = activate(xw[t, b, 2 * H + j] + b_ih[2 * H + j] + r * ghn, act)
        xw[t, b, j], xw[t, b, H + j], xw[t, b, 2 * H + j] = r, z, n
        gh_n[t, b, j] = ghn
        # h' = (1 - z) n + z h
        h = (ONE - z) * n + z * hs[t, b, j]
    output_unit(t, b, j, h, lengths, y, hs)


@cuda.jit(device=True, cache=True)
def gru_before_rz_unit(t, b, j, gh_r, gh_z, xw, b_ih, b_hh, lengths, sig, hs, q):
    """Reset-before phase 1: r, z = σ(gi + gh); q = r h_{t−1}. xw (T,B,3H) ← [r z ·]; q (T,B,H).

    q is 0 on a finished row (its r is not computed), so that the weight gradient
    Σ da_nᵀ q, where that row's da_n is 0, reads finite numbers only.
    """
    H = hs.shape[2]
    if t < lengths[b]:
        r = gate(xw[t, b, j] + b_ih[j] + gh_r + b_hh[j], sig)
        z = gate(xw[t, b, H + j] + b_ih[H + j] + gh_z + b_hh[H + j], sig)
        xw[t, b, j], xw[t, b, H + j] = r, z
        q[t, b, j] = r * hs[t, b, j]
    else:
        q[t, b, j] = ZERO


@cuda.jit(device=True, cache=True)
def gru_before_n_unit(t, b, j, qw, xw, b_ih, b_hh, lengths, act, y, hs):
    """Reset-before phase 2: n = act(gi_n + qw + b_hn), qw = q W_hnᵀ; h_t = (1 − z) n + z h_{t−1}.

    z from phase 1 in xw[t]; xw (T,B,3H) ← [r z n].
    """
    H = hs.shape[2]
    h = ZERO
    if t < lengths[b]:
        z = xw[t, b, H + j]
        n = activate(xw[t, b, 2 * H + j] + b_ih[2 * H + j] + qw + b_hh[2 * H + j], act)
        xw[t, b, 2 * H + j] = n
        # h' = (1 - z) n + z h
        h = (ONE - z) * n + z * hs[t, b, j]
    output_unit(t, b, j, h, lengths, y, hs)


# ------------------------------------------------------------------ backward: one unit

@cuda.jit(device=True, cache=True)
def rnn_grad_unit(t, b, j, dh_t, act, dh, da, hs):
    """da[t] = dh_t act'(h_t); dh ← 0 (everything else flows through W_hh)."""
    da[t, b, j] = dh_t * activation_grad(hs[t + 1, b, j], act)
    dh[b, j] = ZERO


@cuda.jit(device=True, cache=True)
def lstm_grad_unit(t, b, j, dm, act, sig, da, gates, cs, dc):
    """From dm = dL/dm_t (dh_t, or dh_t W_hr with a projection): gate gradients into da[t]
    (T+1,B,4H); dc ← dc_t f. gates (T,B,4H) = [i f g o], cs (T+1,B,H)."""
    H = cs.shape[2]
    i, f = gates[t, b, j], gates[t, b, H + j]
    g, o = gates[t, b, 2 * H + j], gates[t, b, 3 * H + j]
    act_c = activate(cs[t + 1, b, j], act)
    # m = o act(c): do = dm act(c); dc += dm o act'(c)
    do = dm * act_c
    dc_t = dc[b, j] + dm * o * activation_grad(act_c, act)
    # c = f c_prev + i g, then through the gate nonlinearities
    da[t, b, j] = gate_grad(dc_t * g, i, sig)
    da[t, b, H + j] = gate_grad(dc_t * cs[t, b, j], f, sig)
    da[t, b, 2 * H + j] = dc_t * i * activation_grad(g, act)
    da[t, b, 3 * H + j] = gate_grad(do, o, sig)
    dc[b, j] = dc_t * f


@cuda.jit(device=True, cache=True)
def carry_grad(t, b, j, dh_in, dy, lengths, dh):
    """dh_t = dh_in + dy[t] on a running row, returned (dh ← 0: all of it goes into this
    step's gates); on a finished row 0, and dh ← dh_in passes on to step t−1."""
    if t < lengths[b]:
        dh[b, j] = ZERO
        return dh_in + dy[t, b, j]
    dh[b, j] = dh_in
    return ZERO


@cuda.jit(device=True, cache=True)
def gru_grad_unit(t, b, j, dh_t, act, sig, dh, da, gates, hs, gh_n, dgi):
    """Gate gradients: dgi[t] (input side, (T,B,3H)) and da[t] (recurrent side); dh ← dh_t z.

    They differ in the n block: dgi_n = da_n, recurrent da_n r. gates (T,B,3H) = [r z n].
    """
    H = dh.shape[1]
    r, z, n = gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j]
    # h = (1 - z) n + z h_prev
    da_n = dh_t * (ONE - z) * activation_grad(n, act)
    da_z = gate_grad(dh_t * (hs[t, b, j] - n), z, sig)
    # n = act(gi_n + r gh_n)
    da_r = gate_grad(da_n * gh_n[t, b, j], r, sig)
    dgi[t, b, j], dgi[t, b, H + j], dgi[t, b, 2 * H + j] = da_r, da_z, da_n
    da[t, b, j], da[t, b, H + j], da[t, b, 2 * H + j] = da_r, da_z, da_n * r
    dh[b, j] = dh_t * z


@cuda.jit(device=True, cache=True)
def gru_before_grad_zn_unit(t, b, j, dh_t, act, sig, dh, da, gates, hs, dan):
    """Reset-before phase 1: da_n → dan[t] (T,B,H), da_z → da[t] (T+1,B,2H); dh ← dh_t z."""
    H = dh.shape[1]
    z, n = gates[t, b, H + j], gates[t, b, 2 * H + j]
    # h = (1 - z) n + z h_prev
    dan[t, b, j] = dh_t * (ONE - z) * activation_grad(n, act)
    da[t, b, H + j] = gate_grad(dh_t * (hs[t, b, j] - n), z, sig)
    dh[b, j] = dh_t * z


@cuda.jit(device=True, cache=True)
def gru_before_grad_r_unit(t, b, j, dq, sig, dh, da, gates, hs):
    """Reset-before phase 2, dq = da_n[t] W_hn: da_r = dq h_{t−1} σ'(r) → da[t]; dh += dq r."""
    r = gates[t, b, j]
    # n = act(gi_n + q W_hnᵀ + b_hn), q = r h_prev
    da[t, b, j] = gate_grad(dq * hs[t, b, j], r, sig)
    dh[b, j] += dq * r


@cuda.jit(device=True, cache=True)
def masked_grad(t, b, j, G, da):
    """A finished step: zero gate gradients in da[t] for unit (b, j); dh, dc pass through."""
    H = da.shape[2] // G
    for k in range(G):
        da[t, b, k * H + j] = ZERO


# ------------------------------------------------------------------ steps: a grid over tiles
# Each step function walks its block's tiles: the tile product, then the units.

@cuda.jit(device=True, cache=True)
def rnn_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, a_tile, w_tile):
    B, H = hs.shape[1], hs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), y.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(hs[t], w_hh, True, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    rnn_unit(t, b, j, acc[r, s, 0], xw, b_ih, b_hh, lengths, act, y, hs)


@cuda.jit(device=True, cache=True)
def lstm_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, out, hs, cs, a_tile, w_tile):
    """h_{t−1} W_hhᵀ (K = P) for tiles of (B, H), then the cell: h_t into out = y and hs, or,
    with a projection, phase 1: m_t into out = ms (``lstm_unit``)."""
    B, H = cs.shape[1], cs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), cs.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(hs[t], w_hh, True, 4, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    lstm_unit(t, b, j, acc[r, s, 0], acc[r, s, 1], acc[r, s, 2], acc[r, s, 3],
                              xw, b_ih, b_hh, lengths, act, sig, out, hs, cs)


@cuda.jit(device=True, cache=True)
def lstm_project_step(t, w_hr, lengths, y, hs, ms, a_tile, w_tile):
    """Projection phase 2 (after every ms[t] of phase 1): h_t = m_t W_hrᵀ (K = H) for tiles of
    (B, P), into y[t] and hs[t+1] (``output_unit``). w_hr (P,H), hs (T+1,B,P), ms (T,B,H)."""
    B, P = hs.shape[1], hs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), hs.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, P), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, P)
        gate_tile_product(ms[t], w_hr, True, 1, P, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < P:
                    output_unit(t, b, j, acc[r, s, 0], lengths, y, hs)


@cuda.jit(device=True, cache=True)
def gru_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n, a_tile, w_tile):
    B, H = hs.shape[1], hs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), y.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(hs[t], w_hh, True, 3, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    gru_unit(t, b, j, acc[r, s, 0], acc[r, s, 1], acc[r, s, 2],
                             xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n)


@cuda.jit(device=True, cache=True)
def gru_before_rz_step(t, w_hh, xw, b_ih, b_hh, lengths, sig, hs, q, a_tile, w_tile):
    """Phase 1: h_{t−1} W_h{r,z}ᵀ (the first two gate blocks of w_hh), then r, z, q."""
    B, H = hs.shape[1], hs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), hs.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(hs[t], w_hh, True, 2, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    gru_before_rz_unit(t, b, j, acc[r, s, 0], acc[r, s, 1], xw, b_ih, b_hh,
                                       lengths, sig, hs, q)


@cuda.jit(device=True, cache=True)
def gru_before_n_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, q, a_tile, w_tile):
    """Phase 2 (after every q[t] of phase 1): q W_hnᵀ, then n, h_t, y[t]."""
    B, H = hs.shape[1], hs.shape[2]
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), y.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(q[t], w_hh[2 * H:], True, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    gru_before_n_unit(t, b, j, acc[r, s, 0], xw, b_ih, b_hh, lengths, act,
                                      y, hs)


@cuda.jit(device=True, cache=True)
def rnn_grad_step(t, w_hh, dy, lengths, act, dh, da, hs, a_tile, w_tile):
    B, H = dh.shape
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        # da[t+1] W_hh: what flows back into h_t through the next step
        gate_tile_product(da[t + 1], w_hh, False, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    dh_in = dh[b, j] + acc[r, s, 0]
                    if t < lengths[b]:
                        rnn_grad_unit(t, b, j, dh_in + dy[t, b, j], act, dh, da, hs)
                    else:
                        masked_grad(t, b, j, 1, da)
                        dh[b, j] = dh_in


@cuda.jit(device=True, cache=True)
def lstm_grad_step(t, a, w, dy, lengths, act, sig, dh, da, gates, cs, dc, a_tile, w_tile):
    """The product a w for tiles of (B, H), then the cell's gate gradients (``lstm_grad_unit``).

    Without a projection (dh (B,H)) a = da[t+1], w = w_hh: dm = dh_t = dh + a w + dy[t]
    (``carry_grad``). With one (dh (B,P), P < H), phase 2: a = dhs[t] (dh_t from phase 1),
    w = w_hr: dm = dh_t W_hr, and dh is not touched.
    """
    B, H = cs.shape[1], cs.shape[2]
    project = dh.shape[1] < H
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(a, w, False, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    dm = acc[r, s, 0]
                    if not project:
                        dm = carry_grad(t, b, j, dh[b, j] + dm, dy, lengths, dh)
                    if t < lengths[b]:
                        lstm_grad_unit(t, b, j, dm, act, sig, da, gates, cs, dc)
                    else:
                        masked_grad(t, b, j, 4, da)


@cuda.jit(device=True, cache=True)
def lstm_grad_h_step(t, w_hh, dy, lengths, dh, da, dhs, a_tile, w_tile):
    """Projection phase 1: dh_t = dh + da[t+1] W_hh + dy[t] (K = 4H) for tiles of (B, P), into
    dhs[t] (T,B,P): 0 on a finished row, whose dh passes on (``carry_grad``)."""
    B, P = dh.shape
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, P), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, P)
        gate_tile_product(da[t + 1], w_hh, False, 1, P, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < P:
                    dhs[t, b, j] = carry_grad(t, b, j, dh[b, j] + acc[r, s, 0], dy, lengths, dh)


@cuda.jit(device=True, cache=True)
def gru_grad_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, gh_n, dgi, a_tile, w_tile):
    B, H = dh.shape
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(da[t + 1], w_hh, False, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    dh_in = dh[b, j] + acc[r, s, 0]
                    if t < lengths[b]:
                        gru_grad_unit(t, b, j, dh_in + dy[t, b, j], act, sig, dh, da,
                                      gates, hs, gh_n, dgi)
                    else:
                        masked_grad(t, b, j, 3, da)
                        masked_grad(t, b, j, 3, dgi)
                        dh[b, j] = dh_in


@cuda.jit(device=True, cache=True)
def gru_before_grad_zn_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan, a_tile,
                            w_tile):
    """Phase 1: [da_r da_z][t+1] W_h{r,z} (da (T+1,B,2H): K = 2H rows of w_hh), then da_z, da_n."""
    B, H = dh.shape
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(da[t + 1], w_hh, False, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H:
                    dh_in = dh[b, j] + acc[r, s, 0]
                    if t < lengths[b]:
                        gru_before_grad_zn_unit(t, b, j, dh_in + dy[t, b, j], act, sig, dh, da,
                                                gates, hs, dan)
                    else:
                        masked_grad(t, b, j, 2, da)
                        dan[t, b, j] = ZERO
                        dh[b, j] = dh_in


@cuda.jit(device=True, cache=True)
def gru_before_grad_r_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan, a_tile,
                           w_tile):
    """Phase 2 (after every da_n[t] of phase 1): dq = da_n[t] W_hn, then da_r and dh += dq r."""
    B, H = dh.shape
    acc = cuda.local.array((STEP_RM, STEP_RN, MAX_GATES), dh.dtype)
    for tile in range(cuda.blockIdx.x, tile_count(B, H), cuda.gridDim.x):
        row0, col0 = tile_origin(tile, H)
        gate_tile_product(dan[t], w_hh[2 * H:], False, 1, H, row0, col0, acc, a_tile, w_tile)
        for r in range(STEP_RM):
            for s in range(STEP_RN):
                b, j = owned_unit(row0, col0, r, s)
                if b < B and j < H and t < lengths[b]:
                    gru_before_grad_r_unit(t, b, j, acc[r, s, 0], sig, dh, da, gates, hs)


# ------------------------------------------------------------------ kernels
# *_step_kernel: one step (or one phase of a step) per launch. *_persistent_kernel:
# every step in one cooperative launch, steps (and phases) separated by a grid-wide
# barrier. The phases of a step take the same arguments, so the driver launches
# them alike.

@cuda.jit(cache=True)
def rnn_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs):
    """Forward step t: xw (T,B,H), y (T,B,H), hs (T+1,B,H)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    rnn_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, a_tile, w_tile)


@cuda.jit(cache=True)
def lstm_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs):
    """Forward step t: xw (T,B,4H), y (T,B,H), hs and cs (T+1,B,H)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    lstm_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs, a_tile, w_tile)


@cuda.jit(cache=True)
def lstm_proj_cell_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs, w_hr, ms):
    """Forward step t with a projection, phase 1: gates into xw[t] (T,B,4H), c_t into cs[t+1]
    (T+1,B,H), m_t into ms[t] (T,B,H)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    lstm_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, ms, hs, cs, a_tile, w_tile)


@cuda.jit(cache=True)
def lstm_proj_h_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs, w_hr, ms):
    """Forward step t with a projection, phase 2: h_t = m_t W_hrᵀ into hs[t+1] (T+1,B,P) and
    y[t] (T,B,P)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    lstm_project_step(t, w_hr, lengths, y, hs, ms, a_tile, w_tile)


@cuda.jit(cache=True)
def gru_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n):
    """Forward step t (reset after): xw (T,B,3H), y (T,B,H), hs (T+1,B,H), gh_n (T,B,H)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    gru_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n, a_tile, w_tile)


@cuda.jit(cache=True)
def gru_before_rz_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, q):
    """Forward step t (reset before), phase 1: r, z into xw[t] (T,B,3H), q[t] = r h_{t−1}."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    gru_before_rz_step(t, w_hh, xw, b_ih, b_hh, lengths, sig, hs, q, a_tile, w_tile)


@cuda.jit(cache=True)
def gru_before_n_step_kernel(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, q):
    """Forward step t (reset before), phase 2: n into xw[t], h_t into hs[t+1] and y[t]."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    gru_before_n_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, q, a_tile, w_tile)


@cuda.jit(cache=True)
def rnn_grad_step_kernel(t, w_hh, dy, lengths, act, dh, da, hs):
    """Backward step t: dy (T,B,H), dh (B,H), da (T+1,B,H), hs (T+1,B,H)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    rnn_grad_step(t, w_hh, dy, lengths, act, dh, da, hs, a_tile, w_tile)


@cuda.jit(cache=True)
def lstm_grad_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc):
    """Backward step t: da (T+1,B,4H), gates (T,B,4H), cs (T+1,B,H), dh and dc (B,H)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    lstm_grad_step(t, da[t + 1], w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc, a_tile,
                   w_tile)


@cuda.jit(cache=True)
def lstm_proj_grad_h_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc, w_hr,
                                 dhs):
    """Backward step t with a projection, phase 1: dh_t into dhs[t] (T,B,P); dh (B,P)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    lstm_grad_h_step(t, w_hh, dy, lengths, dh, da, dhs, a_tile, w_tile)


@cuda.jit(cache=True)
def lstm_proj_grad_cell_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc, w_hr,
                                    dhs):
    """Backward step t with a projection, phase 2: dm = dhs[t] W_hr, gate gradients into da[t]
    (T+1,B,4H), dc (B,H) ← dc_t f."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    lstm_grad_step(t, dhs[t], w_hr, dy, lengths, act, sig, dh, da, gates, cs, dc, a_tile,
                   w_tile)


@cuda.jit(cache=True)
def gru_grad_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, gh_n, dgi):
    """Backward step t (reset after): da (T+1,B,3H), dgi and gates (T,B,3H), hs (T+1,B,H),
    gh_n (T,B,H)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    gru_grad_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, gh_n, dgi, a_tile,
                  w_tile)


@cuda.jit(cache=True)
def gru_before_grad_zn_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan):
    """Backward step t (reset before), phase 1: da (T+1,B,2H) ← da_z, dan (T,B,H) ← da_n."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    gru_before_grad_zn_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan,
                            a_tile, w_tile)


@cuda.jit(cache=True)
def gru_before_grad_r_step_kernel(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan):
    """Backward step t (reset before), phase 2: da ← da_r, dh += dq r."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    gru_before_grad_r_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan,
                           a_tile, w_tile)


@cuda.jit(cache=True)
def rnn_persistent_kernel(T, w_hh, xw, b_ih, b_hh, lengths, act, y, hs):
    """Forward steps 0..T−1 in one launch."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T):
        rnn_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def lstm_persistent_kernel(T, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs):
    """Forward steps 0..T−1 in one launch."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T):
        lstm_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def lstm_proj_persistent_kernel(T, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, cs, w_hr, ms):
    """Forward steps 0..T−1 in one launch (a projection: two phases a step)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T):
        lstm_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, ms, hs, cs, a_tile, w_tile)
        grid.sync()
        lstm_project_step(t, w_hr, lengths, y, hs, ms, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def gru_persistent_kernel(T, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n):
    """Forward steps 0..T−1 in one launch (reset after)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T):
        gru_step(t, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, gh_n, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def gru_before_persistent_kernel(T, w_hh, xw, b_ih, b_hh, lengths, act, sig, y, hs, q):
    """Forward steps 0..T−1 in one launch (reset before: two phases a step)."""
    a_tile, w_tile = shared_tiles(hs.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T):
        gru_before_rz_step(t, w_hh, xw, b_ih, b_hh, lengths, sig, hs, q, a_tile, w_tile)
        grid.sync()
        gru_before_n_step(t, w_hh, xw, b_ih, b_hh, lengths, act, y, hs, q, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def rnn_grad_persistent_kernel(T, w_hh, dy, lengths, act, dh, da, hs):
    """Backward steps T−1..0 in one launch."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T - 1, -1, -1):
        rnn_grad_step(t, w_hh, dy, lengths, act, dh, da, hs, a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def lstm_grad_persistent_kernel(T, w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc):
    """Backward steps T−1..0 in one launch."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T - 1, -1, -1):
        lstm_grad_step(t, da[t + 1], w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc,
                       a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def lstm_proj_grad_persistent_kernel(T, w_hh, dy, lengths, act, sig, dh, da, gates, cs, dc, w_hr,
                                     dhs):
    """Backward steps T−1..0 in one launch (a projection: two phases a step)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T - 1, -1, -1):
        lstm_grad_h_step(t, w_hh, dy, lengths, dh, da, dhs, a_tile, w_tile)
        grid.sync()
        lstm_grad_step(t, dhs[t], w_hr, dy, lengths, act, sig, dh, da, gates, cs, dc, a_tile,
                       w_tile)
        grid.sync()


@cuda.jit(cache=True)
def gru_grad_persistent_kernel(T, w_hh, dy, lengths, act, sig, dh, da, gates, hs, gh_n, dgi):
    """Backward steps T−1..0 in one launch (reset after)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T - 1, -1, -1):
        gru_grad_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, gh_n, dgi,
                      a_tile, w_tile)
        grid.sync()


@cuda.jit(cache=True)
def gru_before_grad_persistent_kernel(T, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan):
    """Backward steps T−1..0 in one launch (reset before: two phases a step)."""
    a_tile, w_tile = shared_tiles(dh.dtype)
    grid = cuda.cg.this_grid()
    for t in range(T - 1, -1, -1):
        gru_before_grad_zn_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan,
                                a_tile, w_tile)
        grid.sync()
        gru_before_grad_r_step(t, w_hh, dy, lengths, act, sig, dh, da, gates, hs, dan,
                               a_tile, w_tile)
        grid.sync()
