"""What ``fastrnn bench`` times: the shapes, cells and passes, their FLOP counts, and their inputs.

A shape is ``T, B, I, H`` (time steps, batch, input size, hidden size); a cell
has G gate blocks (LSTM 4, GRU 3). One forward does two kinds of GEMM:

    "in"   the input projection of all steps at once, (T·B × I)·(I × G·H):  2·T·B·G·H·I flops
    "rec"  the recurrent product of each step, T times (B × H)·(H × G·H):  2·T·B·G·H·H flops

so a forward is ≈ 2·T·B·G·H·(I + H) flops (the pointwise gate math is
negligible beside it), and a training step (forward + backward: the
per-step product of the gate gradients with W_hh, then dW_ih, dW_hh and dx)
is ≈ 3× the forward.
"""
from collections import namedtuple

import numpy as np

from ..cells import get as get_cell, random_problem

Shape = namedtuple("Shape", "T B I H")

#: the default shapes, with why each is there
SHAPES = (
    Shape(28, 64, 28, 128),      # the classic row-by-row digit classifier
    Shape(100, 1, 128, 256),     # single-stream inference: latency- and memory-bound
    Shape(100, 16, 256, 256),
    Shape(100, 64, 512, 512),
    Shape(200, 32, 256, 1024),
)
CELLS = ("lstm", "gru")         # the cells every peer has
PASSES = ("fwd", "train")        # inference forward; forward(train=True) + backward
STEP = "step"                    # one streaming step (``--stream``): T = 1, the state carried
#: the default shapes of ``--stream``: one frame, B = 1 (T is 1: one step per call)
STREAM_SHAPES = (Shape(1, 1, 128, 128), Shape(1, 1, 256, 256))
GEMMS = ("in", "rec")            # the GEMM ceiling's two products (see the module doc)


def parse_shape(text):
    """``"T,B,I,H"`` -> Shape of four positive integers (ValueError otherwise)."""
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"a shape is four positive integers T,B,I,H, got {text!r}")
    return Shape(*(int(p) for p in parts))


def flops(cell, kind, shape):
    """FLOPs of one call of ``kind`` ("fwd", "step", "train", "in" or "rec") for ``cell`` at
    ``shape`` (a step is a forward of its T = 1 steps)."""
    T, B, I, H = shape
    gh = get_cell(cell).G * H
    if kind == "in":
        return 2 * T * B * gh * I
    if kind == "rec":
        return 2 * T * B * gh * H
    forward = 2 * T * B * gh * (I + H)
    return {"fwd": forward, STEP: forward, "train": 3 * forward}[kind]


def make_inputs(cell, shape, seed=0):
    """float32 inputs of ``<cell>_forward`` in PyTorch's layout, and an output gradient.

    Returns a dict: x (T, B, I); w_ih (G·H, I); w_hh (G·H, H); b_ih, b_hh (G·H,);
    dy (T, B, H): ``fastrnn.check.random_problem``'s, with weights uniform in ±1/√H
    like PyTorch's initialisation; full-length sequences from a zero state.
    """
    args, grads = random_problem(cell, *shape, np.float32, seed)
    return {**{k: args[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh")}, "dy": grads["dy"]}
