"""Fast 2-D convolution: the forward pass and the gradients for the input, the weight and the bias.

Same functions, arguments and results as the textbook loops of ``reference/conv.py`` (read those
first; the shapes and the formula are there).  Array in, array out: no Tensor, no autograd, no
argument checks (``tinygraph.functional.conv`` does those).  Arrays are C-contiguous float32 or
float64, all of one dtype.

How they differ from the reference:

* The forward pass of a layer with few filters per group at stride 1 is a direct convolution
  over the zero-padded input (``conv_direct``); every other pass is im2col + one BLAS matrix
  product per group and chunk of images (``conv_columns`` explains the column matrix and its
  layouts; ``im2col`` and ``conv_batch_last`` hold the copy loops).
* The batch is processed in chunks whose column matrix fits in ``_COLS_BYTES`` (a matrix that
  stays in cache, reused from call to call: ``conv_columns.scratch``).  A call large enough is
  cut into at least ``MIN_CHUNKS`` chunks, which ``scheduling.run_chunks`` shares between
  tinygraph's threads.  The chunks depend on the shapes only, and the weight gradient's
  per-chunk sums are added in chunk order, so the numbers do not depend on the thread count.
* The weight gradient is computed as ``(cols @ grad_out.T).T``: the same numbers as
  ``grad_out @ cols.T``, in the orientation BLAS runs faster here (a long inner dimension).
* ``conv2d_backward`` (not in the reference set) returns both gradients of a training step at
  once: each chunk of ``grad_out`` is put into the column order once and feeds both products.
* At stride 1 the input gradient of a narrow "same" layer is a forward pass with the filters
  turned 180 degrees (``_backward_input_as_forward``), run by the direct kernel.
"""

from __future__ import annotations

import math

import numpy as np

from . import buffers, conv_columns, scheduling
from .conv_columns import column_layout, scratch
from .conv_direct import conv2d_forward_direct, tap_offsets, use_direct, weight_grad_stride1_direct
from .scheduling import run_chunks

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_direct",
    "conv2d_forward_im2col",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_bias_grad",
]

_COLS_BYTES = 3 << 20  # column-matrix budget per chunk of images
#: A call worth sharing between threads (``scheduling.worth_sharing``) is cut into at least this many chunks.
MIN_CHUNKS = 2


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    """Fast forward pass: ``out: (N, C_out, OH, OW)``; direct for narrow stride-1 layers, else im2col + BLAS."""
    if use_direct(stride, weight.shape, groups, dilation, out_size):
        return conv2d_forward_direct(x, weight, bias, padding, dilation, groups, out_size)
    return conv2d_forward_im2col(x, weight, bias, stride, padding, dilation, groups, out_size)


def conv2d_forward_im2col(x, weight, bias, stride, padding, dilation, groups, out_size):
    """The forward pass as im2col + one BLAS product per group and chunk; the bias is added on the way out."""
    N, C_in = x.shape[:2]
    C_out, _, kH, kW = weight.shape
    layout = column_layout(x.shape[2:], (kH, kW), stride, padding, dilation, out_size)
    rows, L = C_in * kH * kW, layout.L
    w_mat = _as_group_matrices(weight, groups)
    out = buffers.empty((N, C_out) + tuple(out_size), x.dtype)
    flops = 2 * C_out * (rows // groups) * L * N
    chunk, chunks = _plan(N, rows, L, x.itemsize, flops)

    def forward_chunk(_index, start, stop):
        b = stop - start
        cols = scratch("cols", rows * chunk * L, x.dtype)[: rows * b * L].reshape(rows, b * L)  # per thread
        prod = scratch("product", C_out * chunk * L, x.dtype)[: C_out * b * L].reshape(groups, C_out // groups, b * L)
        padded = scratch("padded", layout.scratch_size(chunk, C_in), x.dtype)
        layout.build(x[start:stop], cols, padded)
        np.matmul(w_mat, cols.reshape(groups, -1, b * L), out=prod)
        layout.output(prod, bias, out[start:stop])

    run_chunks(forward_chunk, chunks, flops)
    return out


def conv2d_backward_input(grad_out, weight, stride, padding, dilation, groups, in_size):
    """Fast gradient w.r.t. the input: ``grad_x: (N, C_in, H, W)``.

    One BLAS product per group and chunk computes the gradient of every column of the column
    matrix, ``weight[g].T @ grad_out[g]``, and col2im adds each column back onto its pixels.
    At stride 1, when the direct forward kernel suits the transposed layer and the padding is
    at least half the dilated kernel (``_backward_input_as_forward``), it is a forward pass instead.
    """
    kernel_size = weight.shape[2:]
    full_padding = _backward_input_as_forward(weight, stride, padding, dilation, groups, in_size)
    if full_padding is not None:
        turned = _turned_filters(weight, groups)
        return conv2d_forward_direct(grad_out, turned, None, full_padding, dilation, groups, tuple(in_size))
    layout = column_layout(in_size, kernel_size, stride, padding, dilation, grad_out.shape[2:])
    return _backward_by_columns(grad_out, None, weight, groups, in_size, kernel_size, layout, True, False)[0]


def _backward_input_as_forward(weight, stride, padding, dilation, groups, in_size):
    """The padding ``d*(k-1) - p`` when the input gradient is best computed as a direct forward pass, else None.

    At stride 1 the input gradient is a convolution of ``grad_out`` (padded by ``d*(k-1) - p``)
    with every filter turned 180 degrees and the roles of input and output channels swapped
    (``_turned_filters``)::

        grad_x[n, ci, h, w] = sum over co, i, j of  weight[co, ci, i, j] * grad_out[n, co, h + p - i*d, w + p - j*d]

    Worth it when ``conv2d_forward_direct`` suits that layer (few filters: ``use_direct``) and
    the new padding is no wider than the old (``2p >= d*(k-1)``): a wider one would multiply
    mostly zeros.
    """
    C_out, C_in_g, kH, kW = weight.shape
    full_padding = tuple(d * (k - 1) - p for k, p, d in zip((kH, kW), padding, dilation))
    transposed_shape = (C_in_g * groups, C_out // groups, kH, kW)
    if not (use_direct(stride, transposed_shape, groups, dilation, in_size)
            and all(0 <= q <= p for q, p in zip(full_padding, padding))):
        return None
    return full_padding


def _turned_filters(weight, groups):
    """Each group's filters turned 180 degrees, input and output channels swapped (a new contiguous array).

    weight: (C_out, C_in/groups, kH, kW) -> (C_in, C_out/groups, kH, kW)
    """
    C_out, C_in_g, kH, kW = weight.shape
    per_group = weight.reshape(groups, C_out // groups, C_in_g, kH, kW)
    turned = per_group[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4).reshape(C_in_g * groups, C_out // groups, kH, kW)
    return np.ascontiguousarray(turned)


def _weight_grad_is_direct(stride, C_in, groups):
    """Whether the weight gradient takes the direct dot products (one input channel per group at stride 1)."""
    return tuple(stride) == (1, 1) and C_in == groups


def conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size):
    """Fast gradient w.r.t. the weight: ``grad_w: (C_out, C_in // groups, kH, kW)``.

    The sum of ``grad_out * x`` over all images and output pixels is one BLAS product per group
    and chunk on the column matrix; with one input channel per group at stride 1 it is a few
    long dot products instead (``conv_direct.weight_grad_stride1_direct``).
    """
    if _weight_grad_is_direct(stride, x.shape[1], groups):
        return _weight_grad_direct(x, grad_out, padding, dilation, kernel_size)
    layout = column_layout(x.shape[2:], kernel_size, stride, padding, dilation, grad_out.shape[2:],
                           conv_columns.WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING)
    return _backward_by_columns(grad_out, x, None, groups, x.shape[2:], kernel_size, layout, False, True)[1]


def conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups, in_size, kernel_size,
                    need_input=True, need_weight=True):
    """Both gradients, ``(grad_x or None, grad_w or None)``, in one pass over the chunks where they can share it.

    When both take the column-matrix path, each chunk of ``grad_out`` is put into the column
    order once and feeds both products, and the chunks are shared between threads once (the
    input gradient's layout is used for both).  Otherwise this is ``conv2d_backward_input`` and
    ``conv2d_backward_weight``.
    """
    one_pass = (
        need_input and need_weight
        and not _weight_grad_is_direct(stride, x.shape[1], groups)
        and _backward_input_as_forward(weight, stride, padding, dilation, groups, in_size) is None
    )
    if one_pass:
        layout = column_layout(in_size, kernel_size, stride, padding, dilation, grad_out.shape[2:])
        return _backward_by_columns(grad_out, x, weight, groups, in_size, kernel_size, layout, True, True)
    geometry = (stride, padding, dilation, groups)
    grad_x = conv2d_backward_input(grad_out, weight, *geometry, in_size) if need_input else None
    grad_w = conv2d_backward_weight(x, grad_out, *geometry, kernel_size) if need_weight else None
    return grad_x, grad_w


def _backward_by_columns(grad_out, x, weight, groups, in_size, kernel_size, layout, need_input, need_weight):
    """The column-matrix path of the backward pass: ``(grad_x or None, grad_w or None)``.

    Per group and chunk of images, with ``g`` the chunk's ``grad_out`` in the columns' order::

        grad_w[g]^T  = cols[g] @ g[g]^T          (the same numbers as g[g] @ cols[g]^T; see the module docstring)
        grad_cols[g] = weight[g]^T @ g[g],       then col2im adds each column back onto its pixels

    ``x`` is needed only for the weight gradient and ``weight`` only for the input gradient.
    """
    N, C_out = grad_out.shape[:2]
    C_in = x.shape[1] if need_weight else weight.shape[1] * groups
    kH, kW = kernel_size
    rows, L, dtype = C_in * kH * kW, layout.L, grad_out.dtype
    Kg = rows // groups
    flops = (int(need_input) + int(need_weight)) * 2 * C_out * Kg * L * N
    chunk, chunks = _plan(N, rows, L, grad_out.itemsize, flops)
    grad_x = buffers.empty((N, C_in) + tuple(in_size), dtype) if need_input else None
    w_t = _as_group_matrices(weight, groups).transpose(0, 2, 1) if need_input else None  # (groups, Kg, C_out/groups)
    parts = np.empty((len(chunks), groups, Kg, C_out // groups), dtype=dtype) if need_weight else None

    def backward_chunk(index, start, stop):
        b = stop - start
        g = layout.grad_matrix(grad_out[start:stop], scratch("product", C_out * chunk * L, dtype))
        g = g.reshape(groups, C_out // groups, b * L)
        cols = scratch("cols", rows * chunk * L, dtype)[: rows * b * L].reshape(groups, Kg, b * L)
        padded = scratch("padded", layout.scratch_size(chunk, C_in), dtype)
        if need_weight:
            layout.build(x[start:stop], cols.reshape(rows, b * L), padded)
            np.matmul(cols, g.transpose(0, 2, 1), out=parts[index])
        if need_input:  # the columns' gradients, into the same buffer, then back onto the pixels
            np.matmul(w_t, g, out=cols)
            layout.scatter(cols.reshape(rows, b * L), grad_x[start:stop], padded)

    run_chunks(backward_chunk, chunks, flops)
    grad_w = None
    if need_weight:
        grad_w = np.ascontiguousarray(_sum_in_order(parts).transpose(0, 2, 1)).reshape(C_out, Kg // (kH * kW), kH, kW)
    return grad_x, grad_w


def _weight_grad_direct(x, grad_out, padding, dilation, kernel_size):
    """The weight gradient of a layer with one input channel per group at stride 1, by direct dot products."""
    N, C_in = x.shape[:2]
    C_out = grad_out.shape[1]
    kH, kW = kernel_size
    layout = column_layout(x.shape[2:], kernel_size, (1, 1), padding, dilation, grad_out.shape[2:], math.inf)
    L, dtype = layout.L, grad_out.dtype
    flops = 2 * C_out * kH * kW * L * N
    chunk, chunks = _plan(N, C_in * kH * kW, L, x.itemsize, flops)
    taps = tap_offsets(1, kernel_size, dilation, (layout.Hp, layout.Wp))
    parts = np.zeros((len(chunks), C_out, 1, kH, kW), dtype=dtype)

    def weight_chunk(index, start, stop):
        b = stop - start
        g = layout.grad_matrix(grad_out[start:stop], scratch("product", C_out * chunk * L, dtype))
        xp = layout.pad(x[start:stop], scratch("padded", layout.scratch_size(chunk, C_in), dtype))
        weight_grad_stride1_direct(xp, g.reshape(C_out, b, L), parts[index], taps)

    run_chunks(weight_chunk, chunks, flops)
    return _sum_in_order(parts)


def conv2d_bias_grad(grad_out):
    """dL/dbias ``(C_out,)``: ``grad_out (N, C_out, OH, OW)`` summed over images and pixels.

    ``einsum`` rather than ``grad_out.sum(axis=(0, 2, 3))``: NumPy's reduction over those strided
    axes is several times slower.
    """
    return np.einsum("nchw->c", grad_out)


def _plan(n_batch, rows, L, itemsize, flops):
    """``(chunk, chunks)``: images per chunk and the ``(start, stop)`` of each chunk.

    Chunks keep the column matrix (rows x chunk*L) within _COLS_BYTES; a call worth sharing gets at
    least MIN_CHUNKS.  The chunks depend on the shapes only (they decide how the weight gradient's
    sums are rounded), never on the thread setting.
    """
    chunk = max(1, _COLS_BYTES // max(1, rows * L * itemsize))
    if scheduling.worth_sharing(flops):
        chunk = min(chunk, -(-n_batch // MIN_CHUNKS))
    chunk = max(1, min(chunk, n_batch))
    chunks = [(start, min(start + chunk, n_batch)) for start in range(0, n_batch, chunk)]
    return chunk, chunks


def _as_group_matrices(weight, groups):
    """weight (C_out, C_in/groups, kH, kW) -> (groups, C_out/groups, Kg), Kg = (C_in/groups)*kH*kW (a view)."""
    return weight.reshape(groups, weight.shape[0] // groups, -1)


def _sum_in_order(parts):
    """``parts[0] + parts[1] + ...``, added in that order (a fixed rounding, unlike a pairwise sum)."""
    if len(parts) == 0:  # an empty batch
        return np.zeros(parts.shape[1:], parts.dtype)
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total
