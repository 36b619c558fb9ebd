"""Softmax cross-entropy on the GPU, fused: one thread per row of class scores.

``logits: (M, C)`` rows of class scores, ``q: (M, C)`` target weights: every cross-entropy
variant of ``tinygraph.functional.loss`` (hard labels, class weights, label smoothing) is
``loss = -sum_c q_c log softmax(z)_c``, and its gradient is ``(sum_c q_c) softmax(z) - q``.

Thread ``r`` owns row ``r``: it finds the row's maximum, the log of the sum of exponentials of
the shifted scores (so ``exp`` never overflows), and writes the row's ``log_p`` and loss; in
backward it writes the row's gradient.  ``C`` is small (10 classes), so a thread per row is right;
the number of rows (the batch) gives the parallelism.

:func:`one_hot_targets` builds ``q`` from integer labels on the device, so labels that are already
on the GPU never travel to the host.
"""

from __future__ import annotations

import math

from numba import cuda

from .array import CudaArray, empty
from .launch import THREADS, blocks_for

__all__ = ["cross_entropy_forward", "cross_entropy_backward", "one_hot_targets"]


@cuda.jit
def _forward_kernel(losses, log_p, z, q):
    r = cuda.grid(1)
    if r >= z.shape[0]:
        return
    C = z.shape[1]
    top = z[r, 0]
    for c in range(1, C):
        top = max(top, z[r, c])
    total = 0.0
    for c in range(C):
        total += math.exp(z[r, c] - top)
    log_total = math.log(total)
    loss = 0.0
    for c in range(C):
        lp = z[r, c] - top - log_total  # log softmax, shifted so the largest exponent is 0
        log_p[r, c] = lp
        loss -= q[r, c] * lp
    losses[r] = loss


@cuda.jit
def _backward_kernel(d_logits, grad, log_p, q):
    r = cuda.grid(1)
    if r >= log_p.shape[0]:
        return
    C = log_p.shape[1]
    q_sum = 0.0
    for c in range(C):
        q_sum += q[r, c]
    for c in range(C):
        d_logits[r, c] = grad[r] * (q_sum * math.exp(log_p[r, c]) - q[r, c])


@cuda.jit
def _one_hot_kernel(q, labels, class_weight, ignore_index, smoothing):
    r = cuda.grid(1)
    if r >= q.shape[0]:
        return
    C = q.shape[1]
    label = labels[r]
    for c in range(C):
        q[r, c] = 0
    if label == ignore_index:
        return  # an ignored row contributes nothing
    for c in range(C):
        q[r, c] = smoothing / C * class_weight[c]
    q[r, label] += (1 - smoothing) * class_weight[label]


def cross_entropy_forward(logits: CudaArray, q: CudaArray):
    """Per-row losses ``(M,)`` and ``log_p`` ``(M, C)`` (keep it for backward)."""
    M = logits.shape[0]
    losses, log_p = empty((M,), logits.dtype), empty(logits.shape, logits.dtype)
    if M:
        _forward_kernel[blocks_for(M), THREADS](
            losses.device_array(), log_p.device_array(), logits.device_array(), q.device_array()
        )
    return losses, log_p


def cross_entropy_backward(grad: CudaArray, log_p: CudaArray, q: CudaArray) -> CudaArray:
    """dL/dlogits ``(M, C)`` from the upstream gradient of the per-row losses ``(M,)``."""
    d_logits = empty(log_p.shape, log_p.dtype)
    if log_p.shape[0]:
        _backward_kernel[blocks_for(log_p.shape[0]), THREADS](
            d_logits.device_array(), grad.device_array(), log_p.device_array(), q.device_array()
        )
    return d_logits


def one_hot_targets(labels: CudaArray, num_classes: int, class_weight: CudaArray, ignore_index: int = -100,
                    label_smoothing: float = 0.0) -> CudaArray:
    """``q = ((1 - eps) onehot(label) + eps / C) * weight`` per row; 0 for rows labelled ``ignore_index``.

    ``labels: (M,)`` integers (already checked to lie in ``0..C-1`` or equal ``ignore_index``),
    ``class_weight: (C,)`` in the logits' dtype.
    """
    M = labels.shape[0]
    q = empty((M, int(num_classes)), class_weight.dtype)
    if M:
        _one_hot_kernel[blocks_for(M), THREADS](
            q.device_array(), labels.device_array(), class_weight.device_array(), int(ignore_index),
            float(label_smoothing),
        )
    return q
