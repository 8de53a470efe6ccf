"""The functional API: one layer, one direction, forward and backward, on any backend.

Time-major: x is (T, B, I). Weights follow PyTorch's layout and gate order
(docs/design.md, "Cells"; declared in ``fastrnn.cells``), so ``weight_ih_l0`` etc.
from a ``state_dict`` can be passed as
they are. G is the number of gate blocks: RNN 1, LSTM 4 (i, f, g, o),
GRU 3 (r, z, n).

    w_ih (G·H, I)   w_hh (G·H, H)   b_ih, b_hh (G·H,)   h0, c0 (B, H)
    lengths (B,) integers in [0, T]: steps t ≥ lengths[b] output zeros and
    leave sequence b's state unchanged (PyTorch PackedSequence semantics).

Forward calls return named tuples ending in ``tape``: None for inference,
with ``train=True`` the opaque record that the matching ``*_backward``
needs. Backward calls take the tape and the gradients of the loss with
respect to the outputs (None means zeros) and return the ``d``-prefixed
gradients of every input. Outputs have the dtype of x.

The tape's rule: what ``*_backward`` returns depends only on the forward call
that made the tape and on backward's own arguments. Changing ``y``, ``x``, the
weights, biases, states or lengths in place after the forward never changes
the gradients, on every backend. The tape owns everything its backward reads,
by copying (not by detecting changes, as PyTorch's version counters do):

- what the forward computes (the states entering every step, the gates, for
  the GRU h W_hnᵀ + b_hn) is written into the tape's own arrays by every
  backend; the returned ``y`` and final states are separate arrays.
- the inputs its backward reads again, ``x``, ``w_ih`` and ``w_hh``, are
  copied here when ``train=True``, unless validation already made a private
  copy (e.g. of a non-contiguous array). That is T·B·I + G·H·(I + H) elements,
  against the T·B·G·H (and more) of the tape's own arrays, and one memory pass
  against the forward's T·B·G·H·(I + H) multiply-adds. The biases, h0 and c0
  are not read by any backward (the tape holds the states and gates made from
  them); lengths are always a private int64 copy after validation.
- device (CUDA) inputs are copied on the device the same way (one
  device-to-device copy each); NumPy inputs to the cuda backend are already
  copied by their transfer to the device.

Copying rather than detecting: NumPy arrays have no version counter, so
detecting a change would mean hashing or comparing the arrays at backward,
a pass over the same memory that costs as much as the copy and turns a
legitimate use (reusing the x buffer for the next batch, an optimizer step
before backward) into an error instead of the right answer.

Non-finite values: NaN and ±inf in any input propagate as in the NumPy
reference (tanh(±inf) = ±1, σ(+inf) = 1, σ(−inf) = 0, NaN stays NaN, and
0·inf = NaN in the products) on every backend. ``check_finite=True`` makes a
forward raise a ``ValueError`` naming the first input that holds NaN or inf
(as SciPy's ``check_finite``); it costs one pass over every input.
NumPy masked arrays are refused with a ``TypeError``: use ``lengths``.
"""
import numpy as np

from . import _dispatch, _validate, backends
from .cells import GRU, LSTM, RNN, named_tuple
from .tape import Tape


def _types(cell):
    """The forward's and the backward's named tuples of ``cell``, from its declaration."""
    out = named_tuple(f"{cell.title}Output", cell.output_names(),
                      f"What {cell.name}_forward returns: y (T, B, H), the final states "
                      f"(B, H) each, and the tape (None unless train=True).")
    grads = named_tuple(f"{cell.title}Grads", cell.grad_names(),
                        f"What {cell.name}_backward returns: the gradients of x, of the initial "
                        f"states and of the parameters, shaped as they are.")
    return out, grads


RNNOutput, RNNGrads = _types(RNN)
LSTMOutput, LSTMGrads = _types(LSTM)
GRUOutput, GRUGrads = _types(GRU)


def _own(name, validated, given, backend):
    """A private copy of an input that the tape keeps, unless ``validated`` already is one."""
    if isinstance(validated, np.ndarray):
        if backend.device or not np.may_share_memory(validated, given):
            return validated     # a device backend copies it to the device; or a copy already
        return validated.copy()
    return backend.kernels().own(name, validated)     # device inputs: a device-to-device copy


def _forward(cell, backend, x, params, states, lengths, options, train, check_finite=False):
    name = _dispatch.resolve(backend, x)
    backend = backends.get(name)
    zeros = backend.kernels().zeros if _validate.is_device_array(x) else np.zeros
    x_, params_, states_, lengths, options, train = _validate.check_forward(
        cell, x, params, states, lengths, options, train, check_finite, zeros)
    if train:   # the tape owns what its backward reads (module docstring)
        x_ = _own("x", x_, x, backend)
        for p in cell.params:    # the weights (not the biases) are read again by backward
            if not p.bias and params_[p.name] is not None:
                params_[p.name] = _own(p.name, params_[p.name], params[p.name], backend)
    *outs, data = backend.kernel(cell.name, "forward")(
        x_, *params_.values(), *states_.values(), lengths, options, train)
    tape = None
    if train:
        T, B, I = x_.shape
        H = params_["w_hh"].shape[0] // cell.G
        tape = Tape(cell.name, name, (T, B, I, H, params_["w_hh"].shape[1]),
                    np.dtype(_validate._dtype_of(x_)), isinstance(x_, np.ndarray), data)
    return (*outs, tape)


def _backward(cell, backend, tape, grads):
    kernels = backends.get(tape.backend).kernels() if isinstance(tape, Tape) else None
    zeros = np.zeros if kernels is None or tape.host else kernels.zeros
    grads = _validate.check_backward(cell, tape, grads, zeros)
    if backend is not None and backend != "auto" and backend != tape.backend:
        raise ValueError(f"backend={backend!r} but the tape was made by backend "
                         f"{tape.backend!r}; a tape's backward runs on its own backend")
    return getattr(kernels, f"{cell.name}_backward")(tape.data, *grads)


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None,
                activation="tanh", train=False, backend=None, check_finite=False):
    """Elman RNN over a sequence: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh).

    x (T, B, I); w_ih (H, I); w_hh (H, H); b_ih, b_hh (H,) or None; h0 (B, H) or None;
    lengths (B,) or None; activation "tanh" | "relu"; backend None (the current
    default, see ``fastrnn.use_backend``) | "auto" | "numpy" | "cpu" | "cuda";
    check_finite True raises ValueError for NaN or inf in an input (default: they
    propagate as in the reference). With train=True the tape owns copies of what
    backward reads: changing y, x or the weights afterwards does not change the
    gradients (module docstring).
    Returns ``RNNOutput(y (T, B, H), h_T (B, H), tape)``.
    """
    return RNNOutput(*_forward(RNN, backend, x, dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh),
                               dict(h0=h0), lengths, dict(activation=activation), train,
                               check_finite))


def rnn_backward(tape, dy=None, dh_T=None, backend=None):
    """Backprop through time for ``rnn_forward``. dy (T, B, H), dh_T (B, H), None = zeros.

    Returns ``RNNGrads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``.
    """
    return RNNGrads(*_backward(RNN, backend, tape, dict(dy=dy, dh_T=dh_T)))


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None,
                 activation="tanh", train=False, backend=None, check_finite=False, *,
                 gate_activation="sigmoid", w_hr=None):
    """LSTM over a sequence (gates i, f, g, o)::

        i, f, o = σ(·), g = act(·) of x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh
        c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ act(c_t)
        with a projection w_hr (PyTorch's proj_size P):  h_t = (o ⊙ act(c_t)) W_hrᵀ

    x (T, B, I); w_ih (4H, I); w_hh (4H, P) (P = H without w_hr); b_ih, b_hh (4H,) or None;
    h0 (B, P), c0 (B, H) or None; lengths (B,) or None; activation "tanh" | "relu";
    gate_activation σ = "sigmoid" | "hard_sigmoid" (Keras 3's clip(a/6 + 1/2, 0, 1));
    w_hr (P, H) with P < H, or None; backend and check_finite as for ``rnn_forward``; the
    tape owns what backward reads.
    Returns ``LSTMOutput(y (T, B, P), h_T (B, P), c_T (B, H), tape)``.
    """
    return LSTMOutput(*_forward(LSTM, backend, x,
                                dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, w_hr=w_hr),
                                dict(h0=h0, c0=c0), lengths,
                                dict(activation=activation, gate_activation=gate_activation),
                                train, check_finite))


def lstm_backward(tape, dy=None, dh_T=None, dc_T=None, backend=None):
    """Backprop through time for ``lstm_forward``. dy (T, B, P); dh_T (B, P), dc_T (B, H);
    None = zeros (P = H without a projection).

    Returns ``LSTMGrads(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr)``; dw_hr is None
    without a projection.
    """
    return LSTMGrads(*_backward(LSTM, backend, tape, dict(dy=dy, dh_T=dh_T, dc_T=dc_T)))


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None,
                activation="tanh", train=False, backend=None, check_finite=False, *,
                gate_activation="sigmoid", reset_after=True):
    """GRU over a sequence (gates r, z, n)::

        r, z = σ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)           (their blocks of the rows)
        n = act(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))       reset_after=True (PyTorch, cuDNN)
        n = act(x W_inᵀ + b_in + (r ⊙ h) W_hnᵀ + b_hn)       reset_after=False (Keras
                                                             reset_after=False, ONNX
                                                             linear_before_reset=0)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

    x (T, B, I); w_ih (3H, I); w_hh (3H, H); b_ih, b_hh (3H,) or None; h0 (B, H) or None;
    lengths, activation, backend and check_finite as for ``rnn_forward``; gate_activation
    as for ``lstm_forward``; the tape owns what backward reads.
    Returns ``GRUOutput(y (T, B, H), h_T (B, H), tape)``.
    """
    return GRUOutput(*_forward(GRU, backend, x, dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh),
                               dict(h0=h0), lengths,
                               dict(activation=activation, gate_activation=gate_activation,
                                    reset_after=reset_after), train, check_finite))


def gru_backward(tape, dy=None, dh_T=None, backend=None):
    """Backprop through time for ``gru_forward``. dy (T, B, H), dh_T (B, H), None = zeros.

    Returns ``GRUGrads(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``.
    """
    return GRUGrads(*_backward(GRU, backend, tape, dict(dy=dy, dh_T=dh_T)))
