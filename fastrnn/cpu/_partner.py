"""A partner thread for a small kernel called over and over (the stream's step).

A call too short for ``_pool`` (its hand-off costs ~90 µs on a VM) can still be
split in two when a second thread is already running, waiting for it:

    partner = Partner(serve, args, keep)    the thread starts, asleep
    if partner.claim():       share 0 here; the partner runs share 1 (``serve``)
    else:                     the whole call here, then partner.wake()

The partner spins between calls for ``fastrnn.config.CPU_STREAM_SPIN_US``
(yielding its core past ``_sync.SPINS`` checks), then sleeps on an Event. A
call never waits for it to wake up: ``claim`` fails while it sleeps, the call
runs alone and wakes it, and back-to-back calls are split from the next one on.

Its state, ``ctrl`` int64 (4,), changed only atomically in Numba code:

    ctrl[GEN]      calls claimed so far; share 1 of call k runs when GEN reaches k
    ctrl[STATE]    AWAKE (spinning, ready), CLAIMED (a call is its to run) or ASLEEP
    ctrl[STOP]     1: the thread returns (the owner was collected)
    ctrl[COUNTER]  the shares' barrier counter (``_sync.arrive``; never reset)

``serve(ctrl_address, seen, spin_ns, *args)`` is the owner's Numba loop:
``while wait_call(ctrl, seen, spin_ns): seen += 1; <share 1>; done(ctrl)``;
it returns ``seen`` when the partner is to sleep or stop.
"""
import os
import threading
import time
import weakref

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import config
from ._sync import atomic_add, atomic_cas, atomic_load, atomic_store, relax

GEN, STATE, STOP, COUNTER = 0, 1, 2, 3
AWAKE, CLAIMED, ASLEEP = 0, 1, 2
_CLOCK = getattr(time, "CLOCK_MONOTONIC", 1)
_CHECKS_PER_CLOCK = 64        # spin checks between two readings of the clock


@intrinsic
def monotonic_ns(typingctx):
    """The monotonic clock (``clock_gettime(CLOCK_MONOTONIC)``), in nanoseconds."""
    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        timespec = ir.LiteralStructType([i64, i64])
        ts = cgutils.alloca_once(builder, timespec)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i32, [i32, timespec.as_pointer()]), "clock_gettime")
        builder.call(fn, [ir.Constant(i32, _CLOCK), ts])
        sec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)
    return types.int64(), codegen


@intrinsic
def address_as_ctrl(typingctx, address):
    """The integer ``address`` as a pointer to int64 (``ctrl``'s)."""
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
    return types.CPointer(types.int64)(address), codegen


@njit(cache=True, nogil=True, inline="always")
def ctrl_array(address):
    """``ctrl`` (4,) int64 from its address."""
    return carray(address_as_ctrl(address), (4,))


@njit(cache=True, nogil=True)
def claim(address):
    """The caller's side: True when the partner was awake, the call now its (GEN advanced);
    False when it sleeps. Waits only while the partner finishes the previous call."""
    ctrl = ctrl_array(address)
    spins = 0
    while True:
        old = atomic_cas(ctrl, STATE, AWAKE, CLAIMED)
        if old == AWAKE:
            atomic_add(ctrl, GEN, 1)
            return True
        if old == ASLEEP:
            return False
        spins = relax(spins)       # CLAIMED: its share of the last call is ending


@njit(cache=True, nogil=True, inline="always")
def wait_call(ctrl, seen, spin_ns):
    """The partner's side: True when call seen + 1 is claimed; False when, after spinning
    ``spin_ns`` without one, it is ASLEEP (or it is told to stop)."""
    start = monotonic_ns()
    spins = 0
    while atomic_load(ctrl, GEN) == seen:
        if atomic_load(ctrl, STOP):
            return False
        spins = relax(spins)
        if spins % _CHECKS_PER_CLOCK == 0 and monotonic_ns() - start > spin_ns:
            if atomic_cas(ctrl, STATE, AWAKE, ASLEEP) == AWAKE:
                return False
            start = monotonic_ns()     # claimed meanwhile: the call is coming
    return True


@njit(cache=True, nogil=True, inline="always")
def done(ctrl):
    """The partner's side, after its share of a call: ready for the next."""
    atomic_store(ctrl, STATE, AWAKE)


@njit(cache=True, nogil=True)
def _set_awake(address):
    atomic_store(ctrl_array(address), STATE, AWAKE)


def _loop(serve, ctrl, wake, args, keep):
    """The partner thread: sleep until woken, serve calls until it has spun out; again."""
    address, seen = ctrl.ctypes.data, 0
    while True:
        wake.wait()
        wake.clear()
        if ctrl[STOP]:
            return
        _set_awake(address)
        seen = serve(address, seen, int(config.CPU_STREAM_SPIN_US * 1000), *args)
        if ctrl[STOP]:
            return


def _stop(ctrl, wake):
    ctrl[STOP] = 1
    wake.set()


_forks = [0]        # bumped in a forked child, whose partner threads are gone
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class Partner:
    """A thread that runs share 1 of its owner's calls (see the module's docstring).

    ``serve``: the owner's compiled loop; ``args``: its arguments after the first three
    (integers, as the owner's kernel takes them); ``keep``: what must outlive the thread
    (the buffers those integers address). The thread stops when the Partner is collected.
    """

    def __init__(self, serve, args, keep):
        self.ctrl = np.zeros(4, np.int64)
        self.ctrl[STATE] = ASLEEP
        self.address = self.ctrl.ctypes.data
        self._wake = threading.Event()
        self._fork = _forks[0]
        self._claim = claim.compile((types.int64,))
        threading.Thread(target=_loop, args=(serve, self.ctrl, self._wake, args, keep),
                         name="fastrnn-partner", daemon=True).start()
        weakref.finalize(self, _stop, self.ctrl, self._wake)

    def claim(self):
        """True: run share 0 now, the partner runs share 1. False: run the call alone."""
        return self._fork == _forks[0] and self._claim(self.address)

    def wake(self):
        """Wake a sleeping partner (after a call run alone): the next calls are split."""
        if self._fork == _forks[0]:
            self._wake.set()
