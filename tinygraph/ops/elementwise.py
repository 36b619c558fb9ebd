"""Elementwise operations: each forward formula with its local derivative right below it.

Inputs may have different shapes that broadcast as in NumPy; the backward methods
return gradients in the broadcast shape and the engine sums them back to each
input's shape (``autograd.sum_to_shape``).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # keep only what backward reads (as PyTorch), so changing the other one in place is no error
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        da = grad * b if ctx.needs_input_grad[0] else None  # d(ab)/da = b
        db = grad * a if ctx.needs_input_grad[1] else None  # d(ab)/db = a
        return da, db


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        da = grad / b if ctx.needs_input_grad[0] else None  # d(a/b)/da = 1/b
        db = -grad * a / (b * b) if ctx.needs_input_grad[1] else None  # d(a/b)/db = -a/b^2
        return da, db


class PowScalar(Function):
    """``x ** c`` for a constant exponent ``c``."""

    op_name = "Pow"

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        # a Python-number exponent keeps float32 float32, and makes int ** 0.5 a float (not int ** 0)
        return np.power(x, exponent)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        c = ctx.exponent
        if c == 0:  # x^0 = 1 is constant; c x^(c-1) would give 0 * inf = nan at x = 0
            return np.zeros_like(grad)
        return grad * c * np.power(x, c - 1)  # d(x^c)/dx = c x^(c-1)


class Pow(Function):
    """``a ** b`` with both sides tensors."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_arrays
        da = grad * b * np.power(a, b - 1) if ctx.needs_input_grad[0] else None  # b a^(b-1)
        db = None
        if ctx.needs_input_grad[1]:  # d(a^b)/db = a^b ln a  (0 where a == 0, the limit used by PyTorch)
            with np.errstate(divide="ignore", invalid="ignore"):
                db = grad * np.where(a > 0, out * np.log(np.where(a > 0, a, 1)), 0)
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return grad * out  # d(e^x)/dx = e^x


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad / x  # d(ln x)/dx = 1/x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return grad / (2 * out)  # d(sqrt x)/dx = 1 / (2 sqrt x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * np.sign(x)  # sign(0) = 0, as in PyTorch


class _ElementwiseExtremum(Function):
    """Elementwise max or min of two tensors; on ties the gradient is split equally (as PyTorch)."""

    pick = None  # np.maximum or np.minimum
    a_wins = None  # np.greater or np.less: where ``a`` alone is picked

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        share_a = type(ctx).a_wins(a, b) + 0.5 * (a == b)  # 1 where a was picked, 1/2 on ties, else 0
        return grad * share_a, grad * (1 - share_a)


class Maximum(_ElementwiseExtremum):
    pick = staticmethod(np.maximum)
    a_wins = staticmethod(np.greater)


class Minimum(_ElementwiseExtremum):
    pick = staticmethod(np.minimum)
    a_wins = staticmethod(np.less)


class Clamp(Function):
    """Clip to ``[low, high]``; the gradient passes only where the value was inside the range."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        inside = np.ones_like(x, dtype=bool)  # on x's device
        if ctx.low is not None:
            inside &= x >= ctx.low
        if ctx.high is not None:
            inside &= x <= ctx.high
        return grad * inside


def clamp(x, min=None, max=None):
    """``x.clamp(min, max)``: either bound may be None."""
    check_clamp_bounds(min, max)
    return Clamp.apply(x, low=min, high=max)


def check_clamp_bounds(min, max) -> None:
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min ({min}) must not exceed max ({max})")


class ToDevice(Function):
    """``x.to(device)``: copy between host and GPU; the gradient is copied back."""

    @staticmethod
    def forward(ctx, x, device):
        from ..cuda import device_of, move

        ctx.source = device_of(x)
        return move(x, device)

    @staticmethod
    def backward(ctx, grad):
        from ..cuda import move

        return move(grad, ctx.source)


class Cast(Function):
    """Change dtype; the gradient is cast back by the engine."""

    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class Where(Function):
    """``where(cond, a, b)``: ``a`` where cond holds, else ``b``; cond is a constant."""

    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        return np.where(ctx.cond, grad, 0), np.where(ctx.cond, 0, grad)
