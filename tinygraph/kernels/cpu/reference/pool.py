"""Reference pooling: max, average and adaptive average pooling as nested loops.  Read this first.

The functions a kernel set provides for the ``pool`` family (a student's module may provide any
of them; the others come from here)::

    max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size) -> (out, argmax)
    max_pool2d_backward(grad_out, argmax, in_size) -> grad_x
    avg_pool2d_forward(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override) -> out
    avg_pool2d_backward(grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override) -> grad_x
    adaptive_avg_pool2d_forward(x, out_size) -> out
    adaptive_avg_pool2d_backward(grad_out, in_size) -> grad_x

Geometry arguments are ``(height, width)`` pairs of ints::

    x: (N, C, H, W)   kernel_size=(kH, kW) stride=(sH, sW) padding=(pH, pW) dilation=(dH, dW)
    out_size=(OH, OW)  ->  out: (N, C, OH, OW)

Output position ``oh`` looks at input rows ``oh*sH - pH + kh*dH`` for ``kh = 0 .. kH-1``; rows
outside ``[0, H)`` are padding.  The same holds for columns.  ``divisor_override=0`` means none.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
]


@njit(cache=True)
def max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size):
    """Max pooling, the obvious way.  Returns ``(out, argmax)``.

    ``out[n, c, oh, ow]`` is the largest input value in the window of ``(oh, ow)``;
    ``argmax[n, c, oh, ow]`` is where it was, as a flat index ``ih * W + iw`` into the input
    plane (int64, as PyTorch's ``return_indices``).  Padding counts as -inf, so it is never
    chosen.  Ties: the FIRST maximum in scan order (row by row) wins, because only a strictly
    larger value replaces the current best.  A NaN always replaces the best (NaN propagates,
    as in PyTorch).  A window with no tap inside the input (possible only with dilation) gives
    -inf and index -1.
    """
    N, C, H, W = x.shape
    kH, kW = kernel_size
    sH, sW = stride
    pH, pW = padding
    dH, dW = dilation
    OH, OW = out_size
    out = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    argmax = np.full((N, C, OH, OW), -1, dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best, best_at = -math.inf, -1
                    for kh in range(kH):
                        for kw in range(kW):
                            ih = oh * sH - pH + kh * dH
                            iw = ow * sW - pW + kw * dW
                            if not (0 <= ih < H and 0 <= iw < W):
                                continue  # padding: -inf, never the maximum
                            v = float(x[n, c, ih, iw])
                            if best_at < 0 or v > best or math.isnan(v):
                                best, best_at = v, ih * W + iw
                    out[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_at
    return out, argmax


@njit(cache=True)
def max_pool2d_backward(grad_out, argmax, in_size):
    """Gradient of max pooling: each output's gradient goes to the input that won its window.

    ``d out[o] / d x[i] = 1 if i == argmax[o] else 0``, so ``grad_x[i] = sum of grad_out[o]
    over the windows o that i won`` (overlapping windows can pick the same input).
    """
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    grad_x = np.zeros((N, C, H, W), dtype=grad_out.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    i = argmax[n, c, oh, ow]
                    if i >= 0:
                        grad_x[n, c, i // W, i % W] += grad_out[n, c, oh, ow]
    return grad_x


@njit(cache=True)
def _avg_divisor(oh, ow, in_size, kernel_size, stride, padding, count_include_pad, divisor_override):
    """What the sum of window ``(oh, ow)`` is divided by; 0 for a window with no real input.

    ``divisor_override`` when non-zero; else the window's taps inside the PADDED input
    (``count_include_pad``: a ceil_mode window hanging past the padding loses that part, as in
    PyTorch) or inside the real input.
    """
    H, W = in_size
    kH, kW = kernel_size
    inside, in_padded = 0, 0
    for kh in range(kH):
        for kw in range(kW):
            ih = oh * stride[0] - padding[0] + kh
            iw = ow * stride[1] - padding[1] + kw
            if ih < H + padding[0] and iw < W + padding[1]:
                in_padded += 1
                if 0 <= ih < H and 0 <= iw < W:
                    inside += 1
    if inside == 0:
        return 0
    if divisor_override != 0:
        return divisor_override
    return in_padded if count_include_pad else inside


@njit(cache=True)
def avg_pool2d_forward(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override=0):
    """Average pooling, the obvious way: the sum of the window's real inputs / the divisor.

    A window with no real input (cannot happen for valid arguments) gives 0, as in PyTorch.
    """
    N, C, H, W = x.shape
    kH, kW = kernel_size
    OH, OW = out_size
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    divisor = _avg_divisor(
                        oh, ow, (H, W), kernel_size, stride, padding, count_include_pad, divisor_override
                    )
                    if divisor == 0:
                        continue
                    total = 0.0
                    for kh in range(kH):
                        for kw in range(kW):
                            ih = oh * stride[0] - padding[0] + kh
                            iw = ow * stride[1] - padding[1] + kw
                            if 0 <= ih < H and 0 <= iw < W:  # padding adds zero
                                total += float(x[n, c, ih, iw])
                    out[n, c, oh, ow] = total / divisor
    return out


@njit(cache=True)
def avg_pool2d_backward(grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override=0):
    """Gradient of average pooling: ``d out / d x = 1/divisor`` for every real input in the window."""
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    kH, kW = kernel_size
    grad_x = np.zeros((N, C, H, W), dtype=grad_out.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    divisor = _avg_divisor(
                        oh, ow, (H, W), kernel_size, stride, padding, count_include_pad, divisor_override
                    )
                    if divisor == 0:
                        continue
                    for kh in range(kH):
                        for kw in range(kW):
                            ih = oh * stride[0] - padding[0] + kh
                            iw = ow * stride[1] - padding[1] + kw
                            if 0 <= ih < H and 0 <= iw < W:
                                grad_x[n, c, ih, iw] += grad_out[n, c, oh, ow] / divisor
    return grad_x


@njit(cache=True)
def _adaptive_range(i, in_len, out_len):
    """PyTorch's adaptive window of output i: rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1, as ``[start, stop)``."""
    return math.floor(i * in_len / out_len), math.ceil((i + 1) * in_len / out_len)


@njit(cache=True)
def adaptive_avg_pool2d_forward(x, out_size):
    """Adaptive average pooling: output (oh, ow) averages its (possibly overlapping) window."""
    N, C, H, W = x.shape
    OH, OW = out_size
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                h0, h1 = _adaptive_range(oh, H, OH)
                for ow in range(OW):
                    w0, w1 = _adaptive_range(ow, W, OW)
                    total = 0.0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            total += float(x[n, c, ih, iw])
                    out[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))
    return out


@njit(cache=True)
def adaptive_avg_pool2d_backward(grad_out, in_size):
    """Gradient of adaptive average pooling: ``1 / window size`` to every input of each window."""
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    grad_x = np.zeros((N, C, H, W), dtype=grad_out.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                h0, h1 = _adaptive_range(oh, H, OH)
                for ow in range(OW):
                    w0, w1 = _adaptive_range(ow, W, OW)
                    share = grad_out[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            grad_x[n, c, ih, iw] += share
    return grad_x
