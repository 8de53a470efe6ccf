"""fastrnn.nn.Sequential and its layers: gradients against finite differences, the masked
steps, training, files, and the checks of its arguments."""
import numpy as np
import pytest

import fastrnn
from fastrnn import nn

F64 = dict(dtype=np.float64, backend="numpy")


def padded(rng, shape=(4, 6, 3), lengths=(6, 4, 1, 0)):
    """x (N, T, I) float64, each row zero past its length (a row of length 0 is all padding)."""
    x = rng.standard_normal(shape)
    for row, length in enumerate(lengths):
        x[row, length:] = 0
    return x


def check_gradients(model, x, lengths=None, eps=1e-6, samples=4):
    """backward against central differences of sum(y · dy): x and a few entries of each
    parameter."""
    rng = np.random.default_rng(7)
    y, tape = model.forward(x, lengths, train=True)
    dy = rng.standard_normal(y.shape)
    dx = model.backward(tape, dy)
    grads = {k: v.copy() for k, v in model.grads.items()}

    def f():
        return float(np.sum(model.forward(x, lengths)[0] * dy))

    def numeric(a, i):
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        return (up - down) / (2 * eps)
    # x: the valid steps (moving a padded step off the mask value would change the lengths)
    valid = np.argwhere(np.abs(x).sum(axis=2) > 0)
    for n, t in valid[rng.permutation(len(valid))[:samples]]:
        for i in range(x.shape[2]):
            assert dx[n, t, i] == pytest.approx(numeric(x, (n, t, i)), abs=1e-7), ("x", n, t, i)
    assert set(grads) == set(model.params)
    for k, p in model.params.items():
        for i in {tuple(int(rng.integers(0, s)) for s in p.shape) for _ in range(samples)}:
            assert grads[k][i] == pytest.approx(numeric(p, i), abs=1e-7), (k, i)


RECURRENT = [
    dict(),
    dict(return_sequences=True),
    dict(return_sequences=True, masked_output="last"),
    dict(go_backwards=True),
    dict(go_backwards=True, return_sequences=True),
    dict(bidirectional=True),
    *(dict(bidirectional=True, merge_mode=m, return_sequences=True)
      for m in ("concat", "sum", "mul", "ave")),
    dict(bidirectional=True, merge_mode="mul"),
    dict(num_layers=2, bidirectional=True, merge_mode="ave"),
]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("options", RECURRENT, ids=lambda o: ",".join(f"{k}={v}" for k, v in
                                                                        o.items()) or "default")
def test_recurrent_gradients(cell, options):
    rng = np.random.default_rng(0)
    layer = nn.Recurrent(cell, 3, 4, seed=1, **options, **F64)
    model = nn.Sequential([nn.Masking(), layer, nn.Dense(layer.output_size, 2, seed=2,
                                                         dtype=np.float64)])
    check_gradients(model, padded(rng))


def test_every_layer_kind_has_gradients():
    rng = np.random.default_rng(1)
    model = nn.Sequential([
        nn.Masking(), nn.Recurrent("gru", 3, 4, return_sequences=True, reset_after=False,
                                   gate_activation="hard_sigmoid", seed=0, **F64),
        nn.Dense(4, 4, seed=1, dtype=np.float64), nn.Activation("relu"),
        nn.Activation("sigmoid"), nn.Dropout(0.0),
        nn.Recurrent("lstm", 4, 5, activation="relu", bias=False, go_backwards=True, seed=2,
                     **F64),
        nn.Dense(5, 3, seed=3, dtype=np.float64), nn.Activation("tanh"),
        nn.Activation("linear"), nn.Activation("softmax")])
    check_gradients(model, padded(rng))


def test_masked_steps_and_directions():
    """What each option puts at the padded steps and where the last step comes from."""
    rng = np.random.default_rng(2)
    x = padded(rng)[:3]                              # lengths 6, 4, 1
    lengths = np.array([6, 4, 1])
    plain = nn.Recurrent("gru", 3, 4, return_sequences=True, seed=0, **F64)
    y, _, _ = plain.forward(x, lengths)
    assert (y[1, 4:] == 0).all() and (y[2, 1:] == 0).all()
    last = nn.Recurrent("gru", 3, 4, return_sequences=True, masked_output="last", seed=0, **F64)
    y_last = last.forward(x, lengths)[0]
    np.testing.assert_array_equal(y_last[1, 4:], np.broadcast_to(y[1, 3], (2, 4)))
    end = nn.Recurrent("gru", 3, 4, seed=0, **F64).forward(x, lengths)[0]
    np.testing.assert_array_equal(end, y[[0, 1, 2], lengths - 1])
    # go_backwards: the reversed valid steps, returned reversed: padding first, as zeros
    back = nn.Recurrent("gru", 3, 4, go_backwards=True, return_sequences=True, seed=0, **F64)
    y_back = back.forward(x, lengths)[0]
    reversed_row = plain.forward(x[1:2, 3::-1].copy(), np.array([4]))[0][0]
    np.testing.assert_allclose(y_back[1, 2:], reversed_row, atol=1e-15)
    assert (y_back[1, :2] == 0).all()
    # bidirectional, last step: the forward direction's last valid step, the reverse's first
    bi = nn.Recurrent("gru", 3, 4, bidirectional=True, return_sequences=True, seed=0, **F64)
    seq = bi.forward(x, lengths)[0]
    bi.return_sequences = False
    np.testing.assert_array_equal(bi.forward(x, lengths)[0],
                                  np.concatenate([seq[[0, 1, 2], lengths - 1, :4],
                                                  seq[:, 0, 4:]], axis=1))


def test_masking_sets_lengths_and_refuses_other_padding():
    x = np.ones((3, 4, 2))
    x[0, 2:] = -1
    x[2, 0] = -1
    y, lengths, _ = nn.Masking(-1).forward(x[:2], None)
    assert lengths.tolist() == [2, 4] and (y[0, 2:] == 0).all()
    model = nn.Sequential([nn.Masking(-1), nn.Recurrent("rnn", 2, 3, **F64)])
    with pytest.raises(ValueError, match=r"row 2 has a padded step .* t = 0 .* right-padded"):
        model(x)


def test_fit_trains_and_predicts_like_the_output():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 5, 3)).astype(np.float32)
    labels = (x[:, :, 0].sum(1) > 0).astype(int)
    model = nn.Sequential([nn.Recurrent("lstm", 3, 8, seed=0), nn.Dropout(0.1, seed=0),
                           nn.Dense(8, 2, seed=1), nn.Activation("softmax")])
    history = model.fit(x, labels, epochs=8, batch_size=16, optimizer=nn.Adam(model.params,
                                                                              lr=0.02),
                        progress=False)
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(model(x), model.predict_proba(x), rtol=1e-6)
    assert model.evaluate(x, labels)[1] > 0.8
    assert (model.predict(x) == model(x).argmax(1)).all()


def test_save_and_load_round_trip(tmp_path):
    model = nn.Sequential([nn.Masking(0.5), nn.Recurrent("gru", 3, 4, bidirectional=True,
                                                         merge_mode="sum", seed=0,
                                                         return_sequences=True),
                           nn.Recurrent("lstm", 4, 5, go_backwards=True, proj_size=2, seed=1),
                           nn.Dropout(0.2), nn.Dense(2, 3, seed=2), nn.Activation("sigmoid")])
    loaded = nn.Sequential.load(model.save(tmp_path / "model"))
    assert loaded.config() == model.config()
    x = np.random.default_rng(4).random((3, 6, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="holds a Sequential, not a SequenceClassifier"):
        nn.SequenceClassifier.load(tmp_path / "model.npz")


def test_call_returns_sequences_and_batches():
    model = nn.Sequential([nn.Recurrent("rnn", 3, 4, return_sequences=True, seed=0),
                           nn.Dense(4, 2, seed=1)])
    x = np.random.default_rng(5).random((5, 6, 3), dtype=np.float32)
    np.testing.assert_allclose(model(x, batch_size=2), model(x), rtol=1e-6)
    assert model(x, lengths=[6, 1, 2, 3, 0]).shape == (5, 6, 2)
    assert model(x[:0]).shape == (0, 6, 2)
    with pytest.raises(ValueError, match="returns sequences"):
        model.fit(x, np.zeros(5, int), progress=False)


def test_a_failed_call_changes_nothing():
    model = nn.Sequential([nn.Recurrent("lstm", 3, 4, seed=0), nn.Dense(4, 2, seed=1)])
    before = {k: v.copy() for k, v in model.params.items()}
    x = np.random.default_rng(6).random((4, 5, 3), dtype=np.float32)
    x_copy = x.copy()
    with pytest.raises(ValueError, match="labels must lie in"):
        model.fit(x, [0, 1, 2, 0], progress=False)
    with pytest.raises(TypeError, match="dtype float32"):
        model(x.astype(np.float64))
    with pytest.raises(ValueError, match="lengths must lie in"):
        model(x, lengths=[1, 2, 3, 9])
    model(x)
    np.testing.assert_array_equal(x, x_copy)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.Sequential([]), ValueError, "at least one layer"),
    (lambda: nn.Sequential(nn.Dense(3, 2)), TypeError, "layers must be a list of layers"),
    (lambda: nn.Masking("0"), TypeError, "mask_value must be a number"),
    (lambda: nn.Sequential([nn.Activation("relu")]), ValueError, "Recurrent or a Dense"),
    (lambda: nn.Sequential([nn.Recurrent("gru", 3, 4), nn.Dense(5, 2)]), ValueError,
     r"layers\[1\] \(Dense\) takes 5 input features, but the layer before it gives 4"),
    (lambda: nn.Sequential([nn.Recurrent("gru", 3, 4), nn.Recurrent("gru", 4, 4)]), ValueError,
     "return_sequences=False"),
    (lambda: nn.Sequential([nn.Recurrent("gru", 3, 4), nn.Dense(4, 2, dtype=np.float64)]),
     TypeError, "one dtype"),
    (lambda: nn.Sequential([fastrnn.LSTM(3, 4)]), TypeError, r"layers\[0\] must be one of"),
    (lambda: nn.Recurrent("cnn", 3, 4), ValueError, "cell must be one of"),
    (lambda: nn.Recurrent("gru", 3, 4, merge_mode="max"), ValueError, "merge_mode"),
    (lambda: nn.Recurrent("gru", 3, 4, bidirectional=True, go_backwards=True), ValueError,
     "go_backwards needs a unidirectional"),
    (lambda: nn.Recurrent("gru", 3, 4, bidirectional=True, masked_output="last"), ValueError,
     "masked_output='last' needs"),
    (lambda: nn.Recurrent("gru", 3, 4, masked_output="carry"), ValueError, "masked_output"),
    (lambda: nn.Recurrent("gru", 3, 4, batch_first=False), TypeError, "batch first"),
    (lambda: nn.Recurrent("rnn", 3, 4, gate_activation="hard_sigmoid"), TypeError,
     "no option 'gate_activation'"),
    (lambda: nn.Activation("elu"), ValueError, "activation must be one of"),
    (lambda: nn.Dropout(1.0), ValueError, r"rate must be a number in \[0, 1\)"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_sequence_classifier_is_callable():
    model = nn.SequenceClassifier(3, 4, 2, seed=0)
    x = np.random.default_rng(7).random((3, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x), model.predict_proba(x))
