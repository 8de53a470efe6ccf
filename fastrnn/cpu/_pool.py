"""Our threads: run one serial, GIL-free Numba kernel on ``parts`` shares of the work.

    with reserve(threads) as n:   n = threads when the pool is free, else 1
        run(kernel, parts, *args)  kernel(p, parts, *args) for p in 0..parts−1 (parts ≤ n)

Share 0 runs on the calling thread and the others on a pool of Python
threads; the kernels are compiled with ``nogil=True``, so they run at once.
One call at a time holds the pool: a call made while another holds it (from
another Python thread) runs on its own thread alone, so shares that wait for
each other at a barrier never wait behind another call's shares.
No OpenMP, TBB or Numba threading layer is involved: nothing spins between
calls, and a process that used the cpu backend can fork (the pool is
dropped in the child and made again on first use).
"""
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()       # guards _executor
_busy = threading.Lock()       # held by the call that uses the pool
_executor = None


def _pool(workers):
    """The shared executor, grown to at least ``workers`` threads."""
    global _executor
    with _lock:
        if _executor is None or _executor._max_workers < workers:
            old, _executor = _executor, ThreadPoolExecutor(workers, "fastrnn-cpu")
            if old is not None:
                old.shutdown(wait=False)
        return _executor


def _forget_after_fork():
    global _executor, _lock, _busy
    _executor, _lock, _busy = None, threading.Lock(), threading.Lock()


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
    """kernel(p, parts, *args) for every share p; returns when all are done, re-raising any
    error."""
    if parts == 1:
        kernel(0, 1, *args)
        return
    pool = _pool(parts - 1)
    futures = [pool.submit(kernel, p, parts, *args) for p in range(1, parts)]
    try:
        kernel(0, parts, *args)
    finally:
        for future in futures:
            future.result()
