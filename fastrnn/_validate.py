"""Every argument of the functional API checked once, before any backend runs.

Each mistake raises one ``TypeError`` (wrong kind of object or dtype) or
``ValueError`` (wrong shape or value) that names the argument and says what
was expected. Checked arguments come back filled in for the backends:
biases and initial states default to zeros, ``lengths`` becomes int64 (B,),
host arrays become C-contiguous (copied only when they are not already).
Inputs are never modified.

NumPy masked arrays are refused (a ``TypeError`` naming the argument): the
kernels would read the data under the mask as if it were valid. Variable
sequence lengths are what ``lengths=`` is for.

Non-finite values (NaN, ±inf) are not checked by default: they propagate as in
the NumPy reference (docs/design.md, "Non-finite values"). With
``check_finite=True`` a forward raises a ``ValueError`` naming the first input
that holds one (as SciPy's ``check_finite``), at the cost of one pass over
every input (for device arrays, a copy to the host).

Device arrays (``__cuda_array_interface__``, numba device arrays) are checked
by shape and dtype only; the cuda backend owns their transfer, and makes the
device zeros of the defaults (the ``zeros`` argument).

What is checked follows the cell's declaration (``fastrnn.cells``).
"""
import numbers

import numpy as np

from .cells import OPTIONS, Options, shape
from .tape import Tape

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_device_array(a):
    """True for arrays living on a CUDA device (or the Numba CUDA simulator)."""
    if isinstance(a, np.ndarray):
        return False
    return hasattr(a, "__cuda_array_interface__") or type(a).__name__ in (
        "DeviceNDArray", "FakeCUDAArray")


def _dtype_of(a):
    try:
        return np.dtype(a.dtype)
    except TypeError:   # e.g. torch.float32: map through its string name
        return np.dtype(str(a.dtype).rsplit(".", 1)[-1])


def _not_masked(name, a):
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{name} is a NumPy masked array: fastrnn does not read masks (the "
                        f"masked entries would be used as data); pass lengths= for sequences "
                        f"of different lengths, or {name}.filled(0) for the plain data")


def _array(name, a, ndim, dtype=None):
    """Check that ``a`` is an ndarray (or device array) of ``ndim`` dims and a float dtype."""
    _not_masked(name, a)
    if not (isinstance(a, np.ndarray) or is_device_array(a)):
        raise TypeError(f"{name} must be a NumPy array (or a CUDA device array), "
                        f"got {type(a).__name__}")
    dt = _dtype_of(a)
    if dtype is None:
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"{name} must have dtype float32 or float64, got {dt}")
    elif dt != dtype:
        raise TypeError(f"{name} must have dtype {dtype} like x, got {dt}")
    if len(a.shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(a.shape)}")
    return np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a


def _shape(name, a, expected):
    if tuple(a.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(a.shape)}")


def check_options(cell, given):
    """The ``fastrnn.cells.Options`` of a call: ``given`` maps option names to values (None:
    the default); each must be one the cell takes, with one of its choices."""
    for name, value in given.items():
        if name not in cell.options:
            raise TypeError(f"{cell.name} takes no option {name!r}; its options: {cell.options}")
        choices = OPTIONS[name].choices
        if isinstance(value, np.bool_):
            value = bool(value)
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return Options(**given)


def check_lengths(lengths, T, B):
    """lengths: None (every sequence has length T) or B integers in [0, T] -> int64 (B,)."""
    if lengths is None:
        return np.full(B, T, np.int64)
    _not_masked("lengths", lengths)
    if is_device_array(lengths):
        lengths = lengths.copy_to_host() if hasattr(lengths, "copy_to_host") else np.asarray(lengths)
    if isinstance(lengths, (str, bytes)) or not isinstance(
            lengths, (np.ndarray, list, tuple)):
        raise TypeError(f"lengths must be an array or list of {B} integers, "
                        f"got {type(lengths).__name__}")
    arr = np.asarray(lengths)
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per batch entry), got {arr.shape}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError("lengths must not contain NaN")
        if (arr != np.round(arr)).any():
            raise ValueError(f"lengths must be whole numbers, got {arr}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if B and (arr.min() < 0 or arr.max() > T):
        raise ValueError(f"lengths must lie in [0, T={T}], got min {arr.min()} max {arr.max()}")
    return arr.astype(np.int64)    # always a copy: the tape owns its lengths


def check_finite(names, arrays):
    """Raise ValueError naming the first of ``arrays`` that holds NaN or ±inf."""
    for name, a in zip(names, arrays):
        if a is None:
            continue
        host = a if isinstance(a, np.ndarray) else (
            a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a))
        if not np.isfinite(host).all():
            bad = np.argwhere(~np.isfinite(host))
            raise ValueError(f"{name} holds NaN or inf ({len(bad)} entr"
                             f"{'y' if len(bad) == 1 else 'ies'}, the first at index "
                             f"{tuple(int(i) for i in bad[0])}: {host[tuple(bad[0])]}); "
                             f"check_finite=False lets them propagate as the reference does")


def check_forward(cell, x, params, states, lengths, options, train, finite=False,
                  zeros=np.zeros):
    """Validate a forward call of ``cell`` (a ``fastrnn.cells.Cell``).

    ``params`` maps the cell's parameter names (w_ih, w_hh, b_ih, b_hh) to arrays or None
    (biases: zeros), ``states`` its initial states (h0, c0 for the LSTM) to arrays or None
    (zeros); ``finite``: the ``check_finite`` flag; ``zeros(shape, dtype)`` makes the
    defaults (on the device for device inputs). Returns x, the filled-in params and
    states (dicts in the declaration's order), lengths, the ``Options`` (from the dict
    ``options``, see ``check_options``) and train."""
    x = _array("x", x, 3)
    T, B, I = x.shape
    dtype = _dtype_of(x)
    G = cell.G
    w_hh = _array("w_hh", params["w_hh"], 2, dtype)
    w_hr = params.get("w_hr")
    if w_hr is not None:        # a projection: h_t = W_hr (o ⊙ act(c_t)), P of H units
        w_hr = _array("w_hr", w_hr, 2, dtype)
        P, H = w_hr.shape
        if P == 0 or H == 0 or P >= H:
            raise ValueError(f"w_hr must have shape (P, H) with 1 ≤ P < H (the projection "
                             f"of the H hidden units to P outputs), got {tuple(w_hr.shape)}")
        if tuple(w_hh.shape) != (G * H, P):
            raise ValueError(f"w_hh must have shape ({G}·H, P) = {(G * H, P)} with w_hr of "
                             f"shape (P, H) = {(P, H)}, got {tuple(w_hh.shape)}")
    else:
        H = P = w_hh.shape[1]
        if H == 0 or w_hh.shape[0] != G * H:
            raise ValueError(f"w_hh must have shape ({G}·H, H) with H ≥ 1 ({cell.title} has "
                             f"{G} gate block{'s' * (G > 1)}), got {tuple(w_hh.shape)}")
    dims = cell.dims(T, B, I, H, P)
    side = isinstance(x, np.ndarray)   # True: host arrays
    checked = {}
    for p in cell.params:
        if p.name in ("w_hh", "w_hr"):      # checked above (w_hr: None without a projection)
            checked[p.name] = w_hh if p.name == "w_hh" else w_hr
            continue
        a, want = params[p.name], shape(p.shape, dims)
        if a is None and p.bias:
            a = zeros(want, dtype)
        checked[p.name] = a = _array(p.name, a, len(want), dtype)
        _shape(p.name, a, want)
    states = {f"{s}0": states[f"{s}0"] for s in cell.states}
    for s in cell.states:
        name, want = f"{s}0", cell.state_shape(s, dims)
        a = zeros(want, dtype) if states[name] is None else states[name]
        states[name] = a = _array(name, a, 2, dtype)
        _shape(name, a, want)
    for name, a in (*checked.items(), *states.items()):
        if a is not None and isinstance(a, np.ndarray) != side:
            raise TypeError(f"{name} is a {'device' if side else 'NumPy'} array but x is a "
                            f"{'NumPy' if side else 'device'} array: pass all arrays as NumPy "
                            f"arrays or all as device arrays")
    lengths = check_lengths(lengths, T, B)
    options = check_options(cell, options)
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be True or False, got {train!r}")
    if not isinstance(finite, (bool, np.bool_)):
        raise TypeError(f"check_finite must be True or False, got {finite!r}")
    if finite:
        inputs = {"x": x, **{k: v for k, v in checked.items() if v is not None}, **states}
        check_finite(tuple(inputs), tuple(inputs.values()))
    return x, checked, states, lengths, options, bool(train)


def check_backward(cell, tape, grads, zeros=np.zeros):
    """Validate a backward call of ``cell`` against the tape of its forward.

    ``grads`` maps the cell's output gradients ("dy", "dh_T", and "dc_T" for the LSTM) to
    arrays or None (zeros, made by ``zeros(shape, dtype)``). Returns them filled in, in
    that order.
    """
    if not isinstance(tape, Tape):
        raise TypeError(f"tape must be the tape returned by {cell.name}_forward(..., "
                        f"train=True), got {type(tape).__name__}")
    if tape.cell != cell.name:
        raise ValueError(f"tape comes from {tape.cell}_forward, not {cell.name}_forward")
    dims = cell.dims(*tape.dims)
    out = []
    for name in cell.output_grad_names():
        g = grads[name]
        want = cell.output_grad_shape(name, dims)
        if g is None:
            g = zeros(want, tape.dtype)
        g = _array(name, g, len(want), tape.dtype)
        _shape(name, g, want)
        if isinstance(g, np.ndarray) != tape.host:
            raise TypeError(f"{name} must be a {'NumPy' if tape.host else 'device'} array "
                            f"like the forward's inputs")
        out.append(g)
    return out


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)
