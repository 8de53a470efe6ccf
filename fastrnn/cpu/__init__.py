"""Backend "cpu": Numba kernels for the kernel contract (DESIGN §3).

The input projection and the weight gradients are large GEMMs (NumPy's BLAS);
the time loops are Numba kernels (``_loops``) with fused, vectorised gate
kernels (``_cells``, ``_math``). Same signatures and results as
``fastrnn.reference``, within the float tolerance of the dtype.
"""
import os

import numba

from .._threads import limit_blas
from ._driver import backward, forward

if "NUMBA_NUM_THREADS" in os.environ:    # one thread count for Numba and BLAS
    limit_blas(numba.config.NUMBA_NUM_THREADS)


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, activation, train):
    """Returns y (T, B, H), h_T (B, H), tape or None."""
    y, h_T, _, tape = forward("rnn", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths, activation,
                              train)
    return y, h_T, tape


def rnn_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *rest = backward(tape, dy, dh_T, None)
    return (dx, dh0, *rest)


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train):
    """Returns y (T, B, H), h_T (B, H), c_T (B, H), tape or None."""
    return forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, activation, train)


def lstm_backward(tape, dy, dh_T, dc_T):
    """Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh."""
    return backward(tape, dy, dh_T, dc_T)


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, activation, train):
    """Returns y (T, B, H), h_T (B, H), tape or None."""
    y, h_T, _, tape = forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths, activation,
                              train)
    return y, h_T, tape


def gru_backward(tape, dy, dh_T):
    """Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dx, dh0, _, *rest = backward(tape, dy, dh_T, None)
    return (dx, dh0, *rest)


__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
