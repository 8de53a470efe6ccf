"""The ``fastrnn`` command: demo, predict, bench, check, info, warmup.

Each subcommand lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them together and imports a
subcommand's module when that subcommand runs.

Errors: a bad argument, a bad file or an unavailable backend prints one line on
stderr (``fastrnn CMD: error: ...``) and exits with status 2, with no traceback;
an unexpected error prints one line too and exits with 1. ``--debug`` (before or
after the subcommand) or ``FASTRNN_DEBUG=1`` shows the traceback instead.
"""
import argparse
import importlib
import math
import os
import sys
import zipfile

#: subcommand -> (module, one-line help)
COMMANDS = {
    "demo": ("fastrnn.demo", "train the classic row-by-row digit classifier"),
    "predict": ("fastrnn.predict", "classify digit images with the model `fastrnn demo` saved"),
    "bench": ("fastrnn.bench", "time fastrnn against its peers, side by side"),
    "check": ("fastrnn.check", "run every cell on every backend and compare with the reference"),
    "info": ("fastrnn.info", "versions, backends, threads and BLAS"),
    "warmup": ("fastrnn.warmup", "compile the cpu kernels into Numba's cache (deployments, CI)"),
}

#: errors that mean "bad input" (an argument, a file, the environment): exit status 2
USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile, ImportError,
               RuntimeError)


class UsageError(Exception):
    """A mistake of the user's, reported as one line and exit status 2.

    A subcommand's ``run`` raises it for what argparse cannot check (a missing
    model file, an ``--out`` that is a file).

    Examples
    --------
    >>> import contextlib, sys
    >>> from fastrnn import cli
    >>> with contextlib.redirect_stderr(sys.stdout):      # the message goes to stderr
    ...     cli.main(["predict", "--model", "no/such/model.npz"])
    fastrnn predict: error: no model at no/such/model.npz: run `fastrnn demo` first (or pass --model)
    2
    """


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage block), status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---- argument types shared by the subcommands ------------------------------------------
def int_at_least(minimum):
    """An argparse ``type=``: an integer ≥ ``minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value accepted.

    Returns
    -------
    callable
        ``text -> int``, raising `argparse.ArgumentTypeError` for anything else.

    Examples
    --------
    >>> from fastrnn.cli import int_at_least
    >>> int_at_least(1)("64")
    64
    >>> int_at_least(1)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected an integer ≥ 1, got '0'
    """
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {text!r}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {text!r}")
        return value
    parse.__name__ = f"integer ≥ {minimum}"
    return parse


def positive_float(text):
    """An argparse ``type=``: a finite number > 0.

    Parameters
    ----------
    text : str
        The argument as given.

    Returns
    -------
    float
        Its value.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a finite number > 0.

    Examples
    --------
    >>> from fastrnn.cli import positive_float
    >>> positive_float("3e-3")
    0.003
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _load(name):
    return importlib.import_module(COMMANDS[name][0])


def _debug_requested(argv):
    return "--debug" in argv or os.environ.get("FASTRNN_DEBUG", "").strip() not in ("", "0")


def _one_line(err):
    text = " ".join(str(err).split()) or type(err).__name__
    return text


def main(argv=None):
    """Run the ``fastrnn`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``fastrnn`` (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a mistake of the user's (printed as
        one line, ``fastrnn CMD: error: ...``), 1 for an unexpected error, 130
        after Ctrl-C; a subcommand may return its own (``check``: 1 on a
        mismatch).

    Examples
    --------
    >>> from fastrnn.cli import main
    >>> main(["info"])
    fastrnn ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = _Parser(prog="fastrnn", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: FASTRNN_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    try:
        for name, (_, help_) in COMMANDS.items():
            p = sub.add_parser(name, help=help_, description=help_)
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the traceback of an error (also: FASTRNN_DEBUG=1)")
            # only the chosen subcommand's module (and its dependencies) is imported
            if name == command:
                _load(name).add_arguments(p)
        args, extra = parser.parse_known_args(argv)
        if extra:
            sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit_:       # --help, or a bad argument (already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    except Exception as err:
        if debug:
            raise
        print(f"fastrnn {command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    prog = f"fastrnn {args.command}"
    try:
        return _load(args.command).run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, *USER_ERRORS) as err:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if debug:
            raise
        print(f"{prog}: unexpected error: {type(err).__name__}: {_one_line(err)} "
              f"(run `fastrnn --debug {args.command} ...` for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
