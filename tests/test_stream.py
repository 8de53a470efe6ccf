"""Streaming (``module.stream()``): stepping equals the whole forward, resets, errors,
allocations and threads. Every cell, 1 and 2 layers, B = 1 and B > 1, both dtypes."""
import threading
import time
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


# ---- steps split with a partner thread (fastrnn/cpu/_partner.py) ----------------------
@pytest.fixture
def split(monkeypatch):
    """Streams made now split their steps across two threads, whatever their H; their
    partner spins for up to a second between steps (a loaded machine cannot put it to
    sleep between two steps of a test)."""
    monkeypatch.setattr(fastrnn.config, "CPU_STREAM_SPLIT_MIN_H", 1)
    monkeypatch.setattr(fastrnn.config, "CPU_STREAM_SPIN_US", 1e6)
    before = fastrnn.get_num_threads()
    fastrnn.set_num_threads(2)
    yield
    fastrnn.set_num_threads(before)


def claimed(stream):
    """The steps its partner has run a share of."""
    from fastrnn.cpu._partner import GEN
    return int(stream._stepper._partner.ctrl[GEN])


def first_step(stream, x_t):
    """The first step, which runs alone and wakes the partner; returns once it is awake."""
    from fastrnn.cpu._partner import AWAKE, STATE
    y = stream.step(x_t)
    deadline = time.monotonic() + 30
    while stream._stepper._partner.ctrl[STATE] != AWAKE and time.monotonic() < deadline:
        time.sleep(0.001)
    return y


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell,layers,B,H", [
    ("lstm", 1, 1, 37), ("lstm", 2, 3, 40), ("gru", 1, 1, 37), ("gru", 2, 4, 33),
    ("rnn", 2, 2, 37), ("lstm", 1, 1, 2)])      # uneven shares, padded panels, one unit each
def test_split_steps_equal_the_whole_forward(split, cell, layers, B, H, dtype):
    module = make(cell, layers, "tanh", dtype, H=H)
    x = frames(40, B, 5, dtype)
    y, state = module(x)
    stream = module.stream(batch_size=B)
    assert stream._stepper.partner
    got = np.stack([first_step(stream, x[0])] + [stream.step(x[t]) for t in range(1, 40)])
    assert claimed(stream) == 39, "the partner ran a share of every step after the first"
    assert_close(got, y, f"{cell} y")
    for a, b in zip(state_parts(cell, stream.state), state_parts(cell, state)):
        assert_close(a, b, f"{cell} state")


def test_a_split_stream_steps_alone_while_its_partner_sleeps(split, monkeypatch):
    from fastrnn.cpu._partner import ASLEEP, STATE
    monkeypatch.setattr(fastrnn.config, "CPU_STREAM_SPIN_US", 1000)
    module = make("lstm", 2, H=24)
    x = frames(30, 2, 5, np.float32)
    y, _ = module(x)
    stream = module.stream(batch_size=2)
    got = [first_step(stream, x[0])]
    t = 1
    while t < 30:
        got.append(stream.step(x[t]))
        t += 1
        if t % 3 == 0 and t < 30:
            time.sleep(0.05)                      # idle: the partner spins out and sleeps
            assert stream._stepper._partner.ctrl[STATE] == ASLEEP
            got.append(first_step(stream, x[t]))        # alone; wakes it
            t += 1
    assert 0 < claimed(stream) < 30
    assert_close(np.stack(got), y, "lstm y")


@pytest.mark.parametrize("cell,kwargs", [("gru", {"reset_after": False}),
                                         ("lstm", {"proj_size": 3})])
def test_steps_are_not_split_where_a_step_needs_every_unit_twice(split, cell, kwargs):
    stream = make(cell, H=8, **kwargs).stream()
    assert not stream._stepper.partner


def test_split_streams_in_several_threads_match_each_run_alone(split):
    test_streams_in_several_threads_match_each_run_alone()


def test_a_split_stream_steps_alone_in_a_forked_child(split):
    import multiprocessing
    module = make("gru", H=16)
    x = frames(12, 1, 5, np.float32)
    stream = module.stream()
    want = np.stack([first_step(stream, x[0])] + [stream.step(x[t]) for t in range(1, 6)])
    assert claimed(stream) == 5
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_steps_in_child, args=(queue, stream, x[6:]))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, [stream.step(x[t]) for t in range(6, 12)])
    assert want.shape == (6, 1, 16)


def _steps_in_child(queue, stream, x):
    queue.put(np.stack([stream.step(x_t) for x_t in x]))
