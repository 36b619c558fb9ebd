"""Reference 2-D convolution: the formula as nested loops.  Read this first.

The functions a kernel set provides for the ``conv`` family (a student's module may provide any
of them; the others come from here)::

    conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size) -> out
    conv2d_backward_input(grad_out, weight, stride, padding, dilation, groups, in_size) -> grad_x
    conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size) -> grad_w
    conv2d_bias_grad(grad_out) -> grad_b

Shapes and geometry (every pair is ``(height, width)``, a tuple of ints)::

    x:       (N, C_in, H, W)
    weight:  (C_out, C_in // groups, kH, kW)          bias: (C_out,) or None
    out:     (N, C_out, OH, OW)                       out_size=(OH, OW), in_size=(H, W)
    stride=(sH, sW)   padding=(pH, pW)   dilation=(dH, dW)   groups: int

The formula::

    out[n, co, oh, ow] = bias[co] + sum over ci < C_in/groups, i < kH, j < kW of
                         weight[co, ci, i, j] * x[n, g*(C_in/groups) + ci, oh*sH - pH + i*dH, ow*sW - pW + j*dW]

where ``g = co // (C_out/groups)`` is the group of output channel ``co`` and ``x`` is zero
outside ``[0, H) x [0, W)`` (the zero padding).  ``padding`` is the padding *before* the first
row and column; the padding after the last row/column only decides how many outputs there are,
so it is implied by ``out_size`` (that is how ``padding='same'`` with an even kernel works).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_bias_grad"]


@njit(cache=True)
def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    """Convolution (cross-correlation, as in every deep-learning library), the obvious way.

    Each output pixel is the bias plus the dot product of the filter with the window of the
    input it sits on.  The loops take one filter tap ``(ci, i, j)`` at a time and add
    ``weight * x`` at every output pixel, so the innermost loop walks along a row of the
    image.  Returns ``out: (N, C_out, OH, OW)``.
    """
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    sH, sW = stride
    pH, pW = padding
    dH, dW = dilation
    OH, OW = out_size
    C_out_g = C_out // groups  # output channels per group
    out = np.zeros((N, C_out, OH, OW), dtype=x.dtype)
    for n in range(N):
        for co in range(C_out):
            if bias is not None:
                out[n, co] = bias[co]
            g = co // C_out_g  # this filter sees only the input channels of its group
            for ci in range(C_in_g):
                c = g * C_in_g + ci
                for i in range(kH):
                    for j in range(kW):
                        for oh in range(OH):
                            for ow in range(OW):
                                ih = oh * sH - pH + i * dH
                                iw = ow * sW - pW + j * dW
                                if 0 <= ih < H and 0 <= iw < W:  # outside: zero padding, adds nothing
                                    out[n, co, oh, ow] += weight[co, ci, i, j] * x[n, c, ih, iw]
    return out


@njit(cache=True)
def conv2d_backward_input(grad_out, weight, stride, padding, dilation, groups, in_size):
    """Gradient of the loss w.r.t. ``x``: ``grad_x: (N, C_in, H, W)``.

    The same loops as the forward pass.  Each product ``weight[co, ci, i, j] * x[n, c, ih, iw]``
    added into ``out[n, co, oh, ow]`` has ``d out / d x = weight``, so it sends
    ``grad_out[n, co, oh, ow] * weight[co, ci, i, j]`` back to ``x[n, c, ih, iw]``; an input
    pixel used by several windows adds up what each of them sends.
    """
    N, C_out, OH, OW = grad_out.shape
    _, C_in_g, kH, kW = weight.shape
    H, W = in_size
    sH, sW = stride
    pH, pW = padding
    dH, dW = dilation
    C_out_g = C_out // groups
    grad_x = np.zeros((N, C_in_g * groups, H, W), dtype=grad_out.dtype)
    for n in range(N):
        for co in range(C_out):
            g = co // C_out_g
            for ci in range(C_in_g):
                c = g * C_in_g + ci
                for i in range(kH):
                    for j in range(kW):
                        for oh in range(OH):
                            for ow in range(OW):
                                ih = oh * sH - pH + i * dH
                                iw = ow * sW - pW + j * dW
                                if 0 <= ih < H and 0 <= iw < W:
                                    grad_x[n, c, ih, iw] += grad_out[n, co, oh, ow] * weight[co, ci, i, j]
    return grad_x


@njit(cache=True)
def conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size):
    """Gradient of the loss w.r.t. ``weight``: ``grad_w: (C_out, C_in // groups, kH, kW)``.

    The same loops again: ``d out[n, co, oh, ow] / d weight[co, ci, i, j] = x[n, c, ih, iw]``,
    and one weight is used at every output pixel of every image, so its gradient sums
    ``grad_out * x`` over all of them.
    """
    N, C_in, H, W = x.shape
    _, C_out, OH, OW = grad_out.shape
    kH, kW = kernel_size
    sH, sW = stride
    pH, pW = padding
    dH, dW = dilation
    C_in_g = C_in // groups
    C_out_g = C_out // groups
    grad_w = np.zeros((C_out, C_in_g, kH, kW), dtype=x.dtype)
    for co in range(C_out):
        g = co // C_out_g
        for ci in range(C_in_g):
            c = g * C_in_g + ci
            for i in range(kH):
                for j in range(kW):
                    total = 0.0
                    for n in range(N):
                        for oh in range(OH):
                            for ow in range(OW):
                                ih = oh * sH - pH + i * dH
                                iw = ow * sW - pW + j * dW
                                if 0 <= ih < H and 0 <= iw < W:
                                    total += grad_out[n, co, oh, ow] * x[n, c, ih, iw]
                    grad_w[co, ci, i, j] = total
    return grad_w


@njit(cache=True)
def conv2d_bias_grad(grad_out):
    """Gradient w.r.t. ``bias``: ``d out[n, co, oh, ow] / d bias[co] = 1``, so ``grad_out`` summed per channel.

    Returns ``grad_b: (C_out,)``.
    """
    N, C_out, OH, OW = grad_out.shape
    grad_b = np.zeros(C_out, dtype=grad_out.dtype)
    for n in range(N):
        for co in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    grad_b[co] += grad_out[n, co, oh, ow]
    return grad_b
