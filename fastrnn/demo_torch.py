"""The PyTorch side of ``fastrnn demo --compare torch``, run in its own process.

    python -m fastrnn.demo_torch INITIAL.npz DATA.npz CONFIG_JSON

Builds the demo's model in PyTorch (nn.LSTM / nn.GRU / nn.RNN → last step →
nn.Linear), loads the initial weights fastrnn saved (same state_dict names),
and trains it exactly as ``SequenceClassifier.fit`` does: same batch order
(NumPy generator from the seed), Adam with the same cosine learning rate,
same clipping. PyTorch has no relu LSTM/GRU, so with ``activation relu``
those cells run as a step loop over PyTorch ops. Prints one line per epoch
on stderr and the history as JSON on the last line of stdout.
"""
import json
import math
import sys
import time

import numpy as np
import torch


class StepLoop(torch.nn.Module):
    """One-layer LSTM or GRU with relu in place of tanh, as a loop over time steps.

    Parameter names and layouts are nn.LSTM's / nn.GRU's (weight_ih_l0, ...).
    """

    def __init__(self, cell, input_size, hidden):
        super().__init__()
        G = {"lstm": 4, "gru": 3}[cell]
        self.cell, self.hidden = cell, hidden
        self.weight_ih_l0 = torch.nn.Parameter(torch.empty(G * hidden, input_size))
        self.weight_hh_l0 = torch.nn.Parameter(torch.empty(G * hidden, hidden))
        self.bias_ih_l0 = torch.nn.Parameter(torch.empty(G * hidden))
        self.bias_hh_l0 = torch.nn.Parameter(torch.empty(G * hidden))

    def forward(self, x):
        """x (B, T, I) -> (None, h_T (1, B, H)): only the last state is used."""
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden)
        c = x.new_zeros(B, self.hidden)
        xw = x @ self.weight_ih_l0.T + self.bias_ih_l0
        for t in range(T):
            hw = h @ self.weight_hh_l0.T + self.bias_hh_l0
            if self.cell == "lstm":
                i, f, g, o = (xw[:, t] + hw).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
                h = torch.sigmoid(o) * torch.relu(c)
            else:
                xr, xz, xn = xw[:, t].chunk(3, 1)
                hr, hz, hn = hw.chunk(3, 1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.relu(xn + r * hn) + z * h
        return None, h[None]


class Classifier(torch.nn.Module):
    def __init__(self, cell, activation, hidden):
        super().__init__()
        if cell == "rnn":
            self.rnn = torch.nn.RNN(28, hidden, nonlinearity=activation, batch_first=True)
        elif activation == "relu":
            self.rnn = StepLoop(cell, 28, hidden)
        else:
            self.rnn = getattr(torch.nn, cell.upper())(28, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, 10)

    def forward(self, x):
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state
        return self.fc(h[-1])


def main(initial_path, data_path, config):
    cfg = json.loads(config)
    model = Classifier(cfg["cell"], cfg["activation"], cfg["hidden"])
    with np.load(initial_path) as f:
        model.load_state_dict({k: torch.from_numpy(f[k]) for k in f.files if k != "__header__"})
    with np.load(data_path) as f:
        x_train, y_train, x_test, y_test = (torch.from_numpy(f[k]) for k in
                                            ("x_train", "y_train", "x_test", "y_test"))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    rng = np.random.default_rng(cfg["seed"])
    N, bs, epochs = len(x_train), cfg["batch_size"], cfg["epochs"]
    history = {"loss": [], "acc": [], "seconds": [], "val_loss": [], "val_acc": []}
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        order = torch.from_numpy(rng.permutation(N))
        total_loss = correct = 0.0
        t0 = time.perf_counter()
        for start in range(0, N, bs):
            idx = order[start:start + bs]
            logits = model(x_train[idx])
            loss = torch.nn.functional.cross_entropy(logits, y_train[idx])
            opt.zero_grad()
            loss.backward()
            if cfg["clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == y_train[idx]).sum().item()
        history["seconds"].append(time.perf_counter() - t0)
        history["loss"].append(total_loss / N)
        history["acc"].append(correct / N)
        with torch.no_grad():
            logits = model(x_test)
            history["val_loss"].append(torch.nn.functional.cross_entropy(logits, y_test).item())
            history["val_acc"].append((logits.argmax(1) == y_test).float().mean().item())
        if not cfg["no_progress"]:
            print(f"torch epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f} "
                  f"acc {history['acc'][-1]:.4f} val_acc {history['val_acc'][-1]:.4f} "
                  f"{N / history['seconds'][-1]:.0f} img/s", file=sys.stderr, flush=True)
    print(json.dumps(history))


if __name__ == "__main__":
    main(*sys.argv[1:])
