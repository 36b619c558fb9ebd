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
    N, C_out = grad_out.shape[:2]
    kernel_size = weight.shape[2:]
    C_in = weight.shape[1] * groups
    as_forward = _backward_input_as_forward(weight, stride, padding, dilation, groups, in_size)
    if as_forward is not None:
        flipped, full_padding = as_forward
        return conv2d_forward_direct(grad_out, flipped, None, full_padding, dilation, groups, tuple(in_size))
    layout = column_layout(in_size, kernel_size, stride, padding, dilation, grad_out.shape[2:])
    rows, L, dtype = C_in * kernel_size[0] * kernel_size[1], layout.L, grad_out.dtype
    grad_x = buffers.empty((N, C_in) + tuple(in_size), dtype)
    w_t = _as_group_matrices(weight, groups).transpose(0, 2, 1)  # (groups, Kg, C_out/groups), a view
    flops = 2 * C_out * (rows // groups) * L * N
    chunk, chunks = _plan(N, rows, L, grad_out.itemsize, flops)

    def backward_input_chunk(_index, start, stop):
        b = stop - start
        g = layout.grad_matrix(grad_out[start:stop], scratch("product", C_out * chunk * L, dtype))
        grad_cols = scratch("cols", rows * chunk * L, dtype)[: rows * b * L].reshape(rows, b * L)
        np.matmul(w_t, g.reshape(groups, C_out // groups, b * L), out=grad_cols.reshape(groups, -1, b * L))
        layout.scatter(grad_cols, grad_x[start:stop], scratch("padded", layout.scratch_size(chunk, C_in), dtype))

    run_chunks(backward_input_chunk, chunks, flops)
    return grad_x


def _backward_input_as_forward(weight, stride, padding, dilation, groups, in_size):
    """``(flipped weight, padding)`` when the input gradient is best computed as a direct forward pass, else None.

    At stride 1 the input gradient is a convolution of ``grad_out`` (padded by ``d*(k-1) - p``)
    with every filter turned 180 degrees and the roles of input and output channels swapped::

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
    per_group = weight.reshape(groups, C_out // groups, C_in_g, kH, kW)
    flipped = per_group[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4).reshape(transposed_shape)
    return np.ascontiguousarray(flipped), full_padding


def conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size):
    """Fast gradient w.r.t. the weight: ``grad_w: (C_out, C_in // groups, kH, kW)``.

    The sum of ``grad_out * x`` over all images and output pixels is one BLAS product per group
    and chunk on the column matrix; with one input channel per group at stride 1 it is a few
    long dot products instead (``conv_direct.weight_grad_stride1_direct``).
    """
    N, C_in = x.shape[:2]
    C_out = grad_out.shape[1]
    kH, kW = kernel_size
    direct = tuple(stride) == (1, 1) and C_in == groups
    # the direct path works on the wide rows' padded planes
    min_widening = math.inf if direct else conv_columns.WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING
    layout = column_layout(x.shape[2:], kernel_size, stride, padding, dilation, grad_out.shape[2:], min_widening)
    rows, L, dtype = C_in * kH * kW, layout.L, grad_out.dtype
    Kg = rows // groups
    flops = 2 * C_out * Kg * L * N
    chunk, chunks = _plan(N, rows, L, x.itemsize, flops)
    if direct:
        taps = tap_offsets(1, kernel_size, dilation, (layout.Hp, layout.Wp))
        parts = np.zeros((len(chunks), C_out, 1, kH, kW), dtype=dtype)
    else:  # transposed, (groups, Kg, C_out/groups): see the product below
        parts = np.empty((len(chunks), groups, Kg, C_out // groups), dtype=dtype)

    def backward_weight_chunk(index, start, stop):
        b = stop - start
        padded = scratch("padded", layout.scratch_size(chunk, C_in), dtype)
        g = layout.grad_matrix(grad_out[start:stop], scratch("product", C_out * chunk * L, dtype))
        if direct:
            xp = layout.pad(x[start:stop], padded)
            weight_grad_stride1_direct(xp, g.reshape(C_out, b, L), parts[index], taps)
            return
        cols = scratch("cols", rows * chunk * L, dtype)[: rows * b * L].reshape(rows, b * L)
        layout.build(x[start:stop], cols, padded)
        # grad_w[g]^T = cols[g] @ grad_out[g]^T (see the module docstring)
        g_t = g.reshape(groups, C_out // groups, b * L).transpose(0, 2, 1)
        np.matmul(cols.reshape(groups, Kg, b * L), g_t, out=parts[index])

    run_chunks(backward_weight_chunk, chunks, flops)
    total = _sum_in_order(parts)
    if direct:
        return total
    return np.ascontiguousarray(total.transpose(0, 2, 1)).reshape(C_out, C_in // groups, kH, kW)


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
