"""Backend "cpu": Numba kernels for the kernel contract (docs/design.md, "Backends").

Serial, GIL-free Numba kernels (``_loops``), one share of the work each, run
on our own threads (``_pool``); each runs our GEMM microkernel (``_tile``) and
the fused, vectorised gate kernels (``_cells``, ``_math``) on its share. Two
forward variants, "batch" and "units" (``fastrnn.config``).
Same signatures and results as ``fastrnn.reference``, within the float
tolerance of the dtype.
"""
import os

from .._jitcache import install_numba

install_numba()      # before any kernel below is defined (``fastrnn._jitcache``)

from .._threads import get_num_threads, limit_blas  # noqa: E402
from ._driver import VARIANTS, backward, forward  # noqa: E402
from ._stream import Stepper  # noqa: E402

if "NUMBA_NUM_THREADS" in os.environ:    # one thread count for ours and NumPy's BLAS
    limit_blas(get_num_threads())


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T, B, H), h_T (B, H), tape or None."""
    y, h_T, _, tape = forward("rnn", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths, options,
                              train)
    return y, h_T, tape


def rnn_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *rest, _ = backward(tape, dy, dh_T, None)
    return (dx, dh0, *rest)


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, options, train):
    """Returns y (T, B, P), h_T (B, P), c_T (B, H), tape or None (P = H without w_hr)."""
    return forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, options, train, w_hr)


def lstm_backward(tape, dy, dh_T, dc_T):
    """Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr (None without w_hr)."""
    return backward(tape, dy, dh_T, dc_T)


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, options, train):
    """Returns y (T, B, H), h_T (B, H), tape or None."""
    y, h_T, _, tape = forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths, options,
                              train)
    return y, h_T, tape


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *rest, _ = backward(tape, dy, dh_T, None)
    return (dx, dh0, *rest)


__all__ = ["VARIANTS", "Stepper", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
