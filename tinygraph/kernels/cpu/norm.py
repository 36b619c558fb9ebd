"""Batch-normalization kernels.

Array in, array out: no Tensor, no autograd, no argument checks.  The input is always viewed
as ``x: (N, C, L)``: ``(N, C, H, W)`` becomes ``L = H*W`` and ``(N, C)`` becomes ``L = 1``
(``tinygraph.functional.norm`` does the reshape).  Channel ``c`` owns the ``m = N*L`` values
``x[:, c, :]``.

The math, per channel (``gamma``/``beta`` are the weight/bias)::

    mean    = sum(x) / m
    var     = sum((x - mean)**2) / m           # BIASED: divides by m, not m-1
    inv_std = 1 / sqrt(var + eps)
    x_hat   = (x - mean) * inv_std
    y       = gamma * x_hat + beta

Backward, given ``dy = dL/dy``, when mean and var are the batch statistics (training)::

    dbeta  = sum(dy)
    dgamma = sum(dy * x_hat)
    dx     = gamma * inv_std / m * (m*dy - sum(dy) - x_hat * sum(dy * x_hat))

and ``dx = gamma * inv_std * dy`` when they are constants (eval mode, running statistics).

The textbook loops are in ``reference/norm.py`` (its backward follows the chain rule step by
step through var and mean, as in Ioffe & Szegedy 2015, an independent derivation of the compact
formula above); these are the fast Numba kernels, with the same functions and results.  Statistics and
sums are accumulated in float64 for both float32 and float64 input.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .scheduling import ELEMENT_STEP_FLOPS, run_split

__all__ = [
    "batch_norm_stats",
    "batch_norm_forward",
    "batch_norm_backward",
]


# =====================================================================================
# Fast kernels (Numba)
# =====================================================================================

# The per-channel sums may be reassociated (``fastmath`` "reassoc") so LLVM can keep several
# partial sums in SIMD registers instead of waiting on one running total.  No "no NaN/inf"
# assumptions: a NaN in the input still shows up in the output.
_SUM_MATH = {"reassoc", "contract"}


def batch_norm_stats(x):
    """Fast per-channel mean and biased variance of ``x: (N, C, L)``; float64 ``(C,)`` arrays.

    Differs from the reference: compiled, one channel at a time (channels shared between
    tinygraph's threads).  Two passes (mean, then squared deviations) rather than one-pass
    ``E[x^2] - E[x]^2``, which loses digits when the mean is large.
    """
    C = x.shape[1]
    mean, var = np.empty(C), np.empty(C)
    run_split(lambda c0, c1: _batch_norm_stats_into(x, c0, c1, mean, var), C, 2 * ELEMENT_STEP_FLOPS * x.size)
    return mean, var


@njit(cache=True, nogil=True, fastmath=_SUM_MATH)
def _batch_norm_stats_into(x, c0, c1, mean, var):
    """``mean[c]``, ``var[c]`` for the channels ``c0 <= c < c1`` of ``x: (N, C, L)``."""
    N, C, L = x.shape
    m = N * L
    for c in range(c0, c1):
        total = 0.0
        for n in range(N):
            for i in range(L):
                total += x[n, c, i]
        mu = total / m
        squares = 0.0
        for n in range(N):
            for i in range(L):
                d = x[n, c, i] - mu
                squares += d * d
        mean[c] = mu
        var[c] = squares / m


def _like_input(x, *args):
    """The result array for a kernel whose output is shaped like its first argument (allocated by NumPy)."""
    return (np.empty_like(x),)


def batch_norm_forward(x, mean, inv_std, weight, bias):
    """Allocates the result and runs ``_batch_norm_forward_into`` (below), images shared between threads."""
    (y,) = _like_input(x)
    run_split(lambda start, stop: _batch_norm_forward_into(x[start:stop], mean, inv_std, weight, bias, y[start:stop]),
              x.shape[0], ELEMENT_STEP_FLOPS * x.size)
    return y


@njit(cache=True, nogil=True)
def _batch_norm_forward_into(x, mean, inv_std, weight, bias, y):
    """Fast ``y = weight * (x - mean) * inv_std + bias``; same contract as the reference.

    Differs from the reference: compiled, and the per-channel affine
    map is folded into one multiply-add, ``y = x * scale + shift`` with ``scale = weight*inv_std``
    and ``shift = bias - mean*scale`` (computed once per plane, outside the inner loop).
    """
    N, C, L = x.shape
    for p in range(N * C):
        n, c = p // C, p % C
        scale = weight[c] * inv_std[c]
        shift = bias[c] - mean[c] * scale
        for i in range(L):
            y[n, c, i] = x[n, c, i] * scale + shift
    return y


def batch_norm_backward(grad_out, x, mean, inv_std, weight, batch_stats):
    """Allocates the results and runs ``_batch_norm_backward_into`` (below), channels shared between threads."""
    (dx,) = _like_input(x)
    C = x.shape[1]
    dweight, dbias = np.empty(C), np.empty(C)

    def channels(c0, c1):
        _batch_norm_backward_into(grad_out, x, mean, inv_std, weight, batch_stats, c0, c1, dx, dweight, dbias)

    run_split(channels, C, 3 * ELEMENT_STEP_FLOPS * x.size)
    return dx, dweight, dbias


@njit(cache=True, nogil=True, fastmath=_SUM_MATH)
def _batch_norm_backward_into(grad_out, x, mean, inv_std, weight, batch_stats, c0, c1, dx, dweight, dbias):
    """Fast batch-norm backward; same contract as the reference ``batch_norm_backward``.

    Differs from the reference: compiled, and it uses the compact
    closed form ``dx = weight*inv_std/m * (m*dy - sum(dy) - x_hat*sum(dy*x_hat))`` (two passes
    over the channel, x_hat recomputed on the fly instead of stored) rather than the step-by-step
    chain rule through var and mean.  Writes ``dx[:, c]``, ``dweight[c]``, ``dbias[c]`` for ``c0 <= c < c1``.
    """
    N, C, L = x.shape
    m = N * L
    for c in range(c0, c1):
        mu = mean[c]
        s = inv_std[c]
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(N):
            for i in range(L):
                g = grad_out[n, c, i]
                sum_dy += g
                sum_dy_xhat += g * (x[n, c, i] - mu) * s
        dbias[c] = sum_dy
        dweight[c] = sum_dy_xhat
        k = weight[c] * s
        if batch_stats:
            mean_dy = sum_dy / m
            mean_dy_xhat = sum_dy_xhat / m
            for n in range(N):
                for i in range(L):
                    x_hat = (x[n, c, i] - mu) * s
                    dx[n, c, i] = k * (grad_out[n, c, i] - mean_dy - x_hat * mean_dy_xhat)
        else:
            for n in range(N):
                for i in range(L):
                    dx[n, c, i] = k * grad_out[n, c, i]
