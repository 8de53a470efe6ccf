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


def valid_mask(t, lengths):
    """(B, 1) boolean: which sequences are still running at step t (t < length)."""
    return (t < lengths)[:, None]
