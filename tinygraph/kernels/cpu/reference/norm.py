"""Reference batch normalization: the statistics, the forward map and the chain rule as loops.

The functions a kernel set provides for the ``norm`` family (a student's module may provide any
of them; the others come from here)::

    batch_norm_stats(x) -> (mean, var)                                   float64 (C,) arrays
    batch_norm_forward(x, mean, inv_std, weight, bias) -> y
    batch_norm_backward(grad_out, x, mean, inv_std, weight, batch_stats) -> (dx, dweight, dbias)

The input is always viewed as ``x: (N, C, L)`` (``(N, C, H, W)`` becomes ``L = H*W``); channel
``c`` owns the ``m = N*L`` values ``x[:, c, :]``.  Per channel (``weight``/``bias`` are gamma/beta)::

    mean    = sum(x) / m
    var     = sum((x - mean)**2) / m           # BIASED: divides by m, not m-1
    inv_std = 1 / sqrt(var + eps)
    x_hat   = (x - mean) * inv_std
    y       = weight * x_hat + bias

The backward pass follows the chain rule one node at a time, through var and then mean, as in
Ioffe & Szegedy 2015 (the fast kernel uses the compact closed form instead).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["batch_norm_stats", "batch_norm_forward", "batch_norm_backward"]


@njit(cache=True)
def batch_norm_stats(x):
    """Per-channel batch mean and BIASED variance of ``x: (N, C, L)``, as float64 ``(C,)`` arrays."""
    N, C, L = x.shape
    m = N * L
    mean = np.zeros(C)
    var = np.zeros(C)
    for c in range(C):
        total = 0.0
        for n in range(N):
            for i in range(L):
                total += float(x[n, c, i])
        mean[c] = total / m
        squares = 0.0
        for n in range(N):
            for i in range(L):
                squares += (float(x[n, c, i]) - mean[c]) ** 2
        var[c] = squares / m
    return mean, var


@njit(cache=True)
def batch_norm_forward(x, mean, inv_std, weight, bias):
    """``y = weight * (x - mean) * inv_std + bias`` per channel; ``x, y: (N, C, L)``, the rest ``(C,)``."""
    N, C, L = x.shape
    y = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(L):
                x_hat = (x[n, c, i] - mean[c]) * inv_std[c]
                y[n, c, i] = weight[c] * x_hat + bias[c]
    return y


@njit(cache=True)
def batch_norm_backward(grad_out, x, mean, inv_std, weight, batch_stats):
    """Gradients ``(dx, dweight, dbias)`` of batch norm, by the chain rule one node at a time.

    ``batch_stats=True``: mean and var were computed from this batch, so they depend on x and
    the gradient flows through them too.  ``False``: they were constants (running statistics).
    """
    N, C, L = x.shape
    m = N * L
    dx = np.zeros_like(x)
    dweight = np.zeros(C)
    dbias = np.zeros(C)
    dx_hat = np.zeros((N, L))
    for c in range(C):
        # dL/dx_hat, and the parameter gradients
        for n in range(N):
            for i in range(L):
                x_hat = (x[n, c, i] - mean[c]) * inv_std[c]
                dbias[c] += grad_out[n, c, i]
                dweight[c] += grad_out[n, c, i] * x_hat
                dx_hat[n, i] = grad_out[n, c, i] * weight[c]
        if not batch_stats:
            for n in range(N):
                for i in range(L):
                    dx[n, c, i] = dx_hat[n, i] * inv_std[c]
            continue
        # x_hat = (x - mean) * (var + eps)**-1/2: first through var, then through mean
        # (mean also reaches var, but that path is sum(-2(x - mean))/m = 0).
        dvar = 0.0
        for n in range(N):
            for i in range(L):
                dvar += dx_hat[n, i] * (x[n, c, i] - mean[c]) * -0.5 * inv_std[c] ** 3
        dmean = 0.0
        for n in range(N):
            for i in range(L):
                dmean += -dx_hat[n, i] * inv_std[c]
        for n in range(N):
            for i in range(L):
                dx[n, c, i] = dx_hat[n, i] * inv_std[c] + dvar * 2.0 * (x[n, c, i] - mean[c]) / m + dmean / m
    return dx, dweight, dbias
