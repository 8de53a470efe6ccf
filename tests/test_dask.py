"""fastrnn.dask on a real cluster: a LocalCluster of 2 worker processes × 1 thread on 127.0.0.1.

Every result is compared with the model's own output in this process (≤ 1e-5).
Helpers defined here are pickled by value (cloudpickle), since the workers
cannot import this file.
"""
import os
import pathlib
import re
import signal
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import cloudpickle  # noqa: E402  (installed with distributed)
import dask  # noqa: E402

import fastrnn  # noqa: E402
import fastrnn.dask as fdask  # noqa: E402
from fastrnn import _threads, nn  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

N, T, I = 50, 6, 5
CHUNK = 16                 # 16, 16, 16, 2: the last chunk ragged
ATOL = 1e-5


@pytest.fixture(scope="module")
def cluster():
    # the active memory manager's ReduceReplicas would drop the broadcast copies at
    # random moments (every 2 s): off, so that the tests can count them
    with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((N, T, I), dtype=np.float32)
    return x, rng.integers(1, T + 1, N)


@pytest.fixture(scope="module")
def model():
    return nn.SequenceClassifier(input_size=I, hidden_size=16, num_classes=4, seed=0)


def chunked(x, chunks=(CHUNK, -1, -1)):
    return da.from_array(x, chunks=chunks)


def pids(client):
    return client.run(os.getpid)


def shared_keys(array):
    """The keys the chunks' tasks depend on that are not chunks of an array: the model's."""
    return {dep for key, task in dict(array.__dask_graph__()).items()
            if isinstance(key, tuple) and key[0] == array.name
            for dep in task.dependencies if isinstance(dep, str)}


def replicas(client, key):
    """How many workers hold ``key``."""
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks[key].who_has))


class Counting(nn.SequenceClassifier):
    """A classifier that counts, in the process it lives in, its calls and its pickles."""
    calls = pickles = 0

    def predict_proba(self, x, lengths=None, batch_size=256):
        type(self).calls += 1
        return super().predict_proba(x, lengths, batch_size)

    def __getstate__(self):
        type(self).pickles += 1
        return self.__dict__


def test_prepare_sets_threads_warms_and_scatters(client, model):
    ready = fdask.prepare(client, model)
    workers = set(pids(client))
    assert len(workers) == 2
    assert client.run(fastrnn.get_num_threads) == dict.fromkeys(workers, 1)

    def compiled():
        from fastrnn.cpu import _cells, _loops
        loops = _loops.specialize(_cells.LSTM, True, True, False, False)
        return [any("float32" in str(sig) for sig in kernel.signatures)
                for kernel in (loops.forward_batch, loops.forward_units)]
    assert client.run(compiled) == dict.fromkeys(workers, [True, True])
    assert set(client.who_has(ready.future)[ready.future.key]) == workers
    fdask.prepare(client, model, threads=2)          # capped at NUMBA_NUM_THREADS or the CPUs
    assert client.run(fastrnn.get_num_threads) == dict.fromkeys(workers, min(2, _threads._limit()))
    fdask.prepare(client, model)
    assert client.run(fastrnn.get_num_threads) == dict.fromkeys(workers, 1)


def test_classifier_equals_one_process(client, model, data):
    x, lengths = data
    for lens in (None, lengths, da.from_array(lengths, chunks=7)):   # NumPy, dask (rechunked)
        probs = fdask.predict(model, chunked(x), lens, client=client)
        assert probs.shape == (N, 4) and probs.chunks == ((16, 16, 16, 2), (4,))
        got = client.compute(probs).result()
        want = model.predict_proba(x, None if lens is None else lengths)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("make", [
    lambda: fastrnn.LSTM(I, 8, num_layers=2, bidirectional=True, batch_first=True, seed=1),
    lambda: fastrnn.GRU(I, 8, batch_first=False, seed=2),
    lambda: fastrnn.RNN(I, 8, nonlinearity="relu", bidirectional=True, seed=3),
], ids=["lstm-bidir-batch-first", "gru-time-major", "rnn-relu-time-major"])
def test_layers_equal_one_process(client, data, make):
    layer = make()
    x, lengths = data
    y = fdask.predict(layer, chunked(x), lengths, client=client)
    assert y.shape == (N, T, layer.num_directions * 8)
    got = client.compute(y).result()
    want = layer(x if layer.batch_first else x.transpose(1, 0, 2), lengths=lengths)[0]
    want = want if layer.batch_first else want.transpose(1, 0, 2)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_chunks_along_t_and_i_are_merged(client, model, data):
    x, lengths = data
    probs = fdask.predict(model, chunked(x, (10, 2, 3)), lengths, client=client)
    assert probs.chunks == ((10,) * 5, (4,))
    np.testing.assert_allclose(client.compute(probs).result(), model.predict_proba(x, lengths),
                               atol=ATOL, rtol=0)


def test_lazy_and_sent_once(client, data):
    model = Counting(input_size=I, hidden_size=16, num_classes=4, seed=0)
    x, _ = data
    probs = fdask.predict(model, chunked(x, (5, -1, -1)), client=client)     # 10 chunks
    submitted = client.run_on_scheduler(
        lambda dask_scheduler: [k for k in dask_scheduler.tasks if "fastrnn-predict" in str(k)])
    assert submitted == [] and model.calls == 0
    [key] = shared_keys(probs)                     # every chunk's task needs the same one
    assert replicas(client, key) == 2
    pickled = model.pickles
    assert 1 <= pickled <= 2, "scattered once (or once per worker)"
    np.testing.assert_allclose(client.compute(probs).result(), model.predict_proba(x),
                               atol=ATOL, rtol=0)
    assert model.pickles == pickled, "the chunks' tasks refer to the scattered copy"


def test_lazy_without_a_client(data):
    model = Counting(input_size=I, hidden_size=16, num_classes=4, seed=0)
    Counting.calls = 0
    x, lengths = data
    probs = fdask.predict(model, chunked(x), lengths)      # no client: any dask scheduler
    assert Counting.calls == 0
    got = probs.compute(scheduler="sync")
    assert Counting.calls == 4                                       # one per chunk, no 0-d probe
    np.testing.assert_allclose(got, Counting.predict_proba(model, x, lengths), atol=ATOL, rtol=0)


def test_default_client_and_prepared_model(client, model, data):
    x, _ = data
    with client.as_current():
        probs = fdask.predict(model, chunked(x))
        [key] = shared_keys(probs)
        assert replicas(client, key) == 2, "scattered on the current client"
        np.testing.assert_allclose(probs.compute(), model.predict_proba(x), atol=ATOL, rtol=0)
    ready = fdask.prepare(client, model)
    first, second = (fdask.predict(ready, chunked(x[:n]), client=client) for n in (20, 30))
    assert shared_keys(first) == shared_keys(second) == {ready.future.key}
    np.testing.assert_allclose(client.compute(second).result(), model.predict_proba(x[:30]),
                               atol=ATOL, rtol=0)


def test_callable_model(client, model, data):
    x, lengths = data
    log_probs = fdask.predict(lambda a, lengths: np.log(model.predict_proba(a, lengths)),
                              chunked(x), lengths, client=client)
    assert log_probs.shape == (N, 4)
    np.testing.assert_allclose(client.compute(log_probs).result(),
                               np.log(model.predict_proba(x, lengths)), atol=ATOL, rtol=0)


def _boom():
    raise RuntimeError("computed")


def unreadable(shape, dtype=np.float32, chunks=2):
    """A dask array of ``shape`` whose every chunk raises when computed."""
    parts = [da.from_delayed(dask.delayed(_boom)(), (min(chunks, shape[0] - s), *shape[1:]), dtype)
             for s in range(0, shape[0], chunks)]
    return da.concatenate(parts)


@pytest.mark.parametrize("x, lengths, error, match", [
    (np.zeros((4, T, I), np.float32), None, TypeError, "dask array .*from_array"),
    (unreadable((4, T * I)), None, ValueError, "3 dimensions"),
    (unreadable((4, T, I + 1)), None, ValueError, r"\(N, T, 5\)"),
    (unreadable((4, T, I), np.float64), None, TypeError, "dtype float32"),
    (unreadable((4, 0, I)), None, ValueError, "at least one time step"),
    (unreadable((4, T, I))[unreadable((4,), np.int64) > 0], None, ValueError,
     "compute_chunk_sizes"),
    (unreadable((4, T, I)), np.ones(3, int), ValueError, r"shape \(4,\)"),
    (unreadable((4, T, I)), np.full(4, T + 1), ValueError, r"\[0, T=6\]"),
    (unreadable((4, T, I)), np.zeros(4, int), ValueError, "≥ 1"),
    (unreadable((4, T, I)), unreadable((4,), np.float32), TypeError, "integers"),
    (unreadable((4, T, I)), unreadable((5,), np.int64), ValueError, r"shape \(4,\)"),
], ids=["numpy", "ndim", "features", "dtype", "no-steps", "unknown-chunks", "lengths-shape",
        "lengths-too-long", "lengths-zero", "lengths-float", "lengths-dask-shape"])
def test_bad_input_fails_before_computing(client, model, x, lengths, error, match):
    with pytest.raises(error, match=match):
        fdask.predict(model, x, lengths, client=client)


def test_bad_model_or_client(client):
    x = unreadable((4, T, I))
    with pytest.raises(TypeError, match="model must be"):
        fdask.predict(object(), x, client=client)
    with pytest.raises(TypeError, match="batch-first NumPy array"):
        fdask.predict(lambda a: (a, a), x, client=client)
    with pytest.raises(TypeError, match="distributed.Client"):
        fdask.prepare("tcp://127.0.0.1:8786", fastrnn.LSTM(I, 4))
    with pytest.raises(ValueError, match="threads"):
        fdask.prepare(client, fastrnn.LSTM(I, 4), threads=0)


def test_forked_worker(model, data):
    """A worker forked from this process after it ran fastrnn on 2 threads: the cpu
    backend's thread pool is dropped in the child, so the worker computes right."""
    x, lengths = data
    before = fastrnn.get_num_threads()
    fastrnn.set_num_threads(min(2, before))
    try:
        want = model.predict_proba(x, lengths)               # the pool's threads exist now
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
                distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=":0") as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            assert all(client.run(lambda: "_pytest" in sys.modules).values()), "forked"
            probs = fdask.predict(model, chunked(x), lengths, client=client)
            np.testing.assert_allclose(client.compute(probs).result(), want, atol=ATOL, rtol=0)
            assert client.run(fastrnn.get_num_threads) == dict.fromkeys(pids(client), 1)
    finally:
        fastrnn.set_num_threads(before)


def test_docs_example():
    """The example of docs/guide/dask.md, "Running on a cluster" (a ```py block, which
    tests/test_docs.py leaves out: it needs the dask extra and starts workers)."""
    page = pathlib.Path(__file__).parents[1] / "docs" / "guide" / "dask.md"
    blocks = re.findall(r"```py\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, f"{page} has no ```py example"
    for block in blocks:
        exec(compile(block, str(page), "exec"), {"__name__": "__main__"})


def test_worker_killed_mid_computation(client, model, data):
    """SIGKILL a worker while it runs a chunk: the scheduler runs its tasks elsewhere, its
    nanny starts a new worker (set up by the plugin), and the result is right. Last: the
    cluster is back to 2 workers afterwards."""
    x, lengths = data

    def slow(a, lengths):
        time.sleep(0.3)
        return model.predict_proba(a, lengths)
    probs = fdask.predict(slow, chunked(x, (4, -1, -1)), lengths, client=client)   # 13 chunks
    before = pids(client)
    future = client.compute(probs)
    deadline = time.monotonic() + 30
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    busy = next(addr for addr, keys in client.processing().items() if keys)
    assert not future.done()
    os.kill(before[busy], signal.SIGKILL)
    np.testing.assert_allclose(future.result(timeout=120), model.predict_proba(x, lengths),
                               atol=ATOL, rtol=0)
    client.wait_for_workers(2, timeout=60)
    after = pids(client)
    assert before[busy] not in after.values() and len(after) == 2
    assert client.run(fastrnn.get_num_threads) == dict.fromkeys(after, 1)
