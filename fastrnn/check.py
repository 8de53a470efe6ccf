"""``fastrnn check``: every cell, forward and backward, on every available backend,
compared with the NumPy reference on random data. Prints one row per run."""
import time

import numpy as np

CELLS = {"rnn": 1, "lstm": 4, "gru": 3}


def add_arguments(parser):
    from .cli import int_at_least
    parser.add_argument("--shape", type=parse_shape, default=parse_shape("12,5,7,9"),
                        help="T,B,I,H, four integers ≥ 1 (default 12,5,7,9)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--seed", type=int_at_least(0), default=0)


def parse_shape(text):
    """"T,B,I,H" -> (T, B, I, H), four integers ≥ 1."""
    import argparse
    parts = text.split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected T,B,I,H: four integers ≥ 1 separated by "
                                         f"commas, e.g. 12,5,7,9; got {text!r}")
    return shape


def random_problem(cell, T, B, I, H, dtype, seed=0):
    """Inputs of ``fastrnn.<cell>_forward`` and output gradients, lengths from 0 to T."""
    rng = np.random.default_rng(seed)
    G = CELLS[cell]
    k = 1 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, shape).astype(dtype)
    args = dict(x=rng.standard_normal((T, B, I)).astype(dtype), w_ih=u(G * H, I),
                w_hh=u(G * H, H), b_ih=u(G * H), b_hh=u(G * H), h0=u(B, H),
                lengths=np.linspace(T, 0, B).round().astype(np.int64))
    if cell == "lstm":
        args["c0"] = u(B, H)
    grads = dict(dy=rng.standard_normal((T, B, H)).astype(dtype),
                 dh_T=rng.standard_normal((B, H)).astype(dtype))
    if cell == "lstm":
        grads["dc_T"] = rng.standard_normal((B, H)).astype(dtype)
    return args, grads


def run_cell(cell, backend, args, grads):
    """Forward (train=True) then backward; returns outputs and gradients as NumPy arrays."""
    import fastrnn
    out = getattr(fastrnn, f"{cell}_forward")(**args, train=True, backend=backend)
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    return [np.asarray(a) for a in (*out[:-1], *back)]


def run(args):
    import fastrnn
    T, B, I, H = args.shape if isinstance(args.shape, tuple) else parse_shape(args.shape)
    print(f"T,B,I,H = {T},{B},{I},{H}  dtype {args.dtype}  lengths {T}..0  "
          f"(max |backend - reference| over outputs and every gradient)")
    print(f"{'cell':<6}{'backend':<9}{'max abs diff':>14}{'ms':>10}")
    worst = 0.0
    for cell in CELLS:
        problem = random_problem(cell, T, B, I, H, args.dtype, args.seed)
        ref = run_cell(cell, "numpy", *problem)
        for backend in fastrnn.available_backends():
            t0 = time.perf_counter()
            got = run_cell(cell, backend, *problem)
            ms = 1e3 * (time.perf_counter() - t0)
            diff = max(float(np.max(np.abs(a - b), initial=0)) for a, b in zip(got, ref))
            worst = max(worst, diff if backend != "numpy" else 0)
            print(f"{cell:<6}{backend:<9}{diff:>14.2e}{ms:>10.1f}")
    tol = 1e-4 if args.dtype == "float32" else 1e-10
    print("all backends agree with the reference" if worst <= tol
          else f"MISMATCH: {worst:.2e} > {tol:.0e}")
    return 0 if worst <= tol else 1
