"""Reference ReLU: one loop over the elements.

The functions a kernel set provides for the ``activation`` family (a student's module may
provide either; the other comes from here)::

    relu_forward(x) -> out                  any shape: out = max(x, 0), NaN stays NaN
    relu_backward(grad, out) -> grad_x      grad where out > 0, else 0 (relu'(0) = 0, as PyTorch)
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["relu_forward", "relu_backward"]


_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # Numba has no float16 arithmetic on the CPU


@njit(cache=True)
def _relu_flat(x, out):
    for i in range(x.size):
        out[i] = x[i] if not x[i] < 0 else 0.0  # "not x < 0" keeps NaN (every comparison with NaN is false)


@njit(cache=True)
def _relu_backward_flat(grad, out, grad_x):
    for i in range(grad.size):
        grad_x[i] = grad[i] if out[i] > 0 else 0.0  # relu'(x) = 1 where x > 0, else 0


def relu_forward(x):
    """``max(x, 0)`` elementwise, any shape."""
    if x.dtype not in _COMPILED_DTYPES:
        return np.maximum(x, 0)
    out = np.empty(x.shape, dtype=x.dtype)
    _relu_flat(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


def relu_backward(grad, out):
    """dL/dx from dL/d(relu(x)) and relu's output ``out`` (same shape as grad)."""
    if out.dtype not in _COMPILED_DTYPES:
        return grad * (out > 0)
    grad_x = np.empty(out.shape, dtype=np.result_type(grad.dtype, out.dtype))
    grad = np.broadcast_to(grad, out.shape)
    flat_grad, flat_out = np.ascontiguousarray(grad).reshape(-1), np.ascontiguousarray(out).reshape(-1)
    _relu_backward_flat(flat_grad, flat_out, grad_x.reshape(-1))
    return grad_x
