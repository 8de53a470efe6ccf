"""``fastrnn predict``: classify digit images with a model saved by ``fastrnn demo``.

Images come from an ``.npy`` file — (N, 28, 28) or one (28, 28) image; uint8
pixels 0-255 or floats already in [0, 1] — or, by default, from the demo's
test split (``--data`` as in the demo), whose true labels are then shown too.
"""
from pathlib import Path

import numpy as np

from . import backends


def add_arguments(parser):
    """Add ``fastrnn predict``'s options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import predict
    >>> parser = argparse.ArgumentParser(prog="fastrnn predict")
    >>> predict.add_arguments(parser)
    >>> parser.parse_args([]).model
    'demo_out/model.npz'
    """
    from .cli import int_at_least
    parser.add_argument("--model", default="demo_out/model.npz", help="default demo_out/model.npz")
    parser.add_argument("--images", default=None, metavar="FILE.npy",
                        help="images to classify (default: the demo's test split)")
    parser.add_argument("--data", default=None, metavar="PATH", help="as in `fastrnn demo`")
    parser.add_argument("--count", type=int_at_least(1), default=10,
                        help="how many images to list, spread over the set (default 10)")
    parser.add_argument("--backend", choices=("auto", *backends.names()), default=None,
                        help="default: FASTRNN_BACKEND, else auto")


def load_images(path):
    """Read digit images from an ``.npy`` file, as the model reads them.

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npy`` file (``np.save``) of ``(N, 28, 28)`` images or one
        ``(28, 28)`` image: integer pixels 0-255 (uint8 or any integer dtype) or
        finite floats in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``(N, 28, 28)`` float32 in [0, 1].

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If anything else is wrong (a directory, not an ``.npy``, another shape,
        pixels out of range), naming the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastrnn import predict
    >>> path = os.path.join(tempfile.mkdtemp(), "digit.npy")
    >>> np.save(path, np.full((28, 28), 255, np.uint8))
    >>> images = predict.load_images(path)
    >>> images.shape, images.dtype, float(images.max())
    ((1, 28, 28), dtype('float32'), 1.0)
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--images {path}: no such file")
    if p.is_dir():
        raise ValueError(f"--images {path} is a directory, not an .npy file of images")
    with open(p, "rb") as f:
        magic = f.read(6)
    if not magic.startswith((b"\x93NUMPY", b"PK")):
        raise ValueError(f"{path} is not an .npy file of images (np.save): no NumPy header"
                         + (" (the file is empty)" if not magic else ""))
    try:
        images = np.load(p, allow_pickle=False)
    except Exception as err:        # random bytes, a truncated file, pickled objects
        raise ValueError(f"{path} is not an .npy file of images (np.save): "
                         f"{type(err).__name__}: {' '.join(str(err).split())}") from None
    if not isinstance(images, np.ndarray):
        images.close()
        raise ValueError(f"{path} is an .npz archive; expected an .npy file of images (np.save)")
    images = images[None] if images.ndim == 2 else images
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{path}: expected images shaped (N, 28, 28) or (28, 28), "
                         f"got {images.shape}")
    if len(images) == 0:
        raise ValueError(f"{path} holds no images (shape {images.shape})")
    if images.dtype.kind in "iu" and images.min() >= 0 and images.max() <= 255:
        return (images / 255).astype(np.float32)
    if images.dtype.kind != "f" or not np.isfinite(images).all() \
            or images.min() < 0 or images.max() > 1:
        low, high = (images.min(), images.max()) if images.dtype.kind in "iufb" else ("?", "?")
        raise ValueError(f"{path}: expected uint8 pixels or finite floats in [0, 1], got "
                         f"{images.dtype} in [{low}, {high}]")
    return images.astype(np.float32)


def run(args):
    """``fastrnn predict``: print the predicted class and its probability of some images.

    With ``--images``, that file's images; else the demo's test split, with the
    true labels and the accuracy on all of it.

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
        If there is no model file, or the model does not read 28 pixels a step.
    ValueError
        If the backend is unknown, or a file malformed.
    RuntimeError
        If the backend is not available here.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> from fastrnn.cli import main
    >>> folder = tempfile.mkdtemp()
    >>> model = nn.SequenceClassifier(28, 8, 10, seed=0).save(os.path.join(folder, "model"))
    >>> np.save(os.path.join(folder, "digits.npy"), np.zeros((3, 28, 28), np.uint8))
    >>> main(["predict", "--model", model, "--images", os.path.join(folder, "digits.npy"),
    ...       "--backend", "numpy"])
     image  predicted      p
         0 ...
    0
    """
    from . import data
    from ._dispatch import resolve
    from .cli import UsageError
    from .nn import SequenceClassifier
    resolve(args.backend)       # an unknown or unavailable backend stops here
    try:
        model = SequenceClassifier.load(args.model, backend=args.backend)
    except FileNotFoundError:
        raise UsageError(f"no model at {args.model}: run `fastrnn demo` first "
                         f"(or pass --model)") from None
    if model.rnn.input_size != 28:
        raise UsageError(f"{args.model} reads {model.rnn.input_size} pixels per step; "
                         f"fastrnn predict needs a model of 28×28 digits (fastrnn demo's)")
    if args.images:
        x, labels = load_images(args.images), None
    else:
        _, (images, labels) = data.load(args.data)
        x = data.to_sequences(images)
    proba = model.predict_proba(x)
    guess = proba.argmax(1)
    print(f"{'image':>6}{'predicted':>11}{'p':>7}" + (f"{'true':>6}" if labels is not None else ""))
    # spread over the set (the default split is ordered by digit)
    for n in np.unique(np.linspace(0, len(x) - 1, min(args.count, len(x))).astype(int)):
        row = f"{n:>6}{guess[n]:>11}{proba[n, guess[n]]:>7.3f}"
        if labels is not None:
            row += f"{labels[n]:>6}" + ("" if guess[n] == labels[n] else "  ✗")
        print(row)
    if labels is not None:
        print(f"accuracy on all {len(x):,} images: {100 * np.mean(guess == labels):.2f}%")
    return 0
