"""Properties that hold for every cell on every host backend (hypothesis draws the shapes)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastrnn
from fastrnn.check import CELLS, random_problem

HOST_BACKENDS = [b for b in fastrnn.available_backends() if b != "cuda"]
shapes = st.tuples(st.integers(2, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5))


def forward(cell, backend, **args):
    return getattr(fastrnn, f"{cell}_forward")(**args, backend=backend)


def final_state(cell, out):
    return {"h0": out.h_T, **({"c0": out.c_T} if cell == "lstm" else {})}


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=15, deadline=None)
@given(shape=shapes, split=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_two_runs_from_the_carried_state_equal_one(cell, backend, shape, split, seed):
    T, B, I, H = shape
    split = min(split, T - 1)
    args, _ = random_problem(cell, T, B, I, H, np.float64, seed)
    args["lengths"] = None
    whole = forward(cell, backend, **args)
    first = forward(cell, backend, **{**args, "x": args["x"][:split]})
    second = forward(cell, backend, **{**args, "x": args["x"][split:], **final_state(cell, first)})
    np.testing.assert_allclose(np.concatenate([first.y, second.y]), whole.y, atol=1e-12)
    np.testing.assert_allclose(second.h_T, whole.h_T, atol=1e-12)


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_permuting_the_batch_commutes(cell, backend, shape, seed):
    T, B, I, H = shape
    args, _ = random_problem(cell, T, B, I, H, np.float64, seed)
    perm = np.random.default_rng(seed).permutation(B)
    permuted = {k: (v[:, perm] if k == "x" else v[perm] if k in ("h0", "c0", "lengths") else v)
                for k, v in args.items()}
    out, out_p = forward(cell, backend, **args), forward(cell, backend, **permuted)
    np.testing.assert_allclose(out_p.y, out.y[:, perm], atol=1e-12)
    np.testing.assert_allclose(out_p.h_T, out.h_T[perm], atol=1e-12)


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=15, deadline=None)
@given(shape=shapes, scale=st.floats(0.1, 100), seed=st.integers(0, 2**16))
def test_tanh_cells_stay_in_the_unit_ball(cell, backend, shape, scale, seed):
    T, B, I, H = shape
    args, _ = random_problem(cell, T, B, I, H, np.float32, seed)
    args["x"] = args["x"] * np.float32(scale)
    out = forward(cell, backend, **args)
    assert np.all(np.abs(out.y) <= 1) and np.all(np.abs(out.h_T) <= 1)
