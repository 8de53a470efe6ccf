"""The cuda backend's cell variants against the NumPy reference (``make test-cuda``: under the
Numba CUDA simulator, or on a GPU): gate_activation="hard_sigmoid" for the LSTM and GRU gates,
and the GRU with reset_after=False, whose steps run as two kernels each.

Forward outputs and every gradient, float32 and float64, with lengths T..0 (a full, a partial
and an empty sequence) and random initial states, through the per-step kernels and through
the persistent ones. x is scaled up so that the hard sigmoid's pre-activations fall on both
sides of ±3: both branches of its derivative (1/6 inside, 0 outside) are taken, which
``_hard_sigmoid_saturates`` checks on the reference's gates. Tiny shapes: the simulator runs
every GPU thread as a Python thread.
"""
import numpy as np
import pytest
from numba import config, cuda

import fastrnn
from conftest import CELL_VARIANTS, assert_close, random_problem, variant_id as _id

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("no CUDA GPU and not under the simulator (make test-cuda sets "
                "NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

from fastrnn.cuda import cells as C, driver   # noqa: E402  (tiles depend on the simulator)

#: T, B, I, H: B = 3 rows, lengths 4, 2, 0
SHAPE = (4, 3, 2, 5)
#: x's scale: pre-activations of a few units, well past ±3
X_SCALE = 8
OUTPUTS = {"gru": ["y", "h_T", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"],
           "lstm": ["y", "h_T", "c_T", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]}
#: (cell, options): every combination of the GRU's options (fastrnn.cells declares them), the
#: LSTM's with the hard sigmoid (the LSTM with the sigmoid and the RNN: tests/test_cuda.py)
VARIANTS = [(cell, options) for cell, options in CELL_VARIANTS
            if cell == "gru" or (cell == "lstm" and options["gate_activation"] == "hard_sigmoid")]


def _problem(cell, dtype, seed):
    args, grads = random_problem(cell, *SHAPE, dtype, seed)
    args["x"] = (args["x"] * X_SCALE).astype(dtype)
    return args, grads


def _run(cell, backend, args, options, grads):
    """Forward (train=True) then backward: the outputs, the gradients, and the tape."""
    out = getattr(fastrnn, f"{cell}_forward")(**args, **options, train=True, backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    return [np.asarray(a) for a in (*out[:-1], *back)], out.tape


def _hard_sigmoid_saturates(cell, tape, lengths):
    """On the running steps, some hard-sigmoid gates are clipped to 0 or 1 and some are not."""
    H = SHAPE[3]
    blocks = (0, 1) if cell == "gru" else (0, 1, 3)        # r, z | i, f, o
    running = np.arange(SHAPE[0])[:, None] < lengths[None, :]
    gates = np.concatenate([tape.data["gates"][..., k * H:(k + 1) * H] for k in blocks], -1)
    s = gates[running]
    return np.any((s == 0) | (s == 1)) and np.any((s > 0) & (s < 1))


def _compare(cell, options, dtype, seed, what):
    args, grads = _problem(cell, dtype, seed)
    before = {k: np.copy(v) for k, v in {**args, **grads}.items()}
    got, _ = _run(cell, "cuda", args, options, grads)
    ref, ref_tape = _run(cell, "numpy", args, options, grads)
    if options.get("gate_activation") == "hard_sigmoid":
        assert _hard_sigmoid_saturates(cell, ref_tape, args["lengths"]), \
            "the problem does not exercise both branches of the hard sigmoid"
    for name, g, r in zip(OUTPUTS[cell], got, ref):
        assert_close(g, r, f"{what} {_id(cell, options)}/{dtype}: {name}")
    for k, v in before.items():   # inputs are never modified
        np.testing.assert_array_equal({**args, **grads}[k], v, err_msg=k)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell, options", VARIANTS, ids=[_id(*v) for v in VARIANTS])
def test_variant_matches_the_reference(cell, options, dtype):
    _compare(cell, options, dtype, seed=0, what="step kernels")


PERSISTENT_VARIANTS = [
    ("gru", dict(reset_after=False, gate_activation="hard_sigmoid", activation="tanh"), "float64"),
    ("gru", dict(reset_after=False, gate_activation="sigmoid", activation="relu"), "float32"),
    ("gru", dict(reset_after=True, gate_activation="hard_sigmoid", activation="relu"), "float32"),
    ("lstm", dict(gate_activation="hard_sigmoid", activation="tanh"), "float64"),
]


@pytest.mark.parametrize("cell, options, dtype", PERSISTENT_VARIANTS,
                         ids=[f"{_id(c, o)}-{d}" for c, o, d in PERSISTENT_VARIANTS])
def test_persistent_kernels_match_the_reference(cell, options, dtype, monkeypatch):
    """All steps of a pass in one cooperative launch (one block walking every tile here); the
    GRU without reset_after meets at a grid barrier between the two phases of each step."""
    monkeypatch.setattr(driver, "PERSISTENT", True)
    _compare(cell, options, dtype, seed=4, what="persistent")


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
