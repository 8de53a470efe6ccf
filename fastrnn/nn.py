"""The small training toolkit: Dense, softmax cross-entropy, optimizers, a classifier.

`Dense`, `softmax_cross_entropy`, `Adam`, `SGD`, `clip_grad_norm`,
`cosine_schedule`, and `SequenceClassifier` (RNN → output at each sequence's
last valid step → Dense). `Sequential` and its layers `Recurrent`, `Activation`,
`Dropout` and `Masking` (defined in `fastrnn.sequential`) are re-exported here.

Parameters and gradients are dicts of NumPy arrays keyed by name. Optimizers
update the parameter arrays in place (so a module's ``params`` stay the same
objects); nothing else here modifies its inputs.

Failure safety: an optimizer step is all or nothing. It first checks the
gradients and computes every new value (parameters and optimizer state); if a
new parameter would not be finite it raises FloatingPointError; otherwise it
assigns them all with SIGINT deferred. So an exception or a KeyboardInterrupt
leaves the parameters and the optimizer exactly as after the previous step.
``SequenceClassifier.fit`` checks all its arguments before its first step, and
stops with ``FloatingPointError`` (before the step) on a non-finite loss or
gradient norm: a ``fit`` that raises leaves the model as it was after the last
completed optimizer step.
"""
import contextlib
import math
import numbers
import signal
import threading
import time

import numpy as np

from . import layers, _validate


class Dense:
    """Fully connected layer (PyTorch ``Linear``): ``y = x Wᵀ + b``.

    ``x (..., in_features)`` gives ``y (..., out_features)``.

    Parameters
    ----------
    in_features : int
        Size of the input's last axis, ≥ 1.
    out_features : int
        Size of the output's last axis, ≥ 1.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Dtype of the parameters.
    seed : int, numpy.random.SeedSequence or None, default None
        Seed of the initialisation: weight and bias uniform in ±1/√in_features,
        as PyTorch's (None: fresh entropy).

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        ``"weight"`` (out_features, in_features) and ``"bias"`` (out_features,).
    grads : dict of str to numpy.ndarray
        Their gradients, filled by `backward`.

    Raises
    ------
    ValueError
        If ``in_features`` or ``out_features`` is not an integer ≥ 1.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> fc = nn.Dense(3, 2, seed=0)
    >>> y, tape = fc.forward(np.ones((4, 3), np.float32))
    >>> y.shape
    (4, 2)
    >>> fc.backward(tape, np.ones_like(y)).shape
    (4, 3)
    >>> fc.grads["bias"]
    array([4., 4.], dtype=float32)
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

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, dtype={self.dtype.name})"

    def forward(self, x):
        """Apply the layer, keeping what `backward` needs.

        Parameters
        ----------
        x : numpy.ndarray
            Input ``(..., in_features)``.

        Returns
        -------
        y : numpy.ndarray
            ``x Wᵀ + b``, shaped ``(..., out_features)``.
        tape : numpy.ndarray
            What `backward` needs (``x`` itself).

        Raises
        ------
        ValueError
            If the last axis of ``x`` is not ``in_features`` long.
        """
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features on its last axis, "
                             f"got shape {x.shape}")
        return x @ self.params["weight"].T + self.params["bias"], x

    def backward(self, tape, dy):
        """Backpropagate ``dy``; fills ``grads`` with ``dW = dyᵀ x`` and ``db = Σ dy``.

        Parameters
        ----------
        tape : numpy.ndarray
            The tape `forward` returned.
        dy : numpy.ndarray
            Gradient of the loss with respect to ``y``, ``(..., out_features)``.

        Returns
        -------
        numpy.ndarray
            ``dx = dy W``, the gradient with respect to ``x``, ``(..., in_features)``.
        """
        x = tape.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        self.grads["weight"] = dy2.T @ x
        self.grads["bias"] = dy2.sum(0)
        return dy @ self.params["weight"]


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    ::

        loss = mean_n [ logsumexp(z_n) − z_n[y_n] ],   ∂loss/∂z = (softmax(z) − onehot(y)) / N

    computed stably by shifting each row by its maximum.

    Parameters
    ----------
    logits : numpy.ndarray
        Class scores ``z``, ``(N, C)``.
    labels : array_like of int
        ``(N,)`` class indices in ``[0, C)``.

    Returns
    -------
    loss : float
        The mean cross-entropy.
    dlogits : numpy.ndarray
        Its gradient with respect to ``logits``, ``(N, C)``, of the logits' dtype.

    Raises
    ------
    ValueError
        If ``labels`` are not N integers in ``[0, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> loss, dz = nn.softmax_cross_entropy(np.zeros((2, 4)), [0, 3])
    >>> round(loss, 4)                     # log 4: uniform scores
    1.3863
    >>> dz
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
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
    """Scale every gradient by ``min(1, max_norm / (‖g‖ + 1e-6))``, ‖g‖ their global L2 norm.

    As PyTorch's ``clip_grad_norm_``, but the gradients given are not modified.

    Parameters
    ----------
    grads : dict of str to numpy.ndarray
        The gradients, by name.
    max_norm : float
        The largest global norm allowed, > 0 (``inf``: no clipping).

    Returns
    -------
    clipped : dict of str to numpy.ndarray
        A new dict of the scaled gradients, same keys and dtypes.
    norm : float
        The global norm before clipping.

    Raises
    ------
    TypeError
        If ``max_norm`` is not a number or ``grads`` not a dict.
    ValueError
        If ``max_norm`` is not > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> clipped, norm = nn.clip_grad_norm({"w": np.array([3.0, 4.0])}, max_norm=1.0)
    >>> norm
    5.0
    >>> np.round(clipped["w"], 4)
    array([0.6, 0.8])
    """
    max_norm = _check_positive_number("max_norm", max_norm)
    if not hasattr(grads, "items"):
        raise TypeError(f"grads must be a dict of name -> array, got {type(grads).__name__}")
    norm = _global_norm(grads)
    scale = min(1.0, max_norm / (norm + 1e-6))
    return {k: g * g.dtype.type(scale) for k, g in grads.items()}, norm


class SGD:
    """Stochastic gradient descent with momentum (PyTorch's form, dampening 0).

    ::

        v ← μ v + g   (v = g on the first step),   p ← p − lr v

    `step` is all or nothing: a step that fails changes nothing.

    Parameters
    ----------
    params : dict of str to numpy.ndarray
        The parameters to update in place (a module's ``params``).
    lr : float, default 0.01
        Learning rate, finite and ≥ 0; may be changed between steps.
    momentum : float, default 0.0
        Momentum μ (0: plain gradient descent).

    Attributes
    ----------
    velocity : dict of str to numpy.ndarray
        The velocities ``v``, by parameter name (empty without momentum).

    See Also
    --------
    Adam : The optimizer `SequenceClassifier.fit` uses by default.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> opt = nn.SGD(params, lr=0.5, momentum=0.9)
    >>> opt.step({"w": np.array([1.0, 0.0])})
    >>> opt.step({"w": np.array([1.0, 0.0])})
    >>> params["w"]                        # 1 − 0.5·1 − 0.5·(0.9 + 1)
    array([-0.45,  2.  ])
    """

    def __init__(self, params, lr=0.01, momentum=0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = {}

    def step(self, grads):
        """Update every parameter in place from ``grads``.

        Checks every gradient and computes every new value first, then assigns them
        all with Ctrl-C held back: an error (or KeyboardInterrupt) leaves the
        parameters and velocities as they were.

        Parameters
        ----------
        grads : dict of str to array_like
            A gradient for every parameter, shaped like it.

        Raises
        ------
        KeyError
            If a parameter has no gradient.
        ValueError
            If a gradient's shape differs from its parameter's, or ``lr`` is not a
            finite number ≥ 0.
        TypeError
            If ``grads`` is not a dict or a gradient is not a real array.
        FloatingPointError
            If a new parameter would not be finite (nothing is assigned).
        """
        grads = _check_step_grads(self.params, grads)
        lr = _check_lr(self.lr)
        velocity, new = {}, {}
        for k, p in self.params.items():
            g = grads[k]
            if self.momentum:
                v = self.velocity.get(k)
                g = velocity[k] = g.copy() if v is None else self.momentum * v + g
            new[k] = p - p.dtype.type(lr) * g
        _check_finite_update(new)
        with _sigint_deferred():
            self.velocity.update(velocity)
            _assign(self.params, new)


class Adam:
    """Adam, with PyTorch's defaults and arithmetic.

    ::

        m ← β1 m + (1−β1) g,   v ← β2 v + (1−β2) g²
        p ← p − lr / (1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)

    `step` is all or nothing: a step that fails changes nothing.

    Parameters
    ----------
    params : dict of str to numpy.ndarray
        The parameters to update in place (a module's ``params``).
    lr : float, default 1e-3
        Learning rate, finite and ≥ 0; may be changed between steps (as
        `SequenceClassifier.fit` does for ``lr_schedule``).
    betas : tuple of float, default (0.9, 0.999)
        The decay rates β1 and β2 of the moving averages.
    eps : float, default 1e-8
        Added to the denominator.

    Attributes
    ----------
    m, v : dict of str to numpy.ndarray
        The moving averages of the gradients and of their squares.
    t : int
        The number of steps taken.

    See Also
    --------
    SGD : Gradient descent with momentum.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> params = {"w": np.array([1.0, -1.0])}
    >>> opt = nn.Adam(params, lr=0.1)
    >>> opt.step({"w": np.array([0.5, -2.0])})
    >>> params["w"], opt.t                 # the first step moves each entry by lr
    (array([ 0.9, -0.9]), 1)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0
        # where step computes each parameter's p', m', v' (C order: their flat views are views)
        self._work = {k: tuple(np.empty(p.shape, p.dtype) for _ in range(3))
                      for k, p in params.items()}

    def step(self, grads):
        """Update every parameter in place from ``grads``.

        Checks every gradient and computes every new value (``m``, ``v``, ``t`` and
        the parameters) first, then assigns them all with Ctrl-C held back: an error
        (or KeyboardInterrupt) leaves the parameters and the optimizer's state as
        they were. A gradient of another dtype is cast to its parameter's first.

        Parameters
        ----------
        grads : dict of str to array_like
            A gradient for every parameter, shaped like it.

        Raises
        ------
        KeyError
            If a parameter has no gradient.
        ValueError
            If a gradient's shape differs from its parameter's, or ``lr`` is not a
            finite number ≥ 0.
        TypeError
            If ``grads`` is not a dict or a gradient is not a real array.
        FloatingPointError
            If a new parameter would not be finite (nothing is assigned).
        """
        grads = _check_step_grads(self.params, grads)
        lr = _check_lr(self.lr)
        t = self.t + 1
        b1, b2 = (float(b) for b in self.betas)
        step = lr / (1 - b1 ** t)
        root_bc2 = np.sqrt(1 - b2 ** t)
        from ._adam import adam_update
        new = {}
        for k, p in self.params.items():
            work = self._work.get(k)
            if work is None or work[0].shape != p.shape or work[0].dtype != p.dtype:
                # the kernel reads m and v as far as p: they must still be p's own
                made = "none" if work is None else f"{work[0].dtype} {work[0].shape}"
                raise ValueError(f"parameter {k!r} is now {p.dtype} {p.shape}, this optimizer "
                                 f"was made for {made}: make a new optimizer")
            new[k] = work[0]
            flat = (np.ravel(a) for a in (p, np.asarray(grads[k], p.dtype), self.m[k], self.v[k]))
            scalars = (p.dtype.type(s) for s in (b1, 1 - b1, b2, 1 - b2, step))
            if not adam_update(*flat, *scalars, float(root_bc2), float(self.eps),
                               *(a.reshape(-1) for a in work)):
                raise _non_finite(k)
        with _sigint_deferred():
            for k in new:
                self.m[k][...] = self._work[k][1]
                self.v[k][...] = self._work[k][2]
            _assign(self.params, new)
            self.t = t


def _check_step_grads(params, grads):
    """Every parameter's gradient present, shaped like it, a real array; returns them as arrays."""
    if not hasattr(grads, "keys"):
        raise TypeError(f"grads must be a dict of name -> array, got {type(grads).__name__}")
    missing = [k for k in params if k not in grads]
    if missing:
        raise KeyError(f"grads has no entry for the parameters {missing}")
    out = {}
    for k, p in params.items():
        g = np.asarray(grads[k])
        if g.shape != p.shape:
            raise ValueError(f"grads[{k!r}] must have the shape of its parameter {p.shape}, "
                             f"got {g.shape}")
        if g.dtype.kind not in "fiu":
            raise TypeError(f"grads[{k!r}] must be a real array, got dtype {g.dtype}")
        out[k] = g
    return out


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr >= 0 \
            or not math.isfinite(lr):
        raise ValueError(f"the optimizer's lr must be a finite number ≥ 0, got {lr!r}")
    return float(lr)


def _check_finite_update(new):
    """Refuse a step whose new parameters would not all be finite (nothing is assigned)."""
    for k, value in new.items():
        if not np.isfinite(value).all():
            raise _non_finite(k)


def _non_finite(k):
    """The error of a step that would make parameter k non-finite."""
    return FloatingPointError(f"this step would make parameter {k!r} non-finite (overflow: the "
                              f"learning rate is too large?); no parameter was updated")


def _assign(params, new):
    for k, value in new.items():
        params[k][...] = value


@contextlib.contextmanager
def _sigint_deferred():
    """Hold back a Ctrl-C (SIGINT) that arrives inside the block until the block has
    finished, so that a group of assignments happens entirely or not at all. Only in
    the main thread (where Python delivers signals) with Python's default handler."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def cosine_schedule(lr, epochs):
    """A learning rate falling from ``lr`` towards 0 along a half cosine over ``epochs``.

    Parameters
    ----------
    lr : float
        The rate at epoch 0.
    epochs : int
        The number of epochs of the whole decay.

    Returns
    -------
    callable
        ``epoch -> lr · (1 + cos(π · epoch / epochs)) / 2``, for
        `SequenceClassifier.fit`'s ``lr_schedule``.

    Examples
    --------
    >>> from fastrnn import nn
    >>> schedule = nn.cosine_schedule(0.1, 4)
    >>> [round(float(schedule(epoch)), 4) for epoch in range(4)]
    [0.1, 0.0854, 0.05, 0.0146]
    """
    return lambda epoch: lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def last_valid(y, lengths):
    """Each sequence's output at its last valid step: ``y[b, len_b − 1]``.

    Parameters
    ----------
    y : numpy.ndarray
        Outputs, batch first, ``(B, T, F)``.
    lengths : numpy.ndarray of int
        ``(B,)`` lengths in ``[1, T]``.

    Returns
    -------
    numpy.ndarray
        ``(B, F)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> y = np.arange(12.0).reshape(2, 3, 2)
    >>> nn.last_valid(y, np.array([3, 1]))
    array([[4., 5.],
           [6., 7.]])
    """
    return y[np.arange(y.shape[0]), lengths - 1]


class _Classifier:
    """Training and inference shared by the models that end in class scores.

    A subclass provides ``params``, ``grads``, ``dtype``, ``_input_size`` (I),
    ``_num_classes`` (C), ``_lengths(x, lengths)``, ``logits(x, lengths, train)`` and
    ``backward(tape, dlogits)``.
    """

    def train_step(self, x, labels, optimizer, lengths=None, clip=None):
        """One forward, backward and optimizer step on a batch.

        Parameters
        ----------
        x : numpy.ndarray
            ``(B, T, I)``, batch first.
        labels : numpy.ndarray of int
            ``(B,)`` class indices.
        optimizer : Adam or SGD
            Built on this model's `params`.
        lengths : array_like of int, optional
            ``(B,)`` lengths in ``[1, T]``.
        clip : float, optional
            Maximum global gradient norm (None: no clipping).

        Returns
        -------
        loss : float
            The batch's mean cross-entropy, before the step.
        correct : int
            How many of the batch's sequences the scores classified right.

        Raises
        ------
        FloatingPointError
            Before the update, if the loss or the gradient norm is not finite; and
            from the optimizer's step, which is all or nothing.
        """
        z, tape = self.logits(x, lengths, train=True)
        loss, dz = softmax_cross_entropy(z, labels)
        self.backward(tape, dz)
        grads = self.grads
        if clip is not None:
            grads, norm = clip_grad_norm(grads, clip)
        else:
            norm = _global_norm(grads)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise FloatingPointError(
                f"non-finite loss ({loss}) or gradient norm ({norm}); the parameters were not "
                f"updated by this step (try a smaller learning rate, or clip=)")
        optimizer.step(grads)
        return loss, int((z.argmax(1) == labels).sum())

    def fit(self, x, labels, epochs=1, batch_size=64, optimizer=None, lengths=None, clip=None,
            lr_schedule=None, validation_data=None, seed=0, progress=True):
        """Train with minibatches drawn in a fresh random order each epoch.

        Every argument is checked before the first step. If training then stops with
        an exception (a `FloatingPointError` on a non-finite loss, gradient or updated
        parameter, any other error, or a KeyboardInterrupt), the parameters and the
        optimizer's state are exactly those after the last completed optimizer step,
        never a half-applied one: each step computes all new values first, then
        assigns them with Ctrl-C held back. (`grads` may then hold a partial
        backward: they are scratch space.)

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)`` of the model's dtype, N ≥ 1, T ≥ 1, finite.
        labels : array_like of int
            ``(N,)`` integers in ``[0, num_classes)``.
        epochs : int, default 1
            Passes over the data, ≥ 0 (0 trains nothing).
        batch_size : int, default 64
            Sequences per step, ≥ 1.
        optimizer : Adam or SGD, optional
            Built on this model's own `params`; default ``Adam(model.params)``
            (lr 1e-3).
        lengths : array_like of int, optional
            ``(N,)`` lengths in ``[1, T]`` (None: every sequence has T steps).
        clip : float, optional
            Maximum global gradient norm, > 0 (None: no clipping).
        lr_schedule : callable, optional
            ``epoch -> learning rate`` (finite, ≥ 0), set on the optimizer before
            each epoch; called for every epoch before training starts.
        validation_data : tuple, optional
            ``(x, labels)`` or ``(x, labels, lengths)``, evaluated after each epoch.
        seed : int, default 0
            Seed of the batch order.
        progress : bool, default True
            One tqdm progress bar per epoch (when tqdm is installed).

        Returns
        -------
        dict of str to list
            Per-epoch ``loss``, ``acc`` (training) and ``seconds``; with
            ``validation_data``, also ``val_loss`` and ``val_acc``.

        Raises
        ------
        TypeError, ValueError
            If an argument is wrong, naming it (before any step).
        FloatingPointError
            If a loss, gradient norm or new parameter is not finite, naming the
            epoch and batch; the step is not applied.
        """
        x, labels, lengths = self._check_data(x, labels, lengths, "fit")
        epochs = _check_int("epochs", epochs, 0)
        batch_size = _check_int("batch_size", batch_size, 1)
        if clip is not None:
            clip = _check_positive_number("clip", clip)
        optimizer = Adam(self.params) if optimizer is None else self._check_optimizer(optimizer)
        lrs = None
        if lr_schedule is not None:
            if not callable(lr_schedule):
                raise TypeError(f"lr_schedule must be a function epoch -> learning rate, or "
                                f"None, got {type(lr_schedule).__name__}")
            lrs = [lr_schedule(epoch) for epoch in range(epochs)]
            for epoch, lr in enumerate(lrs):
                if isinstance(lr, bool) or not isinstance(lr, numbers.Real) \
                        or not (math.isfinite(lr) and lr >= 0):
                    raise ValueError(f"lr_schedule({epoch}) must be a finite number ≥ 0, "
                                     f"got {lr!r}")
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3)):
                raise TypeError("validation_data must be a pair (x, labels) or a triple "
                                "(x, labels, lengths)")
            vx, vlabels, *vlengths = validation_data
            validation_data = self._check_data(vx, vlabels, vlengths[0] if vlengths else None,
                                               "validation_data")
        rng = np.random.default_rng(seed)
        N = len(x)
        history = {"loss": [], "acc": [], "seconds": []}
        for epoch in range(epochs):
            if lrs is not None:
                optimizer.lr = lrs[epoch]
            order = rng.permutation(N)
            bar = _progress(N, f"epoch {epoch + 1}/{epochs}", progress)
            total_loss = correct = seen = 0
            t0 = time.perf_counter()
            try:
                for start in range(0, N, batch_size):
                    idx = order[start:start + batch_size]
                    loss, right = self.train_step(x[idx], labels[idx], optimizer,
                                                  None if lengths is None else lengths[idx],
                                                  clip)
                    total_loss += loss * len(idx)
                    correct += right
                    seen += len(idx)
                    # the figures shown at the bar's next redraw (``update``, every 0.1 s):
                    # a redraw per batch cost 35 µs against 4 (tqdm, output to /dev/null)
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                                    refresh=False)
                    bar.update(len(idx))
            except FloatingPointError as err:
                bar.close()
                raise FloatingPointError(f"fit: epoch {epoch + 1}, batch {start // batch_size + 1}:"
                                         f" {err}") from err
            except BaseException:
                bar.close()
                raise
            seconds = time.perf_counter() - t0
            history["loss"].append(total_loss / N)
            history["acc"].append(correct / N)
            history["seconds"].append(seconds)
            if validation_data is not None:
                val_loss, val_acc = self._evaluate(*validation_data, 256)
                history.setdefault("val_loss", []).append(val_loss)
                history.setdefault("val_acc", []).append(val_acc)
                bar.set_postfix(loss=f"{total_loss / N:.4f}", acc=f"{correct / N:.4f}",
                                val_acc=f"{val_acc:.4f}")
            bar.close()
        return history

    # ---- argument checks of fit, evaluate and predict ------------------------------
    def _check_x(self, x, where):
        """x (N, T, I): a NumPy array of the model's dtype, T ≥ 1, I = input_size, finite."""
        name = "x" if where in ("fit", "evaluate", "predict") else f"{where} x"
        if not isinstance(x, np.ndarray) or isinstance(x, np.ma.MaskedArray):
            raise TypeError(f"{name} must be a NumPy array (N, T, I), got {type(x).__name__}"
                            + (" (pass lengths= instead of a mask)"
                               if isinstance(x, np.ma.MaskedArray) else ""))
        if x.dtype != self.dtype:
            raise TypeError(f"{name} must have dtype {self.dtype} like the model's parameters, "
                            f"got {x.dtype}")
        I = self._input_size
        if x.ndim != 3 or x.shape[2] != I:
            raise ValueError(f"{name} must have shape (N, T, {I}) (batch first, I = input_size "
                             f"= {I}), got {x.shape}")
        if x.shape[1] < 1:
            raise ValueError(f"{name} must have at least one time step, got shape {x.shape}")
        if not np.isfinite(x).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValueError(f"{name} must be finite, got {x[bad]} at index {bad}")
        return x

    def _check_data(self, x, labels, lengths, where, need_labels=True, allow_empty=False):
        """Check x, labels and lengths together; returns them as arrays (labels int64)."""
        x = self._check_x(x, where)
        N, T = x.shape[:2]
        prefix = "" if where in ("fit", "evaluate", "predict") else f"{where} "
        if N == 0 and not allow_empty:
            raise ValueError(f"{prefix}x is empty (shape {x.shape}): {where} needs at least one "
                             f"sequence")
        if need_labels:
            C = self._num_classes
            if isinstance(labels, (str, bytes)) or labels is None:
                raise TypeError(f"{prefix}labels must be {N} integers in [0, {C}), got "
                                f"{type(labels).__name__}")
            arr = np.asarray(labels)
            if arr.shape != (N,):
                raise ValueError(f"{prefix}labels must have shape ({N},), one per sequence of "
                                 f"x {x.shape}, got {arr.shape}")
            if arr.dtype.kind not in "iu":
                raise TypeError(f"{prefix}labels must be integers, got dtype {arr.dtype}")
            outside = np.flatnonzero((arr < 0) | (arr >= C))
            if outside.size:
                n = int(outside[0])
                raise ValueError(f"{prefix}labels must lie in [0, {C}) (num_classes = {C}), got "
                                 f"{arr[n]} at index {n} ({outside.size} outside in all)")
            labels = arr.astype(np.int64)
        if lengths is not None:
            try:
                lengths = self._lengths(x, lengths)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{prefix}{err}") from None
        return x, labels, lengths

    def _check_optimizer(self, optimizer):
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(grads) method (e.g. nn.Adam(model."
                            f"params)), got {type(optimizer).__name__}")
        theirs = getattr(optimizer, "params", None)
        if hasattr(theirs, "items"):
            mine = self.params
            foreign = [k for k, p in theirs.items() if mine.get(k) is not p]
            if foreign:
                raise ValueError(f"optimizer must update this model's parameters (build it as "
                                 f"nn.Adam(model.params)); these are not the model's arrays: "
                                 f"{foreign[:4]}{' ...' if len(foreign) > 4 else ''}")
        return optimizer

    def _batched_logits(self, x, lengths, batch_size):
        parts = [self.logits(x[s:s + batch_size],
                             None if lengths is None else lengths[s:s + batch_size])
                 for s in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self._num_classes), self.dtype)

    def _evaluate(self, x, labels, lengths, batch_size):
        z = self._batched_logits(x, lengths, batch_size)
        loss, _ = softmax_cross_entropy(z, labels)
        return loss, float((z.argmax(1) == labels).mean())

    def evaluate(self, x, labels, lengths=None, batch_size=256):
        """Mean cross-entropy and accuracy over a labelled set.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)``, checked as in `fit`, N ≥ 1.
        labels : array_like of int
            ``(N,)`` integers in ``[0, num_classes)``.
        lengths : array_like of int, optional
            ``(N,)`` lengths in ``[1, T]``.
        batch_size : int, default 256
            Sequences per forward.

        Returns
        -------
        loss : float
            The mean cross-entropy.
        accuracy : float
            The fraction classified right.

        Raises
        ------
        TypeError, ValueError
            If an argument is wrong, naming it.
        """
        x, labels, lengths = self._check_data(x, labels, lengths, "evaluate")
        return self._evaluate(x, labels, lengths, _check_int("batch_size", batch_size, 1))

    def predict_proba(self, x, lengths=None, batch_size=256):
        """Class probabilities: the softmax of the scores.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)``, checked as in `fit`; N may be 0.
        lengths : array_like of int, optional
            ``(N,)`` lengths in ``[1, T]``.
        batch_size : int, default 256
            Sequences per forward.

        Returns
        -------
        numpy.ndarray
            ``(N, num_classes)``, each row summing to 1.

        Raises
        ------
        TypeError, ValueError
            If an argument is wrong, naming it.
        """
        x, _, lengths = self._check_data(x, None, lengths, "predict", need_labels=False,
                                         allow_empty=True)
        z = self._batched_logits(x, lengths, _check_int("batch_size", batch_size, 1))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x, lengths=None, batch_size=256):
        """The most likely class of each sequence.

        Parameters
        ----------
        x : numpy.ndarray
            ``(N, T, I)``, checked as in `fit`; N may be 0.
        lengths : array_like of int, optional
            ``(N,)`` lengths in ``[1, T]``.
        batch_size : int, default 256
            Sequences per forward.

        Returns
        -------
        numpy.ndarray of int
            ``(N,)`` class indices.

        Raises
        ------
        TypeError, ValueError
            If an argument is wrong, naming it.
        """
        x, _, lengths = self._check_data(x, None, lengths, "predict", need_labels=False,
                                         allow_empty=True)
        return self._batched_logits(x, lengths, _check_int("batch_size", batch_size, 1)).argmax(1)

    def state_dict(self):
        """A copy of the parameters, keyed as `params`.

        Returns
        -------
        dict of str to numpy.ndarray
            Copies: changing them does not change the model.
        """
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy ``state_dict`` into the parameters.

        Parameters
        ----------
        state_dict : dict of str to array_like
            An array for every name of `params`, of its shape and dtype.

        Raises
        ------
        ValueError
            Listing every missing, unexpected or mis-shaped entry.
        TypeError
            Listing every entry of another dtype, or if ``state_dict`` is not a
            mapping.
        """
        layers.copy_state_dict(self.params, state_dict)


class SequenceClassifier(_Classifier):
    """RNN layers → output at each sequence's last valid step → Dense → class scores.

    Sequences are batch first, ``x (N, T, I)``, with optional ``lengths (N,)``
    in ``[1, T]``; labels are ``(N,)`` integers in ``[0, num_classes)``.

    Parameters
    ----------
    input_size : int
        I, the features of each step.
    hidden_size : int
        H, the recurrent layers' hidden size.
    num_classes : int
        C, the number of classes.
    cell : {"lstm", "gru", "rnn"}, default "lstm"
        The recurrent module: `fastrnn.LSTM`, `fastrnn.GRU` or `fastrnn.RNN`.
    num_layers : int, default 1
        Stacked recurrent layers.
    bidirectional : bool, default False
        Both directions; the classifier then reads 2·H features.
    activation : {"tanh", "relu"}, default "tanh"
        The cell's activation (the ``nonlinearity`` of cell "rnn").
    dropout : float, default 0.0
        Dropout between recurrent layers, in training only.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Dtype of the parameters and of the inputs they accept.
    seed : int, numpy.random.SeedSequence or None, default None
        Seed of the initial weights and of the dropout masks.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of the recurrent layers (None: the current one).

    Attributes
    ----------
    rnn : fastrnn.LSTM, fastrnn.GRU or fastrnn.RNN
        The recurrent part (``rnn.stream()`` runs it frame by frame).
    fc : Dense
        The output layer.

    Raises
    ------
    ValueError
        If ``cell`` is unknown, or the recurrent module refuses its arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import nn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((16, 5, 3), dtype=np.float32)           # 16 sequences of 5 steps
    >>> labels = rng.integers(0, 2, 16)
    >>> model = nn.SequenceClassifier(3, 8, 2, cell="gru", seed=0)
    >>> history = model.fit(x, labels, epochs=2, batch_size=8, progress=False)
    >>> len(history["loss"])
    2
    >>> model.predict(x[:4]).shape, model.predict_proba(x[:4]).shape
    ((4,), (4, 2))
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
        """All parameters, the modules' own arrays, keyed ``"rnn.<name>"`` and ``"fc.<name>"``.

        ``<name>`` is the recurrent module's PyTorch ``state_dict`` name, or
        ``weight`` and ``bias`` for the output layer. An optimizer built on this
        dict (``nn.Adam(model.params)``) updates the model.
        """
        return {**{f"rnn.{k}": v for k, v in self.rnn.params.items()},
                **{f"fc.{k}": v for k, v in self.fc.params.items()}}

    @property
    def grads(self):
        """The gradients of the last `backward`, keyed as `params` (scratch space)."""
        return {**{f"rnn.{k}": v for k, v in self.rnn.grads.items()},
                **{f"fc.{k}": v for k, v in self.fc.grads.items()}}

    @property
    def _input_size(self):
        return self.rnn.input_size

    @property
    def _num_classes(self):
        return self.fc.out_features

    def __call__(self, x, lengths=None, batch_size=256):
        """`predict_proba`, as Keras's ``model.predict(x)`` gives a softmax head's output.

        >>> import numpy as np
        >>> from fastrnn import nn
        >>> model = nn.SequenceClassifier(3, 4, 2, seed=0)
        >>> model(np.ones((5, 7, 3), np.float32)).shape
        (5, 2)
        """
        return self.predict_proba(x, lengths, batch_size)

    def _lengths(self, x, lengths):
        B, T = x.shape[:2]
        lengths = _validate.check_lengths(lengths, T, B)
        if B and lengths.min() < 1:
            raise ValueError("lengths must be ≥ 1: a classifier needs at least one step "
                             "per sequence")
        return lengths

    def logits(self, x, lengths=None, train=False):
        """Class scores of a batch.

        Parameters
        ----------
        x : numpy.ndarray
            ``(B, T, I)``, batch first.
        lengths : array_like of int, optional
            ``(B,)`` lengths in ``[1, T]`` (None: every sequence has T steps).
        train : bool, default False
            Keep the tape for `backward`.

        Returns
        -------
        numpy.ndarray or tuple
            The scores ``(B, C)``; with ``train=True``, the pair ``(scores, tape)``.

        Raises
        ------
        TypeError, ValueError
            If ``lengths`` are not B integers in ``[1, T]``, or the recurrent module
            refuses ``x``.
        """
        lengths = self._lengths(x, lengths)
        # the recurrent module time-major (its batch-first output would be a transposed
        # copy, and dy another): y (T, B, F)
        y, _, rnn_tape = self.rnn._forward(self.rnn._check_input(x), None, lengths, train)
        feats = last_valid(y.transpose(1, 0, 2), lengths)
        z, fc_tape = self.fc.forward(feats)
        return (z, (rnn_tape, fc_tape, lengths, y.shape)) if train else z

    def backward(self, tape, dlogits):
        """Backpropagate through the output layer and the recurrent layers; fills `grads`.

        Parameters
        ----------
        tape : tuple
            The tape of ``logits(..., train=True)``.
        dlogits : numpy.ndarray
            Gradient of the loss with respect to the scores, ``(B, C)``.
        """
        rnn_tape, fc_tape, lengths, y_shape = tape
        dfeats = self.fc.backward(fc_tape, dlogits)
        # only each sequence's last valid output feeds the classifier (y time-major)
        dy = np.zeros(y_shape, self.dtype)
        dy[lengths - 1, np.arange(y_shape[1])] = dfeats
        self.rnn._backward(rnn_tape, dy, self.rnn._check_dstate(None, y_shape[1]))

    def save(self, path):
        """Write the configuration and every parameter to an ``.npz`` file.

        The write is atomic: a temporary file in the same folder, flushed to disk,
        then renamed over ``path``, so an interrupted save leaves the old file intact.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write; ``.npz`` is added when missing, as `load` does.

        Returns
        -------
        str
            The path written.

        Examples
        --------
        >>> import os, tempfile
        >>> from fastrnn import nn
        >>> model = nn.SequenceClassifier(3, 4, 2, seed=0)
        >>> path = model.save(os.path.join(tempfile.mkdtemp(), "model"))
        >>> os.path.basename(path)
        'model.npz'
        >>> nn.SequenceClassifier.load(path).fc.out_features
        2
        """
        return layers.save_npz(path, "SequenceClassifier", self._config, self.params)

    @classmethod
    def load(cls, path, backend=None):
        """Rebuild a classifier saved by `save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file; ``.npz`` is added when missing.
        backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
            The backend of the rebuilt model's recurrent layers.

        Returns
        -------
        SequenceClassifier
            The model, with the saved configuration and parameters.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            If the file is malformed (not an ``.npz``, no or a bad header, another
            kind of model, a bad configuration, missing or mis-shaped arrays),
            naming the file and the problem.
        """
        def build(config, params):
            model = cls(**config, backend=backend)
            model.load_state_dict(params)
            return model
        return layers.load_module(path, "SequenceClassifier", build)

def _global_norm(grads):
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                             for g in grads.values())))


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number > 0, got {value!r}")
    if not value > 0:      # also refuses NaN
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


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


# the layers of a Sequential model, defined in fastrnn.sequential (which builds on this module)
from .sequential import Activation, Dropout, Masking, Recurrent, Sequential  # noqa: E402,F401
