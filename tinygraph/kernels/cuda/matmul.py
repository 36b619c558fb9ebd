"""Batched matrix product ``C = A @ B`` with shared-memory tiling.

``A: (batch, n, k)``, ``B: (batch, k, m)`` -> ``C: (batch, n, m)``, all C-contiguous; batch
dimensions broadcast (a batch stride of 0 re-reads the same matrix).

Thread mapping: a block of ``TILE x TILE`` threads computes one ``TILE x TILE`` tile of C;
thread ``(ty, tx)`` owns ``C[row, col]`` with ``row = blockIdx.y*TILE + ty`` and
``col = blockIdx.x*TILE + tx``; ``blockIdx.z`` is the batch index.

Why tiles: the naive kernel (each thread loops over k reading a row of A and a column of B from
global memory) reads every element of A ``m`` times and of B ``n`` times.  Here the block walks
along k one tile at a time: its threads first COPY a ``TILE x TILE`` tile of A and one of B into
shared memory (one element each, so the copy is spread over the whole block), wait for each other
(``syncthreads``), then each thread does ``TILE`` multiply-adds from the fast shared copies.
Global reads drop by a factor of ``TILE``.  The second ``syncthreads`` keeps a fast thread from
overwriting a tile that slower threads are still reading.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .launch import TILE, element_offset

#: CUDA's limit on gridDim.z
MAX_GRID_Z = 65535


@functools.cache
def _matmul_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def matmul(out, a, b, n, k, m, batch_shape, a_batch_strides, b_batch_strides, z0):
        tile_a = cuda.shared.array((TILE, TILE), scalar)  # A[row, t0 + tx] for this block's rows
        tile_b = cuda.shared.array((TILE, TILE), scalar)  # B[t0 + ty, col] for this block's columns
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        z = z0 + cuda.blockIdx.z  # batch index (launches cover at most MAX_GRID_Z batches each)
        a_start = element_offset(z, batch_shape, a_batch_strides)
        b_start = element_offset(z, batch_shape, b_batch_strides)

        acc = scalar(0)
        for t0 in range(0, k, TILE):
            # each thread stages one element of each tile; outside the matrices it stages a 0,
            # which adds nothing to the dot products (so ragged edges need no special case)
            if row < n and t0 + tx < k:
                tile_a[ty, tx] = a[a_start + row * k + t0 + tx]
            else:
                tile_a[ty, tx] = 0
            if t0 + ty < k and col < m:
                tile_b[ty, tx] = b[b_start + (t0 + ty) * m + col]
            else:
                tile_b[ty, tx] = 0
            cuda.syncthreads()  # the tiles are complete
            for kk in range(TILE):
                acc += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()  # everyone is done reading before the next tiles overwrite them
        if row < n and col < m:
            out[(z * n + row) * m + col] = acc

    return matmul


def matmul(out, a, b, n: int, k: int, m: int, batch_shape: tuple, a_batch_strides: tuple, b_batch_strides: tuple):
    """Launch the tiled product into ``out`` (flat, ``batch*n*m``); operands share ``out``'s dtype."""
    batch = int(np.prod(batch_shape))
    if out.size == 0:
        return
    kernel = _matmul_kernel(np.dtype(out.dtype))
    for z0 in range(0, batch, MAX_GRID_Z):  # the grid's z dimension is limited to 65535 blocks
        grid = ((m + TILE - 1) // TILE, (n + TILE - 1) // TILE, min(MAX_GRID_Z, batch - z0))
        kernel[grid, (TILE, TILE)](out, a, b, n, k, m, batch_shape, a_batch_strides, b_batch_strides, z0)
