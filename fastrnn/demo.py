"""``fastrnn demo``: placeholder until the digit-classifier demo lands — runs ``fastrnn check``."""
from .check import add_arguments, run  # noqa: F401
