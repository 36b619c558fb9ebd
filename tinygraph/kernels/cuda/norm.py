"""Batch normalization on the GPU: per-channel statistics, forward, backward.

Same functions, arguments and results as ``tinygraph/kernels/cpu/norm.py`` (read its docstring
for the math), on CudaArrays: ``x: (N, C, L)``; channel ``c`` owns the ``m = N*L`` values
``x[:, c, :]``; statistics and parameter gradients are float64 ``(C,)`` arrays.

Thread mappings:

* ``batch_norm_stats`` and ``batch_norm_backward``: one BLOCK per channel.  A channel's sums run
  over all ``m`` values, so the block's threads split them (thread ``t`` takes values ``t``,
  ``t + REDUCE_THREADS``, ...) and combine their partial sums with the shared-memory tree
  ``reduce.block_sum``.  Sums are accumulated in float64, as on the CPU.  The backward block then
  uses the two channel sums it just computed to write ``dx`` for its own channel: one launch.
* ``batch_norm_forward``: one thread per element, ``y = x * scale[c] + shift[c]``.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .array import CudaArray, empty
from .launch import REDUCE_THREADS, THREADS, blocks_for
from .reduce import block_sum

__all__ = ["batch_norm_stats", "batch_norm_forward", "batch_norm_backward"]


@cuda.jit
def _stats_kernel(mean, var, x):
    partial = cuda.shared.array(REDUCE_THREADS, np.float64)
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    N, L = x.shape[0], x.shape[2]
    m = N * L
    # pass 1: the mean
    acc = 0.0
    for j in range(t, m, REDUCE_THREADS):
        acc += x[j // L, c, j % L]
    partial[t] = acc
    mu = block_sum(partial, t) / m
    # pass 2: squared deviations from it (two passes: E[x^2] - E[x]^2 loses digits when |mean| is large)
    acc = 0.0
    for j in range(t, m, REDUCE_THREADS):
        d = x[j // L, c, j % L] - mu
        acc += d * d
    partial[t] = acc
    squares = block_sum(partial, t)
    if t == 0:
        mean[c] = mu
        var[c] = squares / m


@cuda.jit
def _forward_kernel(y, x, mean, inv_std, weight, bias):
    i = cuda.grid(1)
    if i >= y.size:
        return
    C, L = x.shape[1], x.shape[2]
    n = i // (C * L)
    c = (i // L) % C
    j = i % L
    scale = weight[c] * inv_std[c]
    y[n, c, j] = (x[n, c, j] - mean[c]) * scale + bias[c]


@cuda.jit
def _backward_kernel(dx, dweight, dbias, grad_out, x, mean, inv_std, weight, batch_stats):
    partial = cuda.shared.array(REDUCE_THREADS, np.float64)
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    N, L = x.shape[0], x.shape[2]
    m = N * L
    mu = mean[c]
    s = inv_std[c]
    # the two channel sums: sum(dy) and sum(dy * x_hat)
    acc = 0.0
    for j in range(t, m, REDUCE_THREADS):
        acc += grad_out[j // L, c, j % L]
    partial[t] = acc
    sum_dy = block_sum(partial, t)
    acc = 0.0
    for j in range(t, m, REDUCE_THREADS):
        n, i = j // L, j % L
        acc += grad_out[n, c, i] * (x[n, c, i] - mu) * s
    partial[t] = acc
    sum_dy_xhat = block_sum(partial, t)
    if t == 0:
        dbias[c] = sum_dy
        dweight[c] = sum_dy_xhat
    # dx = weight*inv_std * (dy - mean(dy) - x_hat * mean(dy*x_hat)) with batch statistics,
    # dx = weight*inv_std * dy when mean and var were constants (running statistics)
    k = weight[c] * s
    mean_dy = sum_dy / m if batch_stats else 0.0
    mean_dy_xhat = sum_dy_xhat / m if batch_stats else 0.0
    for j in range(t, m, REDUCE_THREADS):
        n, i = j // L, j % L
        x_hat = (x[n, c, i] - mu) * s
        dx[n, c, i] = k * (grad_out[n, c, i] - mean_dy - x_hat * mean_dy_xhat)


def batch_norm_stats(x: CudaArray):
    """Per-channel mean and BIASED variance of ``x: (N, C, L)``: float64 ``(C,)`` CudaArrays."""
    C = x.shape[1]
    mean, var = empty((C,), np.float64), empty((C,), np.float64)
    if C:
        _stats_kernel[C, REDUCE_THREADS](mean.device_array(), var.device_array(), x.device_array())
    return mean, var


def batch_norm_forward(x: CudaArray, mean, inv_std, weight, bias) -> CudaArray:
    """``y = weight * (x - mean) * inv_std + bias`` per channel; ``x, y: (N, C, L)``, the rest ``(C,)``."""
    y = empty(x.shape, x.dtype)
    if y.size:
        _forward_kernel[blocks_for(y.size), THREADS](
            y.device_array(), x.device_array(), mean.device_array(), inv_std.device_array(),
            weight.device_array(), bias.device_array(),
        )
    return y


def batch_norm_backward(grad_out: CudaArray, x: CudaArray, mean, inv_std, weight, batch_stats: bool):
    """``(dx, dweight, dbias)``; ``batch_stats`` says whether mean/var came from this batch (training)."""
    C = x.shape[1]
    dx = empty(x.shape, grad_out.dtype)
    dweight, dbias = empty((C,), np.float64), empty((C,), np.float64)
    if C:
        _backward_kernel[C, REDUCE_THREADS](
            dx.device_array(), dweight.device_array(), dbias.device_array(), grad_out.device_array(),
            x.device_array(), mean.device_array(), inv_std.device_array(), weight.device_array(), bool(batch_stats),
        )
    return dx, dweight, dbias
