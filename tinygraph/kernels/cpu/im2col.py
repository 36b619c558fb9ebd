"""The copy kernels of the column matrix (im2col) and their adjoints (col2im), for the layouts of ``conv_columns``.

im2col copies every window of the input into a column of a matrix, so that a convolution becomes
one matrix product; col2im adds each column's gradient back onto the pixels its window covers.

    general (any stride):  cols[(c*kH + i)*kW + j, n, oh, ow] = x[n, c, oh*sH - pH + i*dH, ow*sW - pW + j*dW]
    stride 1, wide rows:   cols[(c*kH + i)*kW + j, n, oh*Wp + ow] = xp[n, c, oh + i*dH, ow + j*dW]   (xp: zero-padded)

Also the two reorder passes between NCHW and the product's ``(C_out, B, pixels)`` order.  Plain
compiled loops over rows (``nogil``: ``scheduling.run_chunks`` runs them on several threads).
The loops index slices with plain counters from 0: Numba allows negative indices, so
``row[k + off]`` with a signed ``off`` compiles to a wrap-around test per element that stops
LLVM from vectorizing the copy.
"""

from __future__ import annotations

from numba import njit

from .windows import index_range

__all__ = [
    "im2col",
    "col2im",
    "im2col_stride1",
    "col2im_stride1",
    "product_to_nchw",
    "nchw_to_product",
    "rows_out",
]


@njit(cache=True, nogil=True)
def _fill_zero(row):
    for t in range(row.shape[0]):
        row[t] = 0.0


@njit(cache=True, nogil=True)
def _gather_window(plane, dst, off_h, off_w, stride):
    """``dst[oh, ow] = plane[oh*sH + off_h, ow*sW + off_w]``, zero where that lies outside ``plane``.

    plane: (H, W), one input channel; dst: (OH, OW), one row of the column matrix.
    """
    H, W = plane.shape
    OH, OW = dst.shape
    sH, sW = stride
    oh_lo, oh_hi = index_range(off_h, sH, H, OH)
    ow_lo, ow_hi = index_range(off_w, sW, W, OW)
    # The zero padding: rows above and below the input, then columns left and right of it (each
    # loop is empty when there is no such padding, so unpadded layers pay nothing here).
    for oh in range(oh_lo):
        _fill_zero(dst[oh])
    for oh in range(oh_hi, OH):
        _fill_zero(dst[oh])
    if ow_lo > 0 or ow_hi < OW:
        for oh in range(oh_lo, oh_hi):
            _fill_zero(dst[oh, :ow_lo])
            _fill_zero(dst[oh, ow_hi:])
    # The copy.  The test of sW stays outside the loops: with the branch inside, LLVM no longer
    # vectorizes the copy.
    n_in = ow_hi - ow_lo
    first = ow_lo * sW + off_w  # input column of output column ow_lo
    if sW == 1:  # a plain slice: Numba knows it is contiguous and emits vector copies
        for oh in range(oh_lo, oh_hi):
            body = dst[oh, ow_lo:ow_hi]
            row = plane[oh * sH + off_h, first : first + n_in]
            for t in range(n_in):
                body[t] = row[t]
    else:
        for oh in range(oh_lo, oh_hi):
            body = dst[oh, ow_lo:ow_hi]
            strided = plane[oh * sH + off_h, first : first + (n_in - 1) * sW + 1 : sW]
            for t in range(n_in):
                body[t] = strided[t]


@njit(cache=True, nogil=True)
def _scatter_window(src, plane, off_h, off_w, stride):
    """The adjoint of ``_gather_window``: ``plane[oh*sH + off_h, ow*sW + off_w] += src[oh, ow]`` where inside."""
    H, W = plane.shape
    OH, OW = src.shape
    sH, sW = stride
    oh_lo, oh_hi = index_range(off_h, sH, H, OH)
    ow_lo, ow_hi = index_range(off_w, sW, W, OW)
    n_in = ow_hi - ow_lo
    first = ow_lo * sW + off_w
    if sW == 1:
        for oh in range(oh_lo, oh_hi):
            body = src[oh, ow_lo:ow_hi]
            row = plane[oh * sH + off_h, first : first + n_in]
            for t in range(n_in):
                row[t] += body[t]
    else:
        for oh in range(oh_lo, oh_hi):
            body = src[oh, ow_lo:ow_hi]
            strided = plane[oh * sH + off_h, first : first + (n_in - 1) * sW + 1 : sW]
            for t in range(n_in):
                strided[t] += body[t]


@njit(cache=True, nogil=True)
def im2col(x, cols, kernel_size, stride, padding, dilation):
    """Fill ``cols: (C*kH*kW, N, OH, OW)`` with the windows of ``x: (N, C, H, W)`` (see above); returns ``cols``.

    """
    N, C = x.shape[0], x.shape[1]
    kH, kW = kernel_size
    pH, pW = padding
    dH, dW = dilation
    for plane in range(N * C):  # every (image, channel) plane
        n, c = plane // C, plane % C
        for i in range(kH):
            for j in range(kW):
                _gather_window(x[n, c], cols[(c * kH + i) * kW + j, n], i * dH - pH, j * dW - pW, stride)
    return cols


@njit(cache=True, nogil=True)
def col2im(cols, grad_x, kernel_size, stride, padding, dilation):
    """Sum the columns ``cols: (C*kH*kW, N, OH, OW)`` back onto ``grad_x: (N, C, H, W)`` (overwritten); returns it.

    Windows overlap, so several columns add into one input pixel.
    """
    N, C = grad_x.shape[0], grad_x.shape[1]
    kH, kW = kernel_size
    pH, pW = padding
    dH, dW = dilation
    for plane in range(N * C):  # every (image, channel) plane
        n, c = plane // C, plane % C
        grad_x[n, c] = 0.0
        for i in range(kH):
            for j in range(kW):
                _scatter_window(cols[(c * kH + i) * kW + j, n], grad_x[n, c], i * dH - pH, j * dW - pW, stride)
    return grad_x


@njit(cache=True, nogil=True)
def im2col_stride1(xp, cols, kernel_size, dilation):
    """im2col for stride 1 on a zero-padded input ``xp: (N, C, Hp, Wp)``; fills ``cols: (C*kH*kW, N, OH*Wp)``.

    With stride 1, output row ``oh`` of tap ``(i, j)`` reads padded row ``oh + i*dH`` from
    column ``j*dW`` on, so if every output row is taken ``Wp`` wide (the last ``Wp - OW``
    columns are junk the caller drops), the tap's whole window is ONE contiguous run of
    ``OH*Wp`` numbers in the flattened plane, starting at ``i*dH*Wp + j*dW``.  One long copy
    instead of OH short ones (short rows cost more in loop overhead than in copying).  ``Hp`` has
    one spare zero row, for the junk end of the last run.
    """
    N, C, Hp, Wp = xp.shape
    kH, kW = kernel_size
    dH, dW = dilation
    run = cols.shape[2]  # OH * Wp
    for plane in range(N * C):  # every (image, channel) plane
        n, c = plane // C, plane % C
        flat = xp[n, c].reshape(Hp * Wp)
        for i in range(kH):
            for j in range(kW):
                start = i * dH * Wp + j * dW
                src = flat[start : start + run]
                dst = cols[(c * kH + i) * kW + j, n]
                for t in range(run):
                    dst[t] = src[t]
    return cols


@njit(cache=True, nogil=True)
def col2im_stride1(cols, grad_xp, kernel_size, dilation):
    """The adjoint of ``im2col_stride1``: ``cols: (C*kH*kW, N, OH*Wp)`` summed onto ``grad_xp: (N, C, Hp, Wp)``.

    ``grad_xp`` is overwritten.  The junk columns of ``cols`` must be zero (they are: their
    output gradient is zero).
    """
    N, C, Hp, Wp = grad_xp.shape
    kH, kW = kernel_size
    dH, dW = dilation
    run = cols.shape[2]
    for plane in range(N * C):  # every (image, channel) plane
        n, c = plane // C, plane % C
        flat = grad_xp[n, c].reshape(Hp * Wp)
        flat[:] = 0.0
        for i in range(kH):
            for j in range(kW):
                start = i * dH * Wp + j * dW
                dst = flat[start : start + run]
                src = cols[(c * kH + i) * kW + j, n]
                for t in range(run):
                    dst[t] += src[t]
    return grad_xp


@njit(cache=True, nogil=True)
def product_to_nchw(prod, bias, out):
    """``out[n, co, oh, ow] = prod[co, n, oh*row_len + ow] + bias[co]`` for ``ow < OW``; wider ``prod`` rows are junk.

    prod: (C_out, B, OH*row_len) (the matrix product), out: (B, C_out, OH, OW).  A loop over
    rows: NumPy's strided copy of short rows spends more time per row than copying it.
    """
    N, C, OH = out.shape[0], out.shape[1], out.shape[2]
    row_len = prod.shape[2] // OH
    for co in range(C):
        for n in range(N):
            rows_out(prod[co, n], bias[co], out[n, co], row_len)
    return out


@njit(cache=True, nogil=True)
def nchw_to_product(grad, g):
    """``g[co, n, oh, ow] = grad[n, co, oh, ow]``, and zero in the junk columns ``ow >= OW`` of wider rows."""
    N, C, OH, OW = grad.shape
    row_len = g.shape[3]
    for co in range(C):
        for n in range(N):
            for oh in range(OH):
                src = grad[n, co, oh]
                dst = g[co, n, oh]
                for ow in range(OW):
                    dst[ow] = src[ow]
                for ow in range(OW, row_len):
                    dst[ow] = 0.0
    return g


@njit(cache=True, nogil=True)
def rows_out(run, bias, out_plane, row_len):
    """``out_plane[oh, ow] = run[oh*row_len + ow] + bias``: a run of ``row_len``-wide rows without their junk ends.

    out_plane: (OH, OW), OW <= row_len.  Used by ``product_to_nchw`` and the direct convolution.
    """
    OH, OW = out_plane.shape
    for oh in range(OH):
        src = run[oh * row_len : oh * row_len + OW]
        dst = out_plane[oh]
        for ow in range(OW):
            dst[ow] = src[ow] + bias
