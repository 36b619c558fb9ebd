"""Batch normalization (``batch_norm``), as ``torch.nn.functional.batch_norm``.

For each channel c, over the batch (and the spatial positions, for images)::

    training:  mean, var = batch mean and BIASED batch variance (divide by m = N*H*W)
               running_mean <- (1 - momentum) * running_mean + momentum * mean
               running_var  <- (1 - momentum) * running_var  + momentum * var * m / (m - 1)   # UNBIASED
    eval:      mean, var = running_mean, running_var
    y = weight * (x - mean) / sqrt(var + eps) + bias

The running variance is updated with the unbiased estimate, as PyTorch does, because it is an
estimate of the population variance used at test time; normalizing the batch itself uses the
biased one.  (Several engines update it with the biased variance; their eval outputs then
differ from PyTorch's.)

In training the gradient flows through the batch statistics too (they are functions of x);
see ``tinygraph/kernels/cpu/reference/norm.py`` for the formulas as loops (``tg.use_kernels("reference")``)
and ``tinygraph/kernels/cpu/norm.py`` for the fast kernels (the default).
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..autograd import Function
from ..cuda import ascontiguous
from ..kernels.dispatch import kernels_for
from ..tensor import Tensor, as_tensor

__all__ = ["batch_norm"]



class BatchNorm(Function):
    """``x: (N, C, *)``, ``weight, bias: (C,)``, optional ``running_mean, running_var: (C,)`` -> ``(N, C, *)``."""

    op_name = "batch_norm"

    @staticmethod
    def forward(ctx, x, weight, bias, *running, training, momentum, eps):
        N, C = x.shape[:2]
        x3 = ascontiguous(x).reshape(N, C, -1)  # channel c owns x3[:, c, :], m = N*L values
        batch_stats = training or not running
        if batch_stats:
            mean, var = kernels_for(x3, "norm").batch_norm_stats(x3)
            if training and running:
                _update_running_stats(*running, mean, var, x3.shape[0] * x3.shape[2], momentum)
        else:
            mean, var = running[0].astype(np.float64), running[1].astype(np.float64)
        inv_std = 1.0 / np.sqrt(var + eps)
        ctx.save_for_backward(x3, mean, inv_std, weight)
        ctx.batch_stats = batch_stats
        ctx.n_running = len(running)
        return kernels_for(x3, "norm").batch_norm_forward(x3, mean, inv_std, weight, bias).reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x3, mean, inv_std, weight = ctx.saved_arrays
        grad3 = ascontiguous(grad).reshape(x3.shape)
        # dbeta = sum(dy); dgamma = sum(dy * x_hat);
        # dx = gamma*inv_std/m * (m*dy - sum(dy) - x_hat*sum(dy*x_hat)) with batch stats, gamma*inv_std*dy without
        kernels = kernels_for(grad3, "norm")
        dx, dweight, dbias = kernels.batch_norm_backward(grad3, x3, mean, inv_std, weight, ctx.batch_stats)
        return (dx.reshape(grad.shape), dweight, dbias) + (None,) * ctx.n_running  # no gradient for buffers


def _update_running_stats(running_mean, running_var, mean, var, m, momentum):
    """In place (the caller's buffers are these very arrays), with the UNBIASED variance."""
    unbiased_var = var * (m / (m - 1))
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean
    running_var *= 1.0 - momentum
    running_var += momentum * unbiased_var


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over ``x: (N, C)`` or ``(N, C, H, W)`` (any ``(N, C, *)``), per channel.

    Args:
        x: floating point, channels on axis 1
        running_mean, running_var: ``(C,)`` Tensors (buffers), or both None.  In training they
            are updated IN PLACE (``.data``) with ``momentum``; ``running_var`` with the
            unbiased batch variance.  In eval they normalize the input.
        weight, bias: ``(C,)`` Tensors (gamma, beta), or None for 1 and 0
        training: use (and backpropagate through) the batch statistics
        momentum: weight of the new batch in the running averages
        eps: added to the variance before the square root

    With ``running_mean=running_var=None``, ``training`` must be True (batch statistics), as in
    ``torch.nn.functional.batch_norm``; ``BatchNorm2d(track_running_stats=False)`` passes True in
    eval mode too.
    """
    op = "batch_norm"
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype not in (np.float32, np.float64):  # the Numba kernels are compiled for these two
        raise TypeError(f"{op}: expected a float32 or float64 input, got dtype {x.dtype} (convert with .float())")
    for name, value in (("momentum", momentum), ("eps", eps)):
        if not isinstance(value, Real) or isinstance(value, bool):
            raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    N, C = x.shape[:2]
    per_channel = x.data.size // C if C else 0
    if training and per_channel <= 1:
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input of shape {tuple(x.shape)} "
            "(the batch variance of a single value is undefined; use a larger batch or eval mode)"
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    running = ()
    if running_mean is not None:
        running = (
            _channel_tensor(running_mean, "running_mean", x, op, same_dtype=False),
            _channel_tensor(running_var, "running_var", x, op, same_dtype=False),
        )
    if weight is None:
        weight = Tensor._wrap(np.ones_like(x.data, shape=(C,)))
    else:
        weight = _channel_tensor(weight, "weight", x, op)
    bias = _channel_tensor(bias, "bias", x, op) if bias is not None else Tensor._wrap(np.zeros_like(x.data, shape=(C,)))
    if running_mean is None and not training:
        raise RuntimeError(
            f"{op}: running_mean must be defined in evaluation mode (training=False normalizes with the "
            "running statistics); pass training=True to use the batch statistics instead"
        )
    return BatchNorm.apply(x, weight, bias, *running, training=bool(training), momentum=float(momentum), eps=float(eps))


def _channel_tensor(t, name, x, op, same_dtype=True) -> Tensor:
    """Check a per-channel argument: a ``(C,)`` Tensor of a float dtype (x's own, for weight and bias)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor of shape ({x.shape[1]},) or None, got {type(t).__name__}")
    if t.shape != (x.shape[1],):
        raise ValueError(
            f"{op}: {name} must have shape ({x.shape[1]},), one value per channel of the input of shape "
            f"{tuple(x.shape)}, got shape {tuple(t.shape)}"
        )
    if t.dtype.kind != "f" or (same_dtype and t.dtype != x.dtype):
        raise TypeError(f"{op}: {name} has dtype {t.dtype}, expected {x.dtype} like the input")
    return t
