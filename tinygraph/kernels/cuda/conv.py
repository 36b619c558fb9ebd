"""2-D convolution on the GPU: forward, gradient w.r.t. the input, gradient w.r.t. the weight.

Same functions, arguments and results as ``tinygraph/kernels/cpu/conv.py`` (read its docstring
for the geometry), on CudaArrays; no argument checks (``tinygraph.functional.conv`` validates
and computes the output size).  Shapes and geometry, as in PyTorch (cross-correlation)::

    x: (N, C, H, W)    weight: (K, C // groups, kH, kW)    bias: (K,) or None    out: (N, K, OH, OW)
    out[n, k, oh, ow] = bias[k] + sum over c in k's group, kh, kw of
                        x[n, c, oh*sH - pH + kh*dH, ow*sW - pW + kw*dW] * weight[k, c - c0, kh, kw]

(taps that fall outside the input read the zero padding).  Output channel ``k`` belongs to
group ``g = k // (K // groups)`` and sees input channels ``g*Cg .. g*Cg + Cg - 1`` (``Cg = C // groups``).

Three kernels, three thread mappings, each chosen so that every thread WRITES its own element
(no atomics, deterministic results):

* forward:          one thread per OUTPUT element ``(n, k, oh, ow)``, looping over its window.
* backward-input:   one thread per INPUT element ``(n, c, ih, iw)``.  It gathers from every output
                    whose window covered it: ``oh*sH - pH + kh*dH = ih`` for some tap ``kh``, so
                    ``oh = (ih + pH - kh*dH) / sH`` when that division is exact.  (The scatter form,
                    one thread per output adding into its window, would need atomic adds.)
* backward-weight:  one BLOCK per WEIGHT element ``(k, c, kh, kw)``: its gradient is a sum over
                    all ``N*OH*OW`` output positions, far too many for one thread and far more
                    numerous than the weights, so the block's threads split the positions and
                    add their partial sums with a shared-memory tree (``reduce.block_sum``).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .array import CudaArray, empty
from .launch import REDUCE_THREADS, THREADS, blocks_for
from .reduce import block_sum

__all__ = ["conv2d_bias_grad", "conv2d_forward", "conv2d_backward", "conv2d_backward_input", "conv2d_backward_weight"]


@functools.cache
def _forward_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def forward(out, x, w, bias, has_bias, stride, padding, dilation, groups):
        i = cuda.grid(1)
        N, K, OH, OW = out.shape
        if i >= N * K * OH * OW:
            return
        # thread i -> output element (n, k, oh, ow), C order
        ow = i % OW
        oh = (i // OW) % OH
        k = (i // (OW * OH)) % K
        n = i // (OW * OH * K)
        H, W = x.shape[2], x.shape[3]
        Cg, kH, kW = w.shape[1], w.shape[2], w.shape[3]
        c0 = (k // (K // groups)) * Cg  # first input channel of k's group
        h0 = oh * stride[0] - padding[0]
        w0 = ow * stride[1] - padding[1]
        acc = bias[k] if has_bias else scalar(0)
        for cg in range(Cg):
            for kh in range(kH):
                ih = h0 + kh * dilation[0]
                if ih < 0 or ih >= H:
                    continue  # zero padding
                for kw in range(kW):
                    iw = w0 + kw * dilation[1]
                    if 0 <= iw < W:
                        acc += x[n, c0 + cg, ih, iw] * w[k, cg, kh, kw]
        out[n, k, oh, ow] = acc

    return forward


@functools.cache
def _backward_input_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def backward_input(grad_x, grad_out, w, stride, padding, dilation, groups):
        i = cuda.grid(1)
        N, C, H, W = grad_x.shape
        if i >= N * C * H * W:
            return
        # thread i -> input element (n, c, ih, iw)
        iw = i % W
        ih = (i // W) % H
        c = (i // (W * H)) % C
        n = i // (W * H * C)
        K, OH, OW = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
        Cg, kH, kW = w.shape[1], w.shape[2], w.shape[3]
        Kg = K // groups
        g = c // Cg
        cg = c - g * Cg
        acc = scalar(0)
        for kh in range(kH):
            th = ih + padding[0] - kh * dilation[0]  # = oh * sH for the output whose tap kh lands here
            if th < 0 or th % stride[0] != 0:
                continue
            oh = th // stride[0]
            if oh >= OH:
                continue
            for kw in range(kW):
                tw = iw + padding[1] - kw * dilation[1]
                if tw < 0 or tw % stride[1] != 0:
                    continue
                ow = tw // stride[1]
                if ow >= OW:
                    continue
                for kk in range(Kg):  # every output channel of the group used this input
                    k = g * Kg + kk
                    acc += grad_out[n, k, oh, ow] * w[k, cg, kh, kw]
        grad_x[n, c, ih, iw] = acc

    return backward_input


@functools.cache
def _backward_weight_kernel(dtype: np.dtype):
    scalar = dtype.type

    @cuda.jit
    def backward_weight(grad_w, grad_out, x, stride, padding, dilation, groups):
        partial = cuda.shared.array(REDUCE_THREADS, scalar)
        b = cuda.blockIdx.x
        t = cuda.threadIdx.x
        K, Cg, kH, kW = grad_w.shape
        # block b -> weight element (k, cg, kh, kw)
        kw = b % kW
        kh = (b // kW) % kH
        cg = (b // (kW * kH)) % Cg
        k = b // (kW * kH * Cg)
        c = (k // (K // groups)) * Cg + cg
        N, OH, OW = grad_out.shape[0], grad_out.shape[2], grad_out.shape[3]
        H, W = x.shape[2], x.shape[3]
        # 1. thread t sums positions j = t, t + REDUCE_THREADS, ... of the N*OH*OW outputs
        acc = scalar(0)
        for j in range(t, N * OH * OW, REDUCE_THREADS):
            ow = j % OW
            oh = (j // OW) % OH
            n = j // (OW * OH)
            ih = oh * stride[0] - padding[0] + kh * dilation[0]
            iw = ow * stride[1] - padding[1] + kw * dilation[1]
            if 0 <= ih < H and 0 <= iw < W:
                acc += grad_out[n, k, oh, ow] * x[n, c, ih, iw]
        partial[t] = acc
        # 2. the block adds up its REDUCE_THREADS partial sums
        total = block_sum(partial, t)
        if t == 0:
            grad_w[k, cg, kh, kw] = total

    return backward_weight


def _pair(p) -> tuple:
    return int(p[0]), int(p[1])


def conv2d_forward(x: CudaArray, weight: CudaArray, bias, stride, padding, dilation, groups: int, out_size):
    """``x: (N, C, H, W)``, ``weight: (K, C/groups, kH, kW)``, ``bias: (K,)`` or None -> ``(N, K, OH, OW)``.

    Same arguments as ``kernels.cpu.conv.conv2d_forward``: ``padding`` is the padding before the
    first row/column, ``out_size = (OH, OW)`` (it implies the padding after the last ones).
    """
    N, K = x.shape[0], weight.shape[0]
    out = empty((N, K) + _pair(out_size), x.dtype)
    if out.size:
        _forward_kernel(x.dtype)[blocks_for(out.size), THREADS](
            out.device_array(), x.device_array(), weight.device_array(),
            (bias if bias is not None else weight).device_array(), bias is not None,  # weight: an unused stand-in
            _pair(stride), _pair(padding), _pair(dilation), int(groups),
        )
    return out


def conv2d_backward_input(grad_out: CudaArray, weight: CudaArray, stride, padding, dilation, groups: int, in_size):
    """dL/dx ``(N, C, H, W)`` from dL/dout ``(N, K, OH, OW)``; ``in_size = (H, W)``."""
    N = grad_out.shape[0]
    C = weight.shape[1] * int(groups)
    grad_x = empty((N, C) + _pair(in_size), grad_out.dtype)
    if grad_x.size:
        _backward_input_kernel(grad_out.dtype)[blocks_for(grad_x.size), THREADS](
            grad_x.device_array(), grad_out.device_array(), weight.device_array(),
            _pair(stride), _pair(padding), _pair(dilation), int(groups),
        )
    return grad_x


def conv2d_backward_weight(x: CudaArray, grad_out: CudaArray, stride, padding, dilation, groups: int, kernel_size):
    """dL/dweight ``(K, C/groups, kH, kW)`` from the input ``x`` and dL/dout ``(N, K, OH, OW)``."""
    K = grad_out.shape[1]
    grad_w = empty((K, x.shape[1] // int(groups)) + _pair(kernel_size), grad_out.dtype)
    if grad_w.size:
        _backward_weight_kernel(grad_out.dtype)[grad_w.size, REDUCE_THREADS](
            grad_w.device_array(), grad_out.device_array(), x.device_array(),
            _pair(stride), _pair(padding), _pair(dilation), int(groups),
        )
    return grad_w


def conv2d_bias_grad(grad_out: CudaArray) -> CudaArray:
    """dL/dbias ``(K,)``: ``grad_out (N, K, OH, OW)`` summed over images and pixels (the reduction kernels)."""
    return grad_out.sum(axis=(0, 2, 3))


def conv2d_backward(grad_out: CudaArray, x, weight, stride, padding, dilation, groups: int, in_size, kernel_size,
                    need_input: bool = True, need_weight: bool = True):
    """Both gradients, ``(grad_x or None, grad_w or None)``: same contract as the CPU ``conv2d_backward``.

    The two are separate kernels here (different thread mappings), so this only runs the wanted ones.
    """
    geometry = (stride, padding, dilation, groups)
    grad_x = conv2d_backward_input(grad_out, weight, *geometry, in_size) if need_input else None
    grad_w = conv2d_backward_weight(x, grad_out, *geometry, kernel_size) if need_weight else None
    return grad_x, grad_w
