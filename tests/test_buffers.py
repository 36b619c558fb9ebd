"""The kernels' output cache (kernels/cpu/buffers.py): memory is reused only once nothing can see it."""

import gc

import numpy as np

from tinygraph.kernels.cpu import buffers

SHAPE = (4, 8, 32, 32)  # 128 KiB of float32: inside the cached range


def test_a_block_is_not_handed_out_again_while_a_view_of_it_lives():
    a = buffers.empty(SHAPE, np.float32)
    a.fill(1.0)
    view = a[1:, ::2]  # NumPy points the view at the same lease as a
    del a
    gc.collect()
    b = buffers.empty(SHAPE, np.float32)
    assert not np.shares_memory(b, view)
    b.fill(7.0)
    assert np.all(view == 1.0)


def test_a_block_is_reused_once_every_array_over_it_is_gone():
    a = buffers.empty(SHAPE, np.float32)
    address = a.ctypes.data
    reshaped = a.reshape(-1)
    del a, reshaped
    gc.collect()
    b = buffers.empty(SHAPE, np.float32)
    assert b.ctypes.data == address  # the same memory, not fresh pages
    assert b.shape == SHAPE and b.dtype == np.float32 and b.flags.c_contiguous and b.flags.writeable


def test_zeros_are_zero_even_on_a_reused_block():
    a = buffers.empty(SHAPE, np.float64)
    a.fill(np.nan)
    del a
    gc.collect()
    z = buffers.zeros(SHAPE, np.float64)
    assert np.all(z == 0.0)


def test_small_and_huge_arrays_are_plain_numpy_arrays():
    small = buffers.empty((3, 4), np.float32)
    assert small.base is None and small.shape == (3, 4)
    assert buffers.empty((0,), np.float32).shape == (0,)


def test_the_cache_is_bounded_and_can_be_cleared(monkeypatch):
    monkeypatch.setattr(buffers, "MAX_CACHED_BYTES", buffers.MIN_BYTES * 2)
    buffers.clear()
    arrays = [buffers.empty((buffers.MIN_BYTES,), np.uint8) for _ in range(5)]
    del arrays
    gc.collect()
    assert buffers.cached_bytes() <= buffers.MIN_BYTES * 2
    buffers.clear()
    assert buffers.cached_bytes() == 0
