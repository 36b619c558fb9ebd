"""ReLU on the GPU, mirroring ``tinygraph/kernels/cpu/activation.py``.

The CPU module compiles its own loops because NumPy's ufuncs are slow there; on the device the
NumPy expressions already run as the broadcast elementwise kernels of ``elementwise.py``.
"""

from __future__ import annotations

__all__ = ["relu_backward", "relu_forward"]

import numpy as np


def relu_forward(x):
    """max(x, 0) elementwise."""
    return np.maximum(x, 0)


def relu_backward(grad, out):
    """``grad`` except where ``out`` <= 0 (there 0); a NaN output passes the gradient, as PyTorch's."""
    return grad * ~(out <= 0)
