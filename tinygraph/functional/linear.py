"""The fully connected layer as one graph node: y = x W^T + b."""

from __future__ import annotations

from ..autograd import Function
from ..kernels.cpu.blas import matmul
from ..tensor import as_tensor


class Linear(Function):
    """``x: (..., in)``, ``weight: (out, in)``, ``bias: (out,)`` -> ``(..., out)``."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        # keep only what backward reads (dx needs W, dW needs x), so changing the other in place is fine
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight if ctx.needs_input_grad[0] else None)
        out = matmul(x, weight.T)  # small products on one BLAS thread (kernels/cpu/blas.py)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_arrays
        needs = ctx.needs_input_grad
        dx = matmul(grad, weight) if needs[0] else None  # dy/dx = W
        dw = db = None
        if needs[1]:  # dL/dW = sum over batch of g^T x
            dw = matmul(grad.reshape(-1, grad.shape[-1]).T, x.reshape(-1, x.shape[-1]))
        if len(needs) > 2 and needs[2]:
            db = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
        return dx, dw, db


def linear(x, weight, bias=None):
    """Affine map ``x W^T + b`` (PyTorch's argument order: weight is ``(out_features, in_features)``)."""
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} features in its last dim, "
            f"but weight of shape {tuple(weight.shape)} expects {weight.shape[1]}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    if bias is None:
        return Linear.apply(x, weight)
    bias = as_tensor(bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if bias.dtype != weight.dtype:
        raise TypeError(f"linear: bias dtype {bias.dtype} differs from weight dtype {weight.dtype}")
    return Linear.apply(x, weight, bias)
