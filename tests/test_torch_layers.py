"""fastrnn's LSTM and GRU modules against PyTorch's: 2 layers, both directions, variable
lengths; the LSTM also with a projection (proj_size).

The torch model's state_dict is loaded into ours; torch runs on a PackedSequence
(pack_padded_sequence, lengths unsorted). Outputs, final states and the gradients
of x, the initial states and every parameter must agree, in float64 and float32.
Skipped when torch is not installed.
"""
import numpy as np
import pytest

import fastrnn
from conftest import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

T, B, I, H, LAYERS = 6, 4, 3, 5, 2
LENGTHS = np.array([4, 6, 1, 3])


def torch_run(module, x, states, dy, dstates):
    """y (T, B, 2H) padded with zeros, final states, and the gradients of
    sum(y·dy) + Σ sum(s·ds)."""
    nn = torch.nn.utils.rnn
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states]
    packed = nn.pack_padded_sequence(xt, torch.tensor(LENGTHS), enforce_sorted=False)
    out, final = module(packed, tuple(st) if len(st) == 2 else st[0])
    y, _ = nn.pad_packed_sequence(out, total_length=T)
    final = final if isinstance(final, tuple) else (final,)
    loss = (y * torch.tensor(dy)).sum()
    loss = loss + sum((f * torch.tensor(d)).sum() for f, d in zip(final, dstates))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return (y.detach().numpy(), [f.detach().numpy() for f in final],
            xt.grad.numpy(), [s.grad.numpy() for s in st], grads)


@pytest.mark.parametrize("backend", fastrnn.available_backends())
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, extra", [("lstm", {}), ("gru", {}), ("lstm", {"proj_size": 3})],
                         ids=["lstm", "gru", "lstm-proj_size=3"])
def test_matches_torch(cell, extra, dtype, backend):
    if backend == "cuda":
        pytest.skip("the CUDA backend is compared with the reference in its own tests")
    torch.manual_seed(0)
    ref = getattr(torch.nn, cell.upper())(I, H, LAYERS, bidirectional=True, **extra)
    ref = ref.to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = getattr(fastrnn, cell.upper())(I, H, LAYERS, bidirectional=True, dtype=dtype,
                                           backend=backend, **extra)
    P = extra.get("proj_size", H)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    n_states = 2 if cell == "lstm" else 1
    states = [rng.standard_normal((2 * LAYERS, B, size)).astype(dtype)
              for size in (P, H)[:n_states]]
    dy = rng.standard_normal((T, B, 2 * P)).astype(dtype)
    dy[np.arange(T)[:, None] >= LENGTHS] = 0      # padded steps are constant zeros in both
    dstates = [rng.standard_normal(s.shape).astype(dtype) for s in states]

    y_ref, final_ref, dx_ref, dstate0_ref, grads_ref = torch_run(ref, x, states, dy, dstates)
    pack = tuple if cell == "lstm" else (lambda s: s[0])
    y, final, tape = ours.forward(x, pack(states), lengths=LENGTHS)
    dx, dstate0 = ours.backward(tape, dy, pack(dstates))

    final, dstate0 = (final, dstate0) if cell == "lstm" else ((final,), (dstate0,))
    assert_close(y, y_ref, "y")
    for name, got, want in zip(("h_n", "c_n"), final, final_ref):
        assert_close(got, want, name)
    assert_close(dx, dx_ref, "dx")
    for name, got, want in zip(("dh0", "dc0"), dstate0, dstate0_ref):
        assert_close(got, want, name)
    assert ours.grads.keys() == grads_ref.keys()
    for k in grads_ref:
        assert_close(ours.grads[k], grads_ref[k], k)
