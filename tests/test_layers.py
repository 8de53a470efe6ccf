"""fastrnn.RNN / LSTM / GRU modules: gradients vs finite differences, PackedSequence
reverse semantics, batch_first, dropout, initialization, state dicts and files,
every backend vs the numpy backend, and argument errors."""
import numpy as np
import pytest

import fastrnn
from fastrnn.layers import reverse_padded
from conftest import assert_close

T, B, I, H = 5, 3, 2, 3
LENGTHS = np.array([5, 2, 3])
MODULES = {"rnn": fastrnn.RNN, "lstm": fastrnn.LSTM, "gru": fastrnn.GRU}


def make(cell, dtype=np.float64, **kwargs):
    """A 2-layer bidirectional module; on the numpy backend unless ``backend`` says otherwise
    (the layer logic is the same on every backend; test_every_backend_matches_numpy covers them)."""
    kwargs = {"num_layers": 2, "bidirectional": True, "seed": 0, "dtype": dtype,
              "backend": "numpy", **kwargs}
    return MODULES[cell](I, H, **kwargs)


def problem(module, dtype=np.float64, seed=1):
    """x, initial state, dy (zero at padded steps) and dstate for ``module``."""
    rng = np.random.default_rng(seed)
    LD = module.num_layers * module.num_directions

    def state():
        n = 2 if module.cell == "lstm" else 1
        parts = [rng.standard_normal((LD, B, H)).astype(dtype) for _ in range(n)]
        return tuple(parts) if module.cell == "lstm" else parts[0]
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, module.num_directions * H)).astype(dtype)
    dy[np.arange(T)[:, None] >= LENGTHS] = 0
    return x, state(), dy, state()


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def objective(module, x, state, dy, dstate):
    """L = Σ y·dy + Σ final state·dstate (forward in training mode, dropout rng reset)."""
    module._dropout_rng = np.random.default_rng(7)
    y, final, _ = module.forward(x, state, LENGTHS, train=True)
    return np.sum(y * dy) + sum(np.sum(f * d) for f, d in zip(flat(final), flat(dstate)))


def check_grad(f, a, grad, what, entries=4, eps=1e-6):
    """Central differences of scalar f() w.r.t. ``entries`` random entries of array a
    (perturbed in place, then restored), compared with ``grad`` there."""
    rng = np.random.default_rng(a.size)
    for flat_index in rng.choice(a.size, min(entries, a.size), replace=False):
        i = np.unravel_index(flat_index, a.shape)
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        numeric = (up - f()) / (2 * eps)
        a[i] = old
        np.testing.assert_allclose(grad[i], numeric, atol=1e-7, err_msg=f"{what}{list(i)}")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_backward_matches_finite_differences(cell):
    """Two layers, both directions, lengths, dropout between layers, initial states: every
    entry of dx and the initial-state gradients, four random entries of each parameter's."""
    module = make(cell, dropout=0.4)
    x, state, dy, dstate = problem(module)
    module._dropout_rng = np.random.default_rng(7)
    _, _, tape = module.forward(x, state, LENGTHS, train=True)
    dx, dstate0 = module.backward(tape, dy, dstate)
    f = lambda: objective(module, x, state, dy, dstate)  # noqa: E731
    check_grad(f, x, dx, "dx", entries=x.size)
    for name, got, s in zip(("dh0", "dc0"), flat(dstate0), flat(state)):
        check_grad(f, s, got, name, entries=s.size)
    for name, p in module.params.items():
        check_grad(f, p, module.grads[name], name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reverse_direction_reads_each_valid_prefix_backwards(cell):
    """PackedSequence semantics, checked one sequence at a time without padding."""
    module = make(cell, num_layers=1)
    x = np.random.default_rng(2).standard_normal((T, B, I))
    y, _ = module(x, lengths=LENGTHS)
    forward = getattr(fastrnn, f"{cell}_forward")
    w = [module.params[f"{k}_l0_reverse"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    for b, n in enumerate(LENGTHS):
        alone = forward(np.ascontiguousarray(x[:n, b:b + 1][::-1]), *w, backend="numpy").y
        assert_close(y[:n, b, H:], alone[::-1, 0], f"sequence {b}")
        assert not y[n:, b].any()          # padded steps are zeros


def test_reverse_padded_is_an_involution_that_keeps_padding():
    a = np.arange(T * B).reshape(T, B)
    r = reverse_padded(a, LENGTHS)
    assert (r[:2, 1] == a[:2, 1][::-1]).all() and (r[2:, 1] == a[2:, 1]).all()
    assert (reverse_padded(r, LENGTHS) == a).all()
    assert (reverse_padded(a, None) == a[::-1]).all()


def test_batch_first_is_the_transpose():
    x, state, dy, dstate = problem(make("lstm"))
    tm, bf = make("lstm"), make("lstm", batch_first=True)
    y, final, tape = tm.forward(x, state, LENGTHS)
    y_bf, final_bf, tape_bf = bf.forward(x.transpose(1, 0, 2).copy(), state, LENGTHS)
    assert_close(y_bf, y.transpose(1, 0, 2), "y")
    for a, b in zip(final_bf, final):
        assert_close(a, b, "final state")
    dx, _ = tm.backward(tape, dy, dstate)
    dx_bf, _ = bf.backward(tape_bf, dy.transpose(1, 0, 2).copy(), dstate)
    assert_close(dx_bf, dx.transpose(1, 0, 2), "dx")


def test_dropout_only_in_training_and_reproducible_from_seed():
    x = np.random.default_rng(3).standard_normal((T, B, I))
    a, b = make("gru", dropout=0.5, seed=4), make("gru", dropout=0.5, seed=4)
    y_infer, _ = a(x)
    y_train, _, _ = a.forward(x)
    assert not np.allclose(y_infer, y_train)                       # dropout acts in training
    assert_close(b.forward(x)[0], y_train, "same seed, same masks")
    assert_close(b(x)[0], y_infer, "inference ignores dropout")
    assert_close(make("gru", seed=4).forward(x)[0], y_infer, "dropout=0 trains like inference")


def test_initialization_like_pytorch():
    m = fastrnn.LSTM(7, 16, num_layers=2, bidirectional=True, seed=0)
    bound = 1 / np.sqrt(16)
    assert list(m.params) == [f"{k}_l{l}{s}" for l in range(2) for s in ("", "_reverse")
                              for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert m.params["weight_ih_l0"].shape == (64, 7) and m.params["weight_ih_l1"].shape == (64, 32)
    for v in m.params.values():
        assert v.dtype == np.float32 and np.abs(v).max() <= bound and np.abs(v).max() > 0.9 * bound
    same, other = fastrnn.LSTM(7, 16, 2, bidirectional=True, seed=0), fastrnn.LSTM(7, 16, 2, seed=1)
    assert all((same.params[k] == v).all() for k, v in m.params.items())
    assert not (other.params["weight_hh_l0"] == m.params["weight_hh_l0"]).all()


def test_no_bias():
    m = fastrnn.GRU(I, H, bias=False, seed=0, dtype=np.float64, backend="numpy")
    assert list(m.params) == ["weight_ih_l0", "weight_hh_l0"]
    x = np.random.default_rng(0).standard_normal((T, B, I))
    y, h = m(x)
    ref = fastrnn.gru_forward(x, m.params["weight_ih_l0"], m.params["weight_hh_l0"], backend="numpy")
    assert_close(y, ref.y, "y")


def test_rnn_relu_matches_the_functional_api():
    m = fastrnn.RNN(I, H, nonlinearity="relu", seed=0, dtype=np.float64, backend="numpy")
    x = np.random.default_rng(0).standard_normal((T, B, I))
    y, h = m(x, lengths=LENGTHS)
    ref = fastrnn.rnn_forward(x, *m.params.values(), lengths=LENGTHS, activation="relu",
                              backend="numpy")
    assert_close(y, ref.y, "y")
    assert_close(h[0], ref.h_T, "h")
    assert m.nonlinearity == "relu"


@pytest.mark.parametrize("backend", fastrnn.available_backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_backend_matches_numpy(backend, dtype):
    """The same module on every backend: outputs, states and every gradient."""
    results = []
    for name in ("numpy", backend):
        m = make("lstm", dtype, backend=name)
        x, state, dy, dstate = problem(m, dtype)
        y, final, tape = m.forward(x, state, LENGTHS)
        dx, dstate0 = m.backward(tape, dy, dstate)
        results.append([y, *final, dx, *dstate0, *m.grads.values()])
    for got, ref in zip(*results):
        assert_close(got, ref, backend)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_dict_round_trip_and_files(cell, tmp_path):
    a = make(cell, dropout=0.2)
    b = make(cell, dropout=0.2, seed=9)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((T, B, I))
    for got, ref in zip(flat(b(x, lengths=LENGTHS)[1]), flat(a(x, lengths=LENGTHS)[1])):
        assert_close(got, ref, "loaded state_dict")
    a.save(tmp_path / "m.npz")
    c = MODULES[cell].load(tmp_path / "m.npz")
    assert c.config() == a.config()
    assert_close(c(x)[0], a(x)[0], "loaded file")
    with pytest.raises(ValueError, match="holds a"):
        (fastrnn.GRU if cell != "gru" else fastrnn.LSTM).load(tmp_path / "m.npz")


def test_state_dict_is_a_copy_and_loading_copies():
    m = make("gru")
    sd = m.state_dict()
    sd["weight_ih_l0"][...] = 0
    assert m.params["weight_ih_l0"].any()
    before = m.params["weight_hh_l0"]
    m.load_state_dict(sd)
    assert m.params["weight_hh_l0"] is before            # optimizers keep their references
    sd["weight_hh_l0"][...] = 5
    assert not (m.params["weight_hh_l0"] == 5).any()


def test_load_state_dict_lists_every_problem():
    m = make("lstm")
    sd = m.state_dict()
    del sd["bias_hh_l1"]
    sd["extra"] = np.zeros(1)
    sd["weight_ih_l0"] = np.zeros((12, 5))
    with pytest.raises(ValueError) as err:
        m.load_state_dict(sd)
    msg = str(err.value)
    assert "missing: ['bias_hh_l1']" in msg and "unexpected: ['extra']" in msg
    assert "weight_ih_l0: expected (12, 2), got (12, 5)" in msg
    sd = {k: v.astype(np.float32) for k, v in m.state_dict().items()}
    with pytest.raises(TypeError, match="wrong dtype: weight_ih_l0: expected float64, got float32"):
        m.load_state_dict(sd)


def test_argument_errors():
    m = make("lstm")
    x = np.zeros((T, B, I))
    with pytest.raises(TypeError, match="x must have dtype float64"):
        m(x.astype(np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, I\) with I = input_size = 2"):
        m(np.zeros((T, B, 4)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 3, 3\)"):
        m(x, (np.zeros((2, B, H)), np.zeros((4, B, H))))
    with pytest.raises(TypeError, match=r"state of an LSTM must be a pair \(h, c\)"):
        m(x, np.zeros((4, B, H)))
    with pytest.raises(ValueError, match="lengths must lie in"):
        m(x, lengths=[1, 2, 9])
    with pytest.raises(TypeError, match="tape must be the tape"):
        m.backward(None, np.zeros((T, B, 2 * H)))
    _, _, tape = m.forward(x)
    with pytest.raises(ValueError, match=r"dy must have shape \(5, 3, 6\)"):
        m.backward(tape, np.zeros((T, B, H)))
    with pytest.raises(ValueError, match="dropout must be"):
        fastrnn.GRU(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match="hidden_size must be an integer"):
        fastrnn.GRU(2, 0)
    with pytest.raises(TypeError, match="nonlinearity="):
        fastrnn.RNN(2, 3, activation="relu")


def test_inputs_are_not_modified():
    m = make("gru")
    x, state, dy, dstate = problem(m)
    copies = [a.copy() for a in (x, state, dy, dstate)]
    _, _, tape = m.forward(x, state, LENGTHS)
    m.backward(tape, dy, dstate)
    for a, c in zip((x, state, dy, dstate), copies):
        assert (a == c).all()
