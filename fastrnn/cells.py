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
    """One parameter of a layer direction.

    Parameters
    ----------
    name : str
        The functional API's argument, e.g. "w_ih".
    torch : str
        The ``state_dict`` stem: "weight_ih" names ``weight_ih_l{k}[_reverse]``.
    shape : tuple of str
        Its shape, in the symbols of `Cell.dims` (module docstring).
    kind : {"weight", "bias", "projection"}
        "bias": dropped by ``bias=False``, zeros when None; "projection": present only
        with a projection (``proj_size`` > 0).

    See Also
    --------
    PARAMS : Every cell's parameters.
    PROJECTION : The LSTM's projection.

    Examples
    --------
    >>> from fastrnn import cells
    >>> [(p.name, p.torch, p.shape) for p in cells.PARAMS[:2]]
    [('w_ih', 'weight_ih', ('GH', 'I')), ('w_hh', 'weight_hh', ('GH', 'P'))]
    >>> cells.PARAMS[2].bias, cells.PROJECTION.optional
    (True, True)
    """
    name: str          # the functional API's argument, e.g. "w_ih"
    torch: str         # the state_dict stem: "weight_ih" -> weight_ih_l{k}[_reverse]
    shape: tuple       # in the symbols of ``dims``
    kind: str          # "weight"; "bias": dropped by bias=False, zeros when None;
                       # "projection": present only with a projection (proj_size > 0)

    @property
    def bias(self):
        """Whether it is a bias (``kind == "bias"``)."""
        return self.kind == "bias"

    @property
    def optional(self):
        """Whether it exists only with a projection (``kind == "projection"``)."""
        return self.kind == "projection"


class Field(NamedTuple):
    """One array of a training forward's tape.

    Parameters
    ----------
    name : str
        Its name in the backends' tapes, e.g. "hs".
    shape : tuple of str
        Its shape, in the symbols of `Cell.dims`.
    owned : bool
        True: written by the backend into the tape's own array; else a copy of an
        input.
    doc : str
        What it holds.

    Examples
    --------
    >>> from fastrnn import cells
    >>> [(f.name, f.shape) for f in cells.GRU.tape]
    [('hs', ('T1', 'B', 'P')), ('gates', ('T', 'B', 'GH')), ('ghn', ('T', 'B', 'H'))]
    """
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
    """A choice a cell's forward takes besides its arrays (its variants).

    Parameters
    ----------
    name : str
        The keyword argument of the functional API and the layers, e.g. "activation".
    choices : tuple
        The values it takes.
    default : object
        Its value when not given (one of ``choices``).
    doc : str
        What it chooses.

    See Also
    --------
    OPTIONS : Every option by name.
    Options : Every option's value, as the backends receive them.

    Examples
    --------
    >>> from fastrnn import cells
    >>> option = cells.OPTIONS["gate_activation"]
    >>> option.choices, option.default
    (('sigmoid', 'hard_sigmoid'), 'sigmoid')
    """
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
    """Every option, as the backends receive them (a cell ignores those it does not take).

    Parameters
    ----------
    activation : {"tanh", "relu"}, default "tanh"
        act, the nonlinearity of the candidate (and of the LSTM's output).
    gate_activation : {"sigmoid", "hard_sigmoid"}, default "sigmoid"
        σ, the gates' nonlinearity (the LSTM and the GRU).
    reset_after : bool, default True
        Where the GRU's r acts in n (see `fastrnn.gru_forward`).

    See Also
    --------
    OPTIONS : What each option means, and its choices.

    Examples
    --------
    >>> from fastrnn import cells
    >>> cells.Options(gate_activation="hard_sigmoid")
    Options(activation='tanh', gate_activation='hard_sigmoid', reset_after=True)
    """
    activation: str = "tanh"
    gate_activation: str = "sigmoid"
    reset_after: bool = True


class Cell(NamedTuple):
    """A cell's declaration (see the module docstring).

    Parameters
    ----------
    name : {"rnn", "lstm", "gru"}
        The functional API's prefix (``rnn_forward``), the kernels' key.
    title : str
        "RNN", "LSTM", "GRU": the layer class and the named tuples' prefix.
    gates : tuple of str
        The gate blocks stacked in the rows of w_ih and w_hh, in order.
    states : tuple of str
        The recurrent states: "h", and "c" for the LSTM.
    tape : tuple of Field
        What the tape holds besides x, w_ih, w_hh and lengths.
    inner_bias : tuple of str
        The gate blocks whose b_hh stays inside the gate (with ``reset_after``): the
        GRU's "n".
    options : tuple of str
        The names of the `OPTIONS` it takes.
    reference : str
        The NumPy reference module, whose docstring carries the equations.
    params : tuple of Param, default PARAMS
        Its parameters, in the order the kernels take them.

    See Also
    --------
    CELLS : Every cell by name.
    get : The cell called a name.

    Examples
    --------
    >>> from fastrnn import cells
    >>> cells.LSTM.gates, cells.LSTM.states, cells.LSTM.G
    (('i', 'f', 'g', 'o'), ('h', 'c'), 4)
    >>> [p.name for p in cells.LSTM.params]
    ['w_ih', 'w_hh', 'b_ih', 'b_hh', 'w_hr']
    """
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
        """The symbols of the shapes and their sizes, for one call of the cell.

    Parameters
    ----------
    T, B, I, H : int
        Steps, batch rows, input features and hidden units.
    P : int, optional
        The units of the outputs h (a projection's); None: H, no projection.

    Returns
    -------
    dict of str to int
        T, T1 (T + 1), B, I, H, P, G and GH (G·H), for `shape`.

    Examples
    --------
    >>> from fastrnn import cells
    >>> cells.GRU.dims(5, 2, 3, 4)
    {'T': 5, 'T1': 6, 'B': 2, 'I': 3, 'H': 4, 'P': 4, 'G': 3, 'GH': 12}
        """
        return dict(T=T, T1=T + 1, B=B, I=I, H=H, P=H if P is None else P, G=self.G,
                    GH=self.G * H)

    def state_shape(self, state, dims):
        """The shape (B, size) of ``state`` ("h" or "c").

    Parameters
    ----------
    state : {"h", "c"}
        One of `states`.
    dims : dict of str to int
        As `dims` returns it.

    Returns
    -------
    tuple of int
        (B, P) for h, (B, H) for c.

    Examples
    --------
    >>> from fastrnn import cells
    >>> dims = cells.LSTM.dims(5, 2, 3, 4, P=2)
    >>> cells.LSTM.state_shape("h", dims), cells.LSTM.state_shape("c", dims)
    ((2, 2), (2, 4))
        """
        return (dims["B"], dims[STATE_SIZES[state]])

    def output_names(self):
        """The fields of the forward's named tuple: y, the final states, tape.

    Returns
    -------
    tuple of str
        E.g. ``("y", "h_T", "c_T", "tape")`` for the LSTM.
        """
        return ("y", *(f"{s}_T" for s in self.states), "tape")

    def grad_names(self):
        """The fields of the backward's named tuple: dx, the initial states', the parameters'.

    Returns
    -------
    tuple of str
        E.g. ``("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh")`` for the GRU.
        """
        return ("dx", *(f"d{s}0" for s in self.states), *(f"d{p.name}" for p in self.params))

    def output_grad_names(self):
        """The backward's arguments: the gradients of y and of the final states.

    Returns
    -------
    tuple of str
        ``("dy", "dh_T")``, and ``"dc_T"`` for the LSTM.
        """
        return ("dy", *(f"d{s}_T" for s in self.states))

    def output_grad_shape(self, name, dims):
        """The shape of the backward's argument ``name``: dy (T, B, P), d<state>_T as the state.

    Parameters
    ----------
    name : str
        One of `output_grad_names`.
    dims : dict of str to int
        As `dims` returns it.

    Returns
    -------
    tuple of int
        (T, B, P) for dy, `state_shape` of the state for dh_T and dc_T.
        """
        if name == "dy":
            return (dims["T"], dims["B"], dims["P"])
        return self.state_shape(name[1:-2], dims)

    def fold_bias(self, b_ih, b_hh, options=Options()):
        """The two biases as one (G·H,) vector, as the kernels add it to x W_ihᵀ.

    b_ih + b_hh, except in the `inner_bias` blocks (b_ih there: b_hh is added inside
    the gate), which exist only with ``options.reset_after``.

    Parameters
    ----------
    b_ih, b_hh : numpy.ndarray, shape (G·H,)
        The biases.
    options : Options, default Options()
        The call's options.

    Returns
    -------
    numpy.ndarray, shape (G·H,)
        A new array.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import cells
    >>> ones = np.ones(3)                        # a GRU of H = 1: blocks r, z, n
    >>> cells.GRU.fold_bias(ones, ones)
    array([2., 2., 1.])
    >>> cells.GRU.fold_bias(ones, ones, cells.Options(reset_after=False))
    array([2., 2., 2.])
        """
        H = len(b_ih) // self.G
        bias = b_ih + b_hh
        for gate in self.inner_bias if options.reset_after else ():
            g = self.gates.index(gate)
            bias[g * H:(g + 1) * H] = b_ih[g * H:(g + 1) * H]
        return bias


def shape(symbols, dims):
    """A concrete shape from symbols (see the module docstring) and ``Cell.dims``.

    Parameters
    ----------
    symbols : tuple of str
        A declared shape, e.g. ``("GH", "I")``.
    dims : dict of str to int
        The sizes of the symbols, as `Cell.dims` returns them.

    Returns
    -------
    tuple of int
        The sizes, in order.

    Raises
    ------
    KeyError
        If a symbol is not one of ``dims``.

    Examples
    --------
    >>> from fastrnn import cells
    >>> cells.shape(("GH", "I"), cells.LSTM.dims(5, 2, 3, 4))
    (16, 3)
    """
    return tuple(dims[s] for s in symbols)


_HS = Field("hs", ("T1", "B", "P"), True, "the state entering each step; hs[T] the final one")
_GATES = Field("gates", ("T", "B", "GH"), True, "the gates after their nonlinearity")

#: the Elman RNN: one gate block "a", the state h
RNN = Cell("rnn", "RNN", ("a",), ("h",), (_HS,), (), ("activation",), "fastrnn.reference.rnn")
#: the LSTM: gate blocks i, f, g, o, the states h and c, an optional projection
LSTM = Cell("lstm", "LSTM", ("i", "f", "g", "o"), ("h", "c"),
            (_HS, Field("cs", ("T1", "B", "H"), True, "the cell state, as hs"), _GATES,
             Field("ms", ("T", "B", "H"), True, "with a projection: o ⊙ act(c_t), which W_hr "
                                                "multiplies")),
            (), ("activation", "gate_activation"), "fastrnn.reference.lstm",
            PARAMS + (PROJECTION,))
#: the GRU: gate blocks r, z, n, the state h; b_hn stays inside n with reset_after
GRU = Cell("gru", "GRU", ("r", "z", "n"), ("h",),
           (_HS, _GATES, Field("ghn", ("T", "B", "H"), True,
                               "reset_after: h_{t-1} W_hnᵀ + b_hn; else r ⊙ h_{t-1}")),
           ("n",), ("activation", "gate_activation", "reset_after"), "fastrnn.reference.gru")

#: every cell by name, in the order the tests, ``fastrnn check`` and the CLI list them
CELLS = {cell.name: cell for cell in (RNN, LSTM, GRU)}


def get(name):
    """The declaration of the cell called ``name``.

    Parameters
    ----------
    name : {"rnn", "lstm", "gru"}
        A key of `CELLS`.

    Returns
    -------
    Cell
        Its declaration.

    Raises
    ------
    ValueError
        If there is no such cell, naming the choices.

    Examples
    --------
    >>> from fastrnn import cells
    >>> cells.get("gru").gates
    ('r', 'z', 'n')
    >>> cells.get("elman")
    Traceback (most recent call last):
        ...
    ValueError: unknown cell 'elman'; expected one of ('rnn', 'lstm', 'gru')
    """
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell {name!r}; expected one of {tuple(CELLS)}") from None


def named_tuple(name, fields, doc):
    """A NamedTuple class ``name`` with ``fields`` (Any) and docstring ``doc``.

    ``fastrnn.functional`` makes the outputs and gradients of the functional API
    (`fastrnn.LSTMOutput` etc.) with it; their ``__module__`` is "fastrnn".

    Parameters
    ----------
    name : str
        The class's name.
    fields : sequence of str
        Its fields, in order.
    doc : str
        Its docstring.

    Returns
    -------
    type
        A subclass of tuple, as ``typing.NamedTuple`` makes it.

    Examples
    --------
    >>> from fastrnn import cells
    >>> Pair = cells.named_tuple("Pair", ("a", "b"), "Two things.")
    >>> Pair(1, 2), Pair.__doc__
    (Pair(a=1, b=2), 'Two things.')
    """
    cls = NamedTuple(name, [(f, Any) for f in fields])
    cls.__doc__ = doc
    cls.__module__ = "fastrnn"
    return cls


def random_problem(cell, T, B, I, H, dtype, seed=0, P=None):
    """Random inputs of ``fastrnn.<cell>_forward`` and output gradients of its backward.

    Parameters and states uniform in ±1/√H (PyTorch's initialisation), x and the
    gradients standard normal, lengths from T down to 0 across the batch; with ``P``
    (the LSTM only) a projection ``w_hr`` (P, H).

    Parameters
    ----------
    cell : Cell or str
        The cell, or its name.
    T, B, I, H : int
        Steps, batch rows, input features and hidden units.
    dtype : str or numpy.dtype
        float32 or float64.
    seed : int, default 0
        Seed of the draw.
    P : int, optional
        The LSTM's projection size, 1 ≤ P < H; None: no projection.

    Returns
    -------
    args : dict of str to numpy.ndarray
        The forward's arguments (x, the parameters, the initial states, lengths),
        keyed by the functional API's argument names.
    grads : dict of str to numpy.ndarray
        The backward's output gradients (dy, dh_T, for the LSTM dc_T).

    Raises
    ------
    ValueError
        If ``cell`` is a name of no cell.

    See Also
    --------
    fastrnn.check.random_problem : The same, for ``fastrnn check``.

    Examples
    --------
    >>> from fastrnn import cells
    >>> args, grads = cells.random_problem("lstm", 3, 2, 4, 5, "float32", P=2)
    >>> args["w_hh"].shape, args["w_hr"].shape, grads["dy"].shape, args["lengths"]
    ((20, 2), (2, 5), (3, 2, 2), array([3, 0]))
    """
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
