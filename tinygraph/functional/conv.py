"""2-D convolution: ``conv2d`` (PyTorch's signature and semantics) and ``conv2d_output_size``.

Shapes::

    x:      (N, C_in, H, W), or (C_in, H, W) for one image (the output then has no batch dim)
    weight: (C_out, C_in // groups, kH, kW)
    bias:   (C_out,) or None
    out:    (N, C_out, OH, OW)

    OH = floor((H + pad_top + pad_bottom - dilation*(kH - 1) - 1) / stride) + 1     (same for OW)

``padding`` is an int, an ``(h, w)`` pair (that many zero rows on top *and* bottom), ``'valid'``
(no padding) or ``'same'`` (stride 1 only: OH = H; the total padding ``dilation*(k - 1)`` is split
with the odd row/column at the bottom/right, as PyTorch does for even kernels).

This module owns the argument checks and the shapes.  The loops: the textbook ones in
``tinygraph/kernels/cpu/reference/conv.py`` (``tg.use_kernels("reference")``), the fast ones in
``tinygraph/kernels/cpu/conv.py`` (the default); ``tinygraph.kernels.dispatch`` picks.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..cuda import ascontiguous
from ..kernels.dispatch import kernels_for
from ..tensor import as_tensor
from ._args import pair

__all__ = ["conv2d", "conv2d_output_size", "conv2d_padding"]

_OP = "conv2d"


# ------------------------------------------------------------------ shapes and checks


def _pair(value, name: str) -> tuple[int, int]:
    return pair(value, name, _OP)


def conv2d_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[int, int, int, int]:
    """Resolve ``padding`` (int, pair, ``'valid'`` or ``'same'``) to ``(top, bottom, left, right)``.

    ``'same'`` pads ``dilation*(k - 1)`` in total along each axis, ``total // 2`` before and the
    rest after (PyTorch's rule), so a stride-1 convolution keeps the input size.
    """
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if s != (1, 1):
                raise ValueError(
                    f"{_OP}: padding='same' is only defined for stride 1 (the output keeps the input size), "
                    f"got stride={s}; give the padding as numbers instead"
                )
            total_h, total_w = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
            return total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2
        raise ValueError(f"{_OP}: padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    p = _pair(padding, "padding")
    if min(p) < 0:
        raise ValueError(f"{_OP}: padding must be non-negative, got {p}")
    return p[0], p[0], p[1], p[1]


def conv2d_output_size(in_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """``(OH, OW)`` of a convolution of an ``in_size = (H, W)`` image (ints or pairs, as ``conv2d``).

    ``OH = floor((H + pad_top + pad_bottom - dilation*(kH - 1) - 1) / stride) + 1``, the same for
    OW.  For ``nn`` layers and summaries; the result is <= 0 when the kernel does not fit.
    """
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    return _output_size(_pair(in_size, "in_size"), k, s, conv2d_padding(padding, k, s, d), d)


def _output_size(in_size, kernel, stride, pads, dilation) -> tuple[int, int]:
    """The formula above, with ``pads = (top, bottom, left, right)``."""
    top, bottom, left, right = pads
    return (
        (in_size[0] + top + bottom - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
        (in_size[1] + left + right - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1,
    )


def _check_tensors(x, weight, bias, groups):
    """Ranks, dtypes and channel counts; returns the three as Tensors (bias may stay None)."""
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{_OP}: expected input x of shape (N, C_in, H, W), or (C_in, H, W) for one image, "
            f"got a {x.ndim}-D input of shape {tuple(x.shape)}"
        )
    if weight.ndim != 4:
        raise ValueError(
            f"{_OP}: expected weight of shape (C_out, C_in // groups, kH, kW) (4-D), "
            f"got a {weight.ndim}-D weight of shape {tuple(weight.shape)}"
        )
    for name, t in (("input x", x), ("weight", weight)):
        if t.dtype not in (np.float32, np.float64):
            raise TypeError(f"{_OP}: {name} must be float32 or float64, got dtype {t.dtype}")
    if x.dtype != weight.dtype:
        raise ValueError(
            f"{_OP}: input x has dtype {x.dtype} but weight has dtype {weight.dtype}; "
            f"convert one of them, e.g. weight.to(dtype={x.dtype.name!r})"
        )
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups <= 0:
        raise ValueError(f"{_OP}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    C_in, C_out = x.shape[-3], weight.shape[0]
    if C_in % groups or C_out % groups:
        raise ValueError(
            f"{_OP}: groups={groups} must divide both the input channels (C_in={C_in}, input x of shape "
            f"{tuple(x.shape)}) and the output channels (C_out={C_out}, weight of shape {tuple(weight.shape)})"
        )
    if weight.shape[1] * groups != C_in:
        raise ValueError(
            f"{_OP}: channel mismatch: input x of shape {tuple(x.shape)} has C_in={C_in} channels, but weight of "
            f"shape {tuple(weight.shape)} with groups={groups} expects C_in = {weight.shape[1]} * {groups} = "
            f"{weight.shape[1] * groups} (weight must be (C_out, C_in // groups, kH, kW))"
        )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (C_out,):
            raise ValueError(
                f"{_OP}: bias must be 1-D of shape (C_out,) = ({C_out},) for weight of shape "
                f"{tuple(weight.shape)}, got shape {tuple(bias.shape)}"
            )
        if bias.dtype != x.dtype:
            raise ValueError(f"{_OP}: bias has dtype {bias.dtype} but input x and weight have dtype {x.dtype}")
    return x, weight, bias, groups


# ------------------------------------------------------------------ the op



class Conv2d(Function):
    """``out = bias + sum of weight * window``.

    Backward sends ``grad * weight`` to the input and ``grad * x`` to the weight.

    Params (already checked and resolved by ``conv2d``): stride, padding = (top, left) padding,
    dilation, groups, out_size.  The arrays are a batch ``(N, C, H, W)``.
    """

    op_name = "conv2d"

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups, out_size):
        x, weight = ascontiguous(x), ascontiguous(weight)
        ctx.save_for_backward(x, weight)
        return kernels_for(x, "conv").conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_arrays
        p = ctx.params
        geometry = (p["stride"], p["padding"], p["dilation"], p["groups"])
        grad = ascontiguous(grad)
        needs = ctx.needs_input_grad
        kernels = kernels_for(grad, "conv")
        # d out / d bias = 1, summed over images and pixels (first: grad is still in the cache)
        grad_b = kernels.conv2d_bias_grad(grad) if len(needs) > 2 and needs[2] else None
        both_at_once = getattr(kernels, "conv2d_backward", None)  # the fast and CUDA kernels have one
        if both_at_once is not None and needs[0] and needs[1]:
            grad_x, grad_w = both_at_once(grad, x, weight, *geometry, x.shape[2:], weight.shape[2:])
            return grad_x, grad_w, grad_b
        # d out / d x = weight (summed over the windows that see each pixel)
        grad_x = kernels.conv2d_backward_input(grad, weight, *geometry, x.shape[2:]) if needs[0] else None
        # d out / d weight = x (summed over every image and output pixel)
        grad_w = kernels.conv2d_backward_weight(x, grad, *geometry, weight.shape[2:]) if needs[1] else None
        return grad_x, grad_w, grad_b


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Args:
        x: ``(N, C_in, H, W)`` or ``(C_in, H, W)``, float32 or float64
        weight: ``(C_out, C_in // groups, kH, kW)``, the dtype of ``x``
        bias: ``(C_out,)`` or None
        stride, dilation: int or ``(h, w)``, positive
        padding: int or ``(h, w)`` zero rows/columns on each side, or ``'valid'`` (none) or
            ``'same'`` (stride 1 only; output size = input size, extra padding at the bottom/right)
        groups: split the channels into ``groups`` independent convolutions; ``groups == C_in``
            is a depthwise convolution

    Returns ``out: (N, C_out, OH, OW)`` (see ``conv2d_output_size``).  Gradients flow to x,
    weight and bias.
    """
    x, weight, bias, groups = _check_tensors(x, weight, bias, groups)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) <= 0:
        raise ValueError(f"{_OP}: stride must be positive, got {stride}")
    if min(dilation) <= 0:
        raise ValueError(f"{_OP}: dilation must be positive, got {dilation}")
    kernel = tuple(weight.shape[2:])
    top, bottom, left, right = conv2d_padding(padding, kernel, stride, dilation)
    in_size = tuple(x.shape[-2:])
    out_size = _output_size(in_size, kernel, stride, (top, bottom, left, right), dilation)
    if min(out_size) <= 0:
        span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
        raise ValueError(
            f"{_OP}: kernel larger than the padded input: input x of shape {tuple(x.shape)} padded to "
            f"{in_size[0] + top + bottom}x{in_size[1] + left + right}, but weight of shape {tuple(weight.shape)} "
            f"with dilation={dilation} spans {span[0]}x{span[1]} pixels"
        )
    batched = x if x.ndim == 4 else x.reshape((1,) + tuple(x.shape))
    params = dict(stride=stride, padding=(top, left), dilation=dilation, groups=groups, out_size=out_size)
    out = Conv2d.apply(batched, weight, **params) if bias is None else Conv2d.apply(batched, weight, bias, **params)
    return out if x.ndim == 4 else out.reshape(tuple(out.shape[1:]))
