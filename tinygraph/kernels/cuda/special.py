"""Special functions on the GPU, mirroring ``tinygraph/kernels/cpu/special.py``: ``erf`` (GELU needs it).

NumPy has no ``erf`` ufunc, so ``np.erf(x)`` cannot dispatch to a CudaArray; the functional layer
calls the kernel module of the input's device instead.  One thread per element (``elementwise.py``).
"""

from __future__ import annotations

import numpy as np

from . import elementwise
from .array import CudaArray, empty
from .launch import kernel_shape

__all__ = ["erf"]


def erf(x: CudaArray) -> CudaArray:
    """The error function elementwise; float input keeps its dtype, integers give float64."""
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    out = empty(x.shape, dtype)
    elementwise.unary("erf", out._flat, kernel_shape(x.shape), x._operand(x.shape))
    return out
