"""fastrnn.nn: every piece against finite differences or a closed form, and a short training run."""
import numpy as np
import pytest

from fastrnn import nn
from conftest import assert_close


def central_diff(f, a, eps=1e-6):
    """∂f/∂a by central differences, every entry (a perturbed in place, then restored)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        g[i] = (up - f()) / (2 * eps)
        a[i] = old
    return g


def test_dense_forward_and_gradients():
    layer = nn.Dense(4, 3, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 4))         # any leading shape
    dy = rng.standard_normal((2, 5, 3))
    y, tape = layer.forward(x)
    W, b = layer.params["weight"], layer.params["bias"]
    assert_close(y, np.einsum("nti,oi->nto", x, W) + b, "y")
    dx = layer.backward(tape, dy)

    def f():
        return np.sum(layer(x) * dy)
    np.testing.assert_allclose(dx, central_diff(f, x), atol=1e-8)
    for k in ("weight", "bias"):
        np.testing.assert_allclose(layer.grads[k], central_diff(f, layer.params[k]), atol=1e-8,
                                   err_msg=k)
    bound = 1 / np.sqrt(4)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound


def test_softmax_cross_entropy_closed_form_and_gradient():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 0])
    loss, d = nn.softmax_cross_entropy(logits, labels)
    # uniform row: log 3; first row: log(e + e² + e³) − 3
    expected = (np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 3 + np.log(3)) / 2
    assert loss == pytest.approx(expected, rel=1e-12)
    assert_close(d.sum(1), np.zeros(2), "rows of the gradient sum to 0")
    z = np.random.default_rng(0).standard_normal((4, 5))
    y = np.array([0, 4, 2, 2])
    _, dz = nn.softmax_cross_entropy(z, y)
    numeric = central_diff(lambda: nn.softmax_cross_entropy(z, y)[0], z)
    np.testing.assert_allclose(dz, numeric, atol=1e-9)


def test_softmax_cross_entropy_is_stable_and_keeps_dtype():
    z = np.array([[1e4, 0.0], [-1e4, 1e4]], np.float32)
    loss, d = nn.softmax_cross_entropy(z, np.array([0, 0]))
    assert loss == pytest.approx(1e4, rel=1e-6)       # row 0: 0, row 1: 2e4, mean 1e4
    assert np.isfinite(d).all() and d.dtype == np.float32
    with pytest.raises(ValueError, match="labels must lie in"):
        nn.softmax_cross_entropy(z, np.array([0, 2]))


def test_adam_constant_gradient_closed_form():
    """With a constant gradient g, m̂ = g and v̂ = g², so each step moves lr·g/(|g| + eps)."""
    p0 = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, -1e-3, 0.0])
    params = {"p": p0.copy()}
    opt = nn.Adam(params, lr=0.01)
    for _ in range(5):
        opt.step({"p": g})
    assert_close(params["p"], p0 - 5 * 0.01 * g / (np.abs(g) + 1e-8), "p")


def test_adam_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p = rng.standard_normal(6)
    grads = rng.standard_normal((4, 6))
    tp = torch.tensor(p, requires_grad=True)
    topt = torch.optim.Adam([tp])
    params = {"p": p.copy()}
    opt = nn.Adam(params)
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        opt.step({"p": g})
    np.testing.assert_allclose(params["p"], tp.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_is_its_formula_bit_for_bit(dtype):
    """step computes into buffers it keeps; the values are the formula's written plainly
    (NumPy temporaries), bit for bit, in both dtypes, with gradients of every scale."""
    rng = np.random.default_rng(1)
    shapes = {"w": (6, 5), "b": (4,)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    ref = {k: p.copy() for k, p in params.items()}
    m = {k: np.zeros(s, dtype) for k, s in shapes.items()}
    v = {k: np.zeros(s, dtype) for k, s in shapes.items()}
    lr, (b1, b2), eps = 3e-3, (0.9, 0.999), 1e-8
    opt = nn.Adam(params, lr=lr)
    for t in range(1, 7):
        grads = {k: (rng.standard_normal(s) * 10.0 ** rng.integers(-6, 3)).astype(dtype)
                 for k, s in shapes.items()}
        opt.step(grads)
        step, root_bc2 = lr / (1 - b1 ** t), np.sqrt(1 - b2 ** t)
        for k, g in grads.items():
            m[k] = (b1 * m[k] + (1 - b1) * g).astype(dtype)
            v[k] = (b2 * v[k] + (1 - b2) * g * g).astype(dtype)
            ref[k] = ref[k] - (step * m[k] / (np.sqrt(v[k]) / root_bc2 + eps)).astype(dtype)
            assert np.array_equal(opt.m[k], m[k]) and np.array_equal(opt.v[k], v[k]), (t, k)
            assert np.array_equal(params[k], ref[k]), (t, k)
            assert params[k].dtype == dtype


def test_adam_refuses_a_parameter_replaced_since_it_was_made():
    """A parameter of another shape or dtype than at construction (or a new one) is refused
    before anything is read or written."""
    params = {"w": np.ones(3, np.float32)}
    opt = nn.Adam(params)
    for k, new in (("w", np.ones(5, np.float32)), ("w", np.ones(3)), ("u", np.ones(2, np.float32))):
        params.clear()
        params[k] = new
        with pytest.raises(ValueError, match=f"parameter '{k}' is now .* make a new optimizer"):
            opt.step({k: np.ones_like(new)})
        assert opt.t == 0 and (new == 1).all()


def test_sgd_momentum_constant_gradient_closed_form():
    """v_t = g (1 + μ + … + μ^(t−1)), so after t steps p = p0 − lr g Σ_k (1 − μ^k) / (1 − μ)."""
    p0, g, lr, mu, t = np.array([1.0, 2.0]), np.array([0.5, -1.0]), 0.1, 0.9, 4
    params = {"p": p0.copy()}
    opt = nn.SGD(params, lr=lr, momentum=mu)
    for _ in range(t):
        opt.step({"p": g})
    total = sum((1 - mu ** k) / (1 - mu) for k in range(1, t + 1))
    assert_close(params["p"], p0 - lr * g * total, "momentum")
    plain = {"p": p0.copy()}
    nn.SGD(plain, lr=lr).step({"p": g})
    assert_close(plain["p"], p0 - lr * g, "no momentum")


def test_clip_grad_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, norm = nn.clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert np.sqrt(sum(np.sum(g ** 2) for g in clipped.values())) == pytest.approx(1.0, rel=1e-6)
    assert_close(clipped["a"], np.array([0.6, 0.0]) * 5 / (5 + 1e-6), "a")
    assert grads["a"][0] == 3.0                          # inputs untouched
    same, _ = nn.clip_grad_norm(grads, 10.0)
    assert_close(same["b"], grads["b"], "below the threshold")


def test_sgd_and_adam_update_in_place():
    params = {"w": np.ones(3, np.float32)}
    ref = params["w"]
    nn.Adam(params).step({"w": np.ones(3, np.float32)})
    nn.SGD(params, 0.1, 0.5).step({"w": np.ones(3, np.float32)})
    assert params["w"] is ref and ref.dtype == np.float32 and (ref < 1).all()


def test_last_valid():
    y = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    np.testing.assert_array_equal(nn.last_valid(y, np.array([3, 1])), [[2], [3]])


@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False), ("rnn", False)])
def test_classifier_gradients_match_finite_differences(cell, bidirectional):
    model = nn.SequenceClassifier(2, 3, 4, cell=cell, bidirectional=bidirectional,
                                  dtype=np.float64, seed=0, backend="numpy")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 2))
    labels, lengths = np.array([0, 3, 1]), np.array([5, 2, 4])

    def f():
        return nn.softmax_cross_entropy(model.logits(x, lengths), labels)[0]
    z, tape = model.logits(x, lengths, train=True)
    model.backward(tape, nn.softmax_cross_entropy(z, labels)[1])
    grads = model.grads
    for k, p in model.params.items():
        np.testing.assert_allclose(grads[k], central_diff(f, p), atol=1e-8, err_msg=k)


def tiny_task(n=48, seed=0):
    """Sequences whose class is the sign pattern of their mean over time."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 2)).astype(np.float32)
    labels = (x.mean(1) > 0) @ np.array([1, 2])
    return x, labels


def test_fit_reduces_the_loss_and_predicts(tmp_path):
    x, labels = tiny_task()
    model = nn.SequenceClassifier(2, 8, 4, seed=0, backend="numpy")
    before, _ = model.evaluate(x, labels)
    history = model.fit(x, labels, epochs=20, batch_size=16, optimizer=nn.Adam(model.params, 0.03),
                        lr_schedule=nn.cosine_schedule(0.03, 20), clip=5.0,
                        validation_data=(x, labels), progress=False)
    after, acc = model.evaluate(x, labels)
    assert after < 0.5 * before and history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] == pytest.approx(after) and acc > 0.8
    assert set(history) == {"loss", "acc", "seconds", "val_loss", "val_acc"}
    proba = model.predict_proba(x)
    assert proba.shape == (48, 4) and np.allclose(proba.sum(1), 1)
    assert (model.predict(x) == proba.argmax(1)).all()
    model.save(tmp_path / "m.npz")
    again = nn.SequenceClassifier.load(tmp_path / "m.npz", backend="numpy")
    assert_close(again.predict_proba(x), proba, "reloaded")


def test_classifier_errors():
    with pytest.raises(ValueError, match="cell must be one of"):
        nn.SequenceClassifier(2, 3, 4, cell="lstmx")
    model = nn.SequenceClassifier(2, 3, 4, backend="numpy")
    with pytest.raises(ValueError, match="lengths must be ≥ 1"):
        model.predict(np.zeros((2, 5, 2), np.float32), lengths=np.array([0, 5]))
    sd = model.state_dict()
    sd.pop("fc.bias")
    with pytest.raises(ValueError, match=r"missing: \['fc.bias'\]"):
        model.load_state_dict(sd)
