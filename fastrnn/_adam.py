"""`fastrnn.nn.Adam`'s update of one parameter as one pass of a Numba kernel.

    m' = β1 m + (1−β1) g,   v' = β2 v + (1−β2) g g          (in p's dtype)
    p' = p − (step m' / (√v' / √(1−β2ᵗ) + eps))              (the quotient in float64)

with every operation in the dtype NumPy gives ``p - (step * m' / (np.sqrt(v') /
root_bc2 + eps)).astype(p.dtype)`` (β1, 1−β1, β2, 1−β2 and step as p's dtype, √(1−β2ᵗ)
and eps as float64): the same values, bit for bit, as those NumPy expressions
(tests/test_nn.py), in one pass instead of a dozen, without temporaries.
Imported by ``Adam.step`` on first use, so that ``import fastrnn`` loads no Numba.
"""
import math

import numpy as np
from numba import njit

from ._jitcache import install_numba

install_numba()      # before the kernel below is defined (``fastrnn._jitcache``)


@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(p, g, m, v, b1, c1, b2, c2, step, root_bc2, eps, p_new, m_new, v_new):
    """p_new, m_new, v_new (flat, p's dtype) from p, g, m, v (flat, p's dtype); b1, c1 = β1,
    1−β1, b2, c2 = β2, 1−β2 and step = lr / (1−β1ᵗ) of p's dtype, root_bc2 = √(1−β2ᵗ) and
    eps float64. Returns whether every p_new is finite. Nothing is written but the news."""
    finite = True
    for i in range(p.shape[0]):
        mi = b1 * m[i] + c1 * g[i]
        vi = b2 * v[i] + c2 * g[i] * g[i]
        # the quotient rounded to p's dtype by the store, then subtracted in it
        p_new[i] = np.float64(step * mi) / (np.float64(np.sqrt(vi)) / root_bc2 + eps)
        p_new[i] = p[i] - p_new[i]
        m_new[i], v_new[i] = mi, vi
        finite &= math.isfinite(p_new[i])
    return finite
