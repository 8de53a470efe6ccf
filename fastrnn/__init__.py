"""fastrnn: fast RNN, LSTM and GRU forward and backprop through time for NumPy."""
from ._dispatch import available_backends, current_backend, use_backend
from ._threads import get_num_threads, set_num_threads
from .functional import (GRUGrads, GRUOutput, LSTMGrads, LSTMOutput, RNNGrads, RNNOutput,
                         Tape, gru_backward, gru_forward, lstm_backward, lstm_forward,
                         rnn_backward, rnn_forward)
from .layers import GRU, LSTM, RNN
from .keras import load_keras          # h5py is imported when a .keras file is read
from . import config, nn
from .pytorch import from_torch        # torch is imported when a module is converted
from .onnx import load_onnx, to_onnx   # onnx is imported when a graph is written or read

__version__ = "0.1.0"

__all__ = [
    "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "RNNOutput", "LSTMOutput", "GRUOutput", "RNNGrads", "LSTMGrads", "GRUGrads", "Tape",
    "use_backend", "current_backend", "available_backends",
    "set_num_threads", "get_num_threads",
    "RNN", "LSTM", "GRU", "nn", "config",
    "load_keras", "from_torch", "to_onnx", "load_onnx",
]
