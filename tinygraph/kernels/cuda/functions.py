"""The NumPy functions a CudaArray supports (``np.sum``, ``np.where``, ``np.concatenate``, ``np.pad`` ...).

Each is registered with ``@_implements(np.<function>)``; ``CudaArray.__array_function__`` looks the
NumPy function up in that registry and calls the implementation with the same arguments.  Functions
that are not here raise ``NotImplementedError`` naming the function and "on device 'cuda'".
Most are a few lines on top of the CudaArray methods and the kernels of ``elementwise.py``.
"""

from __future__ import annotations

import numpy as np

from . import elementwise
from .array import (
    CudaArray,
    _Array,
    _as_operand,
    _broadcast_shape,
    _implements,
    _no_out,
    _normalize_axes,
    _unsupported,
    empty,
    full,
    zeros,
)
from .launch import broadcast_strides, contiguous_strides, kernel_shape, kernel_strides


@_implements(np.sum)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("sum", kwargs)
    return a.sum(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements(np.mean)
def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("mean", kwargs)
    return a.mean(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements(np.max, np.amax)
def _np_max(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("max", kwargs)
    return a.max(axis=axis, out=out, keepdims=keepdims)


@_implements(np.min, np.amin)
def _np_min(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("min", kwargs)
    return a.min(axis=axis, out=out, keepdims=keepdims)


@_implements(np.argmax)
def _np_argmax(a, axis=None, out=None, keepdims=False):
    return a.argmax(axis=axis, out=out, keepdims=keepdims)


@_implements(np.argmin)
def _np_argmin(a, axis=None, out=None, keepdims=False):
    return a.argmin(axis=axis, out=out, keepdims=keepdims)


@_implements(np.all)
def _np_all(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("all", kwargs)
    return a.all(axis=axis, out=out, keepdims=keepdims)


@_implements(np.any)
def _np_any(a, axis=None, out=None, keepdims=False, **kwargs):
    _no_kwargs("any", kwargs)
    return a.any(axis=axis, out=out, keepdims=keepdims)


def _no_kwargs(op, kwargs):
    if kwargs:
        raise _unsupported(f"np.{op}({', '.join(kwargs)}=...)")


@_implements(np.where)
def _np_where(condition, x=None, y=None):
    if x is None or y is None:
        raise _unsupported("np.where(condition) with one argument (nonzero)")
    c, a, b = (_as_operand(v, "np.where") for v in (condition, x, y))
    shape = _broadcast_shape("where", (c, a, b))
    dtype = np.result_type(a.spec if isinstance(a, _Array) else a.value, b.spec if isinstance(b, _Array) else b.value)
    out = empty(shape, dtype)
    elementwise.where(out._flat, kernel_shape(shape), c.read(shape), a.read(shape, dtype), b.read(shape, dtype))
    return out


@_implements(np.clip)
def _np_clip(a, a_min=None, a_max=None, out=None, **kwargs):
    _no_out(out, "clip")
    _no_kwargs("clip", kwargs)
    if a_min is not None:
        a = np.maximum(a, a_min)
    if a_max is not None:
        a = np.minimum(a, a_max)
    return a.copy() if a_min is None and a_max is None else a


@_implements(np.broadcast_to)
def _np_broadcast_to(array, shape, subok=False):
    shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if len(shape) < array.ndim or np.broadcast_shapes(array.shape, shape) != shape:
        raise ValueError(f"np.broadcast_to: cannot broadcast a CudaArray of shape {array.shape} to {shape}")
    if shape == array.shape:
        return array
    strides = broadcast_strides(array.shape, contiguous_strides(array.shape), shape)
    return array._strided_copy(shape, 0, strides)


@_implements(np.transpose)
def _np_transpose(a, axes=None):
    return a.transpose(axes)


@_implements(np.swapaxes)
def _np_swapaxes(a, axis1, axis2):
    return a.swapaxes(axis1, axis2)


@_implements(np.reshape)
def _np_reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.pop("newshape", shape)
    return a.reshape(shape, order=order)


@_implements(np.ravel)
def _np_ravel(a, order="C"):
    return a.reshape(-1, order=order)


@_implements(np.squeeze)
def _np_squeeze(a, axis=None):
    return a.squeeze(axis)


@_implements(np.expand_dims)
def _np_expand_dims(a, axis):
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = a.ndim + len(axes)
    axes = {int(ax) % ndim for ax in axes}
    it = iter(a.shape)
    return a.reshape(tuple(1 if d in axes else next(it) for d in range(ndim)))


@_implements(np.copy)
def _np_copy(a, order="K", subok=False):
    return a.copy()


@_implements(np.shape)
def _np_shape(a):
    return a.shape


@_implements(np.ndim)
def _np_ndim(a):
    return a.ndim


@_implements(np.size)
def _np_size(a, axis=None):
    return a.size if axis is None else a.shape[axis]


def _like(a, dtype, shape):
    """(shape, dtype) for the ``*_like`` functions: ``a``'s unless given."""
    if shape is None:
        shape = a.shape
    elif not isinstance(shape, (tuple, list)):
        shape = (int(shape),)
    return tuple(shape), a.dtype if dtype is None else np.dtype(dtype)


@_implements(np.empty_like)
def _np_empty_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return empty(*_like(a, dtype, shape))


@_implements(np.zeros_like)
def _np_zeros_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return zeros(*_like(a, dtype, shape))


@_implements(np.ones_like)
def _np_ones_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    shape, dtype = _like(a, dtype, shape)
    return full(shape, 1, dtype)


@_implements(np.full_like)
def _np_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


@_implements(np.concatenate)
def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out(out, "concatenate")
    arrays = list(arrays)
    if not arrays:
        raise ValueError("np.concatenate: need at least one array to concatenate")
    for a in arrays:
        if not isinstance(a, CudaArray):
            raise TypeError(f"np.concatenate: cannot mix a {type(a).__name__} with CudaArrays on device 'cuda'")
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("np.concatenate: zero-dimensional arrays cannot be concatenated")
    axis = _normalize_axes(axis, first.ndim, "concatenate")[0]
    for i, a in enumerate(arrays):
        if a.ndim != first.ndim or a.shape[:axis] + a.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]:
            raise ValueError(
                f"np.concatenate: array {i} has shape {a.shape}, incompatible with {first.shape} along axis {axis}"
            )
    dtype = np.dtype(dtype) if dtype is not None else np.result_type(*[a.dtype for a in arrays])
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = empty(tuple(shape), dtype)
    out_strides = contiguous_strides(out.shape)
    start = 0
    for a in arrays:  # copy each piece into its slab of the output (a strided destination)
        elementwise.scatter(out._flat, (start * out_strides[axis], kernel_strides(out_strides)), kernel_shape(a.shape),
                            a._operand(a.shape), a.size)
        start += a.shape[axis]
    return out


@_implements(np.stack)
def _np_stack(arrays, axis=0, out=None, **kwargs):
    _no_out(out, "stack")
    arrays = list(arrays)
    ndim = arrays[0].ndim + 1
    return _np_concatenate([_np_expand_dims(a, axis) for a in arrays], axis=int(axis) % ndim)


@_implements(np.split)
def _np_split(ary, indices_or_sections, axis=0):
    axis = _normalize_axes(axis, ary.ndim, "split")[0]
    n = ary.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError("np.split: array split does not result in an equal division")
        bounds = [n // sections * i for i in range(1, sections)]
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + bounds + [n]
    pieces = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        index = (slice(None),) * axis + (slice(lo, hi),)
        pieces.append(ary[index])
    return pieces


@_implements(np.pad)
def _np_pad(array, pad_width, mode="constant", **kwargs):
    if mode != "constant":
        raise _unsupported(f"np.pad(mode={mode!r})")
    value = kwargs.pop("constant_values", 0)
    _no_kwargs("pad", kwargs)
    if np.ndim(value) != 0:
        raise _unsupported("np.pad with per-axis constant_values")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    if (widths < 0).any():
        raise ValueError("np.pad: index can't contain negative values")
    shape = tuple(int(n + lo + hi) for n, (lo, hi) in zip(array.shape, widths))
    out = full(shape, value, array.dtype)
    strides = contiguous_strides(shape)
    offset = sum(int(lo) * s for (lo, _), s in zip(widths, strides))
    elementwise.scatter(out._flat, (offset, kernel_strides(strides)), kernel_shape(array.shape),
                        array._operand(array.shape), array.size)
    return out
