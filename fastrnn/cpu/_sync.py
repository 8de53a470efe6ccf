"""A barrier and atomics for our own threads inside Numba code: spin, then yield.

The "units" loop needs every thread's slice of h_t before any thread starts
step t + 1. An OpenMP fork/join per step makes the waiting threads spin
while a descheduled thread holds everyone up (on a shared machine: a whole
scheduler slice per step). Here a thread that has waited ``SPINS`` checks
calls ``sched_yield``, handing its core to whoever is runnable, our late
thread included.

    arrive(counter, target)   counter[0] += 1, then wait until counter[0] ≥ target
    relax(spins)              count one wait; past ``SPINS``, yield the core
    let_go(p, go)             share 0 of a ``_pool.run`` has begun: go[1] = go[0]

The atomics (int64 arrays, sequentially consistent unless said):
``atomic_add``, ``atomic_load`` (acquire), ``atomic_store`` (release),
``atomic_cas``.

Thread p's k-th barrier of a run waits for ``target = parts · k``, so one
counter serves a whole run without being reset. The increment is a
sequentially consistent atomic add, the wait an acquire load: everything a
thread wrote before it arrived is visible to every thread after it passes.
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: loads of the counter before a waiting thread starts yielding its core
SPINS = 2000


def _item_pointer(context, builder, sig, args):
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])


@intrinsic
def atomic_add(typingctx, array, index, value):
    """array[index] += value atomically (int64 array); returns the old value."""
    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", _item_pointer(context, builder, sig, args), args[2],
                                  "seq_cst")
    return types.int64(array, index, value), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """array[index] (int64 array), read with acquire ordering."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_item_pointer(context, builder, sig, args), "acquire", 8)
    return types.int64(array, index), codegen


@intrinsic
def atomic_store(typingctx, array, index, value):
    """array[index] = value (int64 array), written with release ordering."""
    def codegen(context, builder, sig, args):
        builder.store_atomic(args[2], _item_pointer(context, builder, sig, args), "release", 8)
        return context.get_dummy_value()
    return types.void(array, index, value), codegen


@intrinsic
def atomic_cas(typingctx, array, index, expected, value):
    """If array[index] == expected, array[index] = value, atomically (int64 array); returns
    the old value (so the swap happened if it equals ``expected``)."""
    def codegen(context, builder, sig, args):
        pair = builder.cmpxchg(_item_pointer(context, builder, sig, args), args[2], args[3],
                               "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)
    return types.int64(array, index, expected, value), codegen


@intrinsic
def sched_yield(typingctx):
    """The C library's sched_yield(): let another runnable thread have this core."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@njit(cache=True, nogil=True, inline="always")
def relax(spins):
    """One more check of a wait: returns spins + 1, after yielding the core past ``SPINS``."""
    if spins >= SPINS:
        sched_yield()
    return spins + 1


@njit(cache=True, nogil=True, inline="always")
def let_go(p, go):
    """The first act of share p of a kernel that ``_pool.run`` runs: share 0 marks its run
    (go[0]) as begun (go[1]). Its thread has let go of the GIL by then (the kernels are
    nogil), so the other shares' threads, which wait for this mark, then take the GIL at
    once instead of sleeping until it is released."""
    if p == 0:
        atomic_store(go, 1, atomic_load(go, 0))


@njit(cache=True, nogil=True)
def arrive(counter, target):
    """Count this thread in, then wait until ``target`` threads (over the run) have arrived."""
    atomic_add(counter, 0, 1)
    spins = 0
    while atomic_load(counter, 0) < target:
        spins = relax(spins)
