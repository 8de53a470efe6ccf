"""The vectorisable activations of the CPU kernels against NumPy in float64."""
import numpy as np
import pytest
from numba import njit

from fastrnn.cpu._math import sigmoid, tanh


@njit(cache=True)
def _apply(a, t, s):
    for i in range(a.shape[0]):
        t[i] = tanh(a[i])
        s[i] = sigmoid(a[i])


@pytest.mark.parametrize("dtype,tol", [(np.float32, 8 * 2.0 ** -24), (np.float64, 4 * 2.0 ** -53)])
def test_tanh_and_sigmoid_accurate_to_the_dtype(dtype, tol):
    a = np.concatenate([np.linspace(-20, 20, 20001), [-1e30, -88.0, -1e-8, 0.0, 1e-8, 88.0, 1e30]])
    a = a.astype(dtype)
    t, s = np.empty_like(a), np.empty_like(a)
    _apply(a, t, s)
    x = a.astype(np.float64)
    assert t.dtype == s.dtype == dtype
    # absolute error within a few ulps of 1 (both are bounded by 1; measured 4.6 in float32)
    assert np.max(np.abs(t - np.tanh(x))) <= tol
    with np.errstate(over="ignore"):
        assert np.max(np.abs(s - 1 / (1 + np.exp(-x)))) <= tol
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))
