"""Our threads: run one serial, GIL-free Numba kernel on ``parts`` shares of the work.

    with reserve(threads) as n:   n = threads when the pool is free, else 1
        run(kernel, parts, *args)  kernel(p, parts, go, *args) for p in 0..parts−1 (parts ≤ n)

Every such kernel's first act is ``_sync.let_go(p, go)``.

Share 0 runs on the calling thread and share p on worker p of a pool of Python
threads; the kernels are compiled with ``nogil=True``, so they run at once.
One call at a time holds the pool: a call made while another holds it (from
another Python thread) runs on its own thread alone, so shares that wait for
each other at a barrier never wait behind another call's shares.

A worker waits for its next share spinning, in Numba code without the GIL,
for ``fastrnn.config.CPU_POOL_SPIN_US`` (yielding its core past
``_sync.SPINS`` checks, so that a thread which needs the core gets it),
then sleeps on an Event. Calls that come back to back hand their shares over
without waking a thread: ``run`` of a kernel of 30 arguments on 2 threads
costs 21 µs median instead of 54 with a sleeping pool (9.9 µs at best
instead of 34; a kernel of 2 arguments 6 µs instead of 51; 3,000 calls back
to back on the Zen 4 VM of docs/performance.md, 2026-12-07). A claimed worker
then goes on spinning, without the GIL, until share 0 has begun (the mark
``let_go`` leaves in ``_go``): its caller has let go of the GIL by then, and
the worker takes it at once. Asking for it earlier, while the caller held it
to dispatch share 0, put the worker to sleep until the caller released it,
and its share began 28-35 µs after share 0 (median of 1,000 calls of the
LSTM's "units" forward at B = 1 on 2 threads); now 6. A pool left idle costs
no CPU. ``spinning()`` counts the awake
workers, which ``_driver.busy_cores`` does not take for other work.

Each worker's state, ``ctrl`` int64 (4,), is a partner thread's
(``_partner``): ``GEN`` the shares claimed so far, ``STATE`` AWAKE
(spinning), CLAIMED (a share is its to run) or ASLEEP (``STOP`` and
``COUNTER`` unused). ``_handoff`` does each side's part of a hand-off with
atomics. The caller claims every worker it needs (a sleeping one is woken as
well), runs share 0, then waits until each has left CLAIMED; a worker runs
its share, then goes back to AWAKE and waits for the next in one Numba call,
so neither side waits for a GIL that the other holds.

No OpenMP, TBB or Numba threading layer is involved, and a process that used
the cpu backend can fork (the pool is dropped in the child and made again on
first use).
"""
import contextlib
import functools
import os
import threading

import numpy as np
from numba import njit, types

from .. import config
from ._partner import ASLEEP, AWAKE, CLAIMED, GEN, STATE, ctrl_array, done, wait_call
from ._sync import atomic_add, atomic_cas, atomic_load, relax

#: ``_handoff``'s operations
CLAIM, WAIT, FINISH, BEGIN = 0, 1, 2, 3
#: the pool's start mark (int64, a ``ctrl``'s size): [0] the number of the last run that
#: claimed workers, [1] that of the last run whose share 0 has begun (``_sync.let_go``)
_go = np.zeros(4, np.int64)

_lock = threading.Lock()       # guards _workers
_busy = threading.Lock()       # held by the call that uses the pool
_workers = []


@njit(cache=True, nogil=True)
def _handoff(address, op, seen, spin_ns, go_address):
    """One side of a hand-off to the worker whose ``ctrl`` is at ``address`` (one function,
    so that a process compiles or loads one):

    CLAIM   the caller's: the worker's next share is claimed (AWAKE or ASLEEP → CLAIMED,
            GEN + 1). Returns 1 when it was awake, 0 when it slept (it must be woken).
    WAIT    the caller's: returns when the claimed worker has run its share.
    FINISH  the worker's, after its share of call ``seen``: AWAKE, then ``_partner.wait_call``.
            Returns 1 when its next share is claimed, once that run's share 0 has begun (as
            BEGIN); 0 when it has fallen asleep.
    BEGIN   the worker's, claimed: returns once the claiming run's share 0 has begun
            (``_go`` at ``go_address``): its caller has let go of the GIL, which the worker
            then takes at once, where it would sleep until the caller released it.
    """
    ctrl = ctrl_array(address)
    if op == CLAIM:
        # CLAIMED lasts from a claim to the end of that share, and a call waits for it:
        # only a move between AWAKE and ASLEEP can make both exchanges fail. Retry then.
        while True:
            if atomic_cas(ctrl, STATE, AWAKE, CLAIMED) == AWAKE:
                atomic_add(ctrl, GEN, 1)
                return 1
            if atomic_cas(ctrl, STATE, ASLEEP, CLAIMED) == ASLEEP:
                atomic_add(ctrl, GEN, 1)
                return 0
    if op == WAIT:
        spins = 0
        while atomic_load(ctrl, STATE) == CLAIMED:
            spins = relax(spins)
        return 1
    if op == FINISH:
        done(ctrl)
        if not wait_call(ctrl, seen, spin_ns):
            return 0
    go, spins = ctrl_array(go_address), 0
    run = atomic_load(go, 0)
    while atomic_load(go, 1) != run:
        spins = relax(spins)
    return 1


@functools.cache
def _entry():
    """``_handoff`` compiled for integers (on first need: a process that runs one thread
    never loads it); called without dispatch, in well under a µs."""
    return _handoff.compile((types.int64,) * 5)


class _Worker:
    """A pool thread: runs share ``job[1]`` of every call that claims it."""

    def __init__(self):
        self.ctrl = np.zeros(4, np.int64)
        self.ctrl[STATE] = ASLEEP
        self.address = self.ctrl.ctypes.data
        self.job = self.error = None
        self.wake = threading.Event()
        threading.Thread(target=self._loop, name="fastrnn-cpu", daemon=True).start()

    def _loop(self):
        handoff, seen, go = _entry(), 0, _go.ctypes.data
        while True:
            self.wake.wait()
            self.wake.clear()
            claimed = handoff(self.address, BEGIN, 0, 0, go)   # woken only after a claim
            while claimed:
                seen += 1
                kernel, p, parts, args = self.job
                self.job = None
                try:
                    kernel(p, parts, _go, *args)
                except BaseException as error:      # re-raised by the caller
                    self.error = error
                del kernel, args                     # the call's arrays are not kept
                claimed = handoff(self.address, FINISH, seen,
                                  int(config.CPU_POOL_SPIN_US * 1000), go)


def _pool(workers):
    """The first ``workers`` workers (made as needed)."""
    with _lock:
        while len(_workers) < workers:
            _workers.append(_Worker())
        return _workers[:workers]


def spinning():
    """How many of the pool's workers are awake (spinning, or running a share) now."""
    return sum(int(w.ctrl[STATE] != ASLEEP) for w in _workers)


def _forget_after_fork():
    global _lock, _busy
    _lock, _busy = threading.Lock(), threading.Lock()
    _workers.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def reserve(threads):
    """The number of threads this call may use: ``threads`` if the pool is free, else 1."""
    if threads > 1 and _busy.acquire(blocking=False):
        try:
            yield threads
        finally:
            _busy.release()
    else:
        yield 1


def run(kernel, parts, *args):
    """kernel(p, parts, go, *args) for every share p; returns when all are done, re-raising
    any error. The kernel's first act is ``_sync.let_go(p, go)``."""
    if parts == 1:
        kernel(0, 1, _go, *args)
        return
    handoff = _entry()
    workers = _pool(parts - 1)
    _go[0] += 1
    for p, worker in enumerate(workers, 1):
        worker.job = (kernel, p, parts, args)
        if not handoff(worker.address, CLAIM, 0, 0, 0):
            worker.wake.set()
    try:
        kernel(0, parts, _go, *args)
    finally:
        _go[1] = _go[0]     # share 0 marked it as it began, unless it never began
        for worker in workers:
            handoff(worker.address, WAIT, 0, 0, 0)
        errors = [w.error for w in workers if w.error is not None]
        for worker in workers:
            worker.error = None
    if errors:
        raise errors[0]
