"""The ``fastrnn`` command: demo, predict, bench, check, info.

Each subcommand lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them together and imports a
subcommand's module when that subcommand runs.
"""
import argparse
import importlib
import sys

#: subcommand -> (module, one-line help)
COMMANDS = {
    "demo": ("fastrnn.demo", "train the classic row-by-row digit classifier"),
    "predict": ("fastrnn.predict", "classify digit images with the model `fastrnn demo` saved"),
    "bench": ("fastrnn.bench", "time fastrnn against its peers, side by side"),
    "check": ("fastrnn.check", "run every cell on every backend and compare with the reference"),
    "info": ("fastrnn.info", "versions, backends, threading layer, threads and BLAS"),
}


def _load(name):
    return importlib.import_module(COMMANDS[name][0])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastrnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        # only the chosen subcommand's module (and its dependencies) is imported
        if name in argv[:1]:
            _load(name).add_arguments(p)
    args = parser.parse_args(argv)
    return _load(args.command).run(args)


if __name__ == "__main__":
    sys.exit(main())
