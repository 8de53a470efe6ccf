"""``fastrnn check``: every cell, forward and backward, on every available backend,
compared with the NumPy reference on random data. Prints one row per run."""
import time

import numpy as np

from . import cells
from .cells import CELLS


def add_arguments(parser):
    """Add ``fastrnn check``'s options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import check
    >>> parser = argparse.ArgumentParser(prog="fastrnn check")
    >>> check.add_arguments(parser)
    >>> parser.parse_args(["--shape", "3,2,4,5"]).shape
    (3, 2, 4, 5)
    """
    from .cli import int_at_least
    parser.add_argument("--shape", type=parse_shape, default=parse_shape("12,5,7,9"),
                        help="T,B,I,H, four integers ≥ 1 (default 12,5,7,9)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--seed", type=int_at_least(0), default=0)


def parse_shape(text):
    """Parse ``"T,B,I,H"``: four integers ≥ 1.

    Parameters
    ----------
    text : str
        Four integers separated by commas.

    Returns
    -------
    tuple of int
        ``(T, B, I, H)``.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not four integers ≥ 1.

    Examples
    --------
    >>> from fastrnn.check import parse_shape
    >>> parse_shape("12,5,7,9")
    (12, 5, 7, 9)
    """
    import argparse
    parts = text.split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected T,B,I,H: four integers ≥ 1 separated by "
                                         f"commas, e.g. 12,5,7,9; got {text!r}")
    return shape


def random_problem(cell, T, B, I, H, dtype, seed=0):
    """Random inputs of ``fastrnn.<cell>_forward`` and gradients for its backward.

    Weights, biases and initial states are uniform in ±1/√H, ``x`` and the
    gradients standard normal; the B lengths run from T down to 0.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        The cell.
    T, B, I, H : int
        Steps, batch rows, input features, hidden units.
    dtype : str or numpy.dtype
        The dtype, float32 or float64.
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    args : dict of str to numpy.ndarray
        Keyword arguments of the forward.
    grads : dict of str to numpy.ndarray
        Keyword arguments of the backward (``dy``, ``dh_T``, for the LSTM ``dc_T``).

    Examples
    --------
    >>> from fastrnn.check import random_problem
    >>> args, grads = random_problem("lstm", 3, 2, 4, 5, "float32")
    >>> args["w_ih"].shape, args["lengths"], sorted(grads)
    ((20, 4), array([3, 0]), ['dc_T', 'dh_T', 'dy'])
    """
    return cells.random_problem(cell, T, B, I, H, dtype, seed)


def run_cell(cell, backend, args, grads):
    """A forward with ``train=True``, then the backward, on one backend.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        The cell.
    backend : str
        The backend's name.
    args, grads : dict of str to numpy.ndarray
        As `random_problem` returns them.

    Returns
    -------
    list of numpy.ndarray
        The forward's outputs (``y``, ``h_T``[, ``c_T``]), then every gradient.

    Examples
    --------
    >>> from fastrnn.check import random_problem, run_cell
    >>> arrays = run_cell("rnn", "numpy", *random_problem("rnn", 3, 2, 4, 5, "float64"))
    >>> [a.shape for a in arrays[:3]]
    [(3, 2, 5), (2, 5), (3, 2, 4)]
    """
    import fastrnn
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    return [np.asarray(a) for a in (*out[:-1], *back) if a is not None]   # dw_hr: None


def run(args):
    """``fastrnn check``: every cell on every available backend against the reference.

    Parameters
    ----------
    args : argparse.Namespace
        The options `add_arguments` defines.

    Returns
    -------
    int
        The exit status: 0 when every backend agrees with the reference (within
        1e-4 in float32, 1e-10 in float64), else 1.

    Examples
    --------
    >>> from fastrnn.cli import main
    >>> main(["check", "--shape", "3,2,2,3"])
    T,B,I,H = 3,2,2,3  dtype float64 ...
    all backends agree with the reference
    0
    """
    import fastrnn
    T, B, I, H = args.shape if isinstance(args.shape, tuple) else parse_shape(args.shape)
    print(f"T,B,I,H = {T},{B},{I},{H}  dtype {args.dtype}  lengths {T}..0  "
          f"(max |backend - reference| over outputs and every gradient)")
    print(f"{'cell':<6}{'backend':<9}{'max abs diff':>14}{'ms':>10}")
    worst = 0.0
    for cell in CELLS:
        problem = random_problem(cell, T, B, I, H, args.dtype, args.seed)
        ref = run_cell(cell, "numpy", *problem)
        for backend in fastrnn.available_backends():
            t0 = time.perf_counter()
            got = run_cell(cell, backend, *problem)
            ms = 1e3 * (time.perf_counter() - t0)
            diff = max(float(np.max(np.abs(a - b), initial=0)) for a, b in zip(got, ref))
            worst = max(worst, diff if backend != "numpy" else 0)
            print(f"{cell:<6}{backend:<9}{diff:>14.2e}{ms:>10.1f}")
    tol = 1e-4 if args.dtype == "float32" else 1e-10
    print("all backends agree with the reference" if worst <= tol
          else f"MISMATCH: {worst:.2e} > {tol:.0e}")
    return 0 if worst <= tol else 1
