"""Elementwise kernels: one GPU thread computes one output element.

Thread ``i`` (``cuda.grid(1)``) owns output element ``i`` of the C-contiguous output.  For each
operand it finds the element to read with :func:`~.launch.element_offset`: the operand's strides
are 0 along broadcast dimensions, so NumPy broadcasting costs nothing but an index computation.
Threads past the end of the output (the last block is rarely full) do nothing.

The math of each ufunc is a small device function below (``_add``, ``_exp``, ...).  A kernel
is made once per device function by a factory (``_unary_kernel(name)``) and cached; numba
then compiles it once per combination of argument types (dtypes and number of dimensions).

A few device functions test for edge cases (``log`` of a negative number, ``exp`` overflow)
that a GPU would turn into NaN/inf by itself: the simulator runs them as Python ``math``
calls, which raise instead, and the branch costs a GPU next to nothing.
"""

from __future__ import annotations

import functools
import math

from numba import cuda

from .launch import THREADS, blocks_for, element_offset

# ----------------------------------------------------------------------------- unary math


@cuda.jit(device=True)
def _identity(x):
    return x


@cuda.jit(device=True)
def _negative(x):
    return -x


@cuda.jit(device=True)
def _absolute(x):
    return abs(x)


@cuda.jit(device=True)
def _sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return x  # 0 stays 0, NaN stays NaN (as np.sign)


@cuda.jit(device=True)
def _exp(x):
    if x > 709.0:  # e^709.8 overflows float64 (float32 overflows on the store: inf either way)
        return math.inf
    return math.exp(x)


@cuda.jit(device=True)
def _log(x):
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


@cuda.jit(device=True)
def _sqrt(x):
    if x < 0:
        return math.nan
    return math.sqrt(x)


@cuda.jit(device=True)
def _tanh(x):
    return math.tanh(x)


@cuda.jit(device=True)
def _erf(x):
    return math.erf(x)


@cuda.jit(device=True)
def _square(x):
    return x * x


@cuda.jit(device=True)
def _logical_not(x):
    return not x


@cuda.jit(device=True)
def _isnan(x):
    return x != x


@cuda.jit(device=True)
def _isinf(x):
    return x == math.inf or x == -math.inf


@cuda.jit(device=True)
def _isfinite(x):
    return x == x and x != math.inf and x != -math.inf


# ---------------------------------------------------------------------------- binary math


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _subtract(a, b):
    return a - b


@cuda.jit(device=True)
def _multiply(a, b):
    return a * b


@cuda.jit(device=True)
def _true_divide(a, b):
    return a / b


@cuda.jit(device=True)
def _power(a, b):
    return a**b


@cuda.jit(device=True)
def _maximum(a, b):
    # NaN propagates, as np.maximum: if a is NaN, "a >= b" is False but a is returned first
    if a != a or a >= b:
        return a
    return b


@cuda.jit(device=True)
def _minimum(a, b):
    if a != a or a <= b:
        return a
    return b


@cuda.jit(device=True)
def _greater(a, b):
    return a > b


@cuda.jit(device=True)
def _greater_equal(a, b):
    return a >= b


@cuda.jit(device=True)
def _less(a, b):
    return a < b


@cuda.jit(device=True)
def _less_equal(a, b):
    return a <= b


@cuda.jit(device=True)
def _equal(a, b):
    return a == b


@cuda.jit(device=True)
def _not_equal(a, b):
    return a != b


@cuda.jit(device=True)
def _logical_and(a, b):
    return bool(a) and bool(b)


@cuda.jit(device=True)
def _logical_or(a, b):
    return bool(a) or bool(b)


@cuda.jit(device=True)
def _bitwise_and(a, b):
    return a & b


@cuda.jit(device=True)
def _bitwise_or(a, b):
    return a | b


#: NumPy ufunc name -> device function, for the ufuncs CudaArray supports
UNARY = {
    "positive": _identity,
    "negative": _negative,
    "absolute": _absolute,
    "sign": _sign,
    "exp": _exp,
    "log": _log,
    "sqrt": _sqrt,
    "tanh": _tanh,
    "erf": _erf,  # not a NumPy ufunc: reached through special.erf (GELU)
    "square": _square,
    "logical_not": _logical_not,
    "isnan": _isnan,
    "isinf": _isinf,
    "isfinite": _isfinite,
}
BINARY = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "divide": _true_divide,
    "true_divide": _true_divide,
    "power": _power,
    "maximum": _maximum,
    "minimum": _minimum,
    "greater": _greater,
    "greater_equal": _greater_equal,
    "less": _less,
    "less_equal": _less_equal,
    "equal": _equal,
    "not_equal": _not_equal,
    "logical_and": _logical_and,
    "logical_or": _logical_or,
    "bitwise_and": _bitwise_and,
    "bitwise_or": _bitwise_or,
}

# -------------------------------------------------------------------------------- kernels


@functools.cache
def _unary_kernel(name: str):
    op = UNARY[name]

    @cuda.jit
    def unary(out, shape, x, x_offset, x_strides):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = op(x[x_offset + element_offset(i, shape, x_strides)])

    return unary


@functools.cache
def _binary_kernel(name: str):
    op = BINARY[name]

    @cuda.jit
    def binary(out, shape, a, a_offset, a_strides, b, b_offset, b_strides):
        i = cuda.grid(1)
        if i < out.size:
            a_i = a[a_offset + element_offset(i, shape, a_strides)]
            b_i = b[b_offset + element_offset(i, shape, b_strides)]
            out[i] = op(a_i, b_i)

    return binary


@cuda.jit
def _where_kernel(out, shape, c, c_offset, c_strides, a, a_offset, a_strides, b, b_offset, b_strides):
    """``out[i] = a[i] if c[i] else b[i]``, all three operands broadcast to ``shape``."""
    i = cuda.grid(1)
    if i < out.size:
        if c[c_offset + element_offset(i, shape, c_strides)]:
            out[i] = a[a_offset + element_offset(i, shape, a_strides)]
        else:
            out[i] = b[b_offset + element_offset(i, shape, b_strides)]


@cuda.jit
def _scatter_kernel(dst, dst_offset, dst_strides, shape, src, src_offset, src_strides, count):
    """Thread i writes element i (C order over ``shape``) of the source view into the destination view.

    The transpose of the gather above: here the OUTPUT is strided (``dst[a:b, ::2] = src``).
    A destination view made by basic indexing never names an element twice, so threads never collide.
    """
    i = cuda.grid(1)
    if i < count:
        value = src[src_offset + element_offset(i, shape, src_strides)]
        dst[dst_offset + element_offset(i, shape, dst_strides)] = value


@cuda.jit
def _gather_kernel(out, src, offsets):
    """``out[i] = src[offsets[i]]``: advanced indexing, with the offsets computed on the host."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[offsets[i]]


@cuda.jit
def _scatter_add_kernel(dst, offsets, src, src_offset, src_strides, shape):
    """``dst[offsets[i]] += src[i]`` (``np.add.at``).  An index may repeat, so the add is atomic."""
    i = cuda.grid(1)
    if i < offsets.size:
        cuda.atomic.add(dst, offsets[i], src[src_offset + element_offset(i, shape, src_strides)])


# ------------------------------------------------------------------------------ launchers
# An operand is a triple (flat buffer, offset, strides) with strides already broadcast to the
# output shape; ``shape`` is the output shape as given by launch.kernel_shape.


def unary(name, out, shape, x):
    n = out.size
    if n:
        _unary_kernel(name)[blocks_for(n), THREADS](out, shape, *x)


def binary(name, out, shape, a, b):
    n = out.size
    if n:
        _binary_kernel(name)[blocks_for(n), THREADS](out, shape, *a, *b)


def where(out, shape, c, a, b):
    n = out.size
    if n:
        _where_kernel[blocks_for(n), THREADS](out, shape, *c, *a, *b)


def scatter(dst, dst_view, shape, src, count):
    """Copy ``src`` (an operand broadcast to ``shape``) into ``dst_view = (offset, strides)`` of ``dst``."""
    if count:
        _scatter_kernel[blocks_for(count), THREADS](dst, dst_view[0], dst_view[1], shape, *src, count)


def gather(out, src, offsets):
    if out.size:
        _gather_kernel[blocks_for(out.size), THREADS](out, src, offsets)


def scatter_add(dst, offsets, src, shape):
    if offsets.size:
        _scatter_add_kernel[blocks_for(offsets.size), THREADS](dst, offsets, *src, shape)


@cuda.jit
def _scatter_offsets_kernel(dst, offsets, src, src_offset, src_strides, shape):
    """``dst[offsets[i]] = src[i]`` (assignment through an advanced index; a repeated index keeps one write)."""
    i = cuda.grid(1)
    if i < offsets.size:
        dst[offsets[i]] = src[src_offset + element_offset(i, shape, src_strides)]


def scatter_offsets(dst, offsets, src, shape):
    if offsets.size:
        _scatter_offsets_kernel[blocks_for(offsets.size), THREADS](dst, offsets, *src, shape)
