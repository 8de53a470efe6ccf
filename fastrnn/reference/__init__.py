"""The NumPy reference: the specification, the test oracle and backend "numpy".

Readable on purpose: one loop over time per pass, the equations in comments.
Imports nothing of fastrnn's but its own modules, and nothing but NumPy.
"""
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
