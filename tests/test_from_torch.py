"""fastrnn.from_torch: torch's RNN, LSTM and GRU as fastrnn layers with the same outputs.

The golden files (tests/golden/torch, made by make_torch.py there) check the
conversion without torch; the tests marked ``torch`` compare against torch itself
for every option, and check the errors.
"""
import glob
import json
import os

import numpy as np
import pytest

import fastrnn
from fastrnn.pytorch import from_options

GOLDEN = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "golden", "torch", "*.npz")))


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def test_golden_files_exist():
    assert len(GOLDEN) >= 6


@pytest.mark.parametrize("path", GOLDEN, ids=os.path.basename)
def test_golden(path):
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    state_dict = {k[6:]: v for k, v in data.items() if k.startswith("param.")}
    layer = from_options(str(data["mode"]), json.loads(str(data["options"])), state_dict)
    state = (data["h0"], data["c0"]) if layer.cell == "lstm" else data["h0"]
    y, final = layer(data["x"], state)
    final = final if isinstance(final, tuple) else (final,)
    np.testing.assert_allclose(y, data["y"], **tol(y.dtype))
    for i, f in enumerate(final):
        np.testing.assert_allclose(f, data[f"final{i}"], **tol(y.dtype))


def test_from_options_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        from_options("QRNN", {}, {"w": np.zeros(1)})


# ---- against torch itself ---------------------------------------------------------------
OPTION_CASES = [
    ("RNN", dict()),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("RNN", dict(bias=False, bidirectional=True)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=3, bidirectional=True, dropout=0.5)),
    ("LSTM", dict(batch_first=True, bias=False)),
    ("LSTM", dict(proj_size=2, num_layers=2, bidirectional=True)),
    ("GRU", dict()),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False)),
]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,args", OPTION_CASES)
def test_matches_torch(cls, args, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    module = getattr(torch.nn, cls)(3, 5, **args).to(tdtype).eval()
    layer = fastrnn.from_torch(module)
    assert type(layer).__name__ == cls and layer.dtype == dtype
    T, B = 6, 3
    x = np.random.default_rng(1).standard_normal(
        (B, T, 3) if module.batch_first else (T, B, 3)).astype(dtype)
    y, final = layer(x)
    with torch.no_grad():
        y_t, final_t = module(torch.from_numpy(x))
    np.testing.assert_allclose(y, y_t.numpy(), **tol(dtype))
    final = final if isinstance(final, tuple) else (final,)
    final_t = final_t if isinstance(final_t, tuple) else (final_t,)
    for a, b in zip(final, final_t):
        np.testing.assert_allclose(a, b.numpy(), **tol(dtype))
    # the parameters are copies: the module's later changes do not reach the layer
    with torch.no_grad():
        next(module.parameters()).add_(1)
    assert not np.array_equal(next(iter(layer.params.values())),
                              next(module.parameters()).detach().numpy())


@pytest.mark.torch
def test_lengths_match_a_packed_sequence():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    lengths = np.array([5, 2, 4])
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    y, h_n = fastrnn.from_torch(module)(x, lengths=lengths)
    pack = torch.nn.utils.rnn
    with torch.no_grad():
        out, h_t = module(pack.pack_padded_sequence(torch.from_numpy(x), lengths,
                                                    enforce_sorted=False))
    y_t, _ = pack.pad_packed_sequence(out, total_length=5)
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-12)
    np.testing.assert_allclose(h_n, h_t.numpy(), atol=1e-12)


@pytest.mark.torch
def test_refuses_another_module():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU, got "
                                        "torch.nn.modules.linear.Linear"):
        fastrnn.from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(TypeError, match="torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU"):
        fastrnn.from_torch(torch.nn.LSTMCell(3, 4))


@pytest.mark.torch
def test_refuses_another_dtype():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="float32 or float64.*got torch.float16"):
        fastrnn.from_torch(torch.nn.GRU(3, 4).half())


def test_import_fastrnn_imports_neither_torch_nor_onnx():
    import subprocess
    import sys
    code = ("import sys, fastrnn; fastrnn.from_torch; fastrnn.to_onnx; fastrnn.load_onnx; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
