"""The cuda backend's cell variants against the NumPy reference (``make test-cuda``: under the
Numba CUDA simulator, or on a GPU): gate_activation="hard_sigmoid" for the LSTM and GRU gates,
the GRU with reset_after=False, and the LSTM with a projection (w_hr, PyTorch's proj_size),
whose steps run as two kernels each.

Forward outputs and every gradient (dw_hr too), float32 and float64, with lengths T..0 (a
full, a partial and an empty sequence) and random initial states, through the per-step
kernels and through the persistent ones (the projection's forward in inference too); and the
layer LSTM(proj_size=P), two layers, bidirectional. x is scaled up so that the hard sigmoid's
pre-activations fall on both sides of ±3: both branches of its derivative (1/6 inside, 0
outside) are taken, which ``_hard_sigmoid_saturates`` checks on the reference's gates. Tiny
shapes: the simulator runs every GPU thread as a Python thread.
"""
import math

import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from conftest import CELL_VARIANTS, PROJECTING, assert_close, random_problem, variant_id

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

from fastrnn.cuda import cells as C, driver   # noqa: E402  (tiles depend on the simulator)

#: T, B, I, H: B = 3 rows, lengths 4, 2, 0
SHAPE = (4, 3, 2, 5)
#: P, the projection's units (w_hr (P, H)): its (B, P) tiles leave blocks of the (B, H) grid idle
P = 3
#: T, B, I, H and P where P and H each span several tiles and the projection's products
#: (K = P, H, 4H) end in ragged slabs (the persistent kernels' problems, and one of the step
#: kernels')
WIDE = (4, 3, 2, 7), 5
#: x's scale: pre-activations of a few units, well past ±3
X_SCALE = 8
OUTPUTS = {"gru": ["y", "h_T", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"],
           "lstm": ["y", "h_T", "c_T", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh",
                    "dw_hr"]}
#: (cell, options, P): every combination of the GRU's options (fastrnn.cells declares them),
#: the LSTM's with the hard sigmoid (the LSTM with the sigmoid and the RNN:
#: tests/test_cuda.py), and every cell that projects with each combination of its options
#: and a projection of P units (P None: no projection)
VARIANTS = ([(cell, options, None) for cell, options in CELL_VARIANTS
             if cell == "gru" or (cell == "lstm" and options["gate_activation"] == "hard_sigmoid")]
            + [(cell, options, P) for cell, options in PROJECTING])


def _id(cell, options, proj=None):
    """variant_id, with the projection's size."""
    return variant_id(cell, {**options, **({"proj_size": proj} if proj else {})})


def _problem(cell, dtype, seed, proj=None, shape=SHAPE):
    args, grads = random_problem(cell, *shape, dtype, seed, P=proj)
    args["x"] = (args["x"] * X_SCALE).astype(dtype)
    return args, grads


def _run(cell, backend, args, options, grads):
    """Forward (train=True) then backward: the outputs, the gradients (dw_hr: None without a
    projection), and the tape."""
    out = getattr(fastrnn, f"{cell}_forward")(**args, **options, train=True, backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    return [a if a is None else np.asarray(a) for a in (*out[:-1], *back)], out.tape


def _hard_sigmoid_saturates(cell, tape, lengths):
    """On the running steps, some hard-sigmoid gates are clipped to 0 or 1 and some are not."""
    H = SHAPE[3]
    blocks = (0, 1) if cell == "gru" else (0, 1, 3)        # r, z | i, f, o
    running = np.arange(SHAPE[0])[:, None] < lengths[None, :]
    gates = np.concatenate([tape.data["gates"][..., k * H:(k + 1) * H] for k in blocks], -1)
    s = gates[running]
    return np.any((s == 0) | (s == 1)) and np.any((s > 0) & (s < 1))


def _compare(cell, options, dtype, seed, what, proj=None, shape=SHAPE):
    args, grads = _problem(cell, dtype, seed, proj, shape)
    before = {k: np.copy(v) for k, v in {**args, **grads}.items()}
    got, _ = _run(cell, "cuda", args, options, grads)
    ref, ref_tape = _run(cell, "numpy", args, options, grads)
    if options.get("gate_activation") == "hard_sigmoid":
        assert _hard_sigmoid_saturates(cell, ref_tape, args["lengths"]), \
            "the problem does not exercise both branches of the hard sigmoid"
    assert len(got) == len(ref) == len(OUTPUTS[cell])
    for name, g, r in zip(OUTPUTS[cell], got, ref):
        if r is None:                 # dw_hr without a projection
            assert g is None, name
            continue
        assert_close(g, r, f"{what} {_id(cell, options, proj)}/{dtype}: {name}")
    if proj:   # inference: the same outputs, no tape
        inference = fastrnn.lstm_forward(**args, **options, backend="cuda")
        assert inference.tape is None
        for name, g, r in zip(OUTPUTS[cell], inference[:-1], ref):
            assert_close(g, r, f"{what} {_id(cell, options, proj)}/{dtype}: inference {name}")
    for k, v in before.items():   # inputs are never modified
        np.testing.assert_array_equal({**args, **grads}[k], v, err_msg=k)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell, options, proj", VARIANTS, ids=[_id(*v) for v in VARIANTS])
def test_variant_matches_the_reference(cell, options, proj, dtype):
    _compare(cell, options, dtype, seed=0, what="step kernels", proj=proj)


PERSISTENT_VARIANTS = [
    ("gru", dict(reset_after=False, gate_activation="hard_sigmoid", activation="tanh"), "float64",
     None),
    ("gru", dict(reset_after=False, gate_activation="sigmoid", activation="relu"), "float32",
     None),
    ("gru", dict(reset_after=True, gate_activation="hard_sigmoid", activation="relu"), "float32",
     None),
    ("lstm", dict(gate_activation="hard_sigmoid", activation="tanh"), "float64", None),
    ("lstm", dict(gate_activation="sigmoid", activation="tanh"), "float32", WIDE[1]),
    ("lstm", dict(gate_activation="hard_sigmoid", activation="relu"), "float64", WIDE[1]),
]


@pytest.mark.parametrize("cell, options, dtype, proj", PERSISTENT_VARIANTS,
                         ids=[f"{_id(c, o, p)}-{d}" for c, o, d, p in PERSISTENT_VARIANTS])
def test_persistent_kernels_match_the_reference(cell, options, dtype, proj, monkeypatch):
    """All steps of a pass in one cooperative launch (one block walking every tile here); the
    GRU without reset_after and the LSTM with a projection meet at a grid barrier between the
    two phases of each step (the projection on the WIDE shape: several tiles of P and H)."""
    monkeypatch.setattr(driver, "PERSISTENT", True)
    _compare(cell, options, dtype, seed=4, what="persistent", proj=proj,
             shape=WIDE[0] if proj else SHAPE)


def test_projection_step_kernels_on_several_tiles():
    """The step kernels on the WIDE shape: several blocks over P's and H's tiles, ragged slabs."""
    _compare("lstm", {}, "float64", seed=5, what="step kernels", proj=WIDE[1], shape=WIDE[0])


def test_projection_tape_holds_m():
    """The tape's ms is m_t = o ⊙ act(c_t) on the running steps, as the reference's (0 on
    finished ones, so that dW_hr = Σ dh_tᵀ m_t reads finite numbers only)."""
    args, _ = _problem("lstm", "float64", seed=2, proj=P)
    tapes = [fastrnn.lstm_forward(**args, train=True, backend=b).tape for b in ("cuda", "numpy")]
    assert tapes[0].data["kind"] == "lstm_proj"
    ms = tapes[0].data["extra"][2].copy_to_host()
    running = np.arange(SHAPE[0])[:, None] < args["lengths"][None, :]
    assert_close(ms[running], tapes[1].data["ms"][running], "ms")
    assert not ms[~running].any()


def test_projected_layer_matches_the_reference():
    """LSTM(proj_size=P), two layers, bidirectional, lengths, on cuda: outputs, states and every
    gradient (weight_hr_l{k}[_reverse] too) as the numpy backend's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 2))
    layers = [fastrnn.LSTM(2, 5, num_layers=2, bidirectional=True, proj_size=P,
                           dtype=np.float64, seed=1, backend=b) for b in ("cuda", "numpy")]
    runs = [layer.forward(x, lengths=[3, 1]) for layer in layers]
    (y, (h, c), _), (y_ref, (h_ref, c_ref), _) = runs
    assert y.shape == (3, 2, 2 * P) and h.shape == (4, 2, P) and c.shape == (4, 2, 5)
    for got, want, what in ((y, y_ref, "y"), (h, h_ref, "h"), (c, c_ref, "c")):
        assert_close(got, want, what)
    dy = rng.standard_normal(y.shape)
    dx, dx_ref = (layer.backward(tape, dy)[0] for layer, (_, _, tape) in zip(layers, runs))
    assert_close(dx, dx_ref, "dx")
    assert "weight_hr_l1_reverse" in layers[1].grads
    for key in layers[1].grads:
        assert_close(layers[0].grads[key], layers[1].grads[key], key)


def test_reset_before_tape_holds_q():
    """reset_after=False: the tape's ghn is q = r ⊙ h_{t−1} on the running steps, as the
    reference's (0 on finished ones, which the reference fills but nothing reads)."""
    args, _ = _problem("gru", "float64", seed=2)
    tapes = [fastrnn.gru_forward(**args, reset_after=False, train=True, backend=b).tape
             for b in ("cuda", "numpy")]
    q = tapes[0].data["extra"][0].copy_to_host()
    running = np.arange(SHAPE[0])[:, None] < args["lengths"][None, :]
    assert_close(q[running], tapes[1].data["ghn"][running], "q")
    assert not q[~running].any()


def test_the_two_phase_shapes_span_several_tiles():
    """The reset-before phases' products (K = H, 2H) must run ragged tiles and slabs."""
    if config.ENABLE_CUDASIM:
        T, B, I, H = SHAPE
        assert C.STEP_BM < B and C.STEP_BN < H and B % C.STEP_BM and H % C.STEP_BN
        assert H % C.BK and 2 * H % C.BK


def test_the_projection_shapes_span_several_tiles():
    """The projection's phases: on SHAPE its (B, P) tiles are fewer than the grid's blocks; on
    WIDE, P and H span several tiles and its products (K = P, H, 4H) end in ragged slabs."""
    if config.ENABLE_CUDASIM:
        H = SHAPE[3]
        assert math.ceil(P / C.STEP_BN) < math.ceil(H / C.STEP_BN)
        (T, B, I, H), P_wide = WIDE
        assert C.STEP_BN < P_wide < H and P_wide % C.STEP_BN and H % C.STEP_BN
        assert P_wide % C.BK and H % C.BK and 4 * H % C.BK
