"""fastrnn itself as a bench peer: backend "cpu" (Numba), "numpy" (the reference) or "cuda".

On CUDA the inputs are copied to the device once, before the clock runs, and
each timed call ends with ``cuda.synchronize()``.
"""
import numpy as np

from .peers import OWN as BACKENDS       # bench peer name -> fastrnn backend
from .timing import no_sync
ARGUMENTS = ("x", "w_ih", "w_hh", "b_ih", "b_hh")


def setup(job):
    """Set the cpu backend's thread count; return the versions in use.

    The environment already holds the count; ``fastrnn.set_num_threads`` also
    limits the BLAS that Numba's ``np.dot`` loads later. The reference needs
    only NumPy's BLAS, limited by the environment.
    """
    import fastrnn
    info = {"fastrnn": fastrnn.__version__, "numpy": np.__version__}
    if job["peer"] == "cpu" and job["threads"] and hasattr(fastrnn, "set_num_threads"):
        fastrnn.set_num_threads(job["threads"])
    if job["peer"] != "ref":
        import numba
        info["numba"] = numba.__version__
    if job["peer"] == "cuda":
        from numba import cuda
        name = getattr(cuda.get_current_device(), "name", "CUDA simulator")
        info["gpu"] = name.decode() if isinstance(name, bytes) else name
    return info


def make(job, cell, kind, inputs):
    """A no-argument callable that runs one ``kind`` ("fwd", "train" or "step") of ``cell`` on
    ``inputs``. "step": one ``stream.step(x_t)`` of a one-layer module holding the weights,
    its state carried from call to call."""
    import fastrnn
    if kind == "step":
        return _stream_step(cell, inputs)
    backend = BACKENDS[job["peer"]]
    if backend == "cpu":
        _compile_variants(cell, kind, inputs["x"].dtype.name)
    forward = getattr(fastrnn, f"{cell}_forward")
    backward = getattr(fastrnn, f"{cell}_backward")
    args, dy = [inputs[name] for name in ARGUMENTS], inputs["dy"]
    sync = no_sync
    if backend == "cuda":
        from numba import cuda
        args, dy, sync = [cuda.to_device(a) for a in args], cuda.to_device(dy), cuda.synchronize

    def inference():
        forward(*args, backend=backend)
        sync()

    def training_step():
        backward(forward(*args, train=True, backend=backend).tape, dy=dy)
        sync()
    return inference if kind == "fwd" else training_step


def _compile_variants(cell, kind, dtype):
    """Compile (or load) every cpu variant of ``cell`` and ``kind`` before the clock runs.

    "auto" chooses its variant at each call, by B and by how busy the cores are
    now, so a warm-up that ran one could leave the other to be compiled inside a
    timed run (on an empty cache, a run of 4,478 ms among runs of 1.1 ms).
    """
    from fastrnn import backends, warmup
    for variant in backends.get("cpu").variants:
        warmup.compile_one(dtype, cell, kind, variant)


def _stream_step(cell, inputs):
    import fastrnn
    T, B, I = inputs["x"].shape
    module = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[cell](I, inputs["w_hh"].shape[1])
    module.load_state_dict({"weight_ih_l0": inputs["w_ih"], "weight_hh_l0": inputs["w_hh"],
                            "bias_ih_l0": inputs["b_ih"], "bias_hh_l0": inputs["b_hh"]})
    stream, x_t = module.stream(batch_size=B), inputs["x"][0]
    return lambda: stream.step(x_t)
