"""The fused pointwise gate kernels of one batch row, forward and backward, for every cell.

Each function works on one row b of one step t; the time loops in ``_loops``
call them. Row arguments (all 1-D, contiguous):

    gi (G·s,)  x_t W_ihᵀ of this row         gh (G·s,)  h_{t-1} W_hhᵀ (no bias)
    bias (G·H,) b_ih + b_hh (GRU: its n block is b_in alone)   b_hh (G·H,) (GRU: b_hn)
    hp (H,)    h_{t-1}                       hn (H,) out: h_t
    c (H,)     LSTM cell state, updated in place
    gates (G·H,) out, with ``tape``: gates after their nonlinearity (the tape's;
               the LSTM's ``store``: the tape's, or scratch)
    ghn (H,)   out, with ``tape``: GRU h W_hnᵀ + b_hn

``tape`` is a compile-time constant of the time loops (``_loops.specialize``):
the GRU's inference stores neither gates nor ghn. The LSTM's kernel stores its
gates whenever it has room for them (``lstm_units``: the time loops give it a
step of scratch in inference), since on Zen 5 that is the faster way.

Forward kernels cover the hidden units [j0, j1) so that threads can split a
row: gi and gh hold gate block g of those units at columns [g·s, g·s + j1 − j0)
(a whole row: j0 = 0, s = H; a share's own columns: s = the width of its
panels, so that one product per step writes all of its gate blocks; the RNN,
one block, ignores s), every other argument at g·H + j. Backward kernels
cover the whole row. The equations are those of ``fastrnn.reference``. Every
loop runs over ``range(n)`` on 1-D views of the gate blocks: with offset
indices (``H + j``) Numba's negative-index handling keeps LLVM from
vectorising.

Two things decide whether the vector code runs (measured, LSTM backward at
H = 128 over 1,792 rows): a run-time ``relu`` or ``hard`` flag inside a loop
left it 9 ns per unit instead of 2, so the time loops are compiled with the
default activations (tanh, σ) as constants (``_loops.specialize``; other
activations run with the flags as run-time values); and ``backward_row`` is
a function of its own, not inlined into the reverse walk, where LLVM widened
the loop's run-time aliasing checks to the whole walk, they failed, and the
scalar loop ran (6.6 ns per unit; 1.3 ms of pointwise work in the walk at
28,64,28,128 where it took 3.4). The forward's kernels are inlined into its
loops.
"""
from numba import njit

from ._math import act, dact, dgate, gate, one

RNN, LSTM, GRU = 0, 1, 2
JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False, fastmath={"contract"})


@njit(inline="always", **JIT)
def block(a, g, H, j0, j1):
    """Units [j0, j1) of gate block g of a row: a[g·H + j0 : g·H + j1] (a contiguous view)."""
    return a[g * H + j0:g * H + j1]


@njit(inline="always", **JIT)
def blocks3(a, H, j0, j1):
    """Units [j0, j1) of gate blocks 0, 1, 2."""
    return block(a, 0, H, j0, j1), block(a, 1, H, j0, j1), block(a, 2, H, j0, j1)


@njit(inline="always", **JIT)
def blocks4(a, H, j0, j1):
    """Units [j0, j1) of gate blocks 0, 1, 2, 3."""
    return (block(a, 0, H, j0, j1), block(a, 1, H, j0, j1), block(a, 2, H, j0, j1),
            block(a, 3, H, j0, j1))


@njit(inline="always", **JIT)
def rnn_units(relu, j0, j1, gi, gh, s, bias, hn):
    a, r, b, h = gi[:j1 - j0], gh[:j1 - j0], bias[j0:j1], hn[j0:j1]
    for j in range(j1 - j0):
        # h' = act(gi + gh + b_ih + b_hh)
        h[j] = act(a[j] + r[j] + b[j], relu)


@njit(inline="always", **JIT)
def lstm_gates(ai, af, ag, ao, relu, hard):
    """i, f, o = σ(a), g = act(a), a = gi + gh + b_ih + b_hh of each gate block."""
    return gate(ai, hard), gate(af, hard), act(ag, relu), gate(ao, hard)


@njit(inline="always", **JIT)
def lstm_cell(i, f, g, o, c, relu):
    """c' = f c + i g ;  h' = o act(c'): returns (c', h')."""
    cn = f * c + i * g
    return cn, o * act(cn, relu)


@njit(inline="always", **JIT)
def lstm_units(relu, hard, store, j0, j1, gi, gh, s, bias, hn, c, gates):
    """``store``: write the gates (the tape's, or the time loops' scratch in inference) in one
    pass, then read them back for c and h in a second: 1.1 ns a unit on Zen 5 (H = 128),
    where one pass that wrote them took 2.8 and one that did not 1.2 (the stream's step,
    which has no room for them)."""
    H = hn.shape[0]
    ai, af, ag, ao = blocks4(gi, s, 0, j1 - j0)
    ri, rf, rg, ro = blocks4(gh, s, 0, j1 - j0)
    bi, bf, bg, bo = blocks4(bias, H, j0, j1)
    ti, tf, tg, to = blocks4(gates, H, j0, j1)
    cc, h = c[j0:j1], hn[j0:j1]
    if store:
        for j in range(j1 - j0):
            ti[j], tf[j], tg[j], to[j] = lstm_gates(ai[j] + ri[j] + bi[j], af[j] + rf[j] + bf[j],
                                                    ag[j] + rg[j] + bg[j], ao[j] + ro[j] + bo[j],
                                                    relu, hard)
        for j in range(j1 - j0):
            cc[j], h[j] = lstm_cell(ti[j], tf[j], tg[j], to[j], cc[j], relu)
    else:
        for j in range(j1 - j0):
            i, f, g, o = lstm_gates(ai[j] + ri[j] + bi[j], af[j] + rf[j] + bf[j],
                                    ag[j] + rg[j] + bg[j], ao[j] + ro[j] + bo[j], relu, hard)
            cc[j], h[j] = lstm_cell(i, f, g, o, cc[j], relu)


@njit(inline="always", **JIT)
def gru_units(relu, hard, after, tape, j0, j1, gi, gh, s, bias, b_hh, hp, hn, gates, ghn):
    H = hn.shape[0]
    ar, az, an = blocks3(gi, s, 0, j1 - j0)
    rr, rz, rn = blocks3(gh, s, 0, j1 - j0)
    br, bz, bn = blocks3(bias, H, j0, j1)
    tr, tz, tn = blocks3(gates, H, j0, j1)
    bhn, tghn, h, hprev = block(b_hh, 2, H, j0, j1), ghn[j0:j1], hn[j0:j1], hp[j0:j1]
    for j in range(j1 - j0):
        # r, z = σ(gi + gh + b_ih + b_hh) ;  n = act(gi_n + b_in + r (gh_n + b_hn))
        r, z = gate(ar[j] + rr[j] + br[j], hard), gate(az[j] + rz[j] + bz[j], hard)
        if after:
            ghn_ = rn[j] + bhn[j]
            n = act(an[j] + bn[j] + r * ghn_, relu)
            if tape:
                tghn[j] = ghn_
        else:
            # reset before: gh_n is already (r ⊙ h) W_hnᵀ (``gru_reset``), b_hn folded in bias
            n = act(an[j] + bn[j] + rn[j], relu)
        # h' = (1 − z) n + z h
        h[j] = (one(z) - z) * n + z * hprev[j]
        if tape:
            tr[j], tz[j], tn[j] = r, z, n


@njit(inline="always", **JIT)
def gru_reset(hard, gi, gh, bias, hp, q):
    """The GRU without reset_after, before its n block's product: q = r ⊙ h_{t-1} (H,) of one
    row, from gh's r block (h_{t-1} W_hrᵀ)."""
    H = q.shape[0]
    ar, rr, br = block(gi, 0, H, 0, H), block(gh, 0, H, 0, H), block(bias, 0, H, 0, H)
    for j in range(H):
        q[j] = gate(ar[j] + rr[j] + br[j], hard) * hp[j]


@njit(inline="always", **JIT)
def forward_units(cell, relu, hard, after, tape, j0, j1, gi, gh, s, bias, b_hh, hp, hn, c,
                  gates, ghn):
    """h_t[j0:j1] of one row for ``cell`` (RNN, LSTM, GRU) (and the LSTM's c, in place);
    ``relu``: act is relu (else tanh), ``hard``: σ is the hard sigmoid (``_math.gate``),
    ``after``: the GRU's reset_after (else gh's n block is (r ⊙ h) W_hnᵀ, see ``gru_reset``),
    ``tape``: also write gates (and the GRU's ghn) for the backward; s: the stride of gi's
    and gh's gate blocks (module docstring).

    The stream's step, compiled for every cell, calls this. The time loops (``_loops``)
    choose their cell's kernel themselves, on their constant cell: inlining this, with all
    three kernels in it, and pruning two of them after cost 0.4-0.5 s of a first forward's
    compilation."""
    if cell == LSTM:
        lstm_units(relu, hard, tape, j0, j1, gi, gh, s, bias, hn, c, gates)
    elif cell == GRU:
        gru_units(relu, hard, after, tape, j0, j1, gi, gh, s, bias, b_hh, hp, hn, gates, ghn)
    else:
        rnn_units(relu, j0, j1, gi, gh, s, bias, hn)


@njit(inline="always", **JIT)
def rnn_back(relu, j0, j1, h, dy, dh, da):
    ht, dyt, dht, dat = h[j0:j1], dy[j0:j1], dh[j0:j1], da[j0:j1]
    for j in range(j1 - j0):
        # h = act(a)
        dat[j] = (dht[j] + dyt[j]) * dact(ht[j], relu)
        dht[j] = 0


@njit(inline="always", **JIT)
def lstm_back(relu, hard, j0, j1, gates, ct, cp, dy, dh, dc, da):
    H = dh.shape[0]
    i, f, g, o = blocks4(gates, H, j0, j1)
    di, df, dg, do = blocks4(da, H, j0, j1)
    ctu, cpu, dyu, dhu, dcu = ct[j0:j1], cp[j0:j1], dy[j0:j1], dh[j0:j1], dc[j0:j1]
    # two passes (dc holds dL/dc_t between them): each writes fewer arrays, and the two
    # ran at 1.2 ns a unit on Zen 5 where one took 3.0 (the same results, bit for bit)
    for j in range(j1 - j0):
        dht = dhu[j] + dyu[j]
        # h = o act(c): do = dh act(c);  dc += dh o act'(c)
        ac = act(ctu[j], relu)
        dcu[j] = dcu[j] + dht * o[j] * dact(ac, relu)
        do[j] = dht * ac * dgate(o[j], hard)
        dhu[j] = 0
    for j in range(j1 - j0):
        # c = f c_prev + i g, then through the gate nonlinearities
        dct = dcu[j]
        di[j] = dct * g[j] * dgate(i[j], hard)
        df[j] = dct * cpu[j] * dgate(f[j], hard)
        dg[j] = dct * i[j] * dact(g[j], relu)
        dcu[j] = dct * f[j]


@njit(inline="always", **JIT)
def gru_back(relu, hard, j0, j1, gates, ghn, hp, dy, dh, da, dgh):
    H = dh.shape[0]
    r, z, n = blocks3(gates, H, j0, j1)
    dr, dz, dn = blocks3(da, H, j0, j1)
    sr, sz, sn = blocks3(dgh, H, j0, j1)
    ghu, hpu, dyu, dhu = ghn[j0:j1], hp[j0:j1], dy[j0:j1], dh[j0:j1]
    # two passes (dn holds da_n between them), as ``lstm_back``
    for j in range(j1 - j0):
        dht = dhu[j] + dyu[j]
        # h = (1 − z) n + z h_prev ;  n = act(gi_n + r gh_n)
        dn[j] = dht * (one(z[j]) - z[j]) * dact(n[j], relu)
        dz[j] = dht * (hpu[j] - n[j]) * dgate(z[j], hard)
        sz[j] = dz[j]
        dhu[j] = dht * z[j]
    for j in range(j1 - j0):
        dan = dn[j]
        dr[j] = dan * ghu[j] * dgate(r[j], hard)
        sr[j], sn[j] = dr[j], dan * r[j]


@njit(**JIT)
def gru_back_before(relu, gates, hp, dy, dh, da, dgh):
    """The GRU without reset_after, first half of a BPTT row: da_n, dz, and dh = dh_t z.
    Leaves da's r block for ``gru_back_reset`` and dgh's n block 0 (the n block reaches h
    through q = r ⊙ h, not through W_hn: dW_hn = Σ da_nᵀ q comes from da)."""
    H = dh.shape[0]
    r, z, n = blocks3(gates, H, 0, H)
    dr, dz, dn = blocks3(da, H, 0, H)
    sr, sz, sn = blocks3(dgh, H, 0, H)
    for j in range(H):
        dht = dh[j] + dy[j]
        # h = (1 − z) n + z h_prev ;  n = act(gi_n + q W_hnᵀ + b_hn)
        dn[j] = dht * (one(z[j]) - z[j]) * dact(n[j], relu)
        dz[j] = dht * (hp[j] - n[j])
        dh[j] = dht * z[j]
        sn[j] = one(dn[j]) - one(dn[j])      # 0, even where dn is inf


@njit(**JIT)
def gru_back_reset(hard, gates, hp, dq, dh, da, dgh):
    """Second half: with dq = da_n W_hn (H,), dr = dq ⊙ h_prev, dh += dq ⊙ r, and the r, z
    blocks of da and dgh through σ."""
    H = dh.shape[0]
    r, z, n = blocks3(gates, H, 0, H)
    dr, dz, dn = blocks3(da, H, 0, H)
    sr, sz, sn = blocks3(dgh, H, 0, H)
    for j in range(H):
        dr[j] = dq[j] * hp[j] * dgate(r[j], hard)
        dz[j] = dz[j] * dgate(z[j], hard)
        dh[j] += dq[j] * r[j]
        sr[j], sz[j] = dr[j], dz[j]


@njit(**JIT)
def backward_row(cell, relu, hard, j0, j1, gates, ct, cp, ghn, hp, h, dy, dh, dc, da, dgh):
    """Gate gradients of units [j0, j1) of one valid row (BPTT step), from the tape rows and
    the carried dh, dc (the reverse walk split by units gives each share its own units).

    gates, ct = c_t, cp = c_{t-1}, ghn, hp = h_{t-1}, h = h_t: tape rows; dy (H,) this step's
    output gradient. Writes those units' columns of every gate block of da (G·H,) =
    dL/d(pre-activation) on the input side and of dgh on the recurrent side (the same array
    except for the GRU); leaves in dh[j0:j1] the part of dL/dh_{t-1} that bypasses W_hh (the
    caller adds dgh W_hh) and in dc[j0:j1] dL/dc_{t-1}.

    Not inlined, and compiled for the flags as constants: see the module docstring.
    """
    if cell == LSTM:
        lstm_back(relu, hard, j0, j1, gates, ct, cp, dy, dh, dc, da)
    elif cell == GRU:
        gru_back(relu, hard, j0, j1, gates, ghn, hp, dy, dh, da, dgh)
    else:
        rnn_back(relu, j0, j1, h, dy, dh, da)
