"""Activations and (log-)softmax, each with its derivative written under it."""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..kernels.dispatch import kernels_for
from ..tensor import _normalize_dim


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        out = kernels_for(x, "activation").relu_forward(x)  # max(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        # relu'(x) = 0 if x <= 0 else 1 (0 at the kink; NaN passes the gradient, as PyTorch)
        return kernels_for(out, "activation").relu_backward(grad, out)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return np.where(x > 0, x, x * np.asarray(negative_slope, dtype=x.dtype))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * np.where(x > 0, 1, ctx.slope).astype(grad.dtype)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        # 1/(1+e^-x) overflows e^-x for very negative x; this form never exponentiates a positive number
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_arrays
        return grad * s * (1 - s)  # sigma' = sigma (1 - sigma)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_arrays
        return grad * (1 - t * t)  # tanh' = 1 - tanh^2


class GELU(Function):
    """GELU(x) = x * Phi(x), Phi the standard normal CDF (exact form, PyTorch's default)."""

    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * (1 + kernels_for(x, "special").erf(x / math.sqrt(2)))  # NumPy has no erf ufunc
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        x, cdf = ctx.saved_arrays
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad * (cdf + x * pdf)  # d/dx [x Phi(x)] = Phi(x) + x phi(x)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)  # exp never overflows: the largest exponent is 0
        e = np.exp(shifted)
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_arrays
        # Jacobian-vector product of softmax: s * (g - sum(g * s))
        return s * (grad - (grad * s).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (log_s,) = ctx.saved_arrays
        # d log_softmax: g - softmax * sum(g)
        return grad - np.exp(log_s) * grad.sum(axis=ctx.axis, keepdims=True)


def _float_input(x, op: str):
    from ..tensor import as_tensor

    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _floating_input(x):
    """Integer and bool tensors become the default float dtype, as PyTorch does for sigmoid and tanh."""
    from ..tensor import as_tensor

    return as_tensor(x)._floating()


def relu(x):
    """max(x, 0), elementwise."""
    return ReLU.apply(_float_input(x, "relu"))


def leaky_relu(x, negative_slope: float = 0.01):
    """x if x > 0 else negative_slope * x."""
    return LeakyReLU.apply(_float_input(x, "leaky_relu"), negative_slope=float(negative_slope))


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow."""
    return Sigmoid.apply(_floating_input(x))


def tanh(x):
    return Tanh.apply(_floating_input(x))


def gelu(x):
    """x * Phi(x) (the exact, erf-based GELU)."""
    return GELU.apply(_float_input(x, "gelu"))


def softmax(x, dim: int = -1):
    """exp(x) / sum(exp(x)) along ``dim``, shifted by the max so large logits do not overflow."""
    x = _float_input(x, "softmax")
    return Softmax.apply(x, axis=_normalize_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim: int = -1):
    """log(softmax(x)) computed as x - max - log(sum(exp(x - max))): stable for logits of 1e4."""
    x = _float_input(x, "log_softmax")
    return LogSoftmax.apply(x, axis=_normalize_dim(dim, x.ndim, "log_softmax"))
