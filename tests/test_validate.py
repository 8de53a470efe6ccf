"""Every bad input gets a TypeError or ValueError that names the argument and what was expected."""
import numpy as np
import pytest

import fastrnn
from fastrnn.check import random_problem


@pytest.fixture
def lstm_args():
    args, _ = random_problem("lstm", 4, 3, 2, 5, np.float64)
    return args


def _call(args, **changes):
    return fastrnn.lstm_forward(**{**args, **changes}, backend="numpy")


@pytest.mark.parametrize("name, value, error, match", [
    ("x", np.zeros((4, 3)), ValueError, r"x must have 3 dimensions"),
    ("x", np.zeros((4, 3, 2), np.int64), TypeError, r"x must have dtype float32 or float64"),
    ("x", np.zeros((4, 3, 2), np.complex128), TypeError, r"x must have dtype float32 or float64"),
    ("x", np.zeros((4, 3, 2), np.float16), TypeError, r"x must have dtype float32 or float64"),
    ("x", [[[0.0, 0.0]]], TypeError, r"x must be a NumPy array.*got list"),
    ("w_ih", np.zeros((20, 3)), ValueError, r"w_ih must have shape \(20, 2\)"),
    ("w_ih", np.zeros((20, 2), np.float32), TypeError, r"w_ih must have dtype float64 like x"),
    ("w_hh", np.zeros((16, 5)), ValueError, r"w_hh must have shape \(4·H, H\)"),
    ("w_hh", np.zeros((20, 5, 1)), ValueError, r"w_hh must have 2 dimensions"),
    ("w_hh", "weights", TypeError, r"w_hh must be a NumPy array.*got str"),
    ("b_ih", np.zeros(19), ValueError, r"b_ih must have shape \(20,\)"),
    ("b_hh", np.zeros(20, np.float32), TypeError, r"b_hh must have dtype float64"),
    ("h0", np.zeros((3, 4)), ValueError, r"h0 must have shape \(3, 5\)"),
    ("h0", np.zeros((1, 3, 5)), ValueError, r"h0 must have 2 dimensions"),
    ("c0", np.zeros((2, 5)), ValueError, r"c0 must have shape \(3, 5\)"),
    ("c0", 0.0, TypeError, r"c0 must be a NumPy array.*got float"),
    ("lengths", np.array([1.0, np.nan, 2.0]), ValueError, r"lengths must not contain NaN"),
    ("lengths", np.array([1, -1, 2]), ValueError, r"lengths must lie in \[0, T=4\]"),
    ("lengths", np.array([1, 5, 2]), ValueError, r"lengths must lie in \[0, T=4\]"),
    ("lengths", np.array([1, 2]), ValueError, r"lengths must have shape \(3,\)"),
    ("lengths", np.array([1.5, 2, 2]), ValueError, r"lengths must be whole numbers"),
    ("lengths", np.array(["a", "b", "c"]), TypeError, r"lengths must be integers"),
    ("lengths", 3, TypeError, r"lengths must be an array or list of 3 integers"),
    ("activation", "sigmoid", ValueError, r"activation must be one of \('tanh', 'relu'\)"),
    ("train", "yes", TypeError, r"train must be True or False"),
])
def test_forward_rejects(lstm_args, name, value, error, match):
    with pytest.raises(error, match=match):
        _call(lstm_args, **{name: value})


def test_lengths_accept_lists_and_whole_floats(lstm_args):
    ref = _call(lstm_args, lengths=np.array([4, 2, 0])).y
    np.testing.assert_array_equal(_call(lstm_args, lengths=[4, 2, 0]).y, ref)
    np.testing.assert_array_equal(_call(lstm_args, lengths=np.array([4.0, 2.0, 0.0])).y, ref)


def test_non_contiguous_inputs_are_accepted_and_left_alone(lstm_args):
    x_f = np.asfortranarray(lstm_args["x"])
    w_t = np.ascontiguousarray(lstm_args["w_hh"].T).T      # a transposed view
    out = _call(lstm_args, x=x_f, w_hh=w_t)
    np.testing.assert_allclose(out.y, _call(lstm_args).y, rtol=0, atol=0)
    assert x_f.flags.f_contiguous and not w_t.flags.c_contiguous


@pytest.fixture
def lstm_tape(lstm_args):
    return fastrnn.lstm_forward(**lstm_args, train=True, backend="numpy").tape


@pytest.mark.parametrize("name, value, error, match", [
    ("dy", np.zeros((4, 3, 4)), ValueError, r"dy must have shape \(4, 3, 5\)"),
    ("dy", np.zeros((4, 3, 5), np.float32), TypeError, r"dy must have dtype float64"),
    ("dh_T", np.zeros((3, 6)), ValueError, r"dh_T must have shape \(3, 5\)"),
    ("dc_T", [0.0], TypeError, r"dc_T must be a NumPy array"),
])
def test_backward_rejects(lstm_tape, name, value, error, match):
    with pytest.raises(error, match=match):
        fastrnn.lstm_backward(lstm_tape, **{name: value})


def test_backward_rejects_foreign_tapes(lstm_args, lstm_tape):
    with pytest.raises(ValueError, match="tape comes from lstm_forward, not gru_forward"):
        fastrnn.gru_backward(lstm_tape)
    with pytest.raises(TypeError, match=r"tape must be the tape returned by lstm_forward"):
        fastrnn.lstm_backward({"cell": "lstm"})
    with pytest.raises(TypeError, match=r"tape must be the tape returned by rnn_forward"):
        fastrnn.rnn_backward(None)
    with pytest.raises(ValueError, match="a tape's backward runs on its own backend"):
        fastrnn.lstm_backward(lstm_tape, backend="cpu")


def test_backward_defaults_to_zero_output_gradients(lstm_tape):
    grads = fastrnn.lstm_backward(lstm_tape)
    assert grads.dw_hr is None                     # no projection
    assert all(not g.any() for g in grads[:-1])


def test_rnn_and_gru_check_their_gate_count():
    args, _ = random_problem("lstm", 4, 3, 2, 5, np.float64)
    with pytest.raises(ValueError, match=r"w_hh must have shape \(3·H, H\) with H ≥ 1 \(GRU has 3 gate blocks\)"):
        fastrnn.gru_forward(args["x"], args["w_ih"], args["w_hh"], backend="numpy")
    with pytest.raises(ValueError, match=r"w_hh must have shape \(1·H, H\) with H ≥ 1 \(RNN has 1 gate block\)"):
        fastrnn.rnn_forward(args["x"], args["w_ih"], args["w_hh"], backend="numpy")
    with pytest.raises(TypeError, match="unexpected keyword argument 'c0'"):
        fastrnn.gru_forward(args["x"], args["w_ih"], args["w_hh"], c0=args["c0"])
