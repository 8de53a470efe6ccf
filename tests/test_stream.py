"""Streaming (``module.stream()``): stepping equals the whole forward, resets, errors,
allocations and threads. Every cell, 1 and 2 layers, B = 1 and B > 1, both dtypes."""
import threading
import tracemalloc

import numpy as np
import pytest

import fastrnn
from fastrnn import nn

from conftest import assert_close

MODULES = {"rnn": fastrnn.RNN, "lstm": fastrnn.LSTM, "gru": fastrnn.GRU}


def make(cell, layers=1, activation="tanh", dtype=np.float32, I=5, H=7, **kwargs):
    act = {"nonlinearity": activation} if cell == "rnn" else {"activation": activation}
    return MODULES[cell](I, H, num_layers=layers, dtype=dtype, seed=1, backend="numpy",
                         **act, **kwargs)


def frames(T, B, I, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal((T, B, I)).astype(dtype)


def state_parts(cell, state):
    return list(state) if cell == "lstm" else [state]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell,activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"),
                                             ("lstm", "relu"), ("gru", "tanh"), ("gru", "relu")])
def test_steps_equal_the_whole_forward(cell, activation, layers, B, dtype):
    module = make(cell, layers, activation, dtype)
    x = frames(9, B, 5, dtype)
    y, state = module(x)
    stream = module.stream(batch_size=B)
    got = np.stack([stream.step(x[t]) for t in range(9)])
    assert_close(got, y[:, :, :], f"{cell} y")
    for a, b in zip(state_parts(cell, stream.state), state_parts(cell, state)):
        assert_close(a, b, f"{cell} state")
    # the same steps again after a reset
    stream.reset()
    again = np.stack([stream.step(x[t]) for t in range(9)])
    np.testing.assert_array_equal(again, got)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_state_and_reset_of_some_rows(cell):
    module = make(cell, 2)
    x = frames(6, 4, 5, np.float32)
    h0 = np.random.default_rng(3).standard_normal((2, 4, 7)).astype(np.float32)
    state0 = (h0, h0 / 2) if cell == "lstm" else h0
    y, _ = module(x, state0)
    stream = module.stream(batch_size=4, state=state0)
    got = np.stack([stream.step(x[t]) for t in range(6)])
    assert_close(got, y)
    # rows 1 and 3 start a new session: they must match a fresh zero-state run
    stream.reset([1, 3])
    fresh = module.stream(batch_size=4)
    more = frames(3, 4, 5, np.float32, seed=4)
    for t in range(3):
        a, b = stream.step(more[t]), fresh.step(more[t])
        np.testing.assert_array_equal(a[[1, 3]], b[[1, 3]])
        assert not np.allclose(a[[0, 2]], b[[0, 2]])


def test_non_contiguous_frames_and_modules_without_bias():
    module = make("gru", 1, bias=False, batch_first=True)
    x = frames(8, 2, 5, np.float32).transpose(1, 0, 2).copy()      # (B, T, I)
    y, _ = module(x)
    stream = module.stream(batch_size=2)
    got = np.stack([stream.step(x[:, t]) for t in range(8)], axis=1)   # x[:, t] is strided
    assert_close(got, y)


def test_a_classifiers_recurrent_part_streams():
    model = nn.SequenceClassifier(input_size=5, hidden_size=6, num_classes=3, cell="gru", seed=0)
    x = frames(1, 7, 5, np.float32)[0][None]                       # (1, T=7, I)
    stream = model.rnn.stream()
    for t in range(7):
        h = stream.step(x[:, t])
    y, _ = model.rnn(x)
    assert_close(h, y[:, -1])


def test_bad_modules_and_frames_are_refused():
    with pytest.raises(ValueError, match="bidirectional"):
        make("lstm", bidirectional=True).stream()
    with pytest.raises(ValueError, match="batch_size"):
        make("lstm").stream(batch_size=0)
    stream = make("lstm").stream(batch_size=2)
    with pytest.raises(ValueError, match=r"x_t must be an array of shape \(2, 5\).*got shape \(2, 4\)"):
        stream.step(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="x_t must have dtype float32"):
        stream.step(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="x_t must be .*NumPy array"):
        stream.step([[0.0] * 5] * 2)
    with pytest.raises(ValueError, match="out must be a writable array"):
        stream.step(np.zeros((2, 5), np.float32), out=np.zeros((2, 7), np.float32).T)
    with pytest.raises(ValueError, match="h0 must have shape"):
        make("gru").stream(batch_size=2, state=np.zeros((1, 3, 7), np.float32))
    with pytest.raises(IndexError):
        stream.reset([5])
    # a failed step leaves the state as it was
    before = stream.state
    with pytest.raises(ValueError):
        stream.step(np.zeros((3, 5), np.float32))
    for a, b in zip(stream.state, before):
        np.testing.assert_array_equal(a, b)


def _peak_bytes(fn, calls=20):
    """The most memory Python's allocators hold at once beyond the start, over ``calls``
    calls of ``fn`` (after as many untraced-warm ones)."""
    tracemalloc.start()
    try:
        for _ in range(calls):
            fn()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_step_allocates_nothing_but_its_output():
    stream = make("lstm", 2, H=32).stream(batch_size=2)
    x, out = np.ones((2, 5), np.float32), np.empty((2, 32), np.float32)
    stream.step(x), stream.step(x, out=out)       # compiled before the measurement
    nothing = _peak_bytes(lambda: None)           # what the loop itself costs tracemalloc
    assert _peak_bytes(lambda: stream.step(x, out=out)) == nothing
    returned = _peak_bytes(lambda: stream.step(x)) - nothing
    assert 0 < returned <= out.nbytes + 128, returned     # the output array and its header


def test_streams_in_several_threads_match_each_run_alone():
    modules = [make(cell, 2, H=16) for cell in ("rnn", "lstm", "gru", "lstm")]
    x = frames(200, 2, 5, np.float32)

    def run(module):
        stream = module.stream(batch_size=2)
        return np.stack([stream.step(x[t]) for t in range(len(x))])
    alone = [run(m) for m in modules]
    results = [None] * len(modules)
    start = threading.Barrier(len(modules))

    def work(i):
        start.wait()
        results[i] = run(modules[i])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(modules))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, alone):
        np.testing.assert_array_equal(a, b)
