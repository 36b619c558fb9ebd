"""Matrix products for ``linear`` and ``matmul``: NumPy's BLAS, on tinygraph's threads.

A product below ``SMALL_PRODUCT`` multiply-adds runs on the calling thread, BLAS held to one
thread (``scheduling.one_blas_thread``, scoped to the call): handing it to BLAS's threads costs
more than it saves.  A larger 2-D product is cut into blocks of rows that tinygraph's own threads
share (``scheduling.run_chunks``), as a convolution is, rather than handed to BLAS's threads:
OpenBLAS's idle workers busy-wait on the cores for a while after each product they share, and
would take those cores from the next convolution's threads.  Batched products (more than two
dimensions) that large run on BLAS's threads as the user set them.
"""

from __future__ import annotations

import math

import numpy as np

from .scheduling import one_blas_thread, run_chunks

__all__ = ["matmul", "SMALL_PRODUCT", "ROW_BLOCKS"]

#: Products of fewer multiply-adds than this run on one BLAS thread.
SMALL_PRODUCT = 8_000_000
#: A larger 2-D product is cut into at most this many blocks of rows (at least ``SMALL_PRODUCT / 2``
#: multiply-adds each): enough for a few threads, few enough that each block is a full-speed product.
ROW_BLOCKS = 8


def matmul(a, b):
    """``np.matmul(a, b)``, for ``a: (..., n, k)``, ``b: (..., k, m)``.

    Small products run on one BLAS thread, large 2-D ones by blocks of rows on tinygraph's threads.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    n, k = a.shape[-2:]
    batch = 1 if a.ndim == b.ndim == 2 else math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    multiply_adds = batch * n * k * b.shape[-1]
    if multiply_adds < SMALL_PRODUCT:
        with one_blas_thread():
            return np.matmul(a, b)
    if a.ndim == b.ndim == 2:
        return _by_row_blocks(a, b, multiply_adds)
    return np.matmul(a, b)


def _by_row_blocks(a, b, multiply_adds):
    """``a @ b`` for ``a: (n, k)``, ``b: (k, m)``, blocks of rows of ``a`` shared between tinygraph's threads.

    The blocks depend on the shapes only, so the result does not depend on the thread count.
    """
    n = a.shape[0]
    blocks = max(1, min(ROW_BLOCKS, n, multiply_adds // (SMALL_PRODUCT // 2)))
    rows = -(-n // blocks)
    out = np.empty((n, b.shape[1]), dtype=np.result_type(a, b))
    chunks = [(start, min(start + rows, n)) for start in range(0, n, rows)]
    run_chunks(lambda _index, start, stop: np.matmul(a[start:stop], b, out=out[start:stop]), chunks,
               2.0 * multiply_adds)
    return out
