"""Pointwise math for the CPU kernels, vectorisable and accurate to the dtype.

Numba's ``math.tanh``/``math.exp`` are scalar calls (no SVML here), which
stops LLVM from vectorising the gate loops. In float32 we use a rational
approximation of tanh instead (Eigen's ``generic_fast_tanh_float``: odd
polynomial of degree 13 over an even one of degree 6, input clamped to
±7.905, max error a few float32 ulps); it needs only mul/add/div/min/max,
so a gate loop becomes SIMD code. In float64 we keep ``math.tanh`` and
``1 / (1 + exp(-a))`` (exactly what the reference computes).

    tanh(a) ≈ a·p(a²) / q(a²)              (float32, |a| < TANH_ONE; ±1 beyond)
    σ(a)    = ½ + ½·tanh(a/2)              (float32, a < SIGMOID_ONE; 1 beyond)
            = 1 / (1 + e^−a)               (float64)
    tanh'   = 1 − y²,  relu' = [y > 0],  σ' = s (1 − s)   written with the outputs y, s

Saturation (float32). The rational alone never reaches ±1: at its clamp it is
1 − 4 ulp (0.99999976, 0.99999988 for σ), so a saturated unit kept a
derivative of ~5e-7 where the reference's (float32 ``np.tanh`` and
``1 / (1 + exp(-a))``) is exactly 0, and inputs near ±1e30 gave gradients of
1e23 and more. So both are made exact with one select each, where the
reference's float32 results are exact:

- tanh(a) = ±1 (copysign) for |a| ≥ TANH_ONE = 9.010914, the smallest float32
  whose tanh rounds to 1 in float32 (NumPy's own float32 tanh returns ±1 from
  there or a little later: from 10.0 with NumPy 2.4 on x86-64; in between it
  says 1 − 1 ulp). Below, the rational is within 4 ulp of tanh.
- σ(a) = 1 for a ≥ SIGMOID_ONE = 16.635532, the smallest float32 for which
  1 / (1 + exp(−a)) rounds to 1 in float32. For a ≤ −18.02, σ(a) = 0 exactly
  (tanh(a/2) = −1), where the reference gives e^a ≤ 1.5e-8 (0 below −88.72):
  σ' is 0 against the reference's e^a, an absolute difference below
  1.5e-8 per unit of upstream gradient.

Non-finite values propagate as in the reference: tanh(±inf) = ±1,
σ(+inf) = 1, σ(−inf) = 0, and NaN stays NaN (``min``/``max`` keep a NaN
first argument, and NaN fails both saturation tests).

All constants are typed to the argument's dtype, so float32 stays float32.
"""
import math

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

_F = np.float32
_CLAMP = _F(7.90531110763549805)
_ALPHA = tuple(_F(v) for v in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                               5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
                               4.89352455891786e-03))
_BETA = tuple(_F(v) for v in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                              4.89352518554385e-03))
_HALF32, _ONE32 = _F(0.5), _F(1.0)
#: the smallest float32 whose tanh rounds to 1 in float32 (from here on tanh returns ±1)
TANH_ONE = _F(9.010914)
#: the smallest float32 for which float32 1 / (1 + exp(−a)) is 1 (from here on σ returns 1)
SIGMOID_ONE = _F(16.635532)
A13, A11, A9, A7, A5, A3, A1 = _ALPHA
B6, B4, B2, B0 = _BETA


@register_jitable
def _tanh32(a):
    x = max(min(a, _CLAMP), -_CLAMP)
    x2 = x * x
    p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x
    q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0
    # exactly ±1 where float32 tanh rounds to it (a select: the loop still vectorises)
    return math.copysign(_ONE32, a) if abs(a) >= TANH_ONE else p / q


@register_jitable
def _sigmoid32(a):
    s = _HALF32 + _HALF32 * _tanh32(_HALF32 * a)
    # exactly 1 where float32 1 / (1 + exp(−a)) is; 0 below −18.02 comes from tanh's −1
    return _ONE32 if a >= SIGMOID_ONE else s


def tanh(a):
    """tanh(a), vectorisable in float32 (see module docstring)."""
    return np.tanh(a)


def sigmoid(a):
    """σ(a) = 1 / (1 + e^−a)."""
    return 1 / (1 + np.exp(-a))


@overload(tanh)
def _tanh(a):
    if a == types.float32:
        return lambda a: _tanh32(a)
    return lambda a: math.tanh(a)


@overload(sigmoid)
def _sigmoid(a):
    if a == types.float32:
        return lambda a: _sigmoid32(a)
    return lambda a: 1.0 / (1.0 + math.exp(-a))


def one(a):
    """1 in the dtype of a (Numba would make ``float32 + 1`` a float64)."""
    return type(a)(1)


@overload(one)
def _one(a):
    if a == types.float32:
        return lambda a: _ONE32
    return lambda a: 1.0


@register_jitable
def act(a, relu):
    """act(a): relu = max(a, 0) when ``relu``, else tanh. Both sides are cheap and pure, so the
    branch becomes a select and the loop still vectorises."""
    zero = one(a) - one(a)
    return max(a, zero) if relu else tanh(a)


@register_jitable
def dact(y, relu):
    """act'(a) from its output y = act(a): relu' = [y > 0], tanh' = 1 − y²."""
    return (one(y) if y > 0 else one(y) - one(y)) if relu else one(y) - y * y


@register_jitable
def dsigmoid(s):
    """σ'(a) from s = σ(a): s (1 − s)."""
    return s * (one(s) - s)


@register_jitable
def gate(a, hard):
    """σ(a) of the gates: Keras 3's hard sigmoid clip(a/6 + 1/2, 0, 1) when ``hard``, else
    ``sigmoid``. (6 and ½ are built from ``one`` so that float32 stays float32.)"""
    if hard:
        c = one(a)
        s = a / (c + c + c + c + c + c) + c / (c + c)
        return min(max(s, c - c), c)
    return sigmoid(a)


@register_jitable
def dgate(s, hard):
    """σ'(a) of the gates from s = σ(a): 1/6 where 0 < s < 1 (a in (−3, 3)) else 0 when
    ``hard``, else s (1 − s)."""
    if hard:
        c = one(s)
        return c / (c + c + c + c + c + c) if s > c - c and s < c else c - c
    return dsigmoid(s)
