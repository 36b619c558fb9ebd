"""A cache of the kernels' own output arrays, so a training step reuses the last step's memory.

Every step allocates the same arrays again (activations, their gradients).  Fresh memory from the
C library comes as pages the kernel must map and zero on first touch, which costs as much as the
work on a small network; PyTorch keeps a caching allocator for the same reason.  This one is
tinygraph's own and changes nothing for the rest of the process (unlike tuning ``malloc``):

* :func:`empty` hands out an array over a *block* (a NumPy byte array) through a small *lease*
  object, which becomes the array's ``base``.  NumPy points every view of the array at that same
  base, so the lease lives exactly as long as any array that can see the memory.
* When the last of them is gone, the lease's ``__del__`` puts the block back on the free list of
  its size; the next request of that size takes it.  A block is therefore never handed out twice
  while anything can still read or write it.

Only mid-sized arrays are cached (``MIN_BYTES`` to ``MAX_BYTES``): small ones come cheaply from
the C library's heap, and very large ones in huge pages.  At most ``MAX_CACHED_BYTES`` of free
blocks are kept; beyond that a returned block is simply freed.
"""

from __future__ import annotations

import math
import threading

import numpy as np

__all__ = ["empty", "zeros", "cached_bytes", "clear"]

MIN_BYTES = 64 << 10
MAX_BYTES = 64 << 20
MAX_CACHED_BYTES = 256 << 20

_free: dict[int, list[np.ndarray]] = {}  # nbytes -> free blocks of that size
_cached = 0  # bytes held in _free
_lock = threading.Lock()


class _Lease:
    """Lends a block's memory to one array (and its views) through NumPy's array interface."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block: np.ndarray, shape, dtype: np.dtype):
        self.block = block
        self.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": dtype.str,
            "data": (block.ctypes.data, False),  # writable
            "version": 3,
        }

    def __del__(self):  # the last array that could see the block is gone
        _give_back(self.block)


def _give_back(block: np.ndarray) -> None:
    global _cached
    with _lock:
        if _cached + block.nbytes <= MAX_CACHED_BYTES:
            _free.setdefault(block.nbytes, []).append(block)
            _cached += block.nbytes


def empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, reusing a cached block of the same size when there is one."""
    global _cached
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if not MIN_BYTES <= nbytes <= MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    with _lock:
        blocks = _free.get(nbytes)
        block = blocks.pop() if blocks else None
        if block is not None:
            _cached -= nbytes
    if block is None:
        block = np.empty(nbytes, dtype=np.uint8)
    return np.asarray(_Lease(block, shape, dtype))


def zeros(shape, dtype) -> np.ndarray:
    """``np.zeros(shape, dtype)`` from :func:`empty`."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def cached_bytes() -> int:
    """Bytes of free blocks held for reuse."""
    return _cached


def clear() -> None:
    """Free every cached block (arrays still in use keep theirs, and return them later)."""
    global _cached
    with _lock:
        _free.clear()
        _cached = 0
