"""ONNX's LSTM, GRU and RNN nodes through fastrnn's functional API, on the current backend.

ONNX stacks the gate blocks in another order than fastrnn (PyTorch's): LSTM
W, R, B rows i o f c (fastrnn i f g o), GRU z r h (fastrnn r z n); B is
[Wb, Rb], fastrnn's b_ih and b_hh. Y is (T, D, B, H) (layout 1: (B, T, D, H)),
Y_h and Y_c (D, B, H) (layout 1: (B, D, H)). The reverse direction reads each
row's first ``sequence_lens[b]`` steps last to first (`fastrnn.layers.reverse_padded`);
Y is 0 past a row's length, Y_h its state at its last valid step.

Supported: every ``direction`` and ``layout``, ``sequence_lens``, ``initial_h``
and ``initial_c``, ``linear_before_reset`` (fastrnn's GRU ``reset_after``),
``hidden_size``, and the ``activations`` fastrnn's kernels have: gates Sigmoid
or HardSigmoid with alpha 1/6 and beta 0.5 (fastrnn's ``hard_sigmoid``, Keras
3's), the candidate (and the LSTM's output, which must be the same) Tanh or
Relu, the same for both directions. ``clip``, ``input_forget`` = 1 and
peepholes ``P`` other than zeros are refused with a NotImplementedError: the
kernels have no clipped or coupled gates and no peepholes.
"""
import numpy as np

from .. import functional
from ..layers import reverse_padded

#: per op: the fastrnn cell, the ONNX gate blocks' positions in fastrnn's order, the
#: activations (gate, candidate, LSTM's output) and their defaults, the outputs' states
CELLS = {
    "LSTM": dict(cell="lstm", order=(0, 2, 3, 1), defaults=("Sigmoid", "Tanh", "Tanh"),
                 states=("h", "c")),
    "GRU": dict(cell="gru", order=(1, 0, 2), defaults=("Sigmoid", "Tanh"), states=("h",)),
    "RNN": dict(cell="rnn", order=(0,), defaults=("Tanh",), states=("h",)),
}
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
GATES = {"sigmoid": "sigmoid", "hardsigmoid": "hard_sigmoid"}
CANDIDATES = {"tanh": "tanh", "relu": "relu"}
#: fastrnn's hard_sigmoid is clip(x/6 + 1/2, 0, 1): HardSigmoid with these (float32) values
HARD_SIGMOID = (np.float32(1 / 6), np.float32(0.5))


def reorder(a, order, axis=-2):
    """The gate blocks of ``a`` along ``axis`` taken in ``order`` (block k of the result is
    block order[k] of a); `np.argsort` of an order is its inverse."""
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def options(op, attrs):
    """The fastrnn options of a node's attributes (keyword arguments of ``<cell>_forward``),
    or the error naming the attribute fastrnn cannot compute exactly."""
    spec = CELLS[op]
    direction = attrs.get("direction", "forward")
    if direction not in DIRECTIONS:
        raise ValueError(f"{op} direction must be one of {tuple(DIRECTIONS)}, got {direction!r}")
    if attrs.get("layout", 0) not in (0, 1):
        raise ValueError(f"{op} layout must be 0 or 1, got {attrs['layout']!r}")
    if "clip" in attrs:
        raise NotImplementedError(f"{op} attribute clip={attrs['clip']} is not supported: "
                                  f"fastrnn's kernels do not clip the gates' inputs")
    if attrs.get("input_forget", 0):
        raise NotImplementedError(f"{op} attribute input_forget=1 is not supported: fastrnn's "
                                  f"LSTM has independent input and forget gates")
    names = [a.lower() for a in attrs.get("activations", [])] or \
        [a.lower() for a in spec["defaults"]] * DIRECTIONS[direction]
    n = len(spec["defaults"])
    if len(names) != n * DIRECTIONS[direction]:
        raise ValueError(f"{op} activations must list {n} per direction "
                         f"({n * DIRECTIONS[direction]} for direction={direction!r}), "
                         f"got {attrs.get('activations')}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    chosen = []
    for name in names:     # alpha and beta are consumed in order by those that take them
        if name == "hardsigmoid":
            alpha = alphas.pop(0) if alphas else np.float32(0.2)
            beta = betas.pop(0) if betas else np.float32(0.5)
            if (np.float32(alpha), np.float32(beta)) != HARD_SIGMOID:
                raise NotImplementedError(
                    f"{op} activation HardSigmoid with alpha={alpha}, beta={beta} is not "
                    f"supported: fastrnn's hard_sigmoid has alpha=1/6, beta=0.5")
        chosen.append(name)
    per_direction = [tuple(chosen[d * n:(d + 1) * n]) for d in range(DIRECTIONS[direction])]
    if len(set(per_direction)) > 1:
        raise NotImplementedError(f"{op} activations differ between the directions "
                                  f"({attrs['activations']}): fastrnn runs both with the same")
    acts = per_direction[0]
    kwargs = {}
    if op != "RNN":
        if acts[0] not in GATES:
            raise NotImplementedError(f"{op} gate activation {acts[0]!r} is not supported "
                                      f"(fastrnn has Sigmoid and HardSigmoid)")
        kwargs["gate_activation"] = GATES[acts[0]]
        acts = acts[1:]
    if acts[0] not in CANDIDATES or len(set(acts)) > 1:
        raise NotImplementedError(f"{op} activations {list(acts)} are not supported: fastrnn "
                                  f"has Tanh or Relu" + (", the same for g and h"
                                                         if op == "LSTM" else ""))
    kwargs["activation"] = CANDIDATES[acts[0]]
    if op == "GRU":
        kwargs["reset_after"] = bool(attrs.get("linear_before_reset", 0))
    return kwargs


def run(op, inputs, attrs):
    """Y, Y_h (and the LSTM's Y_c) of an LSTM, GRU or RNN node.

    ``inputs``: X, W, R, B, sequence_lens, initial_h, initial_c, P (those the op has;
    None where not given).
    """
    spec = CELLS[op]
    kwargs = options(op, attrs)
    inputs = list(inputs) + [None] * (8 - len(inputs))
    x, w, r, b, lens, h0, c0, p = inputs[:8]
    if p is not None and np.any(p):
        raise NotImplementedError("LSTM input P (peepholes) is not supported: fastrnn's LSTM "
                                  "has no peephole connections (only an all-zero P is)")
    layout = attrs.get("layout", 0)
    states0 = [h0, c0][:len(spec["states"])]
    if layout:
        x = x.transpose(1, 0, 2)
        states0 = [None if s is None else s.transpose(1, 0, 2) for s in states0]
    D, H = w.shape[0], r.shape[-1]
    if "hidden_size" in attrs and attrs["hidden_size"] != H:
        raise ValueError(f"{op} hidden_size={attrs['hidden_size']} but R has shape "
                         f"{r.shape} (H = {H})")
    direction = attrs.get("direction", "forward")
    if D != DIRECTIONS[direction]:
        raise ValueError(f"{op} W has {D} directions, direction={direction!r} needs "
                         f"{DIRECTIONS[direction]}")
    T, B = x.shape[:2]
    lengths = None if lens is None else np.asarray(lens).astype(np.int64)
    forward = getattr(functional, f"{spec['cell']}_forward")
    order = spec["order"]
    ys, finals = [], []
    for d in range(D):
        reverse = direction == "reverse" or d == 1
        xd = reverse_padded(x, lengths) if reverse else x
        biases = (None, None) if b is None else [reorder(half, order, axis=0)
                                                  for half in np.split(b[d], 2)]
        state = {f"{s}0": None if s0 is None else s0[d]
                 for s, s0 in zip(spec["states"], states0)}
        out = forward(xd, reorder(w[d], order), reorder(r[d], order), *biases, **state,
                      lengths=lengths, **kwargs)
        ys.append(reverse_padded(out.y, lengths) if reverse else out.y)
        finals.append(out[1:-1])
    y = np.stack(ys, axis=1)                                   # (T, D, B, H)
    states = [np.stack(s) for s in zip(*finals)]               # (D, B, H) each
    if layout:
        y = y.transpose(2, 0, 1, 3)
        states = [s.transpose(1, 0, 2) for s in states]
    return [y, *states]
