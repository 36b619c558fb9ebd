"""Pooling on the GPU: max, average and adaptive average, forward and backward.

Same functions, arguments and results as ``tinygraph/kernels/cpu/pool.py`` (read its docstring
for the geometry), on CudaArrays.  ``x: (N, C, H, W)``, ``out: (N, C, OH, OW)``; output
position ``oh`` looks at input rows ``oh*sH - pH + kh*dH``.

Thread mappings:

* every forward kernel: one thread per OUTPUT element ``(n, c, oh, ow)``, looping over its window.
* max-pool backward: one thread per output element, adding its gradient into the input that won
  its window (``argmax``).  Overlapping windows can pick the same input, so the add is atomic.
  (The CPU signature passes only ``argmax``, not the geometry, so there is no cheap way for an
  input element to find the windows that chose it.)
* average and adaptive-average backward: one thread per INPUT element ``(n, c, ih, iw)``,
  gathering ``grad / divisor`` from every window that covers it: deterministic, no atomics.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from .array import CudaArray, empty, zeros
from .launch import THREADS, blocks_for

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
]


@cuda.jit(device=True)
def _unravel4(i, shape):
    """Flat index ``i`` -> ``(a, b, c, d)`` of a C-ordered 4-d ``shape``."""
    d = i % shape[3]
    c = (i // shape[3]) % shape[2]
    b = (i // (shape[3] * shape[2])) % shape[1]
    a = i // (shape[3] * shape[2] * shape[1])
    return a, b, c, d


# ------------------------------------------------------------------------------ max pool


@cuda.jit
def _max_pool_kernel(out, argmax, x, kernel_size, stride, padding, dilation):
    i = cuda.grid(1)
    if i >= out.size:
        return
    n, c, oh, ow = _unravel4(i, out.shape)
    H, W = x.shape[2], x.shape[3]
    h0 = oh * stride[0] - padding[0]
    w0 = ow * stride[1] - padding[1]
    best = -math.inf
    best_at = -1
    for kh in range(kernel_size[0]):
        ih = h0 + kh * dilation[0]
        if ih < 0 or ih >= H:
            continue  # padding counts as -inf: never the maximum
        for kw in range(kernel_size[1]):
            iw = w0 + kw * dilation[1]
            if iw < 0 or iw >= W:
                continue
            v = x[n, c, ih, iw]
            # strict '>' keeps the first maximum on ties; v != v is NaN, which wins (as PyTorch)
            if best_at < 0 or v > best or v != v:
                best = v
                best_at = ih * W + iw
    out[n, c, oh, ow] = best
    argmax[n, c, oh, ow] = best_at


@cuda.jit
def _max_pool_backward_kernel(grad_x, grad_out, argmax):
    i = cuda.grid(1)
    if i >= grad_out.size:
        return
    n, c, oh, ow = _unravel4(i, grad_out.shape)
    at = argmax[n, c, oh, ow]
    if at >= 0:
        W = grad_x.shape[3]
        cuda.atomic.add(grad_x, (n, c, at // W, at % W), grad_out[n, c, oh, ow])


def max_pool2d_forward(x: CudaArray, kernel_size, stride, padding, dilation, out_size):
    """Returns ``(out, argmax)``; ``argmax`` holds flat ``ih * W + iw`` indices (int64), -1 for an empty window."""
    N, C = x.shape[:2]
    out = empty((N, C) + tuple(out_size), x.dtype)
    argmax = empty(out.shape, np.int64)
    if out.size:
        _max_pool_kernel[blocks_for(out.size), THREADS](
            out.device_array(), argmax.device_array(), x.device_array(),
            tuple(kernel_size), tuple(stride), tuple(padding), tuple(dilation),
        )
    return out, argmax


def max_pool2d_backward(grad_out: CudaArray, argmax: CudaArray, in_size):
    """dL/dx: each output's gradient goes to the input that won its window."""
    N, C = grad_out.shape[:2]
    grad_x = zeros((N, C) + tuple(in_size), grad_out.dtype)
    if grad_out.size:
        _max_pool_backward_kernel[blocks_for(grad_out.size), THREADS](
            grad_x.device_array(), grad_out.device_array(), argmax.device_array()
        )
    return grad_x


# ------------------------------------------------------------------------------ avg pool


@cuda.jit(device=True)
def _avg_window(oh, ow, H, W, kernel_size, stride, padding, count_include_pad, divisor_override):
    """Window ``[h0, h1) x [w0, w1)`` of output (oh, ow) clipped to the input, and its divisor.

    PyTorch's rule (as the CPU kernel): clip to the PADDED input first (that size is the divisor
    with ``count_include_pad``), then to the real input (the divisor without it).
    """
    h0 = oh * stride[0] - padding[0]
    w0 = ow * stride[1] - padding[1]
    h1 = min(h0 + kernel_size[0], H + padding[0])
    w1 = min(w0 + kernel_size[1], W + padding[1])
    padded_size = (h1 - h0) * (w1 - w0)
    h0 = max(h0, 0)
    w0 = max(w0, 0)
    h1 = min(h1, H)
    w1 = min(w1, W)
    if divisor_override != 0:
        divisor = divisor_override
    elif count_include_pad:
        divisor = padded_size
    else:
        divisor = (h1 - h0) * (w1 - w0)
    return h0, h1, w0, w1, divisor


@functools.cache
def _avg_pool_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def avg_pool(out, x, kernel_size, stride, padding, count_include_pad, divisor_override):
        i = cuda.grid(1)
        if i >= out.size:
            return
        n, c, oh, ow = _unravel4(i, out.shape)
        h0, h1, w0, w1, divisor = _avg_window(
            oh, ow, x.shape[2], x.shape[3], kernel_size, stride, padding, count_include_pad, divisor_override
        )
        total = scalar(0)
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                total += x[n, c, ih, iw]
        out[n, c, oh, ow] = total / divisor if (h1 > h0 and w1 > w0) else scalar(0)

    return avg_pool


@functools.cache
def _avg_pool_backward_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def avg_pool_backward(grad_x, grad_out, kernel_size, stride, padding, count_include_pad, divisor_override):
        i = cuda.grid(1)
        if i >= grad_x.size:
            return
        n, c, ih, iw = _unravel4(i, grad_x.shape)
        H, W = grad_x.shape[2], grad_x.shape[3]
        OH, OW = grad_out.shape[2], grad_out.shape[3]
        # windows covering row ih: oh*sH - pH <= ih < oh*sH - pH + kH
        oh_lo = max(0, (ih + padding[0] - kernel_size[0]) // stride[0] + 1)
        oh_hi = min(OH, (ih + padding[0]) // stride[0] + 1)
        ow_lo = max(0, (iw + padding[1] - kernel_size[1]) // stride[1] + 1)
        ow_hi = min(OW, (iw + padding[1]) // stride[1] + 1)
        acc = scalar(0)
        for oh in range(oh_lo, oh_hi):
            for ow in range(ow_lo, ow_hi):
                h0, h1, w0, w1, divisor = _avg_window(
                    oh, ow, H, W, kernel_size, stride, padding, count_include_pad, divisor_override
                )
                acc += grad_out[n, c, oh, ow] / divisor
        grad_x[n, c, ih, iw] = acc

    return avg_pool_backward


def avg_pool2d_forward(x: CudaArray, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
    """Average of each window; ``divisor_override=0`` means none (same contract as the CPU kernel)."""
    N, C = x.shape[:2]
    out = empty((N, C) + tuple(out_size), x.dtype)
    if out.size:
        _avg_pool_kernel(x.dtype)[blocks_for(out.size), THREADS](
            out.device_array(), x.device_array(), tuple(kernel_size), tuple(stride), tuple(padding),
            bool(count_include_pad), int(divisor_override),
        )
    return out


def avg_pool2d_backward(grad_out: CudaArray, in_size, kernel_size, stride, padding, count_include_pad,
                        divisor_override):
    """dL/dx: every input of a window receives ``grad / divisor`` from that window."""
    N, C = grad_out.shape[:2]
    grad_x = empty((N, C) + tuple(in_size), grad_out.dtype)
    if grad_x.size:
        _avg_pool_backward_kernel(grad_out.dtype)[blocks_for(grad_x.size), THREADS](
            grad_x.device_array(), grad_out.device_array(), tuple(kernel_size), tuple(stride), tuple(padding),
            bool(count_include_pad), int(divisor_override),
        )
    return grad_x


# --------------------------------------------------------------------- adaptive avg pool


@cuda.jit(device=True)
def _adaptive_range(i, in_len, out_len):
    """Window of output i: ``[floor(i*L/O), ceil((i+1)*L/O))`` in integer arithmetic."""
    return (i * in_len) // out_len, ((i + 1) * in_len + out_len - 1) // out_len


@functools.cache
def _adaptive_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def adaptive(out, x):
        i = cuda.grid(1)
        if i >= out.size:
            return
        n, c, oh, ow = _unravel4(i, out.shape)
        h0, h1 = _adaptive_range(oh, x.shape[2], out.shape[2])
        w0, w1 = _adaptive_range(ow, x.shape[3], out.shape[3])
        total = scalar(0)
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                total += x[n, c, ih, iw]
        out[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))

    return adaptive


@functools.cache
def _adaptive_backward_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def adaptive_backward(grad_x, grad_out):
        i = cuda.grid(1)
        if i >= grad_x.size:
            return
        n, c, ih, iw = _unravel4(i, grad_x.shape)
        H, W = grad_x.shape[2], grad_x.shape[3]
        OH, OW = grad_out.shape[2], grad_out.shape[3]
        acc = scalar(0)
        for oh in range(OH):  # adaptive windows may overlap: test each (OH, OW are small)
            h0, h1 = _adaptive_range(oh, H, OH)
            if ih < h0 or ih >= h1:
                continue
            for ow in range(OW):
                w0, w1 = _adaptive_range(ow, W, OW)
                if w0 <= iw < w1:
                    acc += grad_out[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
        grad_x[n, c, ih, iw] = acc

    return adaptive_backward


def adaptive_avg_pool2d_forward(x: CudaArray, out_size):
    N, C = x.shape[:2]
    out = empty((N, C) + tuple(out_size), x.dtype)
    if out.size:
        _adaptive_kernel(x.dtype)[blocks_for(out.size), THREADS](out.device_array(), x.device_array())
    return out


def adaptive_avg_pool2d_backward(grad_out: CudaArray, in_size):
    N, C = grad_out.shape[:2]
    grad_x = empty((N, C) + tuple(in_size), grad_out.dtype)
    if grad_x.size:
        _adaptive_backward_kernel(grad_out.dtype)[blocks_for(grad_x.size), THREADS](
            grad_x.device_array(), grad_out.device_array()
        )
    return grad_x
