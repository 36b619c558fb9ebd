"""The batch-last column matrix: im2col at stride 1 for small images, with no junk columns.

Used by ``conv_columns.BatchLast`` for stride-1 layers whose output rows are short next to the
kernel: there ``im2col_stride1``'s rows, ``Wp = OW + (kW-1)*dW`` wide instead of ``OW``, waste
much of every product on junk columns (``Wp / OW - 1`` more work).  Shapes, for a chunk of ``b`` images::

    x:    (b, C, H, W)            xpt:  (C, Hp, Wp, b)        the padded input, batch LAST
    cols: (C*kH*kW, OH*OW*b)      column (oh, ow, n) of row (c, i, j) = xpt[c, oh + i*dH, ow + j*dW, n]

With the image index last, the ``OW`` windows of one output row ``oh`` of tap ``(i, j)`` over
all ``b`` images are ONE contiguous run of ``OW*b`` numbers in ``xpt`` (from ``(oh + i*dH,
j*dW, 0)`` on), so each row of the column matrix is ``OH`` long copies with no junk.  The price
is two transposing passes, the input into ``xpt`` and the product back into NCHW order, both
small next to the column matrix for small images.

Used where the stride-1 layout's junk share is large (``conv_columns.BATCH_LAST_MIN_WIDENING``);
with little junk, the two transposes cost what the junk does.
"""

from __future__ import annotations

from numba import njit

from .windows import pad_planes

__all__ = [
    "col2im_batch_last",
    "im2col_batch_last",
    "nchw_to_batch_last",
    "pad_batch_last",
    "batch_last_to_nchw",
    "unpad_batch_last",
]


def pad_batch_last(x, xpt, padding):
    """``xpt[c, pH + r, pW + s, n] = x[n, c, r, s]``, zero elsewhere; returns xpt: (C, Hp, Wp, b)."""
    pad_planes(x, xpt.transpose(3, 0, 1, 2), padding)
    return xpt


@njit(cache=True, nogil=True)
def unpad_batch_last(grad_xpt, grad_x, padding):
    """``grad_x[n, c, r, s] = grad_xpt[c, pH + r, pW + s, n]``, the adjoint of ``pad_batch_last``; returns grad_x.

    Pixels beyond the padded plane (no window reaches them) get zero.
    """
    b, C, H, W = grad_x.shape
    Hp, Wp = grad_xpt.shape[1], grad_xpt.shape[2]
    pH, pW = padding
    h, w = min(H, Hp - pH), min(W, Wp - pW)
    if h < H or w < W:
        grad_x[:] = 0.0
    for c in range(C):
        for r in range(h):
            src = grad_xpt[c, pH + r, pW : pW + w]  # (w, b)
            for n in range(b):
                dst = grad_x[n, c, r]
                for s in range(w):
                    dst[s] = src[s, n]
    return grad_x


@njit(cache=True, nogil=True)
def im2col_batch_last(xpt, cols, kernel_size, dilation, out_size):
    """``cols[(c*kH + i)*kW + j, (oh*OW + ow)*b + n] = xpt[c, oh + i*dH, ow + j*dW, n]``: OH runs of OW*b per row.

    xpt: (C, Hp, Wp, b) (``pad_batch_last``), cols: (C*kH*kW, OH*OW*b).
    """
    C, Hp, Wp, b = xpt.shape
    kH, kW = kernel_size
    dH, dW = dilation
    OH, OW = out_size
    run = OW * b
    for c in range(C):
        flat = xpt[c].reshape(Hp * Wp * b)
        for i in range(kH):
            for j in range(kW):
                row = cols[(c * kH + i) * kW + j]
                for oh in range(OH):
                    start = ((oh + i * dH) * Wp + j * dW) * b
                    src = flat[start : start + run]
                    dst = row[oh * run : oh * run + run]
                    for t in range(run):
                        dst[t] = src[t]
    return cols


@njit(cache=True, nogil=True)
def col2im_batch_last(cols, grad_xpt, kernel_size, dilation, out_size):
    """The adjoint of ``im2col_batch_last``: the columns summed back onto ``grad_xpt: (C, Hp, Wp, b)`` (overwritten)."""
    C, Hp, Wp, b = grad_xpt.shape
    kH, kW = kernel_size
    dH, dW = dilation
    OH, OW = out_size
    run = OW * b
    for c in range(C):
        flat = grad_xpt[c].reshape(Hp * Wp * b)
        flat[:] = 0.0
        for i in range(kH):
            for j in range(kW):
                row = cols[(c * kH + i) * kW + j]
                for oh in range(OH):
                    start = ((oh + i * dH) * Wp + j * dW) * b
                    dst = flat[start : start + run]
                    src = row[oh * run : oh * run + run]
                    for t in range(run):
                        dst[t] += src[t]
    return grad_xpt


@njit(cache=True, nogil=True)
def batch_last_to_nchw(prod, bias, out):
    """``out[n, co, oh, ow] = prod[co, oh*OW + ow, n] + bias[co]``: the product back in NCHW order.

    prod: (C_out, OH*OW, b), out: (b, C_out, OH, OW).  One filter's product (a few KB for small
    images) stays in cache while each image's plane is written out.
    """
    b, C_out, OH, OW = out.shape
    for co in range(C_out):
        src = prod[co]
        for n in range(b):
            dst = out[n, co].reshape(OH * OW)
            for p in range(OH * OW):
                dst[p] = src[p, n] + bias[co]
    return out


@njit(cache=True, nogil=True)
def nchw_to_batch_last(grad, g):
    """``g[co, oh*OW + ow, n] = grad[n, co, oh, ow]``: the output gradient in the column order.

    grad: (b, C_out, OH, OW), g: (C_out, OH*OW, b).
    """
    b, C_out, OH, OW = grad.shape
    for co in range(C_out):
        dst = g[co]
        for n in range(b):
            src = grad[n, co].reshape(OH * OW)
            for p in range(OH * OW):
                dst[p, n] = src[p]
    return g
