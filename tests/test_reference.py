"""The NumPy reference: hand-computed forward values and backward vs central finite differences."""
import numpy as np
import pytest

import fastrnn
from conftest import CELL_VARIANTS, CELLS, random_problem, variant_id
from fastrnn.reference._common import sigmoid


def _loss(cell, args, grads, options):
    """L = Σ dy·y + Σ dh_T·h_T (+ Σ dc_T·c_T): its gradients are what *_backward returns."""
    out = getattr(fastrnn, f"{cell}_forward")(**args, **options, backend="numpy")
    outs = dict(dy=out.y, dh_T=out.h_T, dc_T=getattr(out, "c_T", None))
    return sum(float(np.sum(grads[k] * outs[k])) for k in grads)


def _finite_difference(cell, args, grads, options, name, eps=1e-6):
    """Central differences dL/d args[name], element by element."""
    a = args[name]
    num = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + eps
        up = _loss(cell, args, grads, options)
        a[idx] = orig - eps
        down = _loss(cell, args, grads, options)
        a[idx] = orig
        num[idx] = (up - down) / (2 * eps)
    return num


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell, options", CELL_VARIANTS, ids=[variant_id(*v) for v in CELL_VARIANTS])
def test_backward_matches_finite_differences(cell, options, with_lengths):
    # float64, tiny: T=4, B=3, I=2, H=3; non-zero initial states; lengths 4, 2, 0
    args, grads = random_problem(cell, 4, 3, 2, 3, np.float64, seed=1)
    if not with_lengths:
        args["lengths"] = None
    out = getattr(fastrnn, f"{cell}_forward")(**args, **options, train=True, backend="numpy")
    analytic = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    names = ["x", *(f"{s}0" for s in CELLS[cell].states),
             *(p.name for p in CELLS[cell].params if not p.optional)]    # w_hr: below
    for name in names:
        num = _finite_difference(cell, args, grads, options, name)
        got = getattr(analytic, "d" + name)
        assert np.abs(num).max() > 0, f"d{name}: the loss does not depend on {name}"
        np.testing.assert_allclose(got, num, atol=1e-7, rtol=1e-6, err_msg=f"d{name}")


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
def test_projection_backward_matches_finite_differences(with_lengths):
    """The LSTM with w_hr (P = 2 < H = 3): every gradient, dw_hr too."""
    args, grads = random_problem("lstm", 4, 3, 2, 3, np.float64, seed=1, P=2)
    if not with_lengths:
        args["lengths"] = None
    out = fastrnn.lstm_forward(**args, train=True, backend="numpy")
    analytic = fastrnn.lstm_backward(out.tape, **grads)
    for name in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"):
        num = _finite_difference("lstm", args, grads, {}, name)
        assert np.abs(num).max() > 0, f"d{name}: the loss does not depend on {name}"
        np.testing.assert_allclose(getattr(analytic, "d" + name), num, atol=1e-7, rtol=1e-6,
                                   err_msg=f"d{name}")


def test_finite_differences_see_every_gradient():
    """The checks above are not vacuous: each gradient has non-zero entries on that problem."""
    for cell in CELLS:
        args, grads = random_problem(cell, 4, 3, 2, 3, np.float64, seed=1)
        out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend="numpy")
        for name, g in getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)._asdict().items():
            if name != "dw_hr":          # None: no projection here (checked above)
                assert np.count_nonzero(g) > 0, f"{cell} {name} is all zeros"


def _one_step_inputs(G):
    """T=1, B=1, I=2, H=1 with small exact weights: x = [1, -2], h0 = 0.5, c0 = -0.25."""
    x = np.array([[[1.0, -2.0]]])
    w_ih = np.arange(1, 2 * G + 1, dtype=np.float64).reshape(G, 2) / 10      # rows k: [(2k+1)/10, (2k+2)/10]
    w_hh = -np.arange(1, G + 1, dtype=np.float64).reshape(G, 1) / 10
    b_ih = np.full(G, 0.05)
    b_hh = np.full(G, -0.02)
    return x, w_ih, w_hh, b_ih, b_hh, np.array([[0.5]]), np.array([[-0.25]])


def test_rnn_one_step_by_hand():
    x, w_ih, w_hh, b_ih, b_hh, h0, _ = _one_step_inputs(1)
    # a = 0.1·1 + 0.2·(-2) + 0.05 + (-0.1)·0.5 - 0.02 = -0.32
    y, h, _ = fastrnn.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, backend="numpy")
    assert h[0, 0] == pytest.approx(np.tanh(-0.32), abs=1e-15)
    y, h, _ = fastrnn.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, activation="relu",
                                  backend="numpy")
    assert h[0, 0] == 0.0 and y[0, 0, 0] == 0.0


def test_lstm_one_step_by_hand():
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _one_step_inputs(4)
    # gate k pre-activation: (2k+1)/10 - 2(2k+2)/10 + 0.05 - (k+1)/10·0.5 - 0.02
    a = [(2 * k + 1) / 10 - 2 * (2 * k + 2) / 10 + 0.03 - (k + 1) / 20 for k in range(4)]
    assert a[0] == pytest.approx(-0.32)
    i, f, g, o = sigmoid(a[0]), sigmoid(a[1]), np.tanh(a[2]), sigmoid(a[3])
    c = f * -0.25 + i * g
    y, h, c_T, _ = fastrnn.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backend="numpy")
    assert c_T[0, 0] == pytest.approx(c, abs=1e-15)
    assert h[0, 0] == pytest.approx(o * np.tanh(c), abs=1e-15)
    assert y[0, 0, 0] == h[0, 0]


def test_gru_one_step_by_hand():
    x, w_ih, w_hh, b_ih, b_hh, h0, _ = _one_step_inputs(3)
    gi = [(2 * k + 1) / 10 - 2 * (2 * k + 2) / 10 + 0.05 for k in range(3)]
    gh = [-(k + 1) / 10 * 0.5 - 0.02 for k in range(3)]
    r, z = sigmoid(gi[0] + gh[0]), sigmoid(gi[1] + gh[1])
    n = np.tanh(gi[2] + r * gh[2])
    y, h, _ = fastrnn.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, backend="numpy")
    assert h[0, 0] == pytest.approx((1 - z) * n + z * 0.5, abs=1e-15)


@pytest.mark.parametrize("cell", CELLS)
def test_lengths_semantics(cell):
    """Padded steps output zeros; the final state is the state at the last valid step;
    length 0 returns the initial state; a sequence's outputs don't depend on its padding."""
    args, _ = random_problem(cell, 5, 3, 2, 4, np.float64)
    args["lengths"] = np.array([5, 2, 0])
    fwd = getattr(fastrnn, f"{cell}_forward")
    out = fwd(**args, backend="numpy")
    assert not out.y[2:, 1].any() and not out.y[:, 2].any()
    np.testing.assert_array_equal(out.h_T[2], args["h0"][2])
    short = fwd(**{**args, "x": args["x"][:2], "lengths": None}, backend="numpy")
    np.testing.assert_array_equal(out.h_T[1], short.h_T[1])
    np.testing.assert_array_equal(out.y[:2, 1], short.y[:, 1])
    if cell == "lstm":
        np.testing.assert_array_equal(out.c_T[1], short.c_T[1])
        np.testing.assert_array_equal(out.c_T[2], args["c0"][2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
def test_dtype_kept_and_inputs_unchanged(cell, dtype):
    args, grads = random_problem(cell, 3, 2, 3, 4, dtype)
    before = {k: v.copy() for k, v in {**args, **grads}.items()}
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend="numpy")
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    for a in (*out[:-1], *(g for g in back if g is not None)):
        assert a.dtype == dtype
    for k, v in {**args, **grads}.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was modified")


def test_inference_keeps_no_tape():
    args, _ = random_problem("lstm", 3, 2, 3, 4, np.float64)
    assert fastrnn.lstm_forward(**args, backend="numpy").tape is None
