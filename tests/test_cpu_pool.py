"""The cpu backend's threads (``fastrnn.cpu._pool``): every share runs once, errors come
back to the caller, the workers spin between calls only for ``CPU_POOL_SPIN_US`` and begin
their shares after share 0 has begun, and ``busy_cores`` does not take them for other
work."""
import time

import numpy as np
import pytest
from numba import njit

import fastrnn
from fastrnn.cpu import _driver, _pool
from fastrnn.cpu._sync import atomic_add, let_go

pytestmark = pytest.mark.skipif("cpu" not in fastrnn.available_backends(),
                                reason="the cpu backend needs Numba")


@njit(nogil=True, cache=True)
def _count(p, parts, go, out, fail):
    """out[p, 0] += 1 and out[p, 1] = parts; share ``fail`` then raises."""
    let_go(p, go)
    out[p, 0] += 1
    out[p, 1] = parts
    if p == fail:
        raise ValueError("this share failed")


def _asleep_within(seconds):
    end = time.monotonic() + seconds
    while _pool.spinning() and time.monotonic() < end:
        time.sleep(0.001)
    return _pool.spinning() == 0


@pytest.mark.parametrize("spin_us", [0, 1e6], ids=["sleeps", "spins"])
def test_every_share_runs_once_per_call(monkeypatch, spin_us):
    monkeypatch.setattr(fastrnn.config, "CPU_POOL_SPIN_US", spin_us)
    out = np.zeros((3, 2), np.int64)
    for parts in (3, 2) * 25:
        with _pool.reserve(parts) as threads:
            assert threads == parts
            _pool.run(_count, parts, out, -1)
    assert out[:, 0].tolist() == [50, 50, 25]
    assert out[:2, 1].tolist() == [2, 2]      # the last call's


def test_workers_spin_for_the_set_time_then_sleep(monkeypatch):
    monkeypatch.setattr(fastrnn.config, "CPU_POOL_SPIN_US", 1e6)
    out = np.zeros((2, 2), np.int64)
    _pool.run(_count, 2, out, -1)
    assert _pool.spinning() >= 1               # awake for a second after its share
    monkeypatch.setattr(fastrnn.config, "CPU_POOL_SPIN_US", 0)
    _pool.run(_count, 2, out, -1)              # read at its next share: now it sleeps at once
    assert _asleep_within(5.0)
    _pool.run(_count, 2, out, -1)              # and a sleeping worker is woken
    assert out[:, 0].tolist() == [3, 3]


@pytest.mark.parametrize("fail", [0, 1], ids=["caller's share", "worker's share"])
def test_an_error_in_a_share_is_raised_after_every_share_ended(fail):
    out = np.zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match="this share failed"):
        _pool.run(_count, 2, out, fail)
    assert out[:, 0].tolist() == [1, 1]        # the other share ran to its end
    _pool.run(_count, 2, out, -1)              # and the pool still works, error cleared
    assert out[:, 0].tolist() == [2, 2]


def test_busy_cores_does_not_count_our_awake_workers(monkeypatch):
    monkeypatch.setattr(fastrnn.config, "CPU_POOL_SPIN_US", 1e6)
    _pool.run(_count, 2, np.zeros((2, 2), np.int64), -1)
    awake = _pool.spinning()
    assert awake >= 1
    # the system sees our awake workers and nothing else; then one more thread
    monkeypatch.setattr(_driver, "_runnable_others", lambda: awake)
    assert _driver.busy_cores() == 0
    monkeypatch.setattr(_driver, "_runnable_others", lambda: awake + 1)
    assert _driver.busy_cores() == 1


@njit(nogil=True, cache=True)
def _order(p, parts, go, seq, out):
    """out[p] = the order in which share p got here (share 0 counts itself, then lets go)."""
    if p == 0:
        out[p] = atomic_add(seq, 0, 1)
    let_go(p, go)
    if p > 0:
        out[p] = atomic_add(seq, 0, 1)


@pytest.mark.parametrize("spin_us", [0, 1e6], ids=["sleeps", "spins"])
def test_workers_begin_after_share_0(monkeypatch, spin_us):
    """A worker takes the GIL for its share only once the caller's share 0 has begun (and so
    let go of it): share 0 is always first."""
    monkeypatch.setattr(fastrnn.config, "CPU_POOL_SPIN_US", spin_us)
    for _ in range(20):
        seq, out = np.zeros(1, np.int64), np.full(3, -1, np.int64)
        with _pool.reserve(3) as threads:
            _pool.run(_order, threads, seq, out)
        assert out[0] == 0 and sorted(out[1:threads]) == list(range(1, threads))


def test_workers_are_let_go_when_share_0_never_begins():
    """A call whose share 0 fails before its kernel begins (here: arguments it cannot be
    compiled for) still releases the workers: the error comes back, nothing hangs."""
    with pytest.raises(Exception, match="(?i)typing|resolution|argument"):
        _pool.run(_count, 2, "not an array", -1)
    out = np.zeros((2, 2), np.int64)
    _pool.run(_count, 2, out, -1)
    assert out[:, 0].tolist() == [1, 1]
