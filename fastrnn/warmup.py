"""``fastrnn warmup``: compile, into Numba's cache, the cpu kernels a deployment will call.

Run it once where the cache will live (a container image build, a CI cache
step, each worker of a cluster that has its own disk): every later process
then loads the kernels from the cache instead of compiling them (see
docs/performance.md, "Cold start"). The cache is Numba's: ``NUMBA_CACHE_DIR`` when set,
else ``__pycache__`` beside fastrnn's sources (or a per-user directory when
those are read-only).

A kernel is compiled per dtype and cell; each of these runs a tiny call of every
selected cell and pass on the cpu backend with each forward variant (the
"auto" choice picks one of them by batch size, so a deployment needs both),
with the cell's default options (tanh, the sigmoid, the GRU's reset_after):
a model with other activations, or a GRU without reset_after, has loops of its
own, compiled on their first call.
"""
import argparse
import itertools
import time

from .cells import CELLS as _DECLARED, get as get_cell

CELLS = tuple(_DECLARED)
DTYPES = ("float32", "float64")
PASSES = ("fwd", "train")


def _list(choices):
    """An argparse ``type=``: a comma-separated list of some of ``choices``."""
    def parse(text):
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of "
                                             f"{', '.join(choices)}, got {text!r}")
        return items
    return parse


def add_arguments(parser):
    """Add ``fastrnn warmup``'s options to ``parser`` (and this module's docstring as its description).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Examples
    --------
    >>> import argparse
    >>> from fastrnn import warmup
    >>> parser = argparse.ArgumentParser(prog="fastrnn warmup")
    >>> warmup.add_arguments(parser)
    >>> parser.parse_args(["--cells", "lstm,gru"]).cells
    ['lstm', 'gru']
    """
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--cells", type=_list(CELLS), default=list(CELLS), metavar="LIST",
                        help="cells to compile (default: rnn,lstm,gru)")
    parser.add_argument("--dtypes", type=_list(DTYPES), default=["float32"], metavar="LIST",
                        help="float32 (default), float64 or both")
    parser.add_argument("--passes", type=_list(PASSES), default=list(PASSES), metavar="LIST",
                        help="fwd (inference), train (forward with a tape and backward); "
                             "default: both")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def tasks(cells, dtypes, passes):
    """What to compile, in order: every dtype, cell, pass and forward variant.

    Parameters
    ----------
    cells : list of str
        Some of ``"rnn"``, ``"lstm"``, ``"gru"``.
    dtypes : list of str
        Some of ``"float32"``, ``"float64"``.
    passes : list of str
        Some of ``"fwd"`` (inference), ``"train"`` (forward with a tape, backward).

    Returns
    -------
    list of tuple of str
        ``(dtype, cell, pass, variant)``, variant ``"batch"`` or ``"units"``.

    Examples
    --------
    >>> from fastrnn import warmup
    >>> warmup.tasks(["lstm"], ["float32"], ["fwd"])
    [('float32', 'lstm', 'fwd', 'batch'), ('float32', 'lstm', 'fwd', 'units')]
    """
    from .backends import get
    return list(itertools.product(dtypes, cells, passes, get("cpu").variants))


def compile_one(dtype, cell, kind, variant):
    """One tiny call on the cpu backend, which compiles (or loads) what it needs.

    Parameters
    ----------
    dtype : str
        ``"float32"`` or ``"float64"``.
    cell : str
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    kind : str
        ``"fwd"`` (inference) or ``"train"`` (forward with a tape, then backward).
    variant : str
        The forward variant, set in `fastrnn.config.CPU_VARIANT` for the call.

    Examples
    --------
    >>> from fastrnn import warmup
    >>> warmup.compile_one("float32", "gru", "fwd", "batch")
    """
    import numpy as np

    import fastrnn
    from fastrnn import config
    H = 4
    G = get_cell(cell).G
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 3)).astype(dtype)
    w_ih, w_hh = (rng.standard_normal((G * H, n)).astype(dtype) for n in (3, H))
    before = config.CPU_VARIANT
    config.CPU_VARIANT = variant
    try:
        out = getattr(fastrnn, f"{cell}_forward")(x, w_ih, w_hh, train=kind == "train",
                                                  backend="cpu")
        if kind == "train":
            getattr(fastrnn, f"{cell}_backward")(out.tape, dy=np.ones_like(out.y))
    finally:
        config.CPU_VARIANT = before


def _progress(items, enabled):
    if enabled:
        try:
            from tqdm import tqdm
            return tqdm(items, unit="kernel", ncols=80)
        except ImportError:
            pass
    return items


def run(args):
    """``fastrnn warmup``: run every task of `tasks`, then print one line.

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
    RuntimeError
        If the cpu backend is not available.

    Examples
    --------
    >>> from fastrnn.cli import main
    >>> main(["warmup", "--cells", "rnn", "--passes", "fwd", "--no-progress"])
    fastrnn warmup: 2 calls (rnn; fwd; float32) compiled or loaded in ... s
    0
    """
    from . import _dispatch
    why = _dispatch._why_unavailable("cpu")
    if why is not None:
        raise RuntimeError(f"the cpu backend is not available: {why}")
    todo = tasks(args.cells, args.dtypes, args.passes)
    start = time.perf_counter()
    bar = _progress(todo, not args.no_progress)
    for dtype, cell, kind, variant in bar:
        if hasattr(bar, "set_description"):
            bar.set_description(f"{cell} {kind} {dtype} {variant}")
        compile_one(dtype, cell, kind, variant)
    print(f"fastrnn warmup: {len(todo)} calls ({', '.join(args.cells)}; {', '.join(args.passes)}; "
          f"{', '.join(args.dtypes)}) compiled or loaded in {time.perf_counter() - start:.1f} s")
    return 0
