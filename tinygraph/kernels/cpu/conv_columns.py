"""Column layouts: how a chunk of images becomes the column matrix of im2col, and how results come back.

A convolution is a matrix product in disguise.  Copy every input window into a column of a
"column matrix" (im2col); its rows are ``(c, i, j)``, ``C_in*kH*kW`` of them, and it has ``L``
columns per image.  Per group ``g`` (``groups`` blocks of ``Kg = (C_in/groups)*kH*kW`` rows)::

    out[g]         (C_out/groups, B*L) = weight[g] (C_out/groups, Kg) @ cols[g] (Kg, B*L)
    grad_weight[g]                     = grad_out[g] @ cols[g].T
    grad_cols[g]                       = weight[g].T @ grad_out[g],  then col2im adds every
                                         column back onto the input pixels it came from

Every layout has the same interface (:class:`Layout`)::

    L                                 matrix columns per image
    build(x, cols, scratch)           cols (rows, b*L) <- the windows of x (b, C, H, W)
    scatter(grad_cols, grad_x, scratch)  grad_x (b, C, H, W) <- the columns summed back onto the pixels
    output(prod, bias, out)           out (b, C_out, OH, OW) <- the product (C_out, b*L), plus bias
    grad_matrix(grad_out, buf)        grad_out (b, C_out, OH, OW) -> (C_out, b*L) in the columns' order
    scratch_size(b, C)                elements of the flat scratch buffer build/scatter need

Three layouts, chosen by :func:`column_layout` from the geometry:

* :class:`Strided` (any stride): ``L = OH*OW``, one column per output pixel.
* :class:`WideRows` (stride 1): each output row computed ``Wp = OW + (kW-1)*dW`` wide, so every
  tap's window is ONE contiguous run of the zero-padded input (``im2col.im2col_stride1``); the
  ``Wp - OW`` junk columns of each row are dropped on the way out.
* :class:`BatchLast` (stride 1, short rows): the image index last and no junk columns
  (``conv_batch_last``), where the wide rows would be mostly junk.
"""

from __future__ import annotations

import threading

import numpy as np

from .conv_batch_last import (
    batch_last_to_nchw,
    col2im_batch_last,
    im2col_batch_last,
    nchw_to_batch_last,
    pad_batch_last,
    unpad_batch_last,
)
from .im2col import col2im, col2im_stride1, im2col, im2col_stride1, nchw_to_product, product_to_nchw
from .windows import pad_planes

__all__ = [
    "Layout",
    "Strided",
    "WideRows",
    "BatchLast",
    "column_layout",
    "scratch",
    "BATCH_LAST_MIN_WIDENING",
    "WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING",
]

#: At stride 1 the batch-last layout is used when the wide rows would be at least this many times
#: wider than the output's, ``Wp >= 1.2 * OW`` (a sixth or more of the columns junk) ...
BATCH_LAST_MIN_WIDENING = 1.2
#: ... and for the weight gradient as soon as there is junk at all: there batch-last needs one
#: transposing copy, as the wide rows do (the output gradient), not two.
WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING = 1.01


def column_layout(in_size, kernel_size, stride, padding, dilation, out_size, min_widening=None):
    """The layout for this geometry.

    At stride 1, :class:`BatchLast` when the wide rows are at least ``min_widening`` times the
    output's (default ``BATCH_LAST_MIN_WIDENING``; ``math.inf``: the caller needs the wide rows'
    padded planes), else :class:`WideRows`.
    """
    if tuple(stride) != (1, 1):
        return Strided(in_size, kernel_size, stride, padding, dilation, out_size)
    wide = WideRows(in_size, kernel_size, stride, padding, dilation, out_size)
    if min_widening is None:
        min_widening = BATCH_LAST_MIN_WIDENING
    if wide.Wp >= min_widening * wide.OW:
        return BatchLast(in_size, kernel_size, stride, padding, dilation, out_size)
    return wide


class Layout:
    """The geometry of one convolution and the interface above; the NCHW product order ``(C_out, b, OH, row_len)``."""

    def __init__(self, in_size, kernel_size, stride, padding, dilation, out_size):
        (self.H, self.W), (self.kH, self.kW) = tuple(in_size), tuple(kernel_size)
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.OH, self.OW = tuple(out_size)
        self.row_len = self.OW  # matrix columns per output row
        self.L = self.OH * self.OW

    def output(self, prod, bias, out):
        b, C_out = out.shape[:2]
        bias = np.zeros(C_out, out.dtype) if bias is None else bias
        product_to_nchw(prod.reshape(C_out, b, self.L), bias, out)

    def grad_matrix(self, grad_out, buf):
        b, C_out = grad_out.shape[:2]
        g = buf[: C_out * b * self.L].reshape(C_out, b, self.OH, self.row_len)
        return nchw_to_product(grad_out, g).reshape(C_out, b * self.L)

    def scratch_size(self, b, channels):
        return 0

    def build(self, x, cols, scratch):
        raise NotImplementedError

    def scatter(self, grad_cols, grad_x, scratch):
        raise NotImplementedError


class Strided(Layout):
    """One column per output pixel, any stride: ``cols[(c*kH + i)*kW + j, n, oh, ow]``."""

    def build(self, x, cols, scratch):
        b = x.shape[0]
        im2col(x, cols.reshape(cols.shape[0], b, self.OH, self.OW), *self._geometry())
        return cols

    def scatter(self, grad_cols, grad_x, scratch):
        b = grad_x.shape[0]
        col2im(grad_cols.reshape(grad_cols.shape[0], b, self.OH, self.OW), grad_x, *self._geometry())
        return grad_x

    def _geometry(self):
        return (self.kH, self.kW), self.stride, self.padding, self.dilation


class WideRows(Layout):
    """Stride 1: output rows ``Wp`` wide over the zero-padded planes ``(Hp, Wp)``; ``L = OH*Wp``."""

    def __init__(self, *geometry):
        super().__init__(*geometry)
        self.Wp = self.OW + (self.kW - 1) * self.dilation[1]
        self.Hp = self.OH + (self.kH - 1) * self.dilation[0] + 1  # a spare zero row for the last run's junk end
        self.row_len = self.Wp
        self.L = self.OH * self.Wp

    def pad(self, x, scratch):
        """The zero-padded planes ``xp: (b, C, Hp, Wp)`` of x (b, C, H, W), in ``scratch``."""
        return pad_planes(x, self._planes(scratch, x.shape[:2]), self.padding)

    def build(self, x, cols, scratch):
        xp = self.pad(x, scratch)
        im2col_stride1(xp, cols.reshape(cols.shape[0], x.shape[0], self.L), (self.kH, self.kW), self.dilation)
        return cols

    def scatter(self, grad_cols, grad_x, scratch):
        b = grad_x.shape[0]
        grad_xp = self._planes(scratch, grad_x.shape[:2])
        col2im_stride1(grad_cols.reshape(grad_cols.shape[0], b, self.L), grad_xp, (self.kH, self.kW), self.dilation)
        pH, pW = self.padding
        h, w = min(self.H, self.Hp - pH), min(self.W, self.Wp - pW)  # rows/columns some window reaches
        if (h, w) != (self.H, self.W):
            grad_x[...] = 0.0
        grad_x[:, :, :h, :w] = grad_xp[:, :, pH : pH + h, pW : pW + w]
        return grad_x

    def scratch_size(self, b, channels):
        return b * channels * self.Hp * self.Wp

    def _planes(self, scratch, batch_channels):
        b, C = batch_channels
        return scratch[: b * C * self.Hp * self.Wp].reshape(b, C, self.Hp, self.Wp)


class BatchLast(Layout):
    """Stride 1 with the image index last: columns ordered ``(oh, ow, n)``, no junk (``conv_batch_last``)."""

    def __init__(self, *geometry):
        super().__init__(*geometry)
        self.plane = (self.OH + (self.kH - 1) * self.dilation[0], self.OW + (self.kW - 1) * self.dilation[1])

    def build(self, x, cols, scratch):
        xpt = pad_batch_last(x, self._planes(scratch, x.shape[:2]), self.padding)
        return im2col_batch_last(xpt, cols, (self.kH, self.kW), self.dilation, (self.OH, self.OW))

    def scatter(self, grad_cols, grad_x, scratch):
        grad_xpt = self._planes(scratch, grad_x.shape[:2])
        col2im_batch_last(grad_cols, grad_xpt, (self.kH, self.kW), self.dilation, (self.OH, self.OW))
        return unpad_batch_last(grad_xpt, grad_x, self.padding)

    def output(self, prod, bias, out):
        b, C_out = out.shape[:2]
        bias = np.zeros(C_out, out.dtype) if bias is None else bias
        batch_last_to_nchw(prod.reshape(C_out, self.L, b), bias, out)

    def grad_matrix(self, grad_out, buf):
        b, C_out = grad_out.shape[:2]
        g = buf[: C_out * self.L * b].reshape(C_out, self.L, b)
        return nchw_to_batch_last(grad_out, g).reshape(C_out, self.L * b)

    def scratch_size(self, b, channels):
        return b * channels * self.plane[0] * self.plane[1]

    def _planes(self, scratch, batch_channels):
        b, C = batch_channels
        return scratch[: C * self.plane[0] * self.plane[1] * b].reshape(C, self.plane[0], self.plane[1], b)


# ---------------------------------------------------------------------------- scratch buffers

_WORKSPACE_MAX_BYTES = 64 << 20  # larger scratch buffers are allocated per call, not kept
_workspace = threading.local()  # per thread: {(name, dtype): 1-D array}


def scratch(name, size, dtype):
    """A flat buffer of ``size`` elements, reused from call to call (per thread; grown when too small).

    The column matrix and its companions are rebuilt for every call, so their memory is reused
    instead of being allocated (and faulted in by the kernel) afresh each time.
    """
    if size * np.dtype(dtype).itemsize > _WORKSPACE_MAX_BYTES:  # a one-off giant (one huge image): not kept
        return np.empty(size, dtype=dtype)
    buffers = _workspace.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size]
