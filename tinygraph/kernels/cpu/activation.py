"""ReLU and its derivative as compiled loops.

Same functions and results as ``reference/activation.py``.  NumPy's ``np.maximum(x, 0)`` is
written for every dtype and for NaN, and ``grad * (out > 0)`` builds a mask array first; these
loops, which LLVM turns into vector code, do neither.  The rule
is PyTorch's: relu(NaN) is NaN, and the derivative at 0 is 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import buffers


@njit(cache=True, nogil=True)
def _relu_loop(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = v if not v < 0 else 0  # "not v < 0" keeps NaN (every comparison with NaN is false)


@njit(cache=True)
def _relu_backward_loop(grad, out, grad_x):
    for i in range(grad.size):
        # relu'(x) = 0 where x <= 0 (0 at the kink), else 1: NaN passes the gradient, as in PyTorch
        grad_x[i] = grad[i] if not out[i] <= 0 else 0


_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # Numba has no float16 arithmetic on the CPU


def relu_forward(x: np.ndarray) -> np.ndarray:
    """max(x, 0) elementwise, any shape; NaN stays NaN."""
    if x.dtype not in _COMPILED_DTYPES:
        return np.maximum(x, 0)
    out = buffers.empty(x.shape, x.dtype)
    _relu_loop(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


def relu_backward(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """dL/dx from dL/d(relu(x)) and relu's output ``out`` (same shape): 0 where out <= 0, else ``grad``."""
    if grad.dtype not in _COMPILED_DTYPES or out.dtype != grad.dtype:
        return grad * ~(out <= 0)
    if grad.shape != out.shape:
        grad = np.broadcast_to(grad, out.shape)
    grad_x = buffers.empty(out.shape, grad.dtype)
    flat = [np.ascontiguousarray(a).reshape(-1) for a in (grad, out)]
    _relu_backward_loop(flat[0], flat[1], grad_x.reshape(-1))
    return grad_x
