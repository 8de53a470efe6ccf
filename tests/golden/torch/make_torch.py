"""Regenerate the torch golden files: ``python tests/golden/torch/make_torch.py``.

Each case is one .npz: torch's ``mode``, the module's options (JSON), its
``state_dict`` (``param.<name>``), an input ``x``, the initial states and what
torch computed (``y`` and the final states). ``tests/test_from_torch.py`` checks
fastrnn's conversion against them without torch. Needs the peers extra (torch).
"""
import json
import os

import numpy as np
import torch

from fastrnn.pytorch import OPTIONS

HERE = os.path.dirname(os.path.abspath(__file__))

#: name -> (torch class, constructor arguments, dtype)
CASES = {
    "rnn_tanh": (torch.nn.RNN, dict(input_size=3, hidden_size=4), torch.float32),
    "rnn_relu_2layers_bidir": (torch.nn.RNN, dict(input_size=3, hidden_size=4, num_layers=2,
                                                  nonlinearity="relu", bidirectional=True),
                               torch.float64),
    "lstm_batch_first_nobias": (torch.nn.LSTM, dict(input_size=3, hidden_size=5, bias=False,
                                                    batch_first=True), torch.float32),
    "lstm_proj_2layers_bidir": (torch.nn.LSTM, dict(input_size=3, hidden_size=5, num_layers=2,
                                                    bidirectional=True, proj_size=2,
                                                    dropout=0.3), torch.float64),
    "gru_2layers": (torch.nn.GRU, dict(input_size=3, hidden_size=4, num_layers=2),
                    torch.float32),
    "gru_bidir_batch_first": (torch.nn.GRU, dict(input_size=3, hidden_size=4,
                                                 bidirectional=True, batch_first=True),
                              torch.float64),
}


def make(name, cls, args, dtype, T=5, B=2):
    torch.manual_seed(len(name))
    module = cls(**args).to(dtype).eval()
    shape = (B, T, args["input_size"]) if module.batch_first else (T, B, args["input_size"])
    x = torch.randn(shape, dtype=dtype)
    D = 2 if module.bidirectional else 1
    h0 = torch.randn(module.num_layers * D, B, module.proj_size or module.hidden_size,
                     dtype=dtype)
    c0 = torch.randn(module.num_layers * D, B, module.hidden_size, dtype=dtype)
    with torch.no_grad():
        y, final = module(x, (h0, c0) if cls is torch.nn.LSTM else h0)
    final = final if isinstance(final, tuple) else (final,)
    options = {k: getattr(module, k) for k in OPTIONS if hasattr(module, k)}
    arrays = {f"param.{k}": v.numpy() for k, v in module.state_dict().items()}
    arrays.update(x=x.numpy(), h0=h0.numpy(), c0=c0.numpy(), y=y.numpy(),
                  **{f"final{i}": f.numpy() for i, f in enumerate(final)})
    np.savez_compressed(os.path.join(HERE, f"{name}.npz"), mode=np.array(module.mode),
                        options=np.array(json.dumps(options)), **arrays)


if __name__ == "__main__":
    for name, case in CASES.items():
        make(name, *case)
