"""The small training toolkit: Dense, softmax cross-entropy, Adam, SGD, gradient clipping,
and a SequenceClassifier (RNN → output at each sequence's last valid step → Dense).

Parameters and gradients are dicts of NumPy arrays keyed by name. Optimizers
update the parameter arrays in place (so a module's ``params`` stay the same
objects); nothing else here modifies its inputs.
"""
import time

import numpy as np

from . import layers, _validate


class Dense:
    """Fully connected layer (PyTorch ``Linear``): y = x Wᵀ + b.

    weight (out_features, in_features), bias (out_features,), both initialised
    uniform in ±1/√in_features like PyTorch. x (..., in_features) -> y (..., out_features).
    """

    def __init__(self, in_features, out_features, dtype=np.float32, seed=None):
        self.in_features = _validate.check_int("in_features", in_features)
        self.out_features = _validate.check_int("out_features", out_features)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        k = 1 / np.sqrt(in_features)
        self.params = {"weight": rng.uniform(-k, k, (out_features, in_features)).astype(dtype),
                       "bias": rng.uniform(-k, k, out_features).astype(dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def __call__(self, x):
        return self.forward(x)[0]

    def forward(self, x):
        """Returns y = x Wᵀ + b and the tape (x) that ``backward`` needs."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features on its last axis, "
                             f"got shape {x.shape}")
        return x @ self.params["weight"].T + self.params["bias"], x

    def backward(self, tape, dy):
        """dy (..., out) -> dx (..., in); fills grads: dW = dyᵀ x, db = Σ dy."""
        x = tape.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        self.grads["weight"] = dy2.T @ x
        self.grads["bias"] = dy2.sum(0)
        return dy @ self.params["weight"]


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

        loss = mean_n [ logsumexp(z_n) − z_n[y_n] ],   ∂loss/∂z = (softmax(z) − onehot(y)) / N

    computed stably by shifting each row by its maximum. logits (N, C); labels (N,) ints in [0, C).
    Returns (loss: float, dlogits (N, C)).
    """
    N, C = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be {N} integers, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if N and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must lie in [0, {C}), got min {labels.min()} max {labels.max()}")
    # log softmax = z − max − log Σ exp(z − max)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -log_p[rows, labels].mean()
    dlogits = np.exp(log_p)
    dlogits[rows, labels] -= 1
    return float(loss), dlogits / logits.dtype.type(N)


def clip_grad_norm(grads, max_norm):
    """Scale every gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the global L2 norm
    (as PyTorch's clip_grad_norm_).

    Returns (a new dict of clipped gradients, the norm before clipping).
    """
    norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return {k: g * g.dtype.type(scale) for k, g in grads.items()}, norm


class SGD:
    """Stochastic gradient descent with momentum (PyTorch's form, dampening 0):

        v ← μ v + g   (v = g on the first step),   p ← p − lr v
    """

    def __init__(self, params, lr=0.01, momentum=0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = {}

    def step(self, grads):
        """Update every parameter in place from ``grads`` (same keys)."""
        for k, p in self.params.items():
            g = grads[k]
            if self.momentum:
                v = self.velocity.get(k)
                g = self.velocity[k] = g.copy() if v is None else self.momentum * v + g
            p -= p.dtype.type(self.lr) * g


class Adam:
    """Adam with PyTorch's defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8):

        m ← β1 m + (1−β1) g,   v ← β2 v + (1−β2) g²
        p ← p − lr / (1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads):
        """Update every parameter in place from ``grads`` (same keys)."""
        self.t += 1
        b1, b2 = self.betas
        step = self.lr / (1 - b1 ** self.t)
        root_bc2 = np.sqrt(1 - b2 ** self.t)
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            # moving averages of g and g², in place
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (step * m / (np.sqrt(v) / root_bc2 + self.eps)).astype(p.dtype)


def cosine_schedule(lr, epochs):
    """epoch -> lr · (1 + cos(π · epoch / epochs)) / 2: from lr down towards 0 over ``epochs``."""
    return lambda epoch: lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def last_valid(y, lengths):
    """y (B, T, F) -> y[b, len_b − 1] (B, F): each sequence's output at its last valid step."""
    return y[np.arange(y.shape[0]), lengths - 1]


class SequenceClassifier:
    """RNN layers → output at each sequence's last valid step → Dense → class scores.

    x (B, T, I) batch-first; lengths (B,) in [1, T] or None; labels (B,) ints.
    ``cell`` "lstm" | "gru" | "rnn"; the other arguments go to the RNN module
    (``activation`` is the RNN's ``nonlinearity`` for cell "rnn").
    Parameters are named "rnn.<state_dict name>" and "fc.weight", "fc.bias".
    """
    CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.RNN}

    def __init__(self, input_size, hidden_size, num_classes, cell="lstm", num_layers=1,
                 bidirectional=False, activation="tanh", dropout=0.0, dtype=np.float32,
                 seed=None, backend=None):
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {tuple(self.CELLS)}, got {cell!r}")
        self._config = dict(input_size=input_size, hidden_size=hidden_size,
                            num_classes=num_classes, cell=cell, num_layers=num_layers,
                            bidirectional=bidirectional, activation=activation,
                            dropout=dropout, dtype=np.dtype(dtype).name)
        rnn_seed, fc_seed = layers.seed_sequence(seed).spawn(2)
        act = {"nonlinearity" if cell == "rnn" else "activation": activation}
        self.rnn = self.CELLS[cell](input_size, hidden_size, num_layers, batch_first=True,
                                    dropout=dropout, bidirectional=bidirectional, dtype=dtype,
                                    seed=rnn_seed, backend=backend, **act)
        features = hidden_size * self.rnn.num_directions
        self.fc = Dense(features, num_classes, dtype, seed=fc_seed)
        self.dtype = np.dtype(dtype)

    @property
    def params(self):
        """All parameters (the modules' own arrays), keyed "rnn.*" and "fc.*"."""
        return {**{f"rnn.{k}": v for k, v in self.rnn.params.items()},
                **{f"fc.{k}": v for k, v in self.fc.params.items()}}

    @property
    def grads(self):
        return {**{f"rnn.{k}": v for k, v in self.rnn.grads.items()},
                **{f"fc.{k}": v for k, v in self.fc.grads.items()}}

    def _lengths(self, x, lengths):
        B, T = x.shape[:2]
        lengths = _validate.check_lengths(lengths, T, B)
        if B and lengths.min() < 1:
            raise ValueError("lengths must be ≥ 1: a classifier needs at least one step "
                             "per sequence")
        return lengths

    def logits(self, x, lengths=None, train=False):
        """Class scores (B, C); with train=True also the tape for ``backward``."""
        lengths = self._lengths(x, lengths)
        y, _, rnn_tape = self.rnn.forward(x, lengths=lengths, train=train)
        feats = last_valid(y, lengths)
        z, fc_tape = self.fc.forward(feats)
        return (z, (rnn_tape, fc_tape, lengths, y.shape)) if train else z

    def backward(self, tape, dlogits):
        """Backprop dlogits (B, C) through Dense and the RNN; fills ``grads``."""
        rnn_tape, fc_tape, lengths, y_shape = tape
        dfeats = self.fc.backward(fc_tape, dlogits)
        # only each sequence's last valid output feeds the classifier
        dy = np.zeros(y_shape, self.dtype)
        dy[np.arange(y_shape[0]), lengths - 1] = dfeats
        self.rnn.backward(rnn_tape, dy)

    def train_step(self, x, labels, optimizer, lengths=None, clip=None):
        """One forward/backward/update on a batch. Returns (loss, number correct)."""
        z, tape = self.logits(x, lengths, train=True)
        loss, dz = softmax_cross_entropy(z, labels)
        self.backward(tape, dz)
        grads = self.grads
        if clip:
            grads, _ = clip_grad_norm(grads, clip)
        optimizer.step(grads)
        return loss, int((z.argmax(1) == labels).sum())

    def fit(self, x, labels, epochs=1, batch_size=64, optimizer=None, lengths=None, clip=None,
            lr_schedule=None, validation_data=None, seed=0, progress=True):
        """Train with minibatches drawn in a fresh random order each epoch (from ``seed``).

        x (N, T, I); labels (N,); optimizer defaults to Adam(lr=1e-3); clip: max global
        gradient norm or None; lr_schedule: epoch -> learning rate, set on the optimizer
        before each epoch, or None; validation_data (x, labels) evaluated after each epoch.
        Returns a history dict of per-epoch lists: loss, acc, seconds (and val_loss, val_acc).
        """
        optimizer = optimizer or Adam(self.params)
        rng = np.random.default_rng(seed)
        labels = np.asarray(labels)
        N = len(x)
        history = {"loss": [], "acc": [], "seconds": []}
        for epoch in range(epochs):
            if lr_schedule is not None:
                optimizer.lr = lr_schedule(epoch)
            order = rng.permutation(N)
            bar = _progress(N, f"epoch {epoch + 1}/{epochs}", progress)
            total_loss = correct = seen = 0
            t0 = time.perf_counter()
            for start in range(0, N, batch_size):
                idx = order[start:start + batch_size]
                loss, right = self.train_step(x[idx], labels[idx], optimizer,
                                              None if lengths is None else lengths[idx], clip)
                total_loss += loss * len(idx)
                correct += right
                seen += len(idx)
                bar.update(len(idx))
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
            seconds = time.perf_counter() - t0
            history["loss"].append(total_loss / N)
            history["acc"].append(correct / N)
            history["seconds"].append(seconds)
            if validation_data is not None:
                val_loss, val_acc = self.evaluate(*validation_data)
                history.setdefault("val_loss", []).append(val_loss)
                history.setdefault("val_acc", []).append(val_acc)
                bar.set_postfix(loss=f"{total_loss / N:.4f}", acc=f"{correct / N:.4f}",
                                val_acc=f"{val_acc:.4f}")
            bar.close()
        return history

    def _batched_logits(self, x, lengths, batch_size):
        parts = [self.logits(x[s:s + batch_size],
                             None if lengths is None else lengths[s:s + batch_size])
                 for s in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.fc.out_features), self.dtype)

    def evaluate(self, x, labels, lengths=None, batch_size=256):
        """Mean loss and accuracy over (x, labels)."""
        z = self._batched_logits(x, lengths, batch_size)
        loss, _ = softmax_cross_entropy(z, labels)
        return loss, float((z.argmax(1) == labels).mean())

    def predict_proba(self, x, lengths=None, batch_size=256):
        """Class probabilities (N, C): softmax of the scores."""
        z = self._batched_logits(x, lengths, batch_size)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x, lengths=None, batch_size=256):
        """The most likely class of each sequence (N,)."""
        return self._batched_logits(x, lengths, batch_size).argmax(1)

    def save(self, path):
        """Write the config and every parameter to an ``.npz`` file."""
        layers.save_npz(path, "SequenceClassifier", self._config, self.params)

    @classmethod
    def load(cls, path, backend=None):
        """Rebuild a classifier saved by ``save``."""
        config, params = layers.load_npz(path, "SequenceClassifier")
        model = cls(**config, backend=backend)
        model.load_state_dict(params)
        return model

    def state_dict(self):
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy ``state_dict`` into the parameters; errors list every mismatch (see LSTM)."""
        layers.copy_state_dict(self.params, state_dict)


def _progress(total, desc, enabled):
    """A tqdm bar counting samples (its rate is samples/s), or a silent stand-in when
    ``enabled`` is False or tqdm is missing."""
    if enabled:
        try:
            from tqdm.auto import tqdm
            return tqdm(total=total, desc=desc, unit="img", leave=True)
        except ImportError:
            pass
    return _Silent()


class _Silent:
    def update(self, n):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass
