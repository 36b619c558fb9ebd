"""Matrix products for ``linear`` and ``matmul``: NumPy's BLAS, small products on one BLAS thread.

Handing a small product to BLAS's threads costs more than it saves, and OpenBLAS's idle workers
then busy-wait on the cores for a while after it.  So a product below ``SMALL_PRODUCT``
multiply-adds runs on the calling thread (``scheduling.one_blas_thread``, scoped to the call);
larger ones run on BLAS's threads as the user set them.
"""

from __future__ import annotations

import math

import numpy as np

from .scheduling import one_blas_thread

__all__ = ["matmul", "SMALL_PRODUCT"]

#: Products of fewer multiply-adds than this run on one BLAS thread.
SMALL_PRODUCT = 8_000_000


def matmul(a, b):
    """``np.matmul(a, b)``, for ``a: (..., n, k)``, ``b: (..., k, m)``; small host products on one BLAS thread."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    n, k = a.shape[-2:]
    batch = 1 if a.ndim == b.ndim == 2 else math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    if batch * n * k * b.shape[-1] >= SMALL_PRODUCT:
        return np.matmul(a, b)
    with one_blas_thread():
        return np.matmul(a, b)
