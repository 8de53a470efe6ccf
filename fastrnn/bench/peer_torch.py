"""PyTorch as a bench peer: ``torch.nn.LSTM`` / ``torch.nn.GRU`` (oneDNN on the CPU, cuDNN on CUDA).

The training step is the forward then ``y.backward(dy)`` with autograd,
which computes the same gradients as fastrnn's backward (weights, biases and
x). On CUDA each timed call ends with ``torch.cuda.synchronize()``.

The inference forward runs under ``torch.inference_mode()`` on an input that
needs no gradient; the training step's input needs one (autograd computes dx
as fastrnn does). On the CPU, PyTorch's thread pool is GNU OpenMP, whose
threads spin at each barrier (OMP_WAIT_POLICY unset, as a user has it): at
as many threads as cores, one runnable process of another session makes a
forward of a few milliseconds take hundreds (the spinning thread waits for
a descheduled one, several times per step). The bench measures that
default, and the load column says when a row was measured in such a state;
``OMP_WAIT_POLICY=PASSIVE`` in the environment trades about 2× at rest for
no cliff under contention (the header names it when it is set).
"""
from .timing import no_sync

#: our argument name -> the torch module's parameter name
PARAMETERS = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}


def setup(job):
    """Set torch's thread counts; check the GPU on CUDA; return the versions in use."""
    import torch
    if job["threads"]:
        torch.set_num_threads(job["threads"])
        torch.set_num_interop_threads(1)
    info = {"torch": torch.__version__}
    if job["device"] == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)")
        info.update(gpu=torch.cuda.get_device_name(), cudnn=torch.backends.cudnn.version())
    return info


def make(job, cell, kind, inputs):
    """A no-argument callable that runs one ``kind`` ("fwd", "train" or "step": the module
    called on one frame (1, B, I) with the state fed back, under inference_mode) of ``cell``."""
    import torch
    device = job["device"]
    T, B, I = inputs["x"].shape
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, inputs["w_hh"].shape[1])
    with torch.no_grad():
        for ours, theirs in PARAMETERS.items():
            getattr(layer, theirs).copy_(torch.from_numpy(inputs[ours]))
    layer = layer.to(device)
    x, dy = (torch.from_numpy(inputs[name]).to(device) for name in ("x", "dy"))
    sync = torch.cuda.synchronize if device == "cuda" else no_sync

    def inference():
        with torch.inference_mode():
            layer(x)
        sync()

    state = None

    def stream_step():
        # one frame (1, B, I) with the state passed in and taken back, as a streaming caller does
        nonlocal state
        with torch.inference_mode():
            _, state = layer(x[:1], state)
        sync()

    def training_step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = layer(x)
        y.backward(dy)
        sync()
    if kind == "train":
        x.requires_grad_(True)
    return {"fwd": inference, "train": training_step, "step": stream_step}[kind]
