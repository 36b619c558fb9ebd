"""Reductions (sum, max, min, argmax, argmin) over any set of axes.

The input ``x`` is a C-contiguous buffer of ``shape``.  Its axes are split into the KEPT axes
(they index the outputs) and the REDUCED axes (they are folded together).  Output element ``o``
starts at ``element_offset(o, kept_shape, kept_strides)`` and its ``count`` inputs are at
``element_offset(j, red_shape, red_strides)`` past that, ``j = 0 .. count-1``: no transpose, no copy.

Two mappings of threads to outputs, the classic pair:

* ``_rows_kernel``:  one THREAD per output, a plain loop over its ``count`` inputs.  Best when
  there are many outputs and few inputs each (softmax over 10 classes for 64 rows).
* ``_block_kernel``: one BLOCK per output.  Each of its ``REDUCE_THREADS`` threads folds every
  ``REDUCE_THREADS``-th input into a private partial result, writes it to shared memory, and the
  block halves the partials in a tree (``log2(REDUCE_THREADS)`` steps, a ``syncthreads`` between
  steps so no thread reads a partial before it is written).  Best for few outputs with many
  inputs each (a loss over the batch, per-channel sums over N*H*W).

:func:`reduce` picks one by the number of inputs per output.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .elementwise import _add, _maximum, _minimum
from .launch import REDUCE_THREADS, THREADS, blocks_for, contiguous_strides, element_offset

#: name -> (combine function, idempotent): folding an element in twice changes nothing for max/min,
#: so a block thread with no input of its own may start from element 0; a sum must start from 0
COMBINE = {"sum": (_add, False), "max": (_maximum, True), "min": (_minimum, True)}


@functools.cache
def _rows_kernel(name: str):
    combine, _ = COMBINE[name]

    @cuda.jit
    def rows(out, x, kept_shape, kept_strides, red_shape, red_strides, count):
        o = cuda.grid(1)
        if o < out.size:
            base = element_offset(o, kept_shape, kept_strides)
            acc = x[base]  # j = 0 is always at offset 0 from the base
            for j in range(1, count):
                acc = combine(acc, x[base + element_offset(j, red_shape, red_strides)])
            out[o] = acc

    return rows


@functools.cache
def _block_kernel(name: str, dtype: np.dtype):
    combine, idempotent = COMBINE[name]
    scalar = dtype.type  # partial results are kept in the input dtype

    @cuda.jit
    def block(out, x, kept_shape, kept_strides, red_shape, red_strides, count):
        partial = cuda.shared.array(REDUCE_THREADS, scalar)
        o = cuda.blockIdx.x
        t = cuda.threadIdx.x
        base = element_offset(o, kept_shape, kept_strides)

        # 1. each thread folds inputs t, t + REDUCE_THREADS, t + 2*REDUCE_THREADS, ...
        if t < count:
            acc = x[base + element_offset(t, red_shape, red_strides)]
        elif idempotent:
            acc = x[base]
        else:
            acc = scalar(0)
        for j in range(t + REDUCE_THREADS, count, REDUCE_THREADS):
            acc = combine(acc, x[base + element_offset(j, red_shape, red_strides)])
        partial[t] = acc
        cuda.syncthreads()

        # 2. tree: the first half of the threads fold in the second half, until one value is left
        step = REDUCE_THREADS // 2
        while step > 0:
            if t < step:
                partial[t] = combine(partial[t], partial[t + step])
            cuda.syncthreads()
            step //= 2
        if t == 0:
            out[o] = partial[0]

    return block


@functools.cache
def _arg_kernel(largest: bool):
    @cuda.jit
    def arg(out, x, kept_shape, kept_strides, red_shape, red_strides, count):
        """One thread per output: the position j of the first extremum (a NaN wins, as np.argmax)."""
        o = cuda.grid(1)
        if o < out.size:
            base = element_offset(o, kept_shape, kept_strides)
            best = x[base]
            best_j = 0
            for j in range(1, count):
                if best != best:  # NaN found: it stays the answer
                    break
                v = x[base + element_offset(j, red_shape, red_strides)]
                if v != v or (v > best if largest else v < best):
                    best = v
                    best_j = j
            out[o] = best_j

    return arg


def split_axes(shape: tuple, axes: tuple):
    """(kept_shape, kept_strides, red_shape, red_strides, count) of a reduction of a C-contiguous array."""
    strides = contiguous_strides(shape)
    kept = [d for d in range(len(shape)) if d not in axes]
    kept_shape = tuple(shape[d] for d in kept) or (1,)
    kept_strides = tuple(strides[d] for d in kept) or (0,)
    red_shape = tuple(shape[d] for d in axes) or (1,)
    red_strides = tuple(strides[d] for d in axes) or (0,)
    count = int(np.prod(red_shape)) if axes else 1
    return kept_shape, kept_strides, red_shape, red_strides, count


def reduce(name: str, out, x, shape: tuple, axes: tuple) -> None:
    """Write the reduction ``name`` of ``x`` (flat buffer of ``shape``) over ``axes`` into ``out`` (flat).

    ``name`` is "sum", "max", "min", "argmax" or "argmin"; ``out`` holds one value per kept index,
    in C order.  The caller handles empty inputs and keepdims.
    """
    kept_shape, kept_strides, red_shape, red_strides, count = split_axes(shape, axes)
    args = (out, x, kept_shape, kept_strides, red_shape, red_strides, count)
    if name in ("argmax", "argmin"):
        _arg_kernel(name == "argmax")[blocks_for(out.size), THREADS](*args)
    elif count > REDUCE_THREADS:
        _block_kernel(name, np.dtype(x.dtype))[out.size, REDUCE_THREADS](*args)
    else:
        _rows_kernel(name)[blocks_for(out.size), THREADS](*args)


@cuda.jit(device=True)
def block_sum(partial, t):
    """Sum of the ``REDUCE_THREADS`` values in the shared array ``partial``; every thread gets it.

    Each thread ``t`` has stored its own partial sum in ``partial[t]``.  Halving tree: in each
    step the first half of the threads add the second half's values to theirs; ``syncthreads``
    between steps so nobody reads a value before it is written.  Every thread of the block must
    call this (a ``syncthreads`` that some threads skip hangs the block).
    """
    cuda.syncthreads()
    step = REDUCE_THREADS // 2
    while step > 0:
        if t < step:
            partial[t] += partial[t + step]
        cuda.syncthreads()
        step //= 2
    total = partial[0]
    cuda.syncthreads()  # all threads have read the total before the caller may reuse ``partial``
    return total
