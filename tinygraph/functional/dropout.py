"""Dropout: ``dropout`` (single values) and ``dropout2d`` (whole channels), inverted, as PyTorch.

In training every value is zeroed with probability ``p`` and the survivors are scaled by
``1 / (1 - p)``, so the expected output equals the input and nothing needs rescaling at test
time ("inverted" dropout).  In eval (``training=False``) dropout is the identity.

The mask is drawn from ``tinygraph.random.default_generator()``, so ``tg.manual_seed(s)``
makes it reproducible.  It is elementwise NumPy work, memory-bound, so it has no Numba kernel.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..autograd import Function
from ..cuda import device_of, move
from ..random import default_generator
from ..tensor import as_tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """``y = x * mask`` with ``mask = keep / (1 - p)``; the same mask scales the gradient."""

    op_name = "dropout"

    @staticmethod
    def forward(ctx, x, p, mask_shape):
        # keep each value (or channel) with probability 1 - p: uniform u in [0, 1) survives if u >= p
        keep = default_generator().random(mask_shape, dtype=np.float32) >= p  # drawn on the host (seeded)...
        mask = move(keep.astype(x.dtype), device_of(x))  # ...and sent to x's device (no device RNG yet)
        mask *= 0.0 if p == 1 else 1.0 / (1.0 - p)  # p == 1 drops everything (no 1/0)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_arrays
        return grad * mask  # dy/dx = mask (broadcast over H, W for dropout2d)


def _check(x, p, op):
    x = as_tensor(x)
    if not isinstance(p, Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, but got {p!r}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    return x


def dropout(x, p=0.5, training=True):
    """Zero each value with probability ``p`` and scale the rest by ``1/(1-p)`` (identity when not training)."""
    x = _check(x, p, "dropout")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=float(p), mask_shape=x.shape)


def dropout2d(x, p=0.5, training=True):
    """Zero whole channels: ``x: (N, C, H, W)`` (or ``(C, H, W)``), each ``(H, W)`` plane kept or dropped together.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularizes a conv layer; dropping whole feature maps does (Tompson et al. 2015).
    """
    x = _check(x, p, "dropout2d")
    if x.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected input of shape (N, C, H, W), or (C, H, W) for one image, got shape {tuple(x.shape)}"
        )
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=float(p), mask_shape=x.shape[:-2] + (1, 1))
