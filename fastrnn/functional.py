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

from . import _buffers, _dispatch, _validate, backends
from .cells import GRU, LSTM, RNN, named_tuple
from .tape import Tape


def _shape_text(symbols, cell):
    """A declaration's shape symbols as the docstrings write them: (4H, I), (B, P), (3H,)."""
    names = {"GH": f"{cell.G}H" if cell.G > 1 else "H", "P": "P" if cell.projects else "H",
             "T1": "T + 1"}
    parts = [names.get(s, s) for s in symbols]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _example(cell, train):
    """The lines of a small example that runs ``<cell>_forward`` (and with ``train``, its
    backward) on arrays of ones."""
    G = f"{cell.G} * " if cell.G > 1 else ""
    return [">>> import numpy as np",
            ">>> import fastrnn",
            ">>> T, B, I, H = 5, 2, 3, 4",
            ">>> x = np.ones((T, B, I), np.float32)",
            f">>> w_ih = np.full(({G}H, I), 0.1, np.float32)",
            f">>> w_hh = np.full(({G}H, H), 0.1, np.float32)",
            f">>> out = fastrnn.{cell.name}_forward(x, w_ih, w_hh"
            + (", train=True)" if train else ")")]


def _types(cell):
    """The forward's and the backward's named tuples of ``cell``, from its declaration.

    Their docstrings are numpydoc's: the fields as the constructor's Parameters (a
    named tuple's signature) and as Attributes with their shapes, and an example; each
    field's own docstring (``help(RNNOutput.y)``) is its description.
    """
    P = "P" if cell.projects else "H"
    where_p = " P = H unless ``w_hr`` projects h to P units." if cell.projects else ""
    state_doc = {"h": "The final hidden state: each sequence's h at its last valid step "
                      "(h0 where its length is 0).",
                 "c": "The final cell state, as h_T."}
    out_fields = {"y": ("numpy.ndarray or device array", f"(T, B, {P})",
                        "h_t at every step; zeros at the steps t ≥ lengths[b]."),
                  **{f"{s}_T": ("numpy.ndarray or device array",
                                _shape_text(("B", "P" if s == "h" else "H"), cell), state_doc[s])
                     for s in cell.states},
                  "tape": ("Tape or None", None,
                           f"What `{cell.name}_backward` needs: None unless "
                           f"``train=True``.")}
    grad_fields = {"dx": ("numpy.ndarray or device array", "(T, B, I)",
                          "The gradient of the loss with respect to x.")}
    for s in cell.states:
        grad_fields[f"d{s}0"] = ("numpy.ndarray or device array",
                                 _shape_text(("B", "P" if s == "h" else "H"), cell),
                                 f"With respect to the initial state {s}0.")
    for p in cell.params:
        text = f"With respect to {p.name}."
        if p.bias:
            text += f" Returned also when the forward's {p.name} was None (a zero bias)."
        if p.optional:
            text += " None without a projection."
        grad_fields[f"d{p.name}"] = (("numpy.ndarray, device array or None" if p.optional
                                      else "numpy.ndarray or device array"),
                                     _shape_text(p.shape, cell), text)

    def doc(summary, extended, fields, see_also, example):
        lines = [summary, "", extended, "",
                 "Parameters", "----------", ", ".join(fields),
                 "    The fields, in this order (see Attributes).", "",
                 "Attributes", "----------"]
        for name, (kind, shape_, text) in fields.items():
            lines += [f"{name} : {kind}" + (f", shape {shape_}" if shape_ else ""),
                      f"    {text}"]
        lines += ["", "See Also", "--------", see_also, "", "Examples", "--------", *example]
        return "\n".join(lines) + "\n"

    out_doc = doc(f"What `{cell.name}_forward` returns: the outputs, the final states and the "
                  f"tape.",
                  f"A named tuple: unpack it, or read its fields by name. The arrays have "
                  f"x's dtype and are NumPy or device arrays as x is.{where_p}",
                  out_fields, f"{cell.name}_forward : Returns it.\n"
                  f"{cell.title}Grads : What {cell.name}_backward returns.",
                  [*_example(cell, False),
                   f">>> {', '.join(out_fields)} = out",
                   ">>> " + ", ".join(f"{f}.shape" for f in out_fields if f != "tape")
                   + ", tape is None",
                   "(" + ", ".join(["(5, 2, 4)"] + ["(2, 4)"] * len(cell.states)) + ", True)",
                   ">>> out._fields",
                   repr(tuple(out_fields))])
    grads_doc = doc(f"What `{cell.name}_backward` returns: the gradients of x, of the initial "
                    f"states and of the parameters.",
                    f"A named tuple: unpack it, or read its fields by name. Each gradient is "
                    f"shaped as what it is the gradient of, with the forward's dtype.{where_p}",
                    grad_fields, f"{cell.name}_backward : Returns it.\n"
                    f"{cell.title}Output : What {cell.name}_forward returns.",
                    [*_example(cell, True),
                     f">>> grads = fastrnn.{cell.name}_backward(out.tape, dy=np.ones_like(out.y))",
                     ">>> grads.dx.shape, grads.dw_ih.shape, grads.dw_hh.shape, "
                     "grads.db_ih.shape",
                     f"((5, 2, 3), ({cell.G * 4}, 3), ({cell.G * 4}, 4), ({cell.G * 4},))",
                     ">>> grads._fields",
                     repr(tuple(grad_fields))])
    out = named_tuple(f"{cell.title}Output", cell.output_names(), out_doc)
    grads = named_tuple(f"{cell.title}Grads", cell.grad_names(), grads_doc)
    for cls, fields in ((out, out_fields), (grads, grad_fields)):
        for name, (_, shape_, text) in fields.items():
            getattr(cls, name).__doc__ = (f"{shape_}: " if shape_ else "") + text
    return out, grads


RNNOutput, RNNGrads = _types(RNN)
LSTMOutput, LSTMGrads = _types(LSTM)
GRUOutput, GRUGrads = _types(GRU)


def _own(name, validated, given, backend):
    """A private copy of an input that the tape keeps, unless ``validated`` already is one."""
    if isinstance(validated, np.ndarray):
        if backend.device or not np.may_share_memory(validated, given):
            return validated     # a device backend copies it to the device; or a copy already
        copy = _buffers.empty(validated.shape, validated.dtype)   # recycled memory
        copy[...] = validated
        return copy
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

    One layer, one direction; the weights are PyTorch's (``weight_ih_l0`` etc. of a
    ``state_dict`` can be passed as they are).

    Parameters
    ----------
    x : numpy.ndarray or CUDA device array, shape (T, B, I)
        The inputs, time-major, float32 or float64: every other array must have this
        dtype, and be a NumPy array if x is one, a device array if x is one.
    w_ih : numpy.ndarray or CUDA device array, shape (H, I)
        The input weights.
    w_hh : numpy.ndarray or CUDA device array, shape (H, H)
        The recurrent weights; H ≥ 1.
    b_ih, b_hh : numpy.ndarray or CUDA device array, shape (H,), optional
        The biases; None is zeros.
    h0 : numpy.ndarray or CUDA device array, shape (B, H), optional
        The initial state; None is zeros.
    lengths : array_like of int, shape (B,), optional
        Each sequence's length, in [0, T]: steps t ≥ lengths[b] output zeros and leave
        sequence b's state unchanged (PyTorch's PackedSequence semantics). None: every
        sequence has T steps.
    activation : {"tanh", "relu"}, default "tanh"
        act, the nonlinearity of the candidate.
    train : bool, default False
        Keep the tape that `rnn_backward` needs. The tape owns copies of what
        backward reads: changing y, x or the weights afterwards does not change the
        gradients (the tape's rule: see `Tape`).
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        Where the call runs. None: the current default (`use_backend`, else the
        FASTRNN_BACKEND environment variable, else "auto"); "auto": "cuda" for device
        arrays, else "cpu" when Numba is installed, else "numpy".
    check_finite : bool, default False
        Raise a ValueError naming the first input that holds NaN or inf, at the cost of
        one pass over every input. Default: they propagate as in the NumPy reference.

    Returns
    -------
    RNNOutput
        ``y`` (T, B, H), the state after every step (zeros past each length);
        ``h_T`` (B, H), each sequence's final state; ``tape``, None unless
        ``train=True``. Arrays of x's dtype.

    Raises
    ------
    TypeError
        If an array argument is not a NumPy or CUDA device array, or is a NumPy masked
        array (use ``lengths``); if x's dtype is not float32 or float64, or another
        array's differs from it; if NumPy and device arrays are mixed; if ``lengths``
        are not integers; if ``train`` or ``check_finite`` is not a bool; if x is a
        device array and ``backend`` runs on the host.
    ValueError
        If an array has the wrong number of dimensions or the wrong shape (w_hh must be
        (H, H), H ≥ 1); if ``lengths`` are not B whole numbers in [0, T]; if an option
        is not one of its choices; if ``backend`` is not a backend's name; with
        ``check_finite=True``, if an input holds NaN or inf.
    RuntimeError
        If the backend cannot run here (e.g. "cuda" without a GPU, "cpu" without
        Numba).

    See Also
    --------
    rnn_backward : Backprop through time from the tape.
    RNN : Several layers, both directions.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 5, 2, 3, 4
    >>> x = rng.standard_normal((T, B, I)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (H, I)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (H, H)).astype(np.float32)
    >>> y, h_T, tape = fastrnn.rnn_forward(x, w_ih, w_hh, lengths=[5, 3])
    >>> y.shape, h_T.shape, tape
    ((5, 2, 4), (2, 4), None)
    >>> bool(np.allclose(y[0], np.tanh(x[0] @ w_ih.T), atol=1e-6))   # h0 = 0: one step
    True
    >>> bool((y[3:, 1] == 0).all())       # sequence 1 has 3 steps: zeros after them
    True
    >>> bool((h_T[1] == y[2, 1]).all())   # and its final state is its third step's
    True
    """
    return RNNOutput(*_forward(RNN, backend, x, dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh),
                               dict(h0=h0), lengths, dict(activation=activation), train,
                               check_finite))


def rnn_backward(tape, dy=None, dh_T=None, backend=None):
    """Backprop through time for `rnn_forward`: the gradients of all its inputs.

    Parameters
    ----------
    tape : Tape
        The tape of ``rnn_forward(..., train=True)``.
    dy : numpy.ndarray or CUDA device array, shape (T, B, H), optional
        The gradient of the loss with respect to y; None is zeros.
    dh_T : numpy.ndarray or CUDA device array, shape (B, H), optional
        The gradient of the loss with respect to h_T; None is zeros.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        None, "auto" or the tape's own backend: a tape's backward runs where its
        forward ran.

    Returns
    -------
    RNNGrads
        ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``, each shaped as what it is the
        gradient of: dx (T, B, I), dh0 (B, H), dw_ih (H, I), dw_hh (H, H), db_ih and
        db_hh (H,). The same for the same tape and arguments, whatever was changed in
        place since the forward.

    Raises
    ------
    TypeError
        If ``tape`` is not the tape of a training forward; if a gradient is not an
        array of the forward's dtype, or is a NumPy array where the forward's inputs
        were device arrays (or the reverse).
    ValueError
        If the tape comes from another cell's forward; if a gradient has the wrong
        shape; if ``backend`` is another backend than the tape's.

    See Also
    --------
    rnn_forward : The forward that makes the tape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (4, 3)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (4, 4)).astype(np.float32)
    >>> out = fastrnn.rnn_forward(x, w_ih, w_hh, train=True)
    >>> grads = fastrnn.rnn_backward(out.tape, dy=np.ones_like(out.y))   # loss = y.sum()
    >>> grads.dx.shape, grads.dh0.shape, grads.dw_ih.shape, grads.db_hh.shape
    ((5, 2, 3), (2, 4), (4, 3), (4,))
    >>> bool(np.allclose(grads.db_ih, grads.db_hh))   # both biases are added the same way
    True
    """
    return RNNGrads(*_backward(RNN, backend, tape, dict(dy=dy, dh_T=dh_T)))


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None,
                 activation="tanh", train=False, backend=None, check_finite=False, *,
                 gate_activation="sigmoid", w_hr=None):
    """LSTM over a sequence (gates i, f, g, o), with an optional projection of h.

    The equations, with σ the gate activation and act the activation::

        i, f, o = σ(·), g = act(·) of x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh
        c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ act(c_t)
        with a projection w_hr (PyTorch's proj_size P):  h_t = (o ⊙ act(c_t)) W_hrᵀ

    The four gate blocks are stacked in the rows of w_ih and w_hh in PyTorch's order
    i, f, g, o. P = H without ``w_hr``.

    Parameters
    ----------
    x : numpy.ndarray or CUDA device array, shape (T, B, I)
        The inputs, time-major, float32 or float64: every other array must have this
        dtype, and be a NumPy array if x is one, a device array if x is one.
    w_ih : numpy.ndarray or CUDA device array, shape (4H, I)
        The input weights.
    w_hh : numpy.ndarray or CUDA device array, shape (4H, P)
        The recurrent weights; H ≥ 1.
    b_ih, b_hh : numpy.ndarray or CUDA device array, shape (4H,), optional
        The biases; None is zeros.
    h0 : numpy.ndarray or CUDA device array, shape (B, P), optional
        The initial hidden state; None is zeros.
    c0 : numpy.ndarray or CUDA device array, shape (B, H), optional
        The initial cell state; None is zeros.
    lengths : array_like of int, shape (B,), optional
        Each sequence's length, in [0, T]: steps t ≥ lengths[b] output zeros and leave
        sequence b's state unchanged (PyTorch's PackedSequence semantics). None: every
        sequence has T steps.
    activation : {"tanh", "relu"}, default "tanh"
        act, the nonlinearity of the candidate (g) and of the output (act(c_t)).
    train : bool, default False
        Keep the tape that `lstm_backward` needs. The tape owns copies of what
        backward reads: changing y, x or the weights afterwards does not change the
        gradients (the tape's rule: see `Tape`).
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        Where the call runs. None: the current default (`use_backend`, else the
        FASTRNN_BACKEND environment variable, else "auto"); "auto": "cuda" for device
        arrays, else "cpu" when Numba is installed, else "numpy".
    check_finite : bool, default False
        Raise a ValueError naming the first input that holds NaN or inf, at the cost of
        one pass over every input. Default: they propagate as in the NumPy reference.
    gate_activation : {"sigmoid", "hard_sigmoid"}, default "sigmoid"
        σ: 1 / (1 + e^−a), or Keras 3's hard sigmoid clip(a/6 + 1/2, 0, 1).
    w_hr : numpy.ndarray or CUDA device array, shape (P, H), optional
        The projection, 1 ≤ P < H (PyTorch's ``weight_hr_l0``); None: no projection.

    Returns
    -------
    LSTMOutput
        ``y`` (T, B, P), h after every step (zeros past each length); ``h_T`` (B, P)
        and ``c_T`` (B, H), each sequence's final states; ``tape``, None unless
        ``train=True``. Arrays of x's dtype.

    Raises
    ------
    TypeError
        If an array argument is not a NumPy or CUDA device array, or is a NumPy masked
        array (use ``lengths``); if x's dtype is not float32 or float64, or another
        array's differs from it; if NumPy and device arrays are mixed; if ``lengths``
        are not integers; if ``train`` or ``check_finite`` is not a bool; if x is a
        device array and ``backend`` runs on the host.
    ValueError
        If an array has the wrong number of dimensions or the wrong shape (w_hh must be
        (4H, P); w_hr (P, H) with 1 ≤ P < H); if ``lengths`` are not B whole numbers in
        [0, T]; if an option is not one of its choices; if ``backend`` is not a backend's
        name; with ``check_finite=True``, if an input holds NaN or inf.
    RuntimeError
        If the backend cannot run here (e.g. "cuda" without a GPU, "cpu" without
        Numba).

    See Also
    --------
    lstm_backward : Backprop through time from the tape.
    LSTM : Several layers, both directions.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 5, 2, 3, 4
    >>> x = rng.standard_normal((T, B, I)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (4 * H, I)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (4 * H, H)).astype(np.float32)
    >>> y, h_T, c_T, tape = fastrnn.lstm_forward(x, w_ih, w_hh)
    >>> y.shape, h_T.shape, c_T.shape
    ((5, 2, 4), (2, 4), (2, 4))

    With a projection of the 4 units to P = 2, h and y have 2:

    >>> P = 2
    >>> w_hr = rng.uniform(-0.5, 0.5, (P, H)).astype(np.float32)
    >>> w_hh_p = rng.uniform(-0.5, 0.5, (4 * H, P)).astype(np.float32)
    >>> out = fastrnn.lstm_forward(x, w_ih, w_hh_p, w_hr=w_hr)
    >>> out.y.shape, out.h_T.shape, out.c_T.shape
    ((5, 2, 2), (2, 2), (2, 4))
    """
    return LSTMOutput(*_forward(LSTM, backend, x,
                                dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, w_hr=w_hr),
                                dict(h0=h0, c0=c0), lengths,
                                dict(activation=activation, gate_activation=gate_activation),
                                train, check_finite))


def lstm_backward(tape, dy=None, dh_T=None, dc_T=None, backend=None):
    """Backprop through time for `lstm_forward`: the gradients of all its inputs.

    P = H without a projection.

    Parameters
    ----------
    tape : Tape
        The tape of ``lstm_forward(..., train=True)``.
    dy : numpy.ndarray or CUDA device array, shape (T, B, P), optional
        The gradient of the loss with respect to y; None is zeros.
    dh_T : numpy.ndarray or CUDA device array, shape (B, P), optional
        The gradient of the loss with respect to h_T; None is zeros.
    dc_T : numpy.ndarray or CUDA device array, shape (B, H), optional
        The gradient of the loss with respect to c_T; None is zeros.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        None, "auto" or the tape's own backend: a tape's backward runs where its
        forward ran.

    Returns
    -------
    LSTMGrads
        ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr)``, each shaped as what it
        is the gradient of: dx (T, B, I), dh0 (B, P), dc0 (B, H), dw_ih (4H, I), dw_hh
        (4H, P), db_ih and db_hh (4H,), dw_hr (P, H), or None without a projection.

    Raises
    ------
    TypeError
        If ``tape`` is not the tape of a training forward; if a gradient is not an
        array of the forward's dtype, or is a NumPy array where the forward's inputs
        were device arrays (or the reverse).
    ValueError
        If the tape comes from another cell's forward; if a gradient has the wrong
        shape; if ``backend`` is another backend than the tape's.

    See Also
    --------
    lstm_forward : The forward that makes the tape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (16, 3)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (16, 4)).astype(np.float32)
    >>> out = fastrnn.lstm_forward(x, w_ih, w_hh, train=True)
    >>> grads = fastrnn.lstm_backward(out.tape, dc_T=np.ones_like(out.c_T))  # loss = c_T.sum()
    >>> grads.dx.shape, grads.dc0.shape, grads.dw_hh.shape, grads.dw_hr
    ((5, 2, 3), (2, 4), (16, 4), None)
    """
    return LSTMGrads(*_backward(LSTM, backend, tape, dict(dy=dy, dh_T=dh_T, dc_T=dc_T)))


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None,
                activation="tanh", train=False, backend=None, check_finite=False, *,
                gate_activation="sigmoid", reset_after=True):
    """GRU over a sequence (gates r, z, n), with PyTorch's or Keras's n gate.

    The equations, with σ the gate activation and act the activation::

        r, z = σ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)           (their blocks of the rows)
        n = act(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))       reset_after=True (PyTorch, cuDNN)
        n = act(x W_inᵀ + b_in + (r ⊙ h) W_hnᵀ + b_hn)       reset_after=False (Keras
                                                             reset_after=False, ONNX
                                                             linear_before_reset=0)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

    The three gate blocks are stacked in the rows of w_ih and w_hh in PyTorch's order
    r, z, n (W_in, W_hn, b_in, b_hn: the n block).

    Parameters
    ----------
    x : numpy.ndarray or CUDA device array, shape (T, B, I)
        The inputs, time-major, float32 or float64: every other array must have this
        dtype, and be a NumPy array if x is one, a device array if x is one.
    w_ih : numpy.ndarray or CUDA device array, shape (3H, I)
        The input weights.
    w_hh : numpy.ndarray or CUDA device array, shape (3H, H)
        The recurrent weights; H ≥ 1.
    b_ih, b_hh : numpy.ndarray or CUDA device array, shape (3H,), optional
        The biases; None is zeros.
    h0 : numpy.ndarray or CUDA device array, shape (B, H), optional
        The initial state; None is zeros.
    lengths : array_like of int, shape (B,), optional
        Each sequence's length, in [0, T]: steps t ≥ lengths[b] output zeros and leave
        sequence b's state unchanged (PyTorch's PackedSequence semantics). None: every
        sequence has T steps.
    activation : {"tanh", "relu"}, default "tanh"
        act, the nonlinearity of the candidate (n).
    train : bool, default False
        Keep the tape that `gru_backward` needs. The tape owns copies of what
        backward reads: changing y, x or the weights afterwards does not change the
        gradients (the tape's rule: see `Tape`).
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        Where the call runs. None: the current default (`use_backend`, else the
        FASTRNN_BACKEND environment variable, else "auto"); "auto": "cuda" for device
        arrays, else "cpu" when Numba is installed, else "numpy".
    check_finite : bool, default False
        Raise a ValueError naming the first input that holds NaN or inf, at the cost of
        one pass over every input. Default: they propagate as in the NumPy reference.
    gate_activation : {"sigmoid", "hard_sigmoid"}, default "sigmoid"
        σ, as for `lstm_forward`.
    reset_after : bool, default True
        Where r acts in n: on h W_hnᵀ + b_hn (True: PyTorch, cuDNN, Keras's default)
        or on h before W_hn (False: Keras ``reset_after=False``, ONNX
        ``linear_before_reset=0``).

    Returns
    -------
    GRUOutput
        ``y`` (T, B, H), the state after every step (zeros past each length);
        ``h_T`` (B, H), each sequence's final state; ``tape``, None unless
        ``train=True``. Arrays of x's dtype.

    Raises
    ------
    TypeError
        If an array argument is not a NumPy or CUDA device array, or is a NumPy masked
        array (use ``lengths``); if x's dtype is not float32 or float64, or another
        array's differs from it; if NumPy and device arrays are mixed; if ``lengths``
        are not integers; if ``train`` or ``check_finite`` is not a bool; if x is a
        device array and ``backend`` runs on the host.
    ValueError
        If an array has the wrong number of dimensions or the wrong shape (w_hh must be
        (3H, H), H ≥ 1); if ``lengths`` are not B whole numbers in [0, T]; if an option
        is not one of its choices; if ``backend`` is not a backend's name; with
        ``check_finite=True``, if an input holds NaN or inf.
    RuntimeError
        If the backend cannot run here (e.g. "cuda" without a GPU, "cpu" without
        Numba).

    See Also
    --------
    gru_backward : Backprop through time from the tape.
    GRU : Several layers, both directions.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 5, 2, 3, 4
    >>> x = rng.standard_normal((T, B, I)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (3 * H, I)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (3 * H, H)).astype(np.float32)
    >>> y, h_T, _ = fastrnn.gru_forward(x, w_ih, w_hh)
    >>> y.shape, h_T.shape
    ((5, 2, 4), (2, 4))
    >>> keras = fastrnn.gru_forward(x, w_ih, w_hh, reset_after=False,
    ...                             gate_activation="hard_sigmoid")
    >>> keras.y.shape
    (5, 2, 4)

    Every argument is checked before a backend runs:

    >>> fastrnn.gru_forward(x, w_ih[:5], w_hh)
    Traceback (most recent call last):
        ...
    ValueError: w_ih must have shape (12, 3), got (5, 3)
    """
    return GRUOutput(*_forward(GRU, backend, x, dict(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh),
                               dict(h0=h0), lengths,
                               dict(activation=activation, gate_activation=gate_activation,
                                    reset_after=reset_after), train, check_finite))


def gru_backward(tape, dy=None, dh_T=None, backend=None):
    """Backprop through time for `gru_forward`: the gradients of all its inputs.

    Parameters
    ----------
    tape : Tape
        The tape of ``gru_forward(..., train=True)``.
    dy : numpy.ndarray or CUDA device array, shape (T, B, H), optional
        The gradient of the loss with respect to y; None is zeros.
    dh_T : numpy.ndarray or CUDA device array, shape (B, H), optional
        The gradient of the loss with respect to h_T; None is zeros.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        None, "auto" or the tape's own backend: a tape's backward runs where its
        forward ran.

    Returns
    -------
    GRUGrads
        ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``, each shaped as what it is the
        gradient of: dx (T, B, I), dh0 (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih and
        db_hh (3H,).

    Raises
    ------
    TypeError
        If ``tape`` is not the tape of a training forward; if a gradient is not an
        array of the forward's dtype, or is a NumPy array where the forward's inputs
        were device arrays (or the reverse).
    ValueError
        If the tape comes from another cell's forward; if a gradient has the wrong
        shape; if ``backend`` is another backend than the tape's.

    See Also
    --------
    gru_forward : The forward that makes the tape.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    >>> w_ih = rng.uniform(-0.5, 0.5, (12, 3)).astype(np.float32)
    >>> w_hh = rng.uniform(-0.5, 0.5, (12, 4)).astype(np.float32)
    >>> out = fastrnn.gru_forward(x, w_ih, w_hh, train=True)
    >>> grads = fastrnn.gru_backward(out.tape, dh_T=np.ones_like(out.h_T))  # loss = h_T.sum()
    >>> grads.dx.shape, grads.dh0.shape, grads.dw_ih.shape, grads.db_ih.shape
    ((5, 2, 3), (2, 4), (12, 3), (12,))
    """
    return GRUGrads(*_backward(GRU, backend, tape, dict(dy=dy, dh_T=dh_T)))
