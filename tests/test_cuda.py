"""The cuda backend against the NumPy reference: under the Numba CUDA simulator
(``make test-cuda`` sets NUMBA_ENABLE_CUDASIM=1) or on a real GPU.

The simulator runs every GPU thread as a Python thread (~1-3 ms each), so the
shapes are tiny; ``fastrnn.cuda.gemm`` and ``fastrnn.cuda.cells`` shrink their
tiles and blocks under the simulator so that these shapes still run several
blocks and every boundary guard (M, N, K not multiples of the tile).
"""
import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from fastrnn import _dispatch
from conftest import assert_close, random_problem, run_cell

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

from fastrnn.cuda import cells as C, driver, gemm as G   # noqa: E402  (tiles depend on the simulator)

#: T, B, I, H: lengths run T..0 over B = 3 (a full, a partial and an empty sequence)
SHAPE = (4, 3, 5, 7)
CASES = [  # (cell, activation, dtype): every cell and activation, both dtypes on tanh
    ("rnn", "tanh", "float64"), ("rnn", "tanh", "float32"), ("rnn", "relu", "float64"),
    ("lstm", "tanh", "float64"), ("lstm", "tanh", "float32"), ("lstm", "relu", "float32"),
    ("gru", "tanh", "float64"), ("gru", "tanh", "float32"), ("gru", "relu", "float64"),
]
OUTPUTS = {"rnn": ["y", "h_T", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"],
           "gru": ["y", "h_T", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"],
           "lstm": ["y", "h_T", "c_T", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]}


def _problem(cell, activation, dtype, shape=SHAPE, seed=0):
    args, grads = random_problem(cell, *shape, dtype, seed)
    return dict(args, activation=activation), grads


def test_tiles_are_small_under_the_simulator():
    """The shapes here must span several blocks, or the guards would go untested."""
    if not config.ENABLE_CUDASIM:
        pytest.skip("on a GPU the tiles are the real ones, larger than these shapes")
    T, B, I, H = SHAPE
    # the input-projection GEMM (T·B × I)·(I × G·H) and the step tiles (B × H, K = H or G·H)
    assert G.BM < T * B and G.BN < 3 * H and I % G.BK and H % G.BK
    assert C.STEP_BM < B and C.STEP_BN < H and B % C.STEP_BM and H % C.STEP_BN and H % C.BK


@pytest.mark.parametrize("cell, activation, dtype", CASES)
def test_forward_and_every_gradient_match_the_reference(cell, activation, dtype):
    args, grads = _problem(cell, activation, dtype)
    before = {k: np.copy(v) for k, v in {**args, **grads}.items() if isinstance(v, np.ndarray)}
    got = run_cell(cell, "cuda", args, grads)
    ref = run_cell(cell, "numpy", args, grads)
    for name, g, r in zip(OUTPUTS[cell], got, ref):
        assert isinstance(g, np.ndarray)
        assert_close(g, r, f"{cell}/{activation}/{dtype}: {name}")
    for k, v in before.items():   # inputs are never modified
        np.testing.assert_array_equal({**args, **grads}[k], v, err_msg=k)


@pytest.mark.parametrize("cell, activation, dtype", [("rnn", "relu", "float32"),
                                                     ("lstm", "tanh", "float64"),
                                                     ("gru", "tanh", "float32")])
def test_persistent_kernels_match_the_reference(cell, activation, dtype, monkeypatch):
    """All steps of a pass in one cooperative launch (one block walking every tile here)."""
    monkeypatch.setattr(driver, "PERSISTENT", True)
    args, grads = _problem(cell, activation, dtype, seed=4)
    for name, g, r in zip(OUTPUTS[cell], run_cell(cell, "cuda", args, grads),
                          run_cell(cell, "numpy", args, grads)):
        assert_close(g, r, f"persistent {cell}/{activation}/{dtype}: {name}")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_inference_returns_no_tape(cell):
    args, _ = _problem(cell, "tanh", "float64", shape=(2, 2, 3, 5), seed=1)
    got = getattr(fastrnn, f"{cell}_forward")(**args, backend="cuda")
    ref = getattr(fastrnn, f"{cell}_forward")(**args, backend="numpy")
    assert got.tape is None
    for g, r in zip(got[:-1], ref[:-1]):
        assert_close(g, r, f"{cell} inference")


def test_device_arrays_in_give_device_arrays_out():
    """Device inputs stay there (default biases and states too); results are device arrays."""
    args, grads = _problem("lstm", "tanh", "float64", shape=(3, 2, 3, 5), seed=2)
    for k in ("b_ih", "b_hh", "c0"):
        del args[k]
    dev = {k: (cuda.to_device(v) if k not in ("lengths", "activation") else v)
           for k, v in args.items()}
    out = fastrnn.lstm_forward(**dev, train=True)            # "auto" picks cuda for device x
    assert out.tape.backend == "cuda" and not out.tape.host
    back = fastrnn.lstm_backward(out.tape, **{k: cuda.to_device(v) for k, v in grads.items()})
    ref_out = fastrnn.lstm_forward(**args, train=True, backend="numpy")
    ref_back = fastrnn.lstm_backward(ref_out.tape, **grads)
    for name, g, r in zip(OUTPUTS["lstm"], (*out[:-1], *back), (*ref_out[:-1], *ref_back)):
        assert not isinstance(g, np.ndarray), f"{name} came back to the host"
        assert_close(g.copy_to_host(), r, f"device {name}")


def test_device_lengths_are_accepted():
    args, _ = _problem("rnn", "tanh", "float64", shape=(2, 2, 3, 5), seed=3)
    dev = {k: cuda.to_device(v) for k, v in args.items() if isinstance(v, np.ndarray)}
    got = fastrnn.rnn_forward(**dev).y.copy_to_host()
    assert_close(got, fastrnn.rnn_forward(**args, backend="numpy").y, "y with device lengths")


def test_mixing_host_and_device_arrays_is_refused():
    args, grads = _problem("gru", "tanh", "float32", shape=(2, 2, 3, 5))
    with pytest.raises(TypeError, match="w_ih is a NumPy array but x is a device array"):
        fastrnn.gru_forward(**dict(args, x=cuda.to_device(args["x"])))
    with pytest.raises(TypeError, match="h0 is a device array but x is a NumPy array"):
        fastrnn.gru_forward(**dict(args, h0=cuda.to_device(args["h0"])), backend="cuda")
    tape = fastrnn.gru_forward(**args, train=True, backend="cuda").tape
    with pytest.raises(TypeError, match="dy must be a NumPy array"):
        fastrnn.gru_backward(tape, dy=cuda.to_device(grads["dy"]))


def test_auto_never_picks_cuda_for_host_arrays(monkeypatch):
    """Under the simulator cuda.is_available() is True: "auto" must still keep host inputs there."""
    monkeypatch.delenv("FASTRNN_BACKEND", raising=False)
    x = np.zeros((2, 1, 2))
    assert cuda.is_available()
    assert _dispatch.resolve(None, x) != "cuda"
    assert _dispatch.resolve("auto", cuda.to_device(x)) == "cuda"


def test_non_contiguous_device_input_is_refused():
    args, _ = _problem("rnn", "tanh", "float64", shape=(2, 2, 3, 5))
    dev = dict(args, **{k: cuda.to_device(v) for k, v in args.items()
                        if k != "lengths" and isinstance(v, np.ndarray)})
    dev["w_hh"] = cuda.to_device(np.zeros((5, 10)))[:, ::2]
    assert not dev["w_hh"].is_c_contiguous()
    with pytest.raises(ValueError, match="w_hh must be C-contiguous on the device"):
        fastrnn.rnn_forward(**dev, backend="cuda")


@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_matches_numpy_off_the_tile_grid(trans_a, trans_b, dtype):
    """M, N, K straddle several tiles and none is a multiple of the tile; accumulate adds."""
    M, N, K = G.BM + 1, 2 * G.BN - 1, 2 * G.BK + 1
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    c0 = rng.standard_normal((M, N)).astype(dtype)
    ref = (a.T if trans_a else a) @ (b.T if trans_b else b)
    c = cuda.to_device(c0)
    G.gemm(cuda.to_device(a), cuda.to_device(b), c, trans_a, trans_b)
    assert_close(c.copy_to_host(), ref, "gemm")
    G.gemm(cuda.to_device(a), cuda.to_device(b), c, trans_a, trans_b, accumulate=True)
    assert_close(c.copy_to_host(), 2 * ref, "gemm accumulate")


def test_colsum_matches_numpy():
    a = np.random.default_rng(0).standard_normal((5, 2 * G.THREADS + 1))
    out = cuda.device_array(a.shape[1])
    G.colsum(cuda.to_device(a), out)
    assert_close(out.copy_to_host(), a.sum(0), "colsum")


def test_empty_sequence_and_batch_of_one():
    """T = 0 returns the initial state and zero weight gradients; B = 1 runs."""
    for shape in [(0, 2, 3, 5), (2, 1, 3, 5)]:
        args, grads = _problem("lstm", "tanh", "float64", shape=shape)
        for name, g, r in zip(OUTPUTS["lstm"], run_cell("lstm", "cuda", args, grads),
                              run_cell("lstm", "numpy", args, grads)):
            assert_close(g, r, f"{shape}: {name}")
