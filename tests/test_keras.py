"""fastrnn.load_keras: the golden files Keras wrote (no Keras needed), the errors, and, with
the keras extra installed, random models and the tutorial's MNIST model against Keras itself.

The golden files (tests/golden/keras, made by tests/golden/make_keras.py) hold small
models, their inputs and Keras's outputs.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import nn

os.environ["KERAS_BACKEND"] = "jax"          # before any import of keras

GOLDEN = Path(__file__).parent / "golden" / "keras"
CASES = sorted(p.stem for p in GOLDEN.glob("*.npz"))
TOLERANCE = 2e-5
#: Keras's own NumPy 2 deprecation warnings, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.mark.parametrize("case", CASES)
def test_golden_files_give_keras_outputs(case, tmp_path):
    data = np.load(GOLDEN / f"{case}.npz")
    x = data["x"]
    x_copy = x.copy()
    model = fastrnn.load_keras(GOLDEN / f"{case}.keras")
    assert isinstance(model, nn.Sequential)
    y = model(x)
    assert y.shape == data["y"].shape and y.dtype == np.float32
    np.testing.assert_allclose(y, data["y"], rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(x, x_copy)
    # saved as fastrnn's own .npz, the same model
    again = nn.Sequential.load(model.save(tmp_path / case))
    np.testing.assert_array_equal(again(x), y)


def test_the_golden_files_cover_every_supported_option():
    layers = []

    def walk(specs):
        for spec in specs:
            layers.append(spec)
            if spec["class_name"] == "Bidirectional":
                walk([spec["config"]["layer"]])
    for case in CASES:
        with zipfile.ZipFile(GOLDEN / f"{case}.keras") as z:
            walk(json.loads(z.read("config.json"))["config"]["layers"])
    seen = {(s["class_name"], k, json.dumps(v)) for s in layers for k, v in s["config"].items()}
    expected = {*((cell, "return_sequences", value) for cell in ("SimpleRNN", "LSTM", "GRU")
                  for value in ("true", "false")),
                *((cell, "activation", '"relu"') for cell in ("SimpleRNN", "LSTM", "GRU")),
                ("SimpleRNN", "go_backwards", "true"), ("GRU", "go_backwards", "true"),
                ("LSTM", "use_bias", "false"), ("LSTM", "recurrent_activation", '"hard_sigmoid"'),
                ("GRU", "reset_after", "true"), ("GRU", "reset_after", "false"),
                ("GRU", "recurrent_activation", '"hard_sigmoid"'), ("Masking", "mask_value", "-1.0"),
                *(("Bidirectional", "merge_mode", f'"{m}"') for m in ("concat", "sum", "mul",
                                                                      "ave")),
                *(("Dense", "activation", f'"{a}"') for a in ("linear", "relu", "tanh", "sigmoid",
                                                               "softmax")),
                ("Dropout", "rate", "0.5")}
    assert expected <= seen, expected - seen


def test_an_unsupported_layer_is_one_clear_error():
    with pytest.raises(ValueError, match=r"layer 'conv1d' \(Conv1D\) is not supported "
                                         r"\(supported: InputLayer, Masking, SimpleRNN"):
        fastrnn.load_keras(GOLDEN / "conv1d.keras")


def edited(tmp_path, case, edit):
    """A copy of a golden .keras file whose config.json ``edit(config)`` changed."""
    path = tmp_path / f"{case}-edited.keras"
    with zipfile.ZipFile(GOLDEN / f"{case}.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def layer(config, index):
    return config["config"]["layers"][index]["config"]


@pytest.mark.parametrize("case, edit, match", [
    ("lstm", lambda c: layer(c, 2).update(stateful=True),
     r"layer 'lstm' \(LSTM\): stateful=True is not supported"),
    ("lstm", lambda c: layer(c, 3).update(return_state=True),
     r"layer 'lstm_1' \(LSTM\): return_state=True is not supported"),
    ("lstm", lambda c: layer(c, 2).update(recurrent_activation="linear"),
     r"recurrent_activation='linear' is not supported \(expected 'sigmoid' or 'hard_sigmoid'\)"),
    ("simple_rnn", lambda c: layer(c, 2).update(activation="selu"),
     r"\(SimpleRNN\): activation='selu' is not supported"),
    ("simple_rnn", lambda c: layer(c, 4).update(activation="elu"),
     r"layer 'dense' \(Dense\): activation='elu' is not supported"),
    ("bidirectional", lambda c: layer(c, 2).update(merge_mode=None),
     r"\(Bidirectional\): merge_mode=None is not supported"),
    ("bidirectional", lambda c: layer(c, 6).update(noise_shape=[None, 1]),
     r"\(Dropout\): noise_shape=\[None, 1\] is not supported"),
    ("lstm", lambda c: layer(c, 2)["dtype"]["config"].update(name="mixed_float16"),
     r"dtype='mixed_float16' is not supported \(only float32\)"),
    ("lstm", lambda c: c.update(class_name="Functional"),
     r"is a Functional model; only keras.Sequential"),
])
def test_unsupported_options_are_clear_errors(tmp_path, case, edit, match):
    with pytest.raises(ValueError, match=match):
        fastrnn.load_keras(edited(tmp_path, case, edit))


def test_every_problem_is_in_the_one_error(tmp_path):
    def edit(config):
        layer(config, 2).update(stateful=True, go_backwards=False)
        layer(config, 3).update(return_state=True)
    with pytest.raises(ValueError, match=r"'lstm' \(LSTM\): stateful=True .*; layer 'lstm_1' "
                                         r"\(LSTM\): return_state=True"):
        fastrnn.load_keras(edited(tmp_path, "lstm", edit))


def test_an_activation_layer(tmp_path):
    """Keras's Activation layer: the golden LSTM with a softmax appended."""
    data = np.load(GOLDEN / "lstm.npz")
    softmax = {"module": "keras.layers", "class_name": "Activation",
               "config": {"name": "activation", "activation": "softmax"}}
    model = fastrnn.load_keras(edited(tmp_path, "lstm",
                                      lambda c: c["config"]["layers"].append(softmax)))
    e = np.exp(data["y"] - data["y"].max(axis=1, keepdims=True))
    np.testing.assert_allclose(model(data["x"]), e / e.sum(axis=1, keepdims=True), atol=TOLERANCE)
    softmax["config"]["activation"] = "elu"
    with pytest.raises(ValueError, match=r"layer 'activation' \(Activation\): activation='elu'"):
        fastrnn.load_keras(edited(tmp_path, "lstm", lambda c: c["config"]["layers"].append(softmax)))


def test_padding_that_is_not_on_the_right_is_an_error_at_call_time():
    model = fastrnn.load_keras(GOLDEN / "lstm.keras")
    x = np.load(GOLDEN / "lstm.npz")["x"].copy()
    x[0, 2] = 0                                    # row 0: a padded step, then valid ones
    with pytest.raises(ValueError, match=r"Masking: row 0 has a padded step .* at t = 2 "
                                         r"followed by a valid one"):
        model(x)


def test_files_that_are_not_keras_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Keras model file"):
        fastrnn.load_keras(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="is a directory"):
        fastrnn.load_keras(tmp_path)
    (tmp_path / "random.keras").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="is not a Keras 3 .keras file"):
        fastrnn.load_keras(tmp_path / "random.keras")
    (tmp_path / "legacy.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="legacy HDF5 model"):
        fastrnn.load_keras(tmp_path / "legacy.h5")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ValueError, match=r"lacks \['model.weights.h5'\]"):
        fastrnn.load_keras(tmp_path / "empty.keras")
    with pytest.raises(TypeError, match="path_or_model must be"):
        fastrnn.load_keras(42)
    with open(GOLDEN / "lstm.keras", "rb") as f:          # an open file works too
        assert fastrnn.load_keras(f).output_size == 2


# ---- against Keras itself (the keras extra) -----------------------------------------------
@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def random_cases(L):
    return {
        "simple_rnn": [L.SimpleRNN(6, return_sequences=True), L.SimpleRNN(5, go_backwards=True)],
        "lstm_relu_hard": [L.LSTM(6, activation="relu", recurrent_activation="hard_sigmoid",
                                  return_sequences=True), L.LSTM(5, use_bias=False)],
        "gru_both_resets": [L.GRU(6, reset_after=False, return_sequences=True,
                                  go_backwards=True), L.GRU(5, reset_after=True)],
        "bidirectional": [L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="mul"),
                          L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="ave"),
                          L.Bidirectional(L.SimpleRNN(3), merge_mode="sum")],
        "sequence_out": [L.GRU(5, return_sequences=True), L.Dropout(0.3),
                         L.Dense(4, activation="tanh"), L.Activation("relu"),
                         L.Dense(3), L.Activation("softmax")],
    }


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("case", ["simple_rnn", "lstm_relu_hard", "gru_both_resets",
                                  "bidirectional", "sequence_out"])
def test_random_keras_models(keras, case, masked, tmp_path):
    L = keras.layers
    rng = np.random.default_rng(abs(hash((case, masked))) % 2**32)
    head = [keras.Input((8, 3))] + ([L.Masking()] if masked else [])
    model = keras.Sequential(head + random_cases(L)[case] + (
        [] if case == "sequence_out" else [L.Dense(4, activation="softmax")]))
    for w in model.weights:
        w.assign(rng.normal(scale=0.6, size=w.shape).astype(np.float32))
    x = rng.normal(size=(6, 8, 3)).astype(np.float32)
    if masked:
        for row, length in enumerate((8, 5, 1, 7, 0, 3)):
            x[row, length:] = 0
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(fastrnn.load_keras(model)(x), expected, rtol=0, atol=TOLERANCE)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(fastrnn.load_keras(tmp_path / "model.keras")(x), expected,
                               rtol=0, atol=TOLERANCE)


#: run in a subprocess where keras cannot be imported: load, predict, accuracy
NO_KERAS = textwrap.dedent("""
    import json, sys
    sys.modules["keras"] = None                # any import of keras fails
    import numpy as np
    import fastrnn
    folder = sys.argv[1]
    data = np.load(folder + "/expected.npz")
    model = fastrnn.load_keras(folder + "/mnist.keras")
    p = model(data["x"])
    print(json.dumps({"diff": float(np.abs(p - data["p"]).max()),
                      "correct": int((p.argmax(1) == data["labels"]).sum()),
                      "keras_imported": "keras" in sys.modules and sys.modules["keras"] is not None}))
""")


def test_the_tutorial_model_trained_by_keras_loads_without_keras(keras, tmp_path):
    """Sequential([LSTM(128, activation="relu"), Dense(10, activation="softmax")]) on MNIST
    (fastrnn's 4,000 / 1,000 digits), Adam, categorical cross-entropy, one epoch."""
    from fastrnn import data
    (x_train, y_train), (x_test, y_test) = data.load_default()
    x_train = (x_train / 255).astype(np.float32)
    x_test = (x_test / 255).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)),
                              keras.layers.LSTM(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, keras.utils.to_categorical(y_train, 10), batch_size=64, epochs=1,
              verbose=0)
    model.save(tmp_path / "mnist.keras")
    p = model.predict(x_test, verbose=0)
    np.savez(tmp_path / "expected.npz", x=x_test, p=p, labels=y_test)
    run = subprocess.run([sys.executable, "-c", NO_KERAS, str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert not result["keras_imported"]
    assert result["diff"] <= TOLERANCE, result
    keras_correct = int((p.argmax(1) == y_test).sum())
    assert abs(result["correct"] - keras_correct) <= 1, (result, keras_correct)
    assert keras_correct > 200                      # one short epoch: above chance (100)
