"""Batch inference on a Dask cluster: one fastrnn model over a dask array chunked along N.

In short::

    x (N, T, I) dask array, batch first, chunked along N     lengths (N,) or None
    predict(model, x, lengths)  ->  a lazy dask array, one task per chunk of rows:
        nn.SequenceClassifier     model.predict_proba(x_k, lengths_k)      (N, C)
        fastrnn.RNN / LSTM / GRU  y of model(x_k, lengths=lengths_k)       (N, T, D·H)
        any other callable f      f(x_k[, lengths=lengths_k])              (N, ...)

Computed, the result is what the model gives in one process on the whole
array (rows are independent). With a ``distributed.Client``, ``prepare``
readies the workers first: fastrnn's threads set to each worker's thread
count, the model's cpu kernels compiled or loaded from Numba's cache (one
worker per host first, so that the others of the host load what it wrote),
and the model scattered to every worker once; every chunk's task then
depends on that one copy. Dask's active memory manager (its ReduceReplicas
policy, on by default) may later drop the extra copies; a worker without
one then fetches it from a peer when a task needs it. A ``WorkerSetup`` plugin keeps doing the threads
and the warm-up for workers that join later, a restarted one included.

Fork safety: the cpu backend runs on its own Python threads
(``fastrnn/cpu/_pool.py``), dropped in a forked child, and uses no OpenMP,
TBB or Numba threading layer, so workers may be started with any
``distributed.worker.multiprocessing-method`` (spawn, Dask's default;
forkserver; fork).
"""
import asyncio

import numpy as np

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as err:          # pragma: no cover - the extra is missing
    raise ImportError(f"fastrnn.dask needs dask[array] and distributed "
                      f"(pip install 'fastrnn[dask]'): {err}") from err

from . import _dispatch, _threads, _validate, layers, nn, warmup

__all__ = ["predict", "prepare", "Prepared", "WorkerSetup"]


class Prepared:
    """A model readied on a cluster by ``prepare``: pass it to ``predict`` in its place.

    The workers keep the model as it was when prepared: prepare it again after
    changing its parameters.

    Parameters
    ----------
    model : nn.SequenceClassifier, fastrnn.RNN / LSTM / GRU, or callable
        The model itself, in this process.
    future : distributed.Future
        Its copy on every worker (``client.scatter(model, broadcast=True)``).
    client : distributed.Client
        The client it was scattered with; ``predict`` runs on it.

    Attributes
    ----------
    model : object
        The model itself, in this process.
    future : distributed.Future
        Its copy on every worker; every chunk's task depends on it.
    client : distributed.Client
        The client of the cluster whose workers hold it.

    See Also
    --------
    prepare : Makes one.

    Examples
    --------
    >>> ready = fastrnn.dask.prepare(client, model)       # doctest: +SKIP
    >>> ready.model is model, ready.client is client      # doctest: +SKIP
    (True, True)
    >>> probs = fastrnn.dask.predict(ready, x)            # doctest: +SKIP
    """

    def __init__(self, model, future, client):
        self.model, self.future, self.client = model, future, client

    def __repr__(self):
        return f"Prepared({type(self.model).__name__}, {self.future.key!r})"


class WorkerSetup(distributed.WorkerPlugin):
    """Worker plugin: fastrnn's threads and warm kernels on every worker, present and future.

    Parameters
    ----------
    threads : int or None
        Threads of fastrnn's cpu backend (and NumPy's BLAS) in each worker; None
        (default) is the worker's own thread count, ``Worker.state.nthreads``. Either
        is capped at the worker's ``NUMBA_NUM_THREADS`` (its CPU count by default).
        A worker of k threads runs up to k chunks at once: one of them holds
        fastrnn's pool of k threads, the others run on their own thread
        (``fastrnn/cpu/_pool.py``), so k workers × 1 thread is the layout that
        never puts more threads than cores to work.
    kernels : sequence of (cell, dtype)
        The cpu forward kernels to compile, or load from Numba's cache, before the
        worker runs a task: both variants ("batch" and "units") of each.

    Examples
    --------
    >>> client.register_plugin(WorkerSetup(kernels=[("lstm", "float32")]))  # doctest: +SKIP
    """

    def __init__(self, threads=None, kernels=()):
        if threads is not None:
            threads = _validate.check_int("threads", threads)
        self.threads = threads
        self.kernels = tuple(sorted({(cell, np.dtype(dtype).name) for cell, dtype in kernels}))
        self.name = "fastrnn" + "".join(f"-{cell}-{dtype}" for cell, dtype in self.kernels)

    async def setup(self, worker):
        """Ready ``worker``: set its fastrnn threads, then warm its kernels off its event loop.

        Called by distributed on every worker when the plugin is registered, and on
        each worker that joins later (a restarted one included).

        Parameters
        ----------
        worker : distributed.Worker
            The worker.
        """
        _threads.set_num_threads(min(self.threads or worker.state.nthreads, _threads._limit()))
        if self.kernels:      # compiling takes seconds: not on the worker's event loop
            await asyncio.to_thread(warm, self.kernels)


def warm(kernels):
    """Compile or load the cpu forward kernels of each (cell, dtype) in this process."""
    if _dispatch._why_unavailable("cpu") is not None:
        return
    for cell, dtype in kernels:
        for task in warmup.tasks([cell], [dtype], ["fwd"]):    # each forward variant
            warmup.compile_one(*task)


def _kind(model):
    """"classifier", "layer" or "callable"; TypeError for anything else."""
    if isinstance(model, nn.SequenceClassifier):
        return "classifier"
    if isinstance(model, (layers.RNN, layers.LSTM, layers.GRU)):
        return "layer"
    if callable(model):
        return "callable"
    raise TypeError(f"model must be a fastrnn.nn.SequenceClassifier, a fastrnn.RNN/LSTM/GRU or "
                    f"a callable x (B, T, I) -> batch-first output, got {type(model).__name__}")


def _kernels(model):
    """The (cell, dtype) pairs whose cpu kernels ``model`` runs; () when unknown."""
    rnn = model.rnn if isinstance(model, nn.SequenceClassifier) else model
    if not isinstance(rnn, (layers.RNN, layers.LSTM, layers.GRU)) \
            or rnn.backend not in (None, "auto", "cpu"):
        return ()
    return ((rnn.cell, rnn.dtype.name),)


def prepare(client, model, threads=None):
    """Ready a cluster's workers for ``model`` and send it to every worker once.

    Registers a ``WorkerSetup`` plugin (fastrnn's threads = each worker's thread
    count, the model's cpu kernels compiled or loaded from Numba's cache; on workers
    that join later too), after warming one worker per host first so that the
    others of a host load its kernels from the cache it shares with them; then
    scatters the model to every worker (``broadcast=True``; Dask's active memory
    manager, when its ReduceReplicas policy runs, may drop the extra copies, and a
    worker then fetches one from a peer when it needs it). The model is not called.

    Parameters
    ----------
    client : distributed.Client
        The client of the cluster to ready.
    model : nn.SequenceClassifier, fastrnn.RNN / LSTM / GRU, or callable
        What ``predict`` accepts. Only fastrnn's own models are warmed.
    threads : int or None
        fastrnn threads per worker; None (default): the worker's ``nthreads``.

    Returns
    -------
    Prepared
        The model and the ``Future`` of its copy on the workers, for ``predict``.

    Raises
    ------
    TypeError
        ``client`` is not a ``distributed.Client``, or ``model`` is not a model.
    ValueError
        ``threads`` is not an integer ≥ 1.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> ready = fastrnn.dask.prepare(client, model)                       # doctest: +SKIP
    >>> probs = fastrnn.dask.predict(ready, x).compute()                  # doctest: +SKIP
    """
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    _kind(model)
    plugin = WorkerSetup(threads, _kernels(model))
    if plugin.kernels:
        first = {}          # one worker per host
        for address in client.ncores():
            first.setdefault(distributed.comm.get_address_host(address), address)
        client.gather([client.submit(warm, plugin.kernels, workers=[address], pure=False,
                                     allow_other_workers=False) for address in first.values()])
    client.register_plugin(plugin)
    future = client.scatter(model, broadcast=True, hash=False)
    return Prepared(model, future, client)


def _default_client():
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _check_x(x, model, kind):
    """x: a dask array (N, T, I) of known shape, of the model's dtype; T and I made one chunk."""
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask array (N, T, I) chunked along N, got "
                        f"{type(x).__name__}"
                        + ("; wrap it: dask.array.from_array(x, chunks=(rows, -1, -1))"
                           if isinstance(x, np.ndarray) else ""))
    if x.ndim != 3:
        raise ValueError(f"x must have 3 dimensions (N, T, I), batch first, got shape {x.shape}")
    if any(np.isnan(n) for n in x.shape):
        raise ValueError(f"x has unknown chunk sizes (shape {x.shape}, e.g. after boolean "
                         f"indexing): call x.compute_chunk_sizes() first")
    if kind != "callable":
        rnn = model.rnn if kind == "classifier" else model
        I = rnn.input_size
        if x.shape[2] != I:
            raise ValueError(f"x must have shape (N, T, {I}) (batch first, I = input_size = {I}),"
                             f" got {x.shape}")
        if x.dtype != rnn.dtype:
            raise TypeError(f"x must have dtype {rnn.dtype} like the model's parameters, got "
                            f"{x.dtype} (x.astype('{rnn.dtype}'))")
        if kind == "classifier" and x.shape[1] < 1:
            raise ValueError(f"x must have at least one time step, got shape {x.shape}")
    if x.numblocks[1] > 1 or x.numblocks[2] > 1:    # a task needs whole sequences
        x = x.rechunk({1: -1, 2: -1})
    return x


def _check_lengths(lengths, x, kind):
    """lengths: None, a NumPy array or list (checked now), or a dask array (checked by its
    dtype and shape now, by the model when computed); returned chunked like x's rows."""
    if lengths is None:
        return None
    N, T = x.shape[:2]
    if isinstance(lengths, da.Array):
        if lengths.shape != (N,):
            raise ValueError(f"lengths must have shape ({N},), one per sequence of x {x.shape}, "
                             f"got {lengths.shape}")
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"lengths must be integers, got dtype {lengths.dtype}")
        return lengths.rechunk((x.chunks[0],))
    lengths = _validate.check_lengths(lengths, T, N)
    if kind == "classifier" and N and lengths.min() < 1:
        raise ValueError("lengths must be ≥ 1: a classifier needs at least one step per sequence")
    return da.from_array(lengths, chunks=(x.chunks[0],))


def _output(model, kind, x, lengths):
    """The output's trailing dimensions and dtype. A callable is called once here, on
    zeros (1, T, I), to learn them; fastrnn's models are not called."""
    T = x.shape[1]
    if kind == "classifier":
        return (model.fc.out_features,), model.dtype
    if kind == "layer":
        return (T, model.num_directions * model.hidden_size), model.dtype
    probe = np.zeros((1, T, x.shape[2]), x.dtype)
    out = model(probe) if lengths is None else model(probe, lengths=np.array([T]))
    if not isinstance(out, np.ndarray) or out.ndim < 1 or out.shape[0] != 1:
        raise TypeError(f"model must return a batch-first NumPy array (B, ...); on x (1, {T}, "
                        f"{x.shape[2]}) it returned "
                        + (f"shape {out.shape}" if isinstance(out, np.ndarray)
                           else type(out).__name__))
    return out.shape[1:], out.dtype


def _run(model, kind, x, lengths):
    """One chunk: x (B, T, I), lengths (B,) or None -> the model's batch-first output."""
    if kind == "classifier":
        return model.predict_proba(x, lengths)
    if kind == "layer":
        if not model.batch_first:
            y, _ = model(x.transpose(1, 0, 2), lengths=lengths)
            return np.ascontiguousarray(y.transpose(1, 0, 2))
        return model(x, lengths=lengths)[0]
    return model(x) if lengths is None else model(x, lengths=lengths)


def predict(model, x, lengths=None, client=None):
    """The model's output on every row of a dask array, as a lazy dask array.

    One task per chunk of rows runs the model on it: ``model.predict_proba`` for a
    ``fastrnn.nn.SequenceClassifier``, the output ``y`` for a ``fastrnn.RNN``,
    ``LSTM`` or ``GRU`` (run time-major inside when its ``batch_first`` is False,
    returned batch first), ``model(x[, lengths=])`` for any other callable that
    returns a batch-first array. Computed, the result equals the model's output on
    the whole array in one process. Chunks along T or I are merged into one
    (a task needs whole sequences).

    With a client (``client=`` or the default one), the workers are readied first
    (``prepare``: threads, warm kernels, the model scattered once; seconds when
    kernels must compile), unless ``model`` is already a ``Prepared``. Without one,
    the model is one object of the graph that every chunk's task shares, and any
    Dask scheduler runs it.

    Parameters
    ----------
    model : nn.SequenceClassifier, fastrnn.RNN / LSTM / GRU, callable, or Prepared
        The model to run on every chunk; a ``Prepared`` one (from ``prepare``) runs
        from its copy on the workers.
    x : dask.array.Array, shape (N, T, I)
        Batch first, chunked along N; of the model's dtype, I = ``input_size``.
    lengths : array_like or dask.array.Array of int, shape (N,), optional
        Each sequence's length: in [1, T] for a classifier, [0, T] for a layer.
        A NumPy array or list is checked now, a dask array when computed (by the model).
    client : distributed.Client, optional
        Where the model will run; default: the current default client, if any.

    Returns
    -------
    dask.array.Array
        (N, C) class probabilities for a classifier; (N, T, D·H) outputs for a layer
        (D = 2 directions when bidirectional, else 1; zeros past each length);
        (N, ...) for a callable. Chunked like x along N, whole along the other axes.

    Raises
    ------
    TypeError
        ``x`` is not a dask array or not of the model's dtype; ``lengths`` are not
        integers; ``model`` is not a model, or a callable that does not return a
        batch-first array (it is called once on zeros (1, T, I) to learn its output).
    ValueError
        ``x`` is not 3-D, its I is not the model's ``input_size``, its shape is
        unknown (NaN chunks: ``x.compute_chunk_sizes()``), a classifier's T is 0;
        ``lengths`` has the wrong shape or values; ``client`` differs from the one a
        ``Prepared`` was made with. All raised before anything is computed.

    Examples
    --------
    >>> import dask.array as da, fastrnn.dask
    >>> from fastrnn import nn
    >>> model = nn.SequenceClassifier(input_size=28, hidden_size=32, num_classes=10, seed=0)
    >>> x = da.random.random((1000, 28, 28), chunks=(250, 28, 28)).astype("float32")
    >>> probs = fastrnn.dask.predict(model, x)       # nothing computed yet
    >>> probs.shape, probs.chunks[0]
    ((1000, 10), (250, 250, 250, 250))
    >>> probs.compute(scheduler="synchronous").shape   # any scheduler; here in this thread
    (1000, 10)
    """
    prepared = model if isinstance(model, Prepared) else None
    if prepared is not None:
        if client is not None and client is not prepared.client:
            raise ValueError("model was prepared on another client than client=")
        model = prepared.model
    kind = _kind(model)
    x = _check_x(x, model, kind)
    lengths = _check_lengths(lengths, x, kind)
    trailing, dtype = _output(model, kind, x, lengths)
    if prepared is None:
        client = client if client is not None else _default_client()
        if client is not None:
            prepared = prepare(client, model)
    # the model: its scattered copy, or one object of the graph; either way one key
    shared = prepared.future if prepared is not None else dask.delayed(model, pure=False)
    if kind == "layer":        # (N, T, D·H): keeps x's T
        index, new_axes = "ntd", {"d": trailing[1]}
    else:
        letters = "abcdefghjklmopqrsuvwxyz"[:len(trailing)]      # not x's n, t, i
        index, new_axes = "n" + letters, dict(zip(letters, trailing))
    name = "fastrnn-predict-" + dask.base.tokenize(x.name, getattr(lengths, "name", None),
                                                   shared.key, kind)
    return da.blockwise(_run, index, shared, None, kind, None, x, "nti",
                        lengths, None if lengths is None else "n",
                        new_axes=new_axes, concatenate=True, dtype=dtype, name=name,
                        meta=np.empty((0,) * len(index), dtype))
