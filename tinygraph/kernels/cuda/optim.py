"""Fused optimizer updates on the GPU, in place: one thread per parameter element.

Written with NumPy calls on ``.data``, an optimizer step already runs on the device through
CudaArray (``p.data -= lr * g`` is a few elementwise kernels, each reading and writing the whole
parameter).  These kernels do the whole update of one element in one thread, reading ``p``,
``g`` and the state once and writing them once: the same math as ``tinygraph/optim/sgd.py`` and
``adam.py`` (PyTorch's formulas), element by element.
"""

from __future__ import annotations

import math

from numba import cuda

from .array import CudaArray
from .launch import THREADS, blocks_for

__all__ = ["sgd_step", "adam_step"]


@cuda.jit
def _sgd_kernel(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step):
    i = cuda.grid(1)
    if i >= p.size:
        return
    d = g[i] + weight_decay * p[i]  # L2 penalty folded into the gradient
    if momentum != 0:
        if first_step:
            b = d  # the buffer starts as the gradient itself
        else:
            b = momentum * buf[i] + (1 - dampening) * d
        buf[i] = b
        d = d + momentum * b if nesterov else b
    p[i] -= lr * d


@cuda.jit
def _adam_kernel(p, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step, decoupled, amsgrad):
    i = cuda.grid(1)
    if i >= p.size:
        return
    gi = g[i]
    if weight_decay != 0:
        if decoupled:
            p[i] *= 1 - lr * weight_decay  # AdamW: decay the weight itself
        else:
            gi = gi + weight_decay * p[i]  # Adam: L2 penalty in the gradient
    mi = m[i] + (1 - beta1) * (gi - m[i])  # running mean of gradients
    vi = beta2 * v[i] + (1 - beta2) * gi * gi  # running mean of squared gradients
    m[i] = mi
    v[i] = vi
    if amsgrad:
        vi = max(v_max[i], vi)
        v_max[i] = vi
    step_size = lr / (1 - beta1**step)  # bias corrections: m and v started at 0
    denom = math.sqrt(vi) / math.sqrt(1 - beta2**step) + eps
    p[i] -= step_size * mi / denom


def sgd_step(param: CudaArray, grad: CudaArray, momentum_buffer: CudaArray | None, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, first_step: bool = False):
    """One SGD update of ``param`` (and ``momentum_buffer``, needed when momentum != 0), in place."""
    buf = momentum_buffer if momentum_buffer is not None else param  # unused without momentum
    if param.size:
        _sgd_kernel[blocks_for(param.size), THREADS](
            param._flat, grad._flat, buf._flat, float(lr), float(momentum), float(dampening), float(weight_decay),
            bool(nesterov), bool(first_step),
        )


def adam_step(param: CudaArray, grad: CudaArray, exp_avg: CudaArray, exp_avg_sq: CudaArray, lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float, step: int, decoupled: bool = False,
              max_exp_avg_sq: CudaArray | None = None):
    """One Adam/AdamW update at step ``step`` (1, 2, ...), in place; ``max_exp_avg_sq`` turns on amsgrad."""
    amsgrad = max_exp_avg_sq is not None
    v_max = max_exp_avg_sq if amsgrad else exp_avg_sq
    if param.size:
        _adam_kernel[blocks_for(param.size), THREADS](
            param._flat, grad._flat, exp_avg._flat, exp_avg_sq._flat, v_max._flat, float(lr), float(beta1),
            float(beta2), float(eps), float(weight_decay), int(step), bool(decoupled), amsgrad,
        )
