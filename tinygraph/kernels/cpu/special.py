"""Special functions NumPy lacks, compiled with Numba (used by GELU)."""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _erf_loop(flat_in, flat_out):
    for i in range(flat_in.size):
        flat_out[i] = math.erf(flat_in[i])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise: erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt."""
    out = np.empty(x.shape, dtype=x.dtype)
    _erf_loop(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))  # reshape of a fresh array is a view
    return out
