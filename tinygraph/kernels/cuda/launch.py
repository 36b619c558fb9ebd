"""Thread layout and the index/stride helpers every CUDA kernel shares.

All device arrays are C-contiguous buffers.  A kernel sees an n-d operand as a flat buffer plus
an ``offset`` and per-dimension ``strides`` counted in ELEMENTS (not bytes).  A stride of 0
repeats the same element along that dimension: that is how broadcasting, ``x[:, None]`` and
``np.broadcast_to`` are expressed without copying, and how a transpose is a copy with permuted
strides.  The one helper that turns "the i-th element of the output, in C order" into "the
element of an operand" is :func:`element_offset`; every kernel that walks an n-d shape uses it.

Launch configuration: 1-d grids of ``THREADS`` threads per block, enough blocks to cover the
output.  Under the simulator (which runs each thread as Python code) the block sizes are smaller
so that the tiny test shapes still span several blocks; the code paths are the same.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import cuda

#: True when NUMBA_ENABLE_CUDASIM=1 was set before numba was imported
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)

#: threads per block for one-thread-per-output kernels
THREADS = 32 if SIMULATOR else 256
#: threads per block (a power of two) for one-block-per-output reductions (shared-memory tree)
REDUCE_THREADS = 8 if SIMULATOR else 256
#: side of the square tiles of the shared-memory matrix product (TILE x TILE threads per block)
TILE = 4 if SIMULATOR else 16


def blocks_for(n: int, threads: int = THREADS) -> int:
    """Number of blocks so that ``blocks * threads >= n`` (at least 1: a launch needs a block)."""
    return max(1, (n + threads - 1) // threads)


def contiguous_strides(shape: tuple) -> tuple:
    """Element strides of a C-contiguous array: the last dimension moves fastest."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def broadcast_strides(shape: tuple, strides: tuple, out_shape: tuple) -> tuple:
    """Strides that read an operand of ``shape``/``strides`` as if broadcast to ``out_shape``.

    Missing leading dimensions and stretched size-1 dimensions get stride 0: every output
    element along them reads the same input element.
    """
    lead = len(out_shape) - len(shape)
    return (0,) * lead + tuple(0 if n == 1 and m != 1 else s for n, s, m in zip(shape, strides, out_shape[lead:]))


def kernel_shape(shape: tuple) -> tuple:
    """The shape tuple given to kernels: a 0-d array is walked as one element of shape (1,)."""
    return tuple(int(n) for n in shape) if len(shape) else (1,)


def kernel_strides(strides: tuple) -> tuple:
    return tuple(int(s) for s in strides) if len(strides) else (0,)


def numba_dtype(dtype):
    """The numba type of a NumPy dtype (for shared-memory arrays, whose type is fixed at compile time)."""
    return numba.from_dtype(np.dtype(dtype))


@cuda.jit(device=True)
def element_offset(i, shape, strides):
    """Offset in an operand's buffer of the ``i``-th element (C order) of an array of ``shape``.

    Unravel ``i`` into an index ``(i_0, ..., i_{d-1})`` from the last dimension backwards,
    and take the dot product with ``strides``.
    """
    offset = 0
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        offset += (i % n) * strides[d]
        i //= n
    return offset
