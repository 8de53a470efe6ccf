"""float32 saturation and non-finite values: every host backend against the NumPy reference.

- the cpu float32 tanh and σ (``fastrnn.cpu._math``) saturate exactly where the
  reference's float32 ``np.tanh`` and ``1 / (1 + exp(-a))`` do, so a saturated
  unit's derivative is exactly 0, as in the reference;
- huge finite inputs and states (±1e30, float32's maximum) give the reference's
  gradients, not 1e23 and more;
- ±inf and NaN propagate as in the reference (same values, NaN where it has NaN);
- masked arrays are refused, ``check_finite=True`` refuses NaN and inf.
"""
import numpy as np
import pytest
from numba import njit

import fastrnn
from fastrnn.check import CELLS
from fastrnn.cpu import _math
from fastrnn.reference._common import sigmoid as reference_sigmoid
from fastrnn.cpu._cells import JIT

from conftest import HOST_BACKENDS, VARIANTS, assert_close, random_problem, run_cell, variant

F32 = np.float32


@njit(**{**JIT, "cache": False})      # the gate kernels' flags (FMA contraction on)
def _apply(a, t, s, dt, ds):
    for i in range(a.shape[0]):
        t[i] = _math.tanh(a[i])
        s[i] = _math.sigmoid(a[i])
        dt[i] = _math.dact(t[i], False)
        ds[i] = _math.dsigmoid(s[i])


def activations(a):
    """The cpu kernels' tanh, σ, tanh' and σ' of a float32 array, as the gate loops do."""
    out = [np.empty_like(a) for _ in range(4)]
    _apply(a, *out)
    return out


def reference_activations(a):
    with np.errstate(over="ignore"):
        t, s = np.tanh(a), reference_sigmoid(a)
    return t, s, 1 - t * t, s * (1 - s)


def float32_range(lo, hi):
    """Every float32 in [lo, hi] (lo, hi > 0)."""
    return np.arange(F32(lo).view(np.int32), F32(hi).view(np.int32) + 1,
                     dtype=np.int32).view(F32)


def test_tanh_is_exactly_one_where_the_reference_is():
    a = float32_range(7.5, 10.5)
    a = np.concatenate([a, -a, [F32(1e30), F32(-1e30), np.finfo(F32).max, -np.finfo(F32).max,
                                F32(np.inf), F32(-np.inf)]]).astype(F32)
    t, _, dt, _ = activations(a)
    ref_t, _, ref_dt, _ = reference_activations(a)
    # wherever float32 np.tanh says ±1, so do we, and tanh' is exactly 0 there
    assert np.all(t[np.abs(ref_t) == 1] == ref_t[np.abs(ref_t) == 1])
    assert np.all(dt[ref_dt == 0] == 0)
    # from TANH_ONE (the point where tanh rounds to 1 in float32) on: exactly ±1
    far = np.abs(a) >= _math.TANH_ONE
    np.testing.assert_array_equal(t[far], np.sign(a[far]))
    # and below it within a few ulps of 1 of the reference (tanh' = 1 − t²: twice that)
    assert np.max(np.abs(t - ref_t)) <= 4 * 2.0 ** -24
    assert np.max(np.abs(dt - ref_dt)) <= 8 * 2.0 ** -23


def test_sigmoid_is_exactly_one_where_the_reference_is():
    a = float32_range(14, 20)
    t, s, _, ds = activations(a)
    _, ref_s, _, ref_ds = reference_activations(a)
    np.testing.assert_array_equal(s[ref_s == 1], 1)
    np.testing.assert_array_equal(ds[ref_ds == 0], 0)
    assert np.all(s[a >= _math.SIGMOID_ONE] == 1)
    assert np.max(np.abs(s - ref_s)) <= 4 * 2.0 ** -24


def test_sigmoid_of_very_negative_inputs_is_tiny_or_zero():
    """The reference's σ(a) is e^a down to a = −88.72 (then 0); ours is within a few ulps of 1
    of it, and exactly 0 from −18.02 on, where the reference's σ and σ' are below 1.5e-8."""
    a = -float32_range(10, 200)
    a = np.concatenate([a, [F32(-1e30), -np.finfo(F32).max, F32(-np.inf)]]).astype(F32)
    _, s, _, ds = activations(a)
    _, ref_s, _, ref_ds = reference_activations(a)
    assert np.all(s >= 0) and np.all(ds >= 0) and np.all(np.isfinite(ds))
    assert np.max(np.abs(s - ref_s)) <= 4 * 2.0 ** -24
    assert np.max(np.abs(ds - ref_ds)) <= 4 * 2.0 ** -24
    far = a <= -2 * _math.TANH_ONE        # -18.02: tanh(a/2) is exactly -1
    np.testing.assert_array_equal(s[far], 0)
    assert np.max(ref_s[far]) <= 1.5e-8 and np.max(ref_ds[far]) <= 1.5e-8
    np.testing.assert_array_equal(s[ref_s == 0], 0)
    np.testing.assert_array_equal(ds[ref_ds == 0], 0)


def test_non_finite_activations_propagate():
    a = np.array([np.inf, -np.inf, np.nan], F32)
    t, s, _, _ = activations(a)
    np.testing.assert_array_equal(t, [1, -1, np.nan])
    np.testing.assert_array_equal(s, [1, 0, np.nan])


def _huge_problem(cell, dtype, scale, where, activation="tanh", seed=3):
    args, grads = random_problem(cell, 5, 4, 3, 6, dtype, seed)
    args["activation"] = activation
    for name in where:
        args[name] = (args[name] * dtype(scale)).astype(dtype)
    return args, grads


#: far into saturation, but no product overflows to inf (inf − inf would be NaN in the reference)
SCALES = [1e30, float(np.finfo(np.float32).max) / 100]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("scale", SCALES, ids=["1e30", "max/100"])
@pytest.mark.parametrize("where", [("x",), ("h0",), ("x", "h0", "c0")], ids=["x", "h0", "all"])
@pytest.mark.parametrize("cell", CELLS)
def test_huge_inputs_give_the_reference_gradients(cell, where, scale, name):
    """Every pre-activation is far into saturation: the reference's gradients are O(1)
    (many exactly 0), and so are the backend's."""
    where = tuple(w for w in where if w != "c0" or cell == "lstm")
    args, grads = _huge_problem(cell, F32, scale, where)
    with np.errstate(over="ignore", invalid="ignore"), variant(name) as backend:
        ref = run_cell(cell, "numpy", args, grads)
        got = run_cell(cell, backend, args, grads)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, f"{cell} {where} ×{scale:g} output/gradient #{i}")
    # the gradients with respect to the weights are O(1), as the reference's
    assert max(float(np.max(np.abs(g), initial=0)) for g in got[-4:]) < 1e3


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_relu_gru_freezes_as_the_reference_does(backend):
    """z = σ(≥ 39) is exactly 1, so h' = (1 − z) n + z h is h even for a huge relu n:
    the state freezes (with z = 1 − 1.2e-7 it grew by 0.1 per step for n ≈ 1e6)."""
    args, grads = random_problem("gru", 6, 3, 2, 4, F32, seed=5)
    args["lengths"] = None
    args["activation"] = "relu"
    H = 4
    b_ih = args["b_ih"].copy()
    b_ih[H:2 * H] = 40            # z = σ(≥ 39) = 1 in float32
    b_ih[2 * H:] = 1e6            # n = relu(≈ 1e6)
    args["b_ih"] = b_ih
    ref = fastrnn.gru_forward(**args, backend="numpy")
    out = fastrnn.gru_forward(**args, backend=backend)
    np.testing.assert_array_equal(ref.h_T, args["h0"])
    np.testing.assert_array_equal(out.h_T, args["h0"])
    assert_close(out.y, ref.y, "y")


def _nan_aware_equal(got, ref, what):
    """Same NaN and ±inf positions; finite entries within the dtype's tolerance."""
    got, ref = np.asarray(got), np.asarray(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN positions")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref), err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref), err_msg=f"{what}: -inf")
    fin = np.isfinite(ref)
    assert_close(np.where(fin, got, 0), np.where(fin, ref, 0), what)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
def test_one_non_finite_input_propagates_as_in_the_reference(cell, dtype, value, name):
    args, grads = random_problem(cell, 5, 3, 4, 5, dtype, seed=7)
    args["lengths"] = None
    x = args["x"].copy()
    x[1, 0, 2] = value               # one input of sequence 0 at step 1
    args["x"] = x
    with np.errstate(over="ignore", invalid="ignore"), variant(name) as backend:
        ref = run_cell(cell, "numpy", args, grads)
        got = run_cell(cell, backend, args, grads)
    for i, (g, r) in enumerate(zip(got, ref)):
        _nan_aware_equal(g, r, f"{cell} x[1,0,2]={value} output/gradient #{i}")
    y = got[0]
    # the other sequences never see it, and with tanh an inf input saturates rather than
    # turning the sequence into NaN
    assert np.all(np.isfinite(y[:, 1:]))
    if not np.isnan(value):
        assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("value", [np.inf, np.nan], ids=["inf", "nan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
def test_non_finite_with_relu_propagates_as_in_the_reference(cell, dtype, value, name):
    """relu(inf) = inf, relu(NaN) = NaN (np.maximum), relu'(NaN) = 0, as in the reference."""
    args, grads = random_problem(cell, 4, 3, 2, 3, dtype, seed=2)
    args["activation"] = "relu"
    x = args["x"].copy()
    x[0, 1, 0] = value
    args["x"] = x
    with np.errstate(over="ignore", invalid="ignore"), variant(name) as backend:
        ref = run_cell(cell, "numpy", args, grads)
        got = run_cell(cell, backend, args, grads)
    for i, (g, r) in enumerate(zip(got, ref)):
        _nan_aware_equal(g, r, f"{cell} relu x[0,1,0]={value} output/gradient #{i}")


# ---- refused inputs -------------------------------------------------------------------
ARGS = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")


@pytest.mark.parametrize("name", ARGS + ("lengths",))
@pytest.mark.parametrize("cell", CELLS)
def test_masked_arrays_are_refused(cell, name):
    if name == "c0" and cell != "lstm":
        pytest.skip("only the LSTM has c0")
    args, _ = random_problem(cell, 3, 2, 2, 3, np.float64)
    a = args[name]
    args[name] = np.ma.masked_array(a, mask=np.zeros(a.shape, bool))
    with pytest.raises(TypeError, match=f"^{name} .*masked array.*lengths="):
        getattr(fastrnn, f"{cell}_forward")(**args, backend="numpy")


def test_masked_output_gradients_are_refused():
    args, grads = random_problem("lstm", 3, 2, 2, 3, np.float64)
    tape = fastrnn.lstm_forward(**args, train=True, backend="numpy").tape
    dy = np.ma.masked_array(grads["dy"], mask=np.zeros(grads["dy"].shape, bool))
    with pytest.raises(TypeError, match="^dy .*masked array"):
        fastrnn.lstm_backward(tape, dy=dy)


def test_masked_input_to_a_layer_is_refused():
    lstm = fastrnn.LSTM(2, 3, dtype=np.float64, backend="numpy", seed=0)
    x = np.ma.masked_array(np.zeros((4, 2, 2)), mask=np.zeros((4, 2, 2), bool))
    with pytest.raises(TypeError, match="^x .*masked array.*lengths="):
        lstm(x)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ARGS)
@pytest.mark.parametrize("cell", CELLS)
def test_check_finite_names_the_argument(cell, name, value):
    if name == "c0" and cell != "lstm":
        pytest.skip("only the LSTM has c0")
    args, _ = random_problem(cell, 3, 2, 2, 3, np.float64)
    a = args[name].copy()
    a.flat[a.size // 2] = value
    args[name] = a
    forward = getattr(fastrnn, f"{cell}_forward")
    with pytest.raises(ValueError, match=f"^{name} holds NaN or inf"):
        forward(**args, check_finite=True, backend="numpy")
    with np.errstate(over="ignore", invalid="ignore"):
        forward(**args, backend="numpy")               # the default propagates
        forward(**args, check_finite=False, backend="numpy")


def test_check_finite_must_be_a_bool():
    args, _ = random_problem("rnn", 3, 2, 2, 3, np.float64)
    with pytest.raises(TypeError, match="check_finite"):
        fastrnn.rnn_forward(**args, check_finite="yes")
