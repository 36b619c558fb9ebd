"""Reductions over axes: sum, mean, var, max, min.

``axes`` is None (all axes) or a sorted tuple of non-negative axes (``Tensor``
normalizes the user's ``dim``).  Backward re-inserts the reduced axes so the
upstream gradient broadcasts over them.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..cuda import device_of, move


def _array(x):
    """NumPy's full reductions return scalars; the engine wants arrays.  Device arrays are arrays already."""
    return np.asarray(x) if isinstance(x, np.generic) else x


def _keep_reduced_axes(grad: np.ndarray, input_shape: tuple, axes, keepdim: bool) -> np.ndarray:
    """Give ``grad`` size-1 axes where the input was reduced, so it broadcasts against the input."""
    if keepdim or axes is None and grad.ndim == len(input_shape):
        return grad
    if axes is None:
        return grad.reshape((1,) * len(input_shape))
    return np.expand_dims(grad, axes)


def _count(shape: tuple, axes) -> int:
    if axes is None:
        return math.prod(shape)
    return math.prod(shape[a] for a in axes)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return _array(x.sum(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        # every input element contributes once to its sum: dL/dx = dL/dsum, broadcast back
        g = _keep_reduced_axes(grad, ctx.shape, ctx.axes, ctx.keepdim)
        return np.broadcast_to(g, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return _array(x.mean(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        g = _keep_reduced_axes(grad, ctx.shape, ctx.axes, ctx.keepdim)
        return np.broadcast_to(g / _count(ctx.shape, ctx.axes), ctx.shape)  # d(mean)/dx_i = 1/n


class Var(Function):
    """Variance ``sum((x - mean)^2) / (n - correction)``."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        n = _count(x.shape, axes)
        if n - correction <= 0:
            raise ValueError(
                f"var: {n} value(s) per reduction with correction={correction} leaves no degrees of freedom"
            )
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.keepdim, ctx.divisor = axes, keepdim, n - correction
        return _array((centered * centered).sum(axis=axes, keepdims=keepdim) / ctx.divisor)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_arrays
        g = _keep_reduced_axes(grad, centered.shape, ctx.axes, ctx.keepdim)
        # d var / dx_i = 2 (x_i - mean) / (n - correction); the mean's own dependence on x_i cancels
        return g * (2 / ctx.divisor) * centered


class Std(Function):
    """Standard deviation ``sqrt(var)``, one node so a constant row (std 0) gets gradient 0, as in PyTorch,
    instead of ``0 * (1 / 0) = nan`` from chaining sqrt and var."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        out = np.sqrt(Var.forward(ctx, x, axes, keepdim, correction))  # Var saved ``centered``
        ctx.save_for_backward(ctx.saved_arrays[0], out)
        return out

    @staticmethod
    def backward(ctx, grad):
        centered, out = ctx.saved_arrays
        # d std / dx_i = (x_i - mean) / ((n - correction) std); where std = 0 every x_i - mean is 0: use 0
        with np.errstate(divide="ignore", invalid="ignore"):
            per_std = np.where(out == 0, 0, grad / out)
        g = _keep_reduced_axes(per_std, centered.shape, ctx.axes, ctx.keepdim)
        return g * centered / ctx.divisor


class _Extremum(Function):
    """Max or min over axes; tied extrema share the gradient equally (as ``torch.amax``)."""

    reduce = None

    @classmethod
    def forward(cls, ctx, x, axes, keepdim):
        out = cls.reduce(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return _array(out if keepdim else out.reshape(_reduced_shape(x.shape, axes)))

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_arrays
        g = _keep_reduced_axes(grad, x.shape, ctx.axes, ctx.keepdim)
        winners = x == out
        return g * winners / winners.sum(axis=ctx.axes, keepdims=True)


def _reduced_shape(shape: tuple, axes) -> tuple:
    if axes is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axes)


class Max(_Extremum):
    reduce = staticmethod(np.max)


class Min(_Extremum):
    reduce = staticmethod(np.min)


class _SelectedExtremum(Function):
    """``x.max(dim)`` / ``x.min(dim)``: the extremum along one axis, whose gradient goes to the
    element ``index`` points at (``argmax``/``argmin``, keepdims, computed once by the caller,
    who returns it beside the value), as PyTorch's ``max(dim)``.  ``amax`` shares it among ties.
    """

    reduce = None

    @classmethod
    def forward(cls, ctx, x, index, axis, keepdim):
        ctx.save_for_backward(index)
        ctx.axis, ctx.keepdim, ctx.length = axis, keepdim, x.shape[axis]
        out = cls.reduce(x, axis=axis, keepdims=True)  # the value at ``index`` (NaN included: both pick it)
        return out if keepdim else out.reshape(_reduced_shape(x.shape, (axis,)))

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_arrays
        g = grad if ctx.keepdim else np.expand_dims(grad, ctx.axis)
        shape = [1] * index.ndim
        shape[ctx.axis] = ctx.length
        positions = move(np.arange(ctx.length).reshape(shape), device_of(index))
        return (positions == index) * g, None  # d max / d x_i = 1 for the picked i only


class MaxAlong(_SelectedExtremum):
    reduce = staticmethod(np.max)


class MinAlong(_SelectedExtremum):
    reduce = staticmethod(np.min)
