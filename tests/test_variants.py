"""Every cell with every combination of its options (``fastrnn.cells``), on every host
backend and cpu variant: forward and every gradient against the NumPy reference, with
lengths and initial states; the same through the layers and the streams.

The reference itself is checked by central finite differences for the same matrix in
tests/test_reference.py; cuda's twin is tests/test_cuda_variants.py."""
import numpy as np
import pytest

import fastrnn
from conftest import (CELL_VARIANTS, PROJECTING, VARIANTS, assert_close, random_problem,
                      variant, variant_id)

IDS = [variant_id(*v) for v in CELL_VARIANTS]


def _run(cell, options, backend, args, grads):
    out = getattr(fastrnn, f"{cell}_forward")(**args, **options, train=True, backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    grads = {k: v for k, v in back._asdict().items() if v is not None}    # dw_hr: projection
    return dict(zip(out._fields[:-1], out[:-1])), grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [v for v in VARIANTS if v != "numpy"])
@pytest.mark.parametrize("cell, options", CELL_VARIANTS, ids=IDS)
def test_matches_the_reference(cell, options, name, dtype):
    # x scaled so that pre-activations cross ±3, where the hard sigmoid's derivative jumps
    args, grads = random_problem(cell, 6, 5, 4, 7, dtype, seed=3)
    args["x"] = args["x"] * dtype(3)
    want = _run(cell, options, "numpy", args, grads)
    with variant(name) as backend:
        got = _run(cell, options, backend, args, grads)
    for ref, res in zip(want, got):
        for key in ref:
            assert_close(res[key], ref[key], f"{cell} {options} {name} {key}")


def test_the_options_change_the_results():
    """Not vacuous: each option's non-default choice gives other numbers than its default."""
    for cell, options in CELL_VARIANTS:
        args, grads = random_problem(cell, 4, 3, 2, 5, np.float64, seed=1)
        args["x"] = args["x"] * 3
        for key, value in options.items():
            default = fastrnn.cells.OPTIONS[key].default
            if value == default:
                continue
            a = _run(cell, options, "numpy", args, grads)
            b = _run(cell, {**options, key: default}, "numpy", args, grads)
            assert not np.allclose(a[0]["y"], b[0]["y"]), (cell, options, key)
            assert not np.allclose(a[1]["dw_hh"], b[1]["dw_hh"]), (cell, options, key)
    assert _run("lstm", {}, "numpy", *random_problem("lstm", 2, 1, 2, 3, np.float64))[1].keys() \
        == {"dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"}     # no dw_hr without w_hr


def test_hard_sigmoid_is_keras_3s():
    """clip(a/6 + 1/2, 0, 1): 0 at a ≤ −3, 1 at a ≥ 3, linear in between."""
    from fastrnn.reference._common import gate, gate_grad
    a = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    s = gate(a, "hard_sigmoid")
    np.testing.assert_array_equal(s, [0, 0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_array_equal(gate_grad(s, "hard_sigmoid"), [0, 0, 1 / 6, 1 / 6, 1 / 6, 0, 0])


LAYER_VARIANTS = [(c, o) for c, o in CELL_VARIANTS if c != "rnn" and o.get("activation") == "tanh"]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("cell, options", LAYER_VARIANTS,
                         ids=[variant_id(*v) for v in LAYER_VARIANTS])
def test_layers_take_the_options(cell, options, name, tmp_path):
    """Two layers, bidirectional, lengths: forward and backward as the reference's; the
    options survive save and load; a unidirectional stream gives the layer's outputs."""
    cls = getattr(fastrnn, cell.upper())
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((5, 3, 4))).astype(np.float64)
    lengths = [5, 3, 1]
    with variant(name) as backend:
        layer = cls(4, 6, num_layers=2, bidirectional=True, dtype=np.float64, seed=1,
                    backend=backend, **options)
        ref = cls(4, 6, num_layers=2, bidirectional=True, dtype=np.float64, seed=1,
                  backend="numpy", **options)
        y, state, tape = layer.forward(x, lengths=lengths)
        y_ref, state_ref, tape_ref = ref.forward(x, lengths=lengths)
        assert_close(y, y_ref, "y")
        dy = rng.standard_normal(y.shape)
        assert_close(layer.backward(tape, dy)[0], ref.backward(tape_ref, dy)[0], "dx")
        for key in ref.grads:
            assert_close(layer.grads[key], ref.grads[key], key)
        loaded = cls.load(layer.save(tmp_path / "m"))
        assert loaded.config() == layer.config()
        if backend == "cpu":
            one_way = cls(4, 6, num_layers=2, dtype=np.float64, seed=1, backend=backend,
                          **options)
            stream = one_way.stream(batch_size=3)
            steps = np.stack([stream.step(x_t) for x_t in x])
            assert_close(steps, one_way(x)[0], "stream")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [v for v in VARIANTS if v != "numpy"])
@pytest.mark.parametrize("cell, options", PROJECTING, ids=[variant_id(*v) for v in PROJECTING])
def test_projection_matches_the_reference(cell, options, name, dtype):
    """The LSTM with w_hr (P = 3 < H = 7): y, h of P units, c of H, and dw_hr."""
    args, grads = random_problem(cell, 6, 5, 4, 7, dtype, seed=3, P=3)
    want = _run(cell, options, "numpy", args, grads)
    with variant(name) as backend:
        got = _run(cell, options, backend, args, grads)
    assert want[0]["y"].shape == (6, 5, 3) and want[1]["dw_hr"].shape == (3, 7)
    for ref, res in zip(want, got):
        for key in ref:
            assert_close(res[key], ref[key], f"{cell} {options} {name} {key}")


def test_a_projection_is_checked():
    args, _ = random_problem("lstm", 3, 2, 4, 5, np.float64, P=2)
    with pytest.raises(ValueError, match=r"w_hh must have shape \(4·H, P\) = \(20, 2\)"):
        fastrnn.lstm_forward(**{**args, "w_hh": np.zeros((20, 5))})
    with pytest.raises(ValueError, match=r"w_hr must have shape \(P, H\) with 1 ≤ P < H"):
        fastrnn.lstm_forward(**{**args, "w_hr": np.zeros((5, 5))})
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2\)"):
        fastrnn.lstm_forward(**{**args, "h0": np.zeros((2, 5))})
    with pytest.raises(TypeError, match="GRU takes no proj_size"):
        fastrnn.GRU(3, 5, proj_size=2)
    with pytest.raises(ValueError, match="proj_size must be smaller than hidden_size = 5"):
        fastrnn.LSTM(3, 5, proj_size=5)


@pytest.mark.parametrize("name", VARIANTS)
def test_projected_layers_and_streams(name, tmp_path):
    """LSTM(proj_size=3), two layers, bidirectional: forward and backward as the reference's,
    saved and loaded; unidirectional, its stream gives the layer's outputs and state."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 4))
    with variant(name) as backend:
        layer = fastrnn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3,
                             dtype=np.float64, seed=1, backend=backend)
        ref = fastrnn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3,
                           dtype=np.float64, seed=1, backend="numpy")
        assert layer.params["weight_hr_l1_reverse"].shape == (3, 6)
        y, (h, c), tape = layer.forward(x, lengths=[5, 3, 1])
        y_ref, (h_ref, c_ref), tape_ref = ref.forward(x, lengths=[5, 3, 1])
        assert y.shape == (5, 3, 6) and h.shape == (4, 3, 3) and c.shape == (4, 3, 6)
        for got, want, what in ((y, y_ref, "y"), (h, h_ref, "h"), (c, c_ref, "c")):
            assert_close(got, want, what)
        dy = rng.standard_normal(y.shape)
        assert_close(layer.backward(tape, dy)[0], ref.backward(tape_ref, dy)[0], "dx")
        for key in ref.grads:
            assert_close(layer.grads[key], ref.grads[key], key)
        assert fastrnn.LSTM.load(layer.save(tmp_path / "m")).config() == layer.config()
        one_way = fastrnn.LSTM(4, 6, num_layers=2, proj_size=3, dtype=np.float64, seed=1,
                               backend=backend)
        stream = one_way.stream(batch_size=3)
        steps = np.stack([stream.step(x_t) for x_t in x])
        y1, state = one_way(x)
        assert_close(steps, y1, "stream y")
        for got, want in zip(stream.state, state):
            assert_close(got, want, "stream state")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell, options", CELL_VARIANTS + [(c, {**o, "P": 3}) for c, o in PROJECTING],
                         ids=IDS + [variant_id(*v) + "-P=3" for v in PROJECTING])
def test_weight_gradients_in_chunks(cell, options, dtype, monkeypatch):
    """The cpu backward's weight gradients over several chunks of steps (8, 8 and 3 of
    T = 19), summed over the threads: fused into the reverse walk when every thread has
    rows (B = 5, or one thread), after it when some have none (B = 1 on 2 threads)."""
    options = dict(options)
    P = options.pop("P", None)
    monkeypatch.setattr(fastrnn.config, "CPU_CHUNK_ROWS", 4)      # 8 steps a chunk
    before = fastrnn.get_num_threads()
    try:
        for B in (1, 5):
            args, grads = random_problem(cell, 19, B, 4, 7, dtype, seed=4,
                                         **({} if P is None else {"P": P}))
            want = _run(cell, options, "numpy", args, grads)
            for threads in sorted({1, min(2, fastrnn._threads._limit())}):
                fastrnn.set_num_threads(threads)
                got = _run(cell, options, "cpu", args, grads)
                for ref, res in zip(want, got):
                    for key in ref:
                        assert_close(res[key], ref[key], f"B={B} {threads} threads {key}")
    finally:
        fastrnn.set_num_threads(before)
