"""``fastrnn predict``: classify digit images with a model saved by ``fastrnn demo``.

Images come from an ``.npy`` file — (N, 28, 28) or one (28, 28) image; uint8
pixels 0-255 or floats already in [0, 1] — or, by default, from the demo's
test split (``--data`` as in the demo), whose true labels are then shown too.
"""
import sys

import numpy as np


def add_arguments(parser):
    parser.add_argument("--model", default="demo_out/model.npz", help="default demo_out/model.npz")
    parser.add_argument("--images", default=None, metavar="FILE.npy",
                        help="images to classify (default: the demo's test split)")
    parser.add_argument("--data", default=None, metavar="PATH", help="as in `fastrnn demo`")
    parser.add_argument("--count", type=int, default=10,
                        help="how many images to list, spread over the set (default 10)")
    parser.add_argument("--backend", choices=("auto", "numpy", "cpu", "cuda"), default=None,
                        help="default: FASTRNN_BACKEND, else auto")


def load_images(path):
    """An .npy file of (N, 28, 28) or (28, 28) images -> (N, 28, 28) float32 in [0, 1]."""
    images = np.load(path, allow_pickle=False)
    images = images[None] if images.ndim == 2 else images
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{path}: expected images shaped (N, 28, 28) or (28, 28), "
                         f"got {images.shape}")
    if images.dtype == np.uint8:
        return (images / 255).astype(np.float32)
    if images.dtype.kind != "f" or images.min() < 0 or images.max() > 1:
        raise ValueError(f"{path}: expected uint8 pixels or floats in [0, 1], got {images.dtype} "
                         f"in [{images.min()}, {images.max()}]")
    return images.astype(np.float32)


def run(args):
    from . import data
    from .nn import SequenceClassifier
    try:
        model = SequenceClassifier.load(args.model, backend=args.backend)
    except FileNotFoundError:
        print(f"no model at {args.model}: run `fastrnn demo` first (or pass --model)",
              file=sys.stderr)
        return 2
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
