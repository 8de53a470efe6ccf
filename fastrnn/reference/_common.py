"""Pointwise pieces shared by the NumPy reference cells.

Every function computes in the dtype of its input: NumPy 2 treats Python
scalars as weak, so ``1 - y * y`` on float32 stays float32.
"""
import numpy as np


def sigmoid(a):
    """σ(a) = 1 / (1 + exp(-a)), as PyTorch computes it (exp may overflow to inf: σ = 0)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-a))


def activate(a, activation):
    """act(a) for ``activation`` in {"tanh", "relu"}."""
    return np.tanh(a) if activation == "tanh" else np.maximum(a, 0)


def activation_grad(y, activation):
    """act'(a) written in terms of the output y = act(a): tanh' = 1 − y², relu' = [y > 0]."""
    return 1 - y * y if activation == "tanh" else (y > 0).astype(y.dtype)


def sigmoid_grad(s):
    """σ'(a) in terms of s = σ(a): s (1 − s)."""
    return s * (1 - s)


def hard_sigmoid(a):
    """Keras 3's hard sigmoid: clip(a/6 + 1/2, 0, 1)."""
    return np.clip(a / 6 + 0.5, 0, 1)


def gate(a, gate_activation):
    """σ(a) for ``gate_activation`` in {"sigmoid", "hard_sigmoid"}."""
    return sigmoid(a) if gate_activation == "sigmoid" else hard_sigmoid(a)


def gate_grad(s, gate_activation):
    """σ'(a) in terms of s = σ(a): s (1 − s); for the hard sigmoid 1/6 where 0 < s < 1
    (a in (−3, 3)), else 0."""
    if gate_activation == "sigmoid":
        return sigmoid_grad(s)
    return np.where((s > 0) & (s < 1), s.dtype.type(1 / 6), s.dtype.type(0))


def valid_mask(t, lengths):
    """(B, 1) boolean: which sequences are still running at step t (t < length)."""
    return (t < lengths)[:, None]
