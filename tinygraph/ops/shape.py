"""Operations that move values around without changing them: reshape, permute, expand,
indexing, concatenation, padding.  Their backward passes move the gradient back.

Shape logic and its error messages live here, so kernels never see it.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..autograd import Function
from ..kernels.indexing import is_basic_index


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim} dimensions (expected -{ndim} <= dim < {ndim})")
    return int(dim) % ndim


# --------------------------------------------------------------- reshape
class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.input_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape)


def _int_sizes(shape, op: str) -> tuple:
    """``shape`` as a tuple of Python ints; a float or None is a TypeError (not silently truncated)."""
    sizes = []
    for i, n in enumerate(shape):
        try:
            sizes.append(operator.index(n))
        except TypeError:
            raise TypeError(
                f"{op}: shape must be a sequence of ints, got {tuple(shape)!r} (entry {i} is {type(n).__name__})"
            ) from None
    return tuple(sizes)


def view(x, shape: tuple):
    """``x.view(shape)``: a reshape that needs no copy; non-contiguous data that would have to be
    copied is a RuntimeError, as in PyTorch (use ``reshape``, or ``contiguous().view``)."""
    sizes = _int_sizes(shape, "view")
    if not _reshapes_without_copy(x.data, _resolved_shape(x, sizes, "view")):
        raise RuntimeError(
            f"view: a tensor of shape {tuple(x.shape)} whose values are not laid out contiguously (a transpose "
            f"or permute) cannot be viewed as {sizes} without copying; use .reshape(...) instead, or "
            ".contiguous().view(...)"
        )
    return reshape(x, sizes, op="view")


def _reshapes_without_copy(array, shape) -> bool:
    if getattr(array, "flags", None) is None or array.flags.c_contiguous:
        return True  # device arrays are contiguous
    try:
        np.reshape(array, shape, copy=False)
    except ValueError:
        return False
    return True


def _resolved_shape(x, shape: tuple, op: str) -> tuple:
    """``shape`` with its -1 filled in, checked against the number of values of ``x``."""
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"{op}: invalid shape {shape} (at most one -1, no other negative sizes)")
    size = x.data.size
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{op}: cannot reshape a tensor of shape {tuple(x.shape)} ({size} values) into {shape}")
        return tuple(size // known if n == -1 else n for n in shape)
    if known != size:
        raise ValueError(f"{op}: cannot reshape a tensor of shape {tuple(x.shape)} ({size} values) into {shape}")
    return shape


def reshape(x, shape: tuple, op: str = "reshape"):
    """``x: (...)`` -> ``shape``; one entry may be -1 (inferred)."""
    shape = _resolved_shape(x, _int_sizes(shape, op), op)
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim..end_dim`` into one: ``(N, C, H, W).flatten(1)`` -> ``(N, C*H*W)``."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _norm_dim(start_dim, x.ndim, "flatten"), _norm_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
    shape = x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :]
    return reshape(x, shape)


def squeeze(x, dim=None):
    """Drop size-1 dims (all of them, or only ``dim`` if it has size 1, as PyTorch)."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = {_norm_dim(d, max(x.ndim, 1), "squeeze") for d in dims}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, dim: int):
    """Insert a size-1 dim at ``dim`` (``-1`` appends)."""
    d = _norm_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


# --------------------------------------------------------------- permute
class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return np.transpose(grad, np.argsort(ctx.dims))  # the inverse permutation


def permute(x, dims: tuple):
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {tuple(dims)} for a tensor of shape {tuple(x.shape)}")
    dims = tuple(_norm_dim(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} must be a permutation of 0..{x.ndim - 1}")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0: int, dim1: int):
    dims = list(range(x.ndim))
    a, b = _norm_dim(dim0, x.ndim, "transpose"), _norm_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


# --------------------------------------------------------------- expand
class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # the engine sums the copies back to the input's shape


def expand(x, shape: tuple):
    """Broadcast size-1 dims to ``shape`` without copying; -1 keeps a dim."""
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: target {tuple(shape)} has fewer dims than the tensor's shape {tuple(x.shape)}")
    if any(n < 0 for n in shape[:lead]) or any(n < -1 for n in shape):
        raise ValueError(
            f"expand: invalid target {tuple(shape)} for shape {tuple(x.shape)} (-1 may only keep an existing dim)"
        )
    target = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {tuple(shape)} (dim {i} has size {n})")
    return Expand.apply(x, shape=target)


# --------------------------------------------------------------- indexing
class GetItem(Function):
    """``x[index]``.  A basic index (ints, slices, None, ...) gives a view sharing x's memory, as in
    PyTorch, so ``x[1:3] += 10`` changes x; an advanced index (int or bool arrays) gives a copy."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.index, ctx.shape = index, x.shape
        if hasattr(x, "copy_to_host"):  # CudaArray: always a copy
            return x[index]
        if is_basic_index(index):
            # a trailing ... keeps NumPy from turning x[0] of a 1-D array into a scalar: a 0-d view instead
            items = index if isinstance(index, tuple) else (index,)
            return x[items if Ellipsis in items else items + (Ellipsis,)]
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros_like(grad, shape=ctx.shape)  # on grad's device
        # np.add.at accumulates when an integer array names the same element twice (x[[0, 0]])
        np.add.at(out, ctx.index, grad)
        return out


def _plain_index(index):
    """Turn Tensor indices into arrays; reject float indices with a clear message."""
    items = index if isinstance(index, tuple) else (index,)
    plain = []
    for item in items:
        if hasattr(item, "data") and hasattr(item, "_ctx"):  # a Tensor
            item = item.data
        if isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype.kind == "f":
            raise IndexError("getitem: indices must be integers, slices, None, or boolean/integer arrays, got floats")
        plain.append(item)
    return tuple(plain) if isinstance(index, tuple) else plain[0]


def getitem(x, index):
    index = _plain_index(index)
    try:
        x.data[index]
    except IndexError as err:
        raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {tuple(x.shape)}: {err}") from None
    return GetItem.apply(x, index=index)


# --------------------------------------------------------------- cat / stack
class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.axis))


def _tensor_list(tensors, op: str) -> list:
    """A non-empty list of Tensors, or a TypeError naming what was there instead."""
    from ..tensor import Tensor

    if isinstance(tensors, Tensor) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{op}: expected a list or tuple of Tensors, got {type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a list of Tensors, but element {i} is a {type(t).__name__}")
    return tensors


def cat(tensors, dim: int = 0):
    """Join tensors along an existing dim; all other dims must match.  Dtypes promote as in PyTorch."""
    from ..dtypes import result_type

    tensors = _tensor_list(tensors, "cat")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack, or unsqueeze them first")
    axis = _norm_dim(dim, first.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:axis] + t.shape[axis + 1 :] != first.shape[:axis] + first.shape[axis + 1 :]:
            raise ValueError(
                f"cat: tensor {i} has shape {tuple(t.shape)} but tensor 0 has {tuple(first.shape)}; "
                f"all dims except dim {dim} must match"
            )
    dtype = result_type(*tensors)  # float32 with int64 is float32, as in PyTorch (NumPy: float64)
    return Cat.apply(*[t if t.dtype == dtype else t.type(dtype) for t in tensors], axis=axis)


def stack(tensors, dim: int = 0):
    """Join same-shaped tensors along a new dim."""
    tensors = _tensor_list(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {tuple(t.shape)} but tensor 0 has {tuple(tensors[0].shape)}")
    d = _norm_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], dim=d)


# --------------------------------------------------------------- pad
class ConstantPad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.crop]  # padded positions were constants: no gradient flows to them


def pad(x, pad: tuple, mode: str = "constant", value: float = 0.0):
    """Pad with a constant, PyTorch's way: ``pad`` lists (before, after) pairs starting from the LAST dim.

    ``pad(x, (1, 1, 2, 2))`` on ``(N, C, H, W)`` pads W by 1 on each side and H by 2.
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of values, at most 2 per dim of {tuple(x.shape)}, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return ConstantPad.apply(x, widths=tuple(widths), value=value)


def where(condition, a, b):
    """Elementwise choice ``a if condition else b`` (gradients flow to the chosen side)."""
    from ..dtypes import result_type
    from ..tensor import Tensor, as_tensor
    from .elementwise import Where

    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a = a if isinstance(a, (Tensor, bool, int, float)) else as_tensor(a)
    b = b if isinstance(b, (Tensor, bool, int, float)) else as_tensor(b)
    dtype = result_type(a, b)  # float32 with int64 is float32, as in PyTorch

    def as_dtype(t):
        if not isinstance(t, Tensor):
            return as_tensor(np.asarray(t, dtype=dtype))
        return t if t.dtype == dtype else t.type(dtype)

    return Where.apply(as_dtype(a), as_dtype(b), cond=cond.astype(bool))
