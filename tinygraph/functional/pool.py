"""Pooling: ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d`` (PyTorch's signatures and semantics).

Input: ``x: (N, C, H, W)``, or ``(C, H, W)`` for a single image (the output then has no batch
dimension either, as in PyTorch).  Geometry arguments are an int or an ``(h, w)`` pair.

Output size along one axis (``pool_output_size``)::

    out = floor((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1

With ``ceil_mode=True`` the division rounds up instead, so a last, partial window is kept,
but only if it starts inside the input or its left padding (a window that would start in
the right padding is dropped).

This module owns the argument checks and the shapes.  The loops: the textbook ones in
``tinygraph/kernels/cpu/reference/pool.py`` (``tg.use_kernels("reference")``), the fast ones in
``tinygraph/kernels/cpu/pool.py`` (the default); ``tinygraph.kernels.dispatch`` picks.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, is_grad_enabled
from ._args import pair
from ..cuda import ascontiguous
from ..kernels.dispatch import kernels_for
from ..tensor import Tensor, as_tensor

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pool_output_size"]


# ------------------------------------------------------------------ shapes and checks


def pool_output_size(in_len: int, kernel_size: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Number of windows along one axis, exactly as PyTorch computes it (may be <= 0: caller checks)."""
    span = in_len + 2 * padding - dilation * (kernel_size - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1  # // floors, also for negative span
    if ceil_mode and (out - 1) * stride >= in_len + padding:
        out -= 1  # the last window would start in the right padding: drop it
    return out


def _check_input(x, op: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected input of shape (N, C, H, W), or (C, H, W) for one image, "
            f"got a {x.ndim}-D input of shape {tuple(x.shape)}"
        )
    if x.dtype not in (np.float32, np.float64):  # the Numba kernels are compiled for these two
        raise TypeError(f"{op}: expected a float32 or float64 input, got dtype {x.dtype} (convert with .float())")
    return x


def _window_geometry(x, op, kernel_size, stride, padding, dilation, ceil_mode) -> dict:
    """Validate the window arguments against ``x`` and return them as pairs plus the output size."""
    k = pair(kernel_size, "kernel_size", op)
    s = k if stride is None else pair(stride, "stride", op)
    p = pair(padding, "padding", op)
    d = pair(dilation, "dilation", op)
    if min(k) <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {k}")
    if min(s) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {s}")
    if min(d) <= 0:
        raise ValueError(f"{op}: dilation must be positive, got {d}")
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {p}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{op}: padding={p} must be at most half of kernel_size={k} (padding <= kernel_size // 2, "
            "as in PyTorch), so that every window overlaps the input"
        )
    H, W = x.shape[-2:]
    out = (
        pool_output_size(H, k[0], s[0], p[0], d[0], ceil_mode),
        pool_output_size(W, k[1], s[1], p[1], d[1], ceil_mode),
    )
    if min(out) <= 0:
        raise ValueError(
            f"{op}: input of shape {tuple(x.shape)} with kernel_size={k}, stride={s}, padding={p}, "
            f"dilation={d}, ceil_mode={bool(ceil_mode)} gives an output of size {out[0]}x{out[1]}; "
            "the padded input must be at least as large as the (dilated) kernel"
        )
    return dict(kernel_size=k, stride=s, padding=p, dilation=d, out_size=out)



def _batched(x: np.ndarray) -> np.ndarray:
    """Kernels take contiguous (N, C, H, W); a single (C, H, W) image becomes a batch of one."""
    return ascontiguous(x if x.ndim == 4 else x[None])


def _unbatched_like(array: np.ndarray, ndim: int) -> np.ndarray:
    return array if ndim == 4 else array[0]


# ------------------------------------------------------------------ max pooling


class MaxPool2d(Function):
    """Max over each window; backward sends each output's gradient to the input that won its window."""

    op_name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, out_size):
        kernels = kernels_for(x, "pool")
        out, argmax = kernels.max_pool2d_forward(_batched(x), kernel_size, stride, padding, dilation, out_size)
        ctx.save_for_backward(argmax)
        ctx.in_shape = x.shape
        return _unbatched_like(out, x.ndim)

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_arrays
        in_shape = ctx.in_shape
        # d out[o] / d x[i] = 1 where i = argmax[o]: scatter, adding where windows share a winner
        grad_x = kernels_for(grad, "pool").max_pool2d_backward(_batched(grad), argmax, in_shape[-2:])
        return grad_x.reshape(in_shape)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Args:
        x: ``(N, C, H, W)`` or ``(C, H, W)``, floating point
        kernel_size, stride, padding, dilation: int or ``(h, w)``; ``stride=None`` means
            ``stride = kernel_size``; padding (implicit -inf, never chosen) at most ``kernel_size // 2``
        ceil_mode: round the output size up (keep a last partial window)
        return_indices: also return, for every output, the flat index ``ih * W + iw`` of the
            chosen input in its ``(H, W)`` plane (int64 Tensor, as PyTorch; for ``max_unpool``)

    Returns ``out: (N, C, OH, OW)`` (and ``indices`` of the same shape).  On ties the first
    maximum in row-major scan order wins, as in PyTorch, and receives the whole gradient.
    """
    op = "max_pool2d"
    x = _check_input(x, op)
    geometry = _window_geometry(x, op, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return MaxPool2d.apply(x, **geometry)
    if is_grad_enabled() and x.requires_grad:
        out = MaxPool2d.apply(x, **geometry)
        argmax = out._ctx.saved_arrays[0]
    else:  # nothing to record: run the kernel directly, so the indices are at hand
        out_data, argmax = kernels_for(x.data, "pool").max_pool2d_forward(
            _batched(x.data), *(geometry[k] for k in ("kernel_size", "stride", "padding", "dilation", "out_size"))
        )
        out = Tensor._wrap(_unbatched_like(out_data, x.ndim))
    return out, Tensor._wrap(_unbatched_like(argmax, x.ndim).copy())


# ------------------------------------------------------------------ average pooling


class AvgPool2d(Function):
    """Mean over each window; backward spreads each output's gradient evenly over its window."""

    op_name = "avg_pool2d"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
        ctx.in_shape = x.shape
        return _unbatched_like(
            kernels_for(x, "pool").avg_pool2d_forward(
                _batched(x), kernel_size, stride, padding, out_size, count_include_pad, divisor_override or 0
            ),
            x.ndim,
        )

    @staticmethod
    def backward(ctx, grad):
        p = ctx.params
        # d out / d x = 1 / divisor for each x in the window
        grad_x = kernels_for(grad, "pool").avg_pool2d_backward(
            _batched(grad),
            ctx.in_shape[-2:],
            p["kernel_size"],
            p["stride"],
            p["padding"],
            p["count_include_pad"],
            p["divisor_override"] or 0,
        )
        return grad_x.reshape(ctx.in_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Args:
        x: ``(N, C, H, W)`` or ``(C, H, W)``, floating point
        kernel_size, stride, padding: int or ``(h, w)``; ``stride=None`` means ``stride = kernel_size``;
            padding (zeros) at most ``kernel_size // 2``
        ceil_mode: round the output size up (keep a last partial window)
        count_include_pad: divide by the window's size including the zero padding (``True``)
            or by the number of real inputs in it (``False``).  A ceil_mode window that hangs
            past the padding counts only the part inside the padded input, as in PyTorch.
        divisor_override: if given (a non-zero int), divide every window's sum by it instead
    """
    op = "avg_pool2d"
    x = _check_input(x, op)
    geometry = _window_geometry(x, op, kernel_size, stride, padding, 1, ceil_mode)
    del geometry["dilation"]  # average pooling has none (PyTorch's neither)
    is_int = isinstance(divisor_override, (int, np.integer)) and not isinstance(divisor_override, bool)
    if divisor_override is not None and (not is_int or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be None or a non-zero int, got {divisor_override!r}")
    return AvgPool2d.apply(
        x,
        **geometry,
        count_include_pad=bool(count_include_pad),
        divisor_override=None if divisor_override is None else int(divisor_override),
    )


# ------------------------------------------------------------------ adaptive average pooling


class AdaptiveAvgPool2d(Function):
    """Mean over PyTorch's adaptive windows: output row i averages rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1."""

    op_name = "adaptive_avg_pool2d"

    @staticmethod
    def forward(ctx, x, out_size):
        ctx.in_shape = x.shape
        return _unbatched_like(kernels_for(x, "pool").adaptive_avg_pool2d_forward(_batched(x), out_size), x.ndim)

    @staticmethod
    def backward(ctx, grad):
        grad_x = kernels_for(grad, "pool").adaptive_avg_pool2d_backward(_batched(grad), ctx.in_shape[-2:])
        return grad_x.reshape(ctx.in_shape)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    ``output_size``: an int or an ``(OH, OW)`` pair; a ``None`` entry keeps that input size.
    ``adaptive_avg_pool2d(x, 1)`` is global average pooling: ``(N, C, H, W) -> (N, C, 1, 1)``.
    Windows may overlap when H is not a multiple of OH; OH may even exceed H.
    """
    op = "adaptive_avg_pool2d"
    x = _check_input(x, op)
    H, W = x.shape[-2:]
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair (OH, OW), got {output_size!r}")
    sizes = tuple(H if s is None and i == 0 else W if s is None else s for i, s in enumerate(sizes))
    out_size = pair(sizes, "output_size", op)
    if min(out_size) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {out_size} for input of shape {tuple(x.shape)}")
    if H <= 0 or W <= 0:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} has an empty plane; H and W must be positive")
    return AdaptiveAvgPool2d.apply(x, out_size=out_size)
