"""The cells, declared once (docs/design.md, "Cells").

A ``Cell`` says what the front end needs to know of a cell: its gate blocks,
its parameters (with their PyTorch ``state_dict`` names and shapes), its
states, the fields of its tape, and which bias stays inside the gate. The
argument checks (``_validate``), the output and gradient named tuples
(``functional``), the layers' parameter names and states (``layers``), the
streams, ``fastrnn check``'s random problems and the tests' matrices are
derived from these declarations; the backends' kernels are reached through
``Cell.name`` (``fastrnn.backends``). The pointwise equations of each cell are
those of its NumPy reference, ``Cell.reference``.

Shapes are written in the symbols of ``dims``: T steps, B batch rows, I input
features, H hidden units, G gate blocks (``GH`` = G·H), ``T1`` = T + 1.
A leaf module: it imports nothing of fastrnn's.
"""
from typing import Any, NamedTuple

import numpy as np


class Param(NamedTuple):
    """One parameter of a layer direction."""
    name: str          # the functional API's argument, e.g. "w_ih"
    torch: str         # the state_dict stem: "weight_ih" -> weight_ih_l{k}[_reverse]
    shape: tuple       # in the symbols of ``dims``
    kind: str          # "weight"; "bias": dropped by bias=False, zeros when None;
                       # "projection": present only with a projection (proj_size > 0)

    @property
    def bias(self):
        return self.kind == "bias"

    @property
    def optional(self):
        return self.kind == "projection"


class Field(NamedTuple):
    """One array of a training forward's tape."""
    name: str
    shape: tuple       # in the symbols of ``dims``
    owned: bool        # written by the backend into the tape's own array (else a copy of an input)
    doc: str


#: the parameters of every cell, in PyTorch's state_dict order
PARAMS = (Param("w_ih", "weight_ih", ("GH", "I"), "weight"),
          Param("w_hh", "weight_hh", ("GH", "P"), "weight"),
          Param("b_ih", "bias_ih", ("GH",), "bias"),
          Param("b_hh", "bias_hh", ("GH",), "bias"))
#: the LSTM's projection (PyTorch's proj_size = P): h_t = W_hr (o ⊙ act(c_t))
PROJECTION = Param("w_hr", "weight_hr", ("P", "H"), "projection")
#: the size of each state: h has P units (P = H without a projection), c has H
STATE_SIZES = {"h": "P", "c": "H"}

#: the activations of the candidate (and of the LSTM's output) every cell takes
ACTIVATIONS = ("tanh", "relu")


class Option(NamedTuple):
    """A choice a cell's forward takes besides its arrays (its variants)."""
    name: str
    choices: tuple
    default: Any
    doc: str


#: every option of any cell; a cell lists the ones it takes in ``Cell.options``
OPTIONS = {o.name: o for o in (
    Option("activation", ACTIVATIONS, "tanh",
           "act, the nonlinearity of the candidate (and of the LSTM's output)"),
    Option("gate_activation", ("sigmoid", "hard_sigmoid"), "sigmoid",
           "σ, the gates' nonlinearity: 1 / (1 + e^−a), or Keras 3's hard sigmoid "
           "clip(a/6 + 1/2, 0, 1) (derivative 1/6 inside (−3, 3), 0 outside)"),
    Option("reset_after", (True, False), True,
           "the GRU's n gate: act(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)) (True: PyTorch, "
           "cuDNN, Keras's default) or act(x W_inᵀ + b_in + (r ⊙ h) W_hnᵀ + b_hn) (False: "
           "Keras reset_after=False, ONNX linear_before_reset=0)"),
)}


class Options(NamedTuple):
    """Every option, as the backends receive them (a cell ignores those it does not take)."""
    activation: str = "tanh"
    gate_activation: str = "sigmoid"
    reset_after: bool = True


class Cell(NamedTuple):
    """A cell's declaration (see the module docstring)."""
    name: str          # "rnn" | "lstm" | "gru": the functional API's prefix, the kernels' key
    title: str         # "LSTM": the layer class and the named tuples' prefix
    gates: tuple       # the gate blocks stacked in the rows of w_ih and w_hh, in order
    states: tuple      # the recurrent states, each (B, H): "h", and "c" for the LSTM
    tape: tuple        # Field: what the tape holds besides x, w_ih, w_hh and lengths
    inner_bias: tuple  # gate blocks whose b_hh stays inside the gate (with reset_after)
    options: tuple     # the names of the ``OPTIONS`` it takes
    reference: str     # the NumPy reference module, whose docstring carries the equations
    params: tuple = PARAMS   # its parameters, in the order the kernels take them

    @property
    def G(self):
        """The number of gate blocks."""
        return len(self.gates)

    @property
    def projects(self):
        """Whether the cell can have a projection (``PROJECTION``)."""
        return PROJECTION in self.params

    def dims(self, T, B, I, H, P=None):
        """The symbols of the shapes, for a call of T steps, B rows, I inputs, H units and
        outputs h of P units (P = H: no projection)."""
        return dict(T=T, T1=T + 1, B=B, I=I, H=H, P=H if P is None else P, G=self.G,
                    GH=self.G * H)

    def state_shape(self, state, dims):
        """The shape (B, size) of ``state`` ("h" or "c")."""
        return (dims["B"], dims[STATE_SIZES[state]])

    def output_names(self):
        """The fields of the forward's named tuple: y, the final states, tape."""
        return ("y", *(f"{s}_T" for s in self.states), "tape")

    def grad_names(self):
        """The fields of the backward's named tuple: dx, the initial states', the parameters'."""
        return ("dx", *(f"d{s}0" for s in self.states), *(f"d{p.name}" for p in self.params))

    def output_grad_names(self):
        """The backward's arguments: the gradients of y and of the final states."""
        return ("dy", *(f"d{s}_T" for s in self.states))

    def output_grad_shape(self, name, dims):
        """The shape of the backward's argument ``name``: dy (T, B, P), d<state>_T as the
        state."""
        if name == "dy":
            return (dims["T"], dims["B"], dims["P"])
        return self.state_shape(name[1:-2], dims)

    def fold_bias(self, b_ih, b_hh, options=Options()):
        """b_ih + b_hh as one (G·H,) vector, except in the ``inner_bias`` blocks (b_ih
        there), which exist only with ``options.reset_after``."""
        H = len(b_ih) // self.G
        bias = b_ih + b_hh
        for gate in self.inner_bias if options.reset_after else ():
            g = self.gates.index(gate)
            bias[g * H:(g + 1) * H] = b_ih[g * H:(g + 1) * H]
        return bias


def shape(symbols, dims):
    """A concrete shape from symbols (see the module docstring) and ``Cell.dims``."""
    return tuple(dims[s] for s in symbols)


_HS = Field("hs", ("T1", "B", "P"), True, "the state entering each step; hs[T] the final one")
_GATES = Field("gates", ("T", "B", "GH"), True, "the gates after their nonlinearity")

RNN = Cell("rnn", "RNN", ("a",), ("h",), (_HS,), (), ("activation",), "fastrnn.reference.rnn")
LSTM = Cell("lstm", "LSTM", ("i", "f", "g", "o"), ("h", "c"),
            (_HS, Field("cs", ("T1", "B", "H"), True, "the cell state, as hs"), _GATES,
             Field("ms", ("T", "B", "H"), True, "with a projection: o ⊙ act(c_t), which W_hr "
                                                "multiplies")),
            (), ("activation", "gate_activation"), "fastrnn.reference.lstm",
            PARAMS + (PROJECTION,))
GRU = Cell("gru", "GRU", ("r", "z", "n"), ("h",),
           (_HS, _GATES, Field("ghn", ("T", "B", "H"), True,
                               "reset_after: h_{t-1} W_hnᵀ + b_hn; else r ⊙ h_{t-1}")),
           ("n",), ("activation", "gate_activation", "reset_after"), "fastrnn.reference.gru")

#: every cell by name, in the order the tests, ``fastrnn check`` and the CLI list them
CELLS = {cell.name: cell for cell in (RNN, LSTM, GRU)}


def get(name):
    """The declaration of the cell called ``name``; ValueError naming the choices otherwise."""
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell {name!r}; expected one of {tuple(CELLS)}") from None


def named_tuple(name, fields, doc):
    """A NamedTuple class ``name`` with ``fields`` (Any) and docstring ``doc``."""
    cls = NamedTuple(name, [(f, Any) for f in fields])
    cls.__doc__ = doc
    cls.__module__ = "fastrnn"
    return cls


def random_problem(cell, T, B, I, H, dtype, seed=0, P=None):
    """Random inputs of ``fastrnn.<cell>_forward`` and output gradients of its backward.

    Parameters and states uniform in ±1/√H (PyTorch's initialisation), x and the
    gradients standard normal, lengths from T down to 0 across the batch; with ``P`` (the
    LSTM only) a projection ``w_hr`` (P, H). Returns ``(args, grads)``: dicts keyed by the
    functional API's argument names."""
    cell = get(cell) if isinstance(cell, str) else cell
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    dims = cell.dims(T, B, I, H, P)
    args = dict(x=rng.standard_normal((T, B, I)).astype(dtype))
    for p in cell.params:
        if not p.optional or P is not None:
            args[p.name] = rng.uniform(-k, k, shape(p.shape, dims)).astype(dtype)
    for s in cell.states:
        args[f"{s}0"] = rng.uniform(-k, k, cell.state_shape(s, dims)).astype(dtype)
    args["lengths"] = np.linspace(T, 0, B).round().astype(np.int64)
    grads = {name: rng.standard_normal(cell.output_grad_shape(name, dims)).astype(dtype)
             for name in cell.output_grad_names()}
    return args, grads
