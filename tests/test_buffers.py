"""fastrnn._buffers: recycled memory for large per-call arrays, never handed out twice."""
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import _buffers

from conftest import assert_close

BIG = (512, 1024)       # 2 MiB of float32: above MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """Each test starts with an empty cache of the default size and leaves none behind."""
    monkeypatch.setattr(fastrnn.config, "BUFFER_CACHE_MB", 256)
    with _buffers._lock:
        _buffers._trim(0)
    yield
    fastrnn.config.BUFFER_CACHE_MB = 0
    _buffers.empty((1,), np.float32)      # a call at 0 lets go of every free block


def test_like_np_empty():
    a = _buffers.empty(BIG, np.float64)
    assert a.shape == BIG and a.dtype == np.float64 and a.flags.c_contiguous
    assert a.flags.writeable and a.ctypes.data % 64 == 0
    small = _buffers.empty((3, 4), np.float32)
    assert small.flags.owndata and small.shape == (3, 4)     # below MIN_BYTES: np.empty


def test_reused_only_when_nothing_refers_to_it():
    a = _buffers.empty(BIG, np.float32)
    a[...] = 1
    b = _buffers.empty(BIG, np.float32)         # a is alive: other memory
    b[...] = 2
    assert not np.shares_memory(a, b)
    row = a[7]                                  # a view outlives a
    address = a.ctypes.data
    del a
    c = _buffers.empty(BIG, np.float32)
    c[...] = 3
    assert np.all(row == 1) and c.ctypes.data != address
    del row, c
    d = _buffers.empty(BIG, np.float32)         # now a's block is free again: the first
    assert d.ctypes.data == address
    e = _buffers.empty(BIG, np.float32)         # then c's; b's is still in use
    assert not np.shares_memory(d, e) and not np.shares_memory(b, e)


def test_freed_memory_is_reused():
    a = _buffers.empty(BIG, np.float32)
    address = a.ctypes.data
    del a
    assert _buffers.empty(BIG, np.float32).ctypes.data == address


def test_successive_blocks_start_at_different_page_offsets():
    arrays = [_buffers.empty(BIG, np.float32) for _ in range(4)]
    assert len({a.ctypes.data % _buffers.PAGE for a in arrays}) == 4


def test_size_classes_waste_at_most_a_quarter():
    for n in [1, 2, 3, 1000, 1 << 20, (1 << 20) + 1, 3_670_016, 10 ** 8 + 7]:
        size = _buffers._size_class(n)
        assert n <= size <= max(1.25 * n, 1)


def test_limit_read_at_each_call():
    fastrnn.config.BUFFER_CACHE_MB = 3
    a = _buffers.empty(BIG, np.float32)         # 2 MiB: cached
    b = _buffers.empty(BIG, np.float32)         # no room: a plain np.empty
    assert a.base is not None and b.flags.owndata
    assert _buffers.cached_bytes() <= 3 << 20
    del a, b
    fastrnn.config.BUFFER_CACHE_MB = 0
    _buffers.empty(BIG, np.float32)
    assert _buffers.cached_bytes() == 0


def test_blocks_in_use_are_never_dropped():
    a = _buffers.empty(BIG, np.float32)
    a[...] = 5
    fastrnn.config.BUFFER_CACHE_MB = 0
    _buffers.empty(BIG, np.float32)
    assert _buffers.cached_bytes() > 0 and np.all(a == 5)


def test_training_steps_keep_their_tapes_apart():
    """Two tapes alive at once, then dropped and remade: each backward matches the reference."""
    rng = np.random.default_rng(0)
    T, B, I, H = 20, 32, 16, 128                # the tape's gates: 1.3 MB, cached
    x = [rng.standard_normal((T, B, I)).astype(np.float32) for _ in range(2)]
    w_ih = rng.uniform(-0.2, 0.2, (4 * H, I)).astype(np.float32)
    w_hh = rng.uniform(-0.2, 0.2, (4 * H, H)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    want = [fastrnn.lstm_backward(fastrnn.lstm_forward(xi, w_ih, w_hh, train=True,
                                                       backend="numpy").tape, dy) for xi in x]
    for _ in range(3):
        tapes = [fastrnn.lstm_forward(xi, w_ih, w_hh, train=True, backend="cpu").tape
                 for xi in x]
        got = [fastrnn.lstm_backward(tape, dy) for tape in tapes]
        for g, w in zip(got, want):
            for name in w._fields:
                if getattr(w, name) is not None:      # dw_hr: no projection
                    assert_close(getattr(g, name), getattr(w, name), name)
        assert _buffers.cached_bytes() > 0


_FAULTS = """
import resource, numpy as np, fastrnn
fastrnn.set_num_threads({threads})
rng = np.random.default_rng(0)
x = rng.standard_normal((20, 16, 256), np.float32)
w_ih, w_hh = (rng.standard_normal((1024, n), np.float32) * 0.05 for n in (256, 256))
dy = np.ones((20, 16, 256), np.float32)
calls = {{"forward": lambda: fastrnn.lstm_forward(x, w_ih, w_hh, backend="cpu"),
         "training step": lambda: fastrnn.lstm_backward(
             fastrnn.lstm_forward(x, w_ih, w_hh, train=True, backend="cpu").tape, dy)}}
for name, call in calls.items():
    for _ in range(2):
        call()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        call()
    print(name, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc tunables and getrusage's page-fault count")
@pytest.mark.parametrize("threads", [1, 2])
def test_repeated_calls_fault_in_no_fresh_memory(threads):
    """The megabytes of a "batch" forward and of a training step (the packed weights: 2 MiB
    here; each share's input projection and chunk scratch) are recycled, not fresh memory
    that each call faults in, 4 KiB at a time (about 2.3 µs a page). With glibc told to map
    every block of 128 KiB or more on its own (and so to unmap it when freed), a forward
    faulted in 840-930 pages a call before, a training step 390-490. Under this setting a
    read past the end of such a block faults: the run must also not crash."""
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072",
               FASTRNN_CPU_VARIANT="batch")
    out = subprocess.run([sys.executable, "-c", _FAULTS.format(threads=threads)], env=env,
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, faults = line.rsplit(" ", 1)
        assert float(faults) < 30, f"{name}: {faults} page faults per call"
