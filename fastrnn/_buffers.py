"""Recycled memory for the large arrays the cpu backend makes and drops: tape, outputs, scratch.

    a = empty(shape, dtype)       like np.empty; a view of a cached block when it is large

Why: fresh memory costs a page fault per 4 KiB page when it is first written,
about 2.3 µs each on the development VM (a 3.7 MB array takes 2.1 ms to fault
in and 0.11 ms to fill), and glibc's malloc hands freed heap above its trim
threshold back to the system. A training loop drops its tape and backward's
gate gradients at every step, so each step faulted them in afresh: 1,761
faults per LSTM step at T,B,I,H = 28,64,28,128, 4.5 of its 12.7 ms on 2
threads. Here a dropped array's memory stays ours and the next call of the
same size class reuses it, already mapped.

A block is a 1-D uint8 array that this module keeps in ``_cache``; ``empty``
returns a view of it, so the view, and every array made from that view, has the
block as its ``base``. A block is free when nothing but the cache refers to it
(``sys.getrefcount``, compared with the count of a block nobody else holds,
measured the same way at import). So an array stays valid as long as anything
refers to it, exactly like one from ``np.empty``; and its contents are
garbage, not zeros, exactly like one from ``np.empty``.

What is cached: arrays of at least ``MIN_BYTES``, rounded up to a size class
(2^k · {1, 1.25, 1.5, 1.75}: at most 25% more than asked), up to
``fastrnn.config.BUFFER_CACHE_MB`` in all (read at each call: at 0 nothing is
kept, and the next call lets go of every free block). A call that finds no free
block and no room gets a plain ``np.empty``. Thread-safe.
"""
import math
import sys
import threading

import numpy as np

from . import config

#: arrays below this size (256 KiB) come from np.empty: malloc keeps and reuses those itself
MIN_BYTES = 1 << 18
PAGE = 4096
#: successive blocks start this many bytes further into a page (mod PAGE): 64 · 17
COLOUR_STEP = 1088

_lock = threading.Lock()
_cache = {}        # size class (bytes) -> list of blocks
_clock = [0]       # a block's last use, for dropping the longest unused first
_used = {}         # id(block) -> _clock value when it was last handed out


def _size_class(nbytes):
    """nbytes rounded up to 2^k · (1 + i/4), i in 0..3."""
    top = 1 << (nbytes - 1).bit_length()       # the power of two ≥ nbytes
    step = max(1, top // 8)                    # quarters of the power below it
    return -(-nbytes // step) * step


def _refs(blocks, i):
    """The references to the memory of blocks[i], counted one way everywhere."""
    return sys.getrefcount(blocks[i][0])


def _free_count():
    """What ``_refs`` reads for a block that only its list holds."""
    blocks = [(np.empty(1, np.uint8), 0)]
    return _refs(blocks, 0)


_FREE = _free_count()


_made = [0]        # blocks made so far: the next one's colour


def _new_block(size):
    """A block of ``size`` bytes whose first byte lies at a different offset within its page
    from the last few blocks' (64-byte aligned): arrays that a loop walks in step, all
    starting at the same offset (large mallocs start 16 bytes into a page), would fall on
    the same cache sets and alias in the load/store queues."""
    colour = (_made[0] * COLOUR_STEP) % PAGE
    _made[0] += 1
    raw = np.empty(size + PAGE + 64, np.uint8)
    return raw, (-raw.ctypes.data) % 64 + colour


def _total():
    """The bytes the cache holds, free blocks and blocks in use. Holds _lock."""
    return sum(size * len(blocks) for size, blocks in _cache.items())


def cached_bytes():
    """The bytes the cache holds now, free blocks and blocks in use."""
    with _lock:
        return _total()


def _trim(limit):
    """Drop free blocks, longest unused first, until the cache holds at most ``limit``
    bytes (or no free block is left). Holds _lock."""
    total = _total()
    free = sorted((_used[id(blocks[i])], size, i) for size, blocks in _cache.items()
                  for i in range(len(blocks)) if _refs(blocks, i) == _FREE)
    drop = {}
    for _, size, i in free:
        if total <= limit:
            break
        drop.setdefault(size, set()).add(i)
        total -= size
    for size, indices in drop.items():
        for i in indices:
            del _used[id(_cache[size][i])]
        _cache[size] = [b for i, b in enumerate(_cache[size]) if i not in indices]
        if not _cache[size]:
            del _cache[size]
    return total


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, like ``np.empty``;
    from the cache when it takes at least ``MIN_BYTES`` (module docstring)."""
    dtype = np.dtype(dtype)
    # math.prod for the usual tuple: np.prod costs 2 µs a call, 25 calls per training step
    count = math.prod(shape) if isinstance(shape, tuple) else int(np.prod(shape))
    nbytes = count * dtype.itemsize
    limit = int(config.BUFFER_CACHE_MB * (1 << 20))
    if nbytes < MIN_BYTES or limit <= 0:
        if _cache and limit <= 0:
            with _lock:
                _trim(0)
        return np.empty(shape, dtype)
    size = _size_class(nbytes)
    with _lock:
        _clock[0] += 1
        blocks = _cache.get(size, [])
        block = next((blocks[i] for i in range(len(blocks)) if _refs(blocks, i) == _FREE), None)
        if block is None:
            if _trim(limit - size) + size > limit:
                return np.empty(shape, dtype)
            block = _new_block(size)
            _cache.setdefault(size, []).append(block)
        _used[id(block)] = _clock[0]
    raw, start = block
    return raw[start:start + nbytes].view(dtype).reshape(shape)
