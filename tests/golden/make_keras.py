"""Regenerate the golden Keras files of tests/test_keras.py (needs the keras extra).

    .venv/bin/python tests/golden/make_keras.py

For each case: ``keras/<case>.keras``, a small Keras 3 model with random weights
(the archive re-zipped with deflate: Keras stores it uncompressed, mostly HDF5
padding), and ``keras/<case>.npz`` with its input ``x`` (float32, some rows
padded) and Keras's own ``model.predict(x)`` as ``y``, computed on the JAX
backend. ``keras/conv1d.keras`` holds a layer fastrnn does not take.
"""
import os
import zipfile
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras                     # noqa: E402
import numpy as np               # noqa: E402

L = keras.layers
HERE = Path(__file__).parent / "keras"
T, I = 7, 3


def cases():
    """name -> (layers after the input, mask value or None for no Masking)."""
    return {
        # SimpleRNN: relu, return_sequences, go_backwards, Dense softmax
        "simple_rnn": ([L.SimpleRNN(5, activation="relu", return_sequences=True),
                        L.SimpleRNN(4, go_backwards=True), L.Dense(3, activation="softmax")], 0.0),
        # LSTM: hard_sigmoid, no bias, relu, stacked, Dense tanh
        "lstm": ([L.LSTM(5, recurrent_activation="hard_sigmoid", use_bias=False,
                         return_sequences=True),
                  L.LSTM(4, activation="relu"), L.Dense(2, activation="tanh")], 0.0),
        # GRU reset_after=True: go_backwards returning the (reversed) sequence, then a
        # sequence-returning GRU and a per-step Dense sigmoid: the output is (N, T, 2)
        "gru_reset_after": ([L.GRU(5, go_backwards=True, return_sequences=True),
                             L.GRU(4, return_sequences=True), L.Dense(2, activation="sigmoid")],
                            0.0),
        # GRU reset_after=False, hard_sigmoid, another mask value, Dense relu
        "gru_reset_before": ([L.GRU(5, reset_after=False, recurrent_activation="hard_sigmoid",
                                    return_sequences=True),
                              L.GRU(4, reset_after=False, activation="relu"),
                              L.Dense(3, activation="relu")], -1.0),
        # Bidirectional, each merge mode, with masking; Dropout; a linear Dense
        "bidirectional": ([L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="concat"),
                           L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum"),
                           L.Bidirectional(L.SimpleRNN(4, return_sequences=True),
                                           merge_mode="mul"),
                           L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="ave"),
                           L.Dropout(0.5), L.Dense(3)], 0.0),
        # Bidirectional returning sequences, no Masking (the LSTM's merge "ave")
        "bidirectional_unmasked": ([L.Bidirectional(L.LSTM(4, return_sequences=True),
                                                    merge_mode="ave"),
                                    L.Dense(2, activation="softmax")], None),
    }


def inputs(mask_value, rng):
    """(5, T, I) float32: rows of lengths 7, 4, 1, 6, 7, padded with mask_value."""
    x = rng.normal(size=(5, T, I)).astype(np.float32)
    if mask_value is not None:
        for row, length in enumerate((7, 4, 1, 6, 7)):
            x[row, length:] = mask_value
    return x


def save(model, path):
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(name, data)


def main():
    HERE.mkdir(exist_ok=True)
    rng = np.random.default_rng(15)
    keras.utils.set_random_seed(15)
    for name, (layers, mask_value) in cases().items():
        head = [keras.Input((T, I))] + ([L.Masking(mask_value)] if mask_value is not None else [])
        model = keras.Sequential(head + layers)
        for w in model.weights:
            w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))
        x = inputs(mask_value, rng)
        save(model, HERE / f"{name}.keras")
        np.savez_compressed(HERE / f"{name}.npz", x=x, y=model.predict(x, verbose=0))
    conv = keras.Sequential([keras.Input((T, I)), L.Conv1D(2, 3), L.LSTM(3), L.Dense(2)])
    save(conv, HERE / "conv1d.keras")


if __name__ == "__main__":
    main()
