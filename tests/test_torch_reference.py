"""The reference against PyTorch: forward and autograd gradients, same weights, lengths
through pack_padded_sequence. Skipped when torch is absent (it is not a dependency)."""
import numpy as np
import pytest

import fastrnn
from fastrnn.check import random_problem

torch = pytest.importorskip("torch")

#: "Done when" bounds of the reference vs PyTorch (max abs difference)
MAX_ABS_DIFF = {np.float64: 1e-10, np.float32: 1e-5}
CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]   # torch LSTM/GRU: tanh only


def torch_run(cell, activation, args, grads):
    """torch.nn.{RNN,LSTM,GRU} with our weights; returns outputs then input gradients."""
    T, B, I = args["x"].shape
    H = args["w_hh"].shape[1]
    dtype = torch.float64 if args["x"].dtype == np.float64 else torch.float32
    kw = dict(nonlinearity=activation) if cell == "rnn" else {}
    net = getattr(torch.nn, cell.upper())(I, H, **kw).to(dtype)
    with torch.no_grad():
        for ours, theirs in (("w_ih", "weight_ih_l0"), ("w_hh", "weight_hh_l0"),
                             ("b_ih", "bias_ih_l0"), ("b_hh", "bias_hh_l0")):
            getattr(net, theirs).copy_(torch.from_numpy(args[ours]))
    t = {k: torch.tensor(args[k], requires_grad=True) for k in ("x", "h0", "c0") if k in args}
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        t["x"], torch.from_numpy(args["lengths"]), enforce_sorted=False)
    state = (t["h0"][None], t["c0"][None]) if cell == "lstm" else t["h0"][None]
    y_packed, state_T = net(packed, state)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    outs = [y] + ([state_T[0][0], state_T[1][0]] if cell == "lstm" else [state_T[0]])
    loss = sum((o * torch.from_numpy(g)).sum() for o, g in zip(outs, grads.values()))
    loss.backward()
    weights = [getattr(net, n).grad for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                              "bias_hh_l0")]
    inputs = [t[k].grad for k in t]
    return [o.detach().numpy() for o in outs] + [g.numpy() for g in inputs + weights]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, activation", CASES)
def test_reference_matches_torch(cell, activation, dtype):
    args, grads = random_problem(cell, 7, 4, 5, 6, dtype, seed=3)
    args["lengths"] = np.array([7, 3, 1, 5])     # torch refuses length 0
    out = getattr(fastrnn, f"{cell}_forward")(**args, activation=activation, train=True,
                                              backend="numpy")
    back = getattr(fastrnn, f"{cell}_backward")(out.tape, **grads)
    ours = list(out[:-1]) + list(back)
    theirs = torch_run(cell, activation, args, grads)
    names = list(out._fields[:-1]) + list(back._fields)
    for name, a, b in zip(names, ours, theirs):
        assert a.shape == b.shape, name
        diff = np.abs(a - b).max()
        assert diff <= MAX_ABS_DIFF[dtype], f"{name}: max |ours - torch| = {diff:.2e}"
