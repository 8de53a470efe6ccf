"""The tape's rule: after a forward with train=True, changing y, x, the weights (or the biases,
states, lengths, final states) in place never changes what backward returns.

Every cell, every host backend (the cpu backend in both forward variants), the functional
API and the layer API (a 1-layer time-major module; the top layer of a 2-layer one, whose
input is the bottom layer's output). The gradients after the change must equal, bit for
bit, those of the same forward and backward left alone. The cuda backend's version is
tests/test_cuda_tape_rule.py (collected by ``make test-cuda``).
"""
import numpy as np
import pytest

import fastrnn
from fastrnn.check import CELLS

from conftest import HOST_BACKENDS, VARIANTS, random_problem, variant

LAYER_BACKENDS = HOST_BACKENDS
MODULES = {"rnn": fastrnn.RNN, "lstm": fastrnn.LSTM, "gru": fastrnn.GRU}


def _change(a):
    """Change every entry of ``a`` in place, as ``y -= target`` or an optimizer step would."""
    if a.dtype.kind == "i":
        a[...] = a // 2
    else:
        a *= -2
        a += 0.5


def _fresh(args, grads):
    return ({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()},
            {k: v.copy() for k, v in grads.items()})


def _functional_grads(cell, backend, args, grads, what=None):
    """Forward (train=True), then change ``what`` in place (an input name or an output field),
    then backward. Returns the gradients."""
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend=backend)
    if what is not None:
        _change(args[what] if what in args else getattr(out, what))
    return getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)


def _changeable(cell):
    names = ["y", "h_T", "x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "lengths"]
    return names + (["c_T", "c0"] if cell == "lstm" else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("cell", CELLS)
def test_functional_backward_ignores_in_place_changes(cell, name, dtype):
    # lengths T..0 include a partial and an empty sequence: masked steps are covered too
    args, grads = random_problem(cell, 5, 4, 3, 6, dtype, seed=11)
    with variant(name) as backend:
        want = _functional_grads(cell, backend, *_fresh(args, grads))
        for what in _changeable(cell):
            got = _functional_grads(cell, backend, *_fresh(args, grads), what=what)
            for field, g, w in zip(want._fields, got, want):
                np.testing.assert_array_equal(
                    g, w, err_msg=f"{cell} {name}: changing {what} changed {field}")


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("cell", CELLS)
def test_non_contiguous_inputs_are_owned_too(cell, name):
    """A strided x (validation copies it) and a Fortran-ordered weight: still the tape's own."""
    args, grads = random_problem(cell, 4, 3, 2, 5, np.float64, seed=2)
    wide = np.zeros((4, 3, 2 * 2))
    wide[..., ::2] = args["x"]
    w_hh = np.asfortranarray(args["w_hh"])
    with variant(name) as backend:
        want = _functional_grads(cell, backend, *_fresh(args, grads))
        args = {**args, "x": wide[..., ::2], "w_hh": w_hh}
        out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend=backend)
        _change(wide)
        _change(w_hh)
        got = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    for field, g, w in zip(want._fields, got, want):
        np.testing.assert_array_equal(g, w, err_msg=f"{cell} {name}: {field}")


@pytest.mark.parametrize("name", VARIANTS)
def test_the_same_tape_gives_the_same_gradients_twice(name):
    args, grads = random_problem("lstm", 4, 3, 2, 5, np.float32, seed=4)
    with variant(name) as backend:
        out = fastrnn.lstm_forward(**args, train=True, backend=backend)
        first = fastrnn.lstm_backward(out.tape, **grads)
        _change(first.dx)
        _change(first.dw_hh)
        second = fastrnn.lstm_backward(out.tape, **grads)
        third = fastrnn.lstm_backward(out.tape, **grads)
    for field, a, b in zip(second._fields, second, third):
        np.testing.assert_array_equal(a, b, err_msg=field)


def test_inference_makes_no_copy_of_the_inputs(monkeypatch):
    """Only a training forward pays for the copies."""
    from fastrnn import functional
    calls = []
    monkeypatch.setattr(functional, "_own", lambda *a: calls.append(a[0]) or a[1])
    args, _ = random_problem("gru", 3, 2, 2, 3, np.float64)
    fastrnn.gru_forward(**args, backend="numpy")
    assert calls == []
    fastrnn.gru_forward(**args, train=True, backend="numpy")
    assert calls == ["x", "w_ih", "w_hh"]


# ---- the layer API ----------------------------------------------------------------------
LAYER_CASES = [  # (num_layers, bidirectional, batch_first, lengths)
    (1, False, False, False),     # 1-layer time-major: y is the kernel's own output
    (2, False, False, False),     # 2 layers: the top layer reads the bottom layer's y
    (2, True, True, True),        # both directions, batch first, variable lengths
]


def _layer_grads(cell, backend, case, x, lengths, dy, dstate, what=None):
    """Forward (train=True), change ``what`` in place ("y", "x", "state" or a parameter name),
    backward. Returns (dx, dstate0 arrays, grads)."""
    L, bidir, batch_first, _ = case
    module = MODULES[cell](x.shape[2], 4, num_layers=L, bidirectional=bidir,
                           batch_first=batch_first, dtype=x.dtype, seed=3, backend=backend)
    x = x.copy()
    y, state, tape = module.forward(x, lengths=lengths, train=True)
    if what == "y":
        _change(y)
    elif what == "x":
        _change(x)
    elif what == "state":
        for s in (state if cell == "lstm" else (state,)):
            _change(s)
    elif what == "all parameters":
        for p in module.params.values():
            _change(p)
    elif what is not None:
        _change(module.params[what])
    dx, ds0 = module.backward(tape, dy=dy, dstate=dstate)
    ds0 = list(ds0) if cell == "lstm" else [ds0]
    return dx, ds0, {k: v.copy() for k, v in module.grads.items()}


@pytest.mark.parametrize("case", LAYER_CASES, ids=["1-layer", "2-layer", "2-layer-bidir-bf-len"])
@pytest.mark.parametrize("backend", LAYER_BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_layer_backward_ignores_in_place_changes(cell, backend, case):
    L, bidir, batch_first, with_lengths = case
    T, B, I, H, D = 5, 3, 2, 4, 1 + bidir
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    lengths = np.array([5, 3, 1]) if with_lengths else None
    dy = rng.standard_normal(x.shape[:2] + (D * H,)).astype(np.float32)
    dh = rng.standard_normal((L * D, B, H)).astype(np.float32)
    dstate = (dh, dh[::-1].copy()) if cell == "lstm" else dh
    want = _layer_grads(cell, backend, case, x, lengths, dy, dstate)
    names = list(fastrnn.LSTM(I, H, num_layers=L, bidirectional=bidir).params)
    # the top layer's weights (the bottom layer's when there is one layer), then all of them
    top = [n for n in names if f"_l{L - 1}" in n]
    for what in ["y", "x", "state", *top, "all parameters"]:
        got = _layer_grads(cell, backend, case, x, lengths, dy, dstate, what)
        np.testing.assert_array_equal(got[0], want[0], err_msg=f"{cell}: changing {what}: dx")
        for k, (g, w) in enumerate(zip(got[1], want[1])):
            np.testing.assert_array_equal(g, w, err_msg=f"{cell}: changing {what}: dstate {k}")
        for k in want[2]:
            np.testing.assert_array_equal(got[2][k], want[2][k],
                                          err_msg=f"{cell}: changing {what}: grads[{k}]")
