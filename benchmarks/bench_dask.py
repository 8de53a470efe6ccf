"""Batch inference on a Dask cluster (``fastrnn.dask``): does a second worker halve the time?

N = 16,000 digit-sized sequences (T = 28 steps of I = 28 features, float32)
through an LSTM(128) ``nn.SequenceClassifier`` (10 classes), in chunks of
1,000 rows (16 tasks):

    DaskPredict.time_predict(layout)   predict(ready, x).compute() on a LocalCluster of
                                       worker processes on 127.0.0.1, layout "1x1"
                                       (1 worker × 1 thread) or "2x1" (2 workers × 1 thread)
    DaskSpeedup.track_speedup          time on 1x1 ÷ time on 2x1 (best of 3 each, each
                                       on a fresh cluster)
    LocalPredict.time_predict_proba    model.predict_proba(x) in this process on 2 threads:
                                       the reference without Dask

What is timed is the computation only: the workers are readied (threads,
warm kernels, the model scattered: ``fastrnn.dask.prepare``) and x is
persisted on them in ``setup``, as data a cluster reads itself would be;
the result (N, 10) comes back to the client. Without ``distributed``
(``pip install 'fastrnn[dask]'``) the Dask benchmarks are skipped.

The same numbers as one table, outside asv (``--n``, ``--chunk`` for a quick try):

    python -m benchmarks.bench_dask
"""
import argparse

import numpy as np

import fastrnn
from fastrnn import nn

from .common import best_seconds

N, T, I, H, CLASSES = 16_000, 28, 28, 128, 10
CHUNK = 1_000
LAYOUTS = ("1x1", "2x1")


def inputs(n=N):
    return np.random.default_rng(0).random((n, T, I), dtype=np.float32)


def classifier():
    return nn.SequenceClassifier(input_size=I, hidden_size=H, num_classes=CLASSES, seed=0)


class Cluster:
    """A LocalCluster of ``layout`` ("WxT": W worker processes × T threads), the model
    prepared on it and x persisted there; ``run()`` is one timed computation."""

    def __init__(self, layout, n=N, chunk=CHUNK):
        try:
            import dask.array as da
            import distributed
            import fastrnn.dask as fastrnn_dask
        except ImportError as err:
            raise NotImplementedError(f"needs the dask extra: {err}") from None
        workers, threads = (int(v) for v in layout.split("x"))
        self.cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                                processes=True, host="127.0.0.1",
                                                dashboard_address=":0")
        self.client = distributed.Client(self.cluster, set_as_default=False)
        ready = fastrnn_dask.prepare(self.client, classifier())
        x = self.client.persist(da.from_array(inputs(n), chunks=(chunk, -1, -1)))
        with self.client.as_current():
            distributed.wait(x)
        self.probs = fastrnn_dask.predict(ready, x)
        self.run()                                      # every worker has run a chunk

    def run(self):
        return self.client.compute(self.probs).result()

    def close(self):
        self.client.close()
        self.cluster.close()


def dask_seconds(layout, n=N, chunk=CHUNK):
    """The best of 3 computations on a fresh cluster of ``layout``, in seconds."""
    cluster = Cluster(layout, n, chunk)
    try:
        return best_seconds(cluster.run, min_total=0, min_calls=3)
    finally:
        cluster.close()


def local_seconds(n=N):
    """The best of 3 ``predict_proba`` of n sequences in this process on 2 threads."""
    bench = LocalPredict()
    bench.setup(n)
    return best_seconds(bench.time_predict_proba, min_total=0, min_calls=3)


class DaskPredict:
    params = (LAYOUTS,)
    param_names = ("workers x threads",)
    number = 1
    repeat = (3, 5, 120.0)
    warmup_time = 0                     # setup has run one computation already
    timeout = 600

    def setup(self, layout):
        self.cluster = Cluster(layout)

    def teardown(self, layout):
        self.cluster.close()

    def time_predict(self, layout):
        self.cluster.run()


class DaskSpeedup:
    timeout = 900

    def track_speedup(self):
        """Time on 1 worker × 1 thread over time on 2 workers × 1 thread (best of 3 each)."""
        return dask_seconds("1x1") / dask_seconds("2x1")

    track_speedup.unit = "×"


class LocalPredict:
    """``model.predict_proba(x)`` in this process, fastrnn on 2 threads: no Dask."""
    timeout = 600

    def setup(self, n=N):
        fastrnn.set_num_threads(min(2, fastrnn.get_num_threads()))
        self.model, self.x = classifier(), inputs(n)
        self.model.predict_proba(self.x[:CHUNK])        # compile or load the kernels

    def time_predict_proba(self):
        self.model.predict_proba(self.x)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dask",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=N, help=f"sequences (default {N})")
    parser.add_argument("--chunk", type=int, default=CHUNK,
                        help=f"rows per chunk (default {CHUNK})")
    args = parser.parse_args(argv)
    print(f"N = {args.n} sequences of {T}×{I}, LSTM({H}) classifier, float32, chunks of "
          f"{args.chunk} rows; best of 3")
    times = {layout: dask_seconds(layout, args.n, args.chunk) for layout in LAYOUTS}
    times["local"] = local_seconds(args.n)
    for name, label in (("1x1", "1 worker × 1 thread"), ("2x1", "2 workers × 1 thread"),
                        ("local", "1 process, 2 threads (no Dask)")):
        print(f"  {label:<32} {times[name]:8.3f} s   {args.n / times[name]:9.0f} seq/s")
    print(f"  speed-up of 2x1 over 1x1: {times['1x1'] / times['2x1']:.2f}×")


if __name__ == "__main__":
    main()
