"""Direct 2-D convolution at stride 1: the forward pass without a column matrix.

Same formula, arguments and result as ``reference/conv.py``'s ``conv2d_forward`` (read that first); used
by ``conv.conv2d_forward`` for layers with few filters per group, where it is faster than
im2col + BLAS.  Shapes::

    x: (N, C_in, H, W)     weight: (C_out, C_in // groups, kH, kW)     out: (N, C_out, OH, OW)

How it works.  Zero-pad one image into a flat buffer of planes ``Hp x Wp`` with
``Wp = OW + (kW-1)*dW`` (as ``im2col.im2col_stride1`` does).  Then output row ``oh`` of filter
``co`` is a sum over taps ``(ci, i, j)`` of ``weight[co, ci, i, j]`` times a run of the
buffer, and if every output row is taken ``Wp`` wide (the last ``Wp - OW`` numbers are junk,
dropped when the rows are copied out), the whole output plane is ONE run of ``OH*Wp``
numbers, and so is each tap's window::

    acc[t] = sum over taps k of weight[co, k] * padded[tap_offset[k] + t],   t < OH*Wp
    tap_offset[(ci, i, j)] = ci*Hp*Wp + i*dH*Wp + j*dW

Why it beats im2col + BLAS on narrow layers.  im2col writes every window out (kH*kW copies of
the input) so that BLAS can multiply; with few filters the product is short and the copies
dominate.  With many filters BLAS wins, see ``use_direct``.

Why it is fast at all.  The inner loop updates 4 output rows from 4 taps at a time: 4 loads of
the input feed 16 multiply-adds, so the loop is bound by arithmetic, not by loads and stores.
The run is a multiple of ``_LANES`` so that the compiler, which can see it, emits whole vectors
with no scalar tail.  Filters and taps are padded with zero weights to multiples of 4, so there
are no remainder loops either; only a last block with one or two real filters (depthwise layers
have one filter per group) runs a loop of its own per filter, ``_one_filter``.

The weight gradient of a layer with one input channel per group at stride 1 (a grayscale first
layer, depthwise layers) is direct too (``weight_grad_stride1_direct``): the column matrix would
have only kH*kW rows, and its product would read far more memory than it computes on.

Threads: the images are split between ``scheduling.run_split``'s threads (the kernels release
the GIL); each image's result is computed whole by one thread, so the split changes no number.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from . import buffers
from .conv_columns import BATCH_LAST_MIN_WIDENING
from .im2col import rows_out
from .scheduling import run_split
from .windows import pad_planes

__all__ = [
    "conv2d_forward_direct",
    "tap_offsets",
    "use_direct",
    "weight_grad_stride1_direct",
]

_BLOCK = 4  # output channels per pass, and taps per step of the inner loop
_LANES = 16  # the run is rounded up to a multiple of this (16 float32 = one AVX-512 register)

#: ``conv2d_forward`` goes direct when a group has at most this many filters (stride 1); with
#: more, im2col + BLAS is faster.
MAX_FILTERS_PER_GROUP = 32
#: ... and at most this many when the wide rows are mostly junk (small images, see
#: ``conv_columns.BATCH_LAST_MIN_WIDENING``): the direct loop computes the junk, batch-last im2col does not.
MAX_FILTERS_SHORT_ROWS = 16


def use_direct(stride, weight_shape, groups, dilation, out_size) -> bool:
    """Whether ``conv.conv2d_forward`` should take this direct path (see MAX_FILTERS_PER_GROUP)."""
    filters = weight_shape[0] // groups
    wide_row = out_size[1] + (weight_shape[3] - 1) * dilation[1]  # Wp, the row the loop computes
    short_rows = wide_row >= BATCH_LAST_MIN_WIDENING * out_size[1]
    limit = MAX_FILTERS_SHORT_ROWS if short_rows else MAX_FILTERS_PER_GROUP
    return tuple(stride) == (1, 1) and filters <= limit


def conv2d_forward_direct(x, weight, bias, padding, dilation, groups, out_size):
    """Stride-1 convolution, directly: ``out: (N, C_out, OH, OW)``; arguments as the reference ``conv2d_forward``."""
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    OH, OW = out_size
    dH, dW = dilation
    Hp, Wp = OH + (kH - 1) * dH, OW + (kW - 1) * dW  # the padded plane every window lies in
    run_blocks = -(-OH * Wp // _LANES)  # the run OH*Wp, in whole blocks of _LANES
    taps = tap_offsets(C_in_g, (kH, kW), dilation, (Hp, Wp))
    filters = _filter_blocks(weight, groups, taps.shape[0])
    bias = np.zeros(C_out, x.dtype) if bias is None else bias
    out = buffers.empty((N, C_out, OH, OW), x.dtype)
    # each image's padded buffer: the last tap's run may overshoot the last plane by < _LANES
    image_len = C_in * Hp * Wp + _LANES
    if N == 0 or OH == 0 or OW == 0:
        return out

    def convolve(start, stop):
        images = x[start:stop]
        _convolve_images(images, filters, taps, bias, out[start:stop], tuple(padding), (Hp, Wp), image_len, run_blocks)

    run_split(convolve, N, 2 * N * C_out * C_in_g * kH * kW * OH * OW)
    return out


def tap_offsets(channels, kernel_size, dilation, plane):
    """``offset[(ci*kH + i)*kW + j] = ci*Hp*Wp + i*dH*Wp + j*dW``, padded with zeros to a multiple of _BLOCK.

    The padding taps read a valid position: here they get zero weights (``_filter_blocks``);
    in ``weight_grad_stride1_direct`` their sums are dropped.  One array per geometry, made once
    and shared by every call (the kernels only read it).
    """
    return _tap_offsets(channels, tuple(kernel_size), tuple(dilation), tuple(plane))


@functools.lru_cache(maxsize=256)
def _tap_offsets(channels, kernel_size, dilation, plane):
    (kH, kW), (dH, dW), (Hp, Wp) = kernel_size, dilation, plane
    offsets = (
        np.arange(channels)[:, None, None] * (Hp * Wp)
        + np.arange(kH)[None, :, None] * (dH * Wp)
        + np.arange(kW)[None, None, :] * dW
    ).ravel()
    padded = np.zeros(-(-offsets.size // _BLOCK) * _BLOCK, dtype=np.int64)
    padded[: offsets.size] = offsets
    return padded


def _filter_blocks(weight, groups, n_taps):
    """weight (C_out, C_in/groups, kH, kW) -> (groups, blocks, _BLOCK, n_taps): each group's filters in blocks of 4.

    Missing filters (a group's count rounded up to a multiple of 4) and padding taps are zeros.
    """
    C_out = weight.shape[0]
    per_group = C_out // groups
    blocks = -(-per_group // _BLOCK)
    filters = np.zeros((groups, blocks * _BLOCK, n_taps), dtype=weight.dtype)
    filters[:, :per_group, : weight[0].size] = weight.reshape(groups, per_group, -1)
    return filters.reshape(groups, blocks, _BLOCK, n_taps)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _convolve_images(x, filters, taps, bias, out, padding, plane, image_len, run_blocks):
    """For each image: pad it, then each block of 4 filters of each group fills 4 output planes.

    A last block with only one or two real filters is done filter by filter (``_one_filter``):
    cheaper than computing two or three padding filters.
    """
    N, C_in, C_out = x.shape[0], x.shape[1], out.shape[1]
    groups, blocks = filters.shape[0], filters.shape[1]
    Hp, Wp = plane
    per_group = C_out // groups
    group_len = (C_in // groups) * Hp * Wp  # buffer length of one group's input planes
    padded = np.empty(image_len, dtype=x.dtype)
    acc = np.empty((_BLOCK, run_blocks * _LANES), dtype=x.dtype)
    for n in range(N):
        pad_planes(x[n : n + 1], padded[: C_in * Hp * Wp].reshape(1, C_in, Hp, Wp), padding)
        padded[C_in * Hp * Wp :] = 0.0  # the overshoot of the last tap's run
        for g in range(groups):
            group_input = padded[g * group_len :]
            for block in range(blocks):
                real = min(_BLOCK, per_group - block * _BLOCK)  # filters of this block that are not padding
                if real <= 2:
                    for q in range(real):
                        _one_filter(acc[q], group_input, filters[g, block, q], taps, run_blocks)
                else:
                    _four_filters(acc, group_input, filters[g, block], taps, run_blocks)
                for q in range(real):
                    co = g * per_group + block * _BLOCK + q
                    rows_out(acc[q], bias[co], out[n, co], Wp)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _four_filters(acc, padded, filters, taps, run_blocks):
    """``acc[q, t] = sum_k filters[q, k] * padded[taps[k] + t]`` for the 4 filters q, t < run_blocks*_LANES.

    Four taps per step: each input number loaded feeds four filters' sums.
    """
    run = run_blocks * _LANES  # a visible multiple of _LANES: whole vectors, no scalar tail
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    for t in range(run):
        a0[t] = 0.0
        a1[t] = 0.0
        a2[t] = 0.0
        a3[t] = 0.0
    for k in range(0, taps.shape[0], _BLOCK):
        r0 = padded[taps[k] : taps[k] + run]  # the windows of taps k .. k+3
        r1 = padded[taps[k + 1] : taps[k + 1] + run]
        r2 = padded[taps[k + 2] : taps[k + 2] + run]
        r3 = padded[taps[k + 3] : taps[k + 3] + run]
        # w<q><j>: filter q's weight for tap k+j, held in scalars (read from the array inside the
        # loop, the compiler would reload them after every store to acc, which it cannot prove apart)
        w00, w01, w02, w03 = filters[0, k], filters[0, k + 1], filters[0, k + 2], filters[0, k + 3]
        w10, w11, w12, w13 = filters[1, k], filters[1, k + 1], filters[1, k + 2], filters[1, k + 3]
        w20, w21, w22, w23 = filters[2, k], filters[2, k + 1], filters[2, k + 2], filters[2, k + 3]
        w30, w31, w32, w33 = filters[3, k], filters[3, k + 1], filters[3, k + 2], filters[3, k + 3]
        for t in range(run):
            x0, x1, x2, x3 = r0[t], r1[t], r2[t], r3[t]
            # added one product at a time onto the sum: each step is one fused multiply-add
            a0[t] = (((a0[t] + w00 * x0) + w01 * x1) + w02 * x2) + w03 * x3
            a1[t] = (((a1[t] + w10 * x0) + w11 * x1) + w12 * x2) + w13 * x3
            a2[t] = (((a2[t] + w20 * x0) + w21 * x1) + w22 * x2) + w23 * x3
            a3[t] = (((a3[t] + w30 * x0) + w31 * x1) + w32 * x2) + w33 * x3


@njit(cache=True, nogil=True, fastmath={"contract"})
def _one_filter(acc, padded, weights, taps, run_blocks):
    """``acc[t] = sum_k weights[k] * padded[taps[k] + t]``: ``_four_filters`` for one filter.

    Four taps per step, as there.  For a block with one or two real filters: a block of four
    would spend half or more of its work on padding filters.
    """
    run = run_blocks * _LANES
    for t in range(run):
        acc[t] = 0.0
    for k in range(0, taps.shape[0], _BLOCK):
        r0 = padded[taps[k] : taps[k] + run]
        r1 = padded[taps[k + 1] : taps[k + 1] + run]
        r2 = padded[taps[k + 2] : taps[k + 2] + run]
        r3 = padded[taps[k + 3] : taps[k + 3] + run]
        w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
        for t in range(run):
            acc[t] = (((acc[t] + w0 * r0[t]) + w1 * r1[t]) + w2 * r2[t]) + w3 * r3[t]


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _window_dots(g0, g1, plane, taps, k, run):
    """Two gradient rows dotted with the windows of taps k..k+3: ``(<g0, w_k>, .., <g0, w_k+3>, <g1, w_k>, ..)``.

    Window ``w_k`` is the run ``plane[taps[k] : taps[k] + run]``.  Eight sums at once: each
    step loads 2 gradient and 4 input numbers for 8 multiply-adds (one dot product at a time
    loads 2 numbers for each).  ``reassoc`` lets LLVM split each sum into vector lanes (the
    order of the additions changes, as it does inside BLAS); without it every sum is one long
    chain of scalar adds.
    """
    r0, r1 = plane[taps[k] : taps[k] + run], plane[taps[k + 1] : taps[k + 1] + run]
    r2, r3 = plane[taps[k + 2] : taps[k + 2] + run], plane[taps[k + 3] : taps[k + 3] + run]
    # float32 zeros: the sums stay float32 for float32 arrays (Numba widens them for float64 ones)
    s0 = s1 = s2 = s3 = u0 = u1 = u2 = u3 = np.float32(0.0)
    for t in range(run):
        a, b = g0[t], g1[t]
        x0, x1, x2, x3 = r0[t], r1[t], r2[t], r3[t]
        s0 += a * x0
        s1 += a * x1
        s2 += a * x2
        s3 += a * x3
        u0 += b * x0
        u1 += b * x1
        u2 += b * x2
        u3 += b * x3
    return s0, s1, s2, s3, u0, u1, u2, u3


@njit(cache=True, nogil=True)
def weight_grad_stride1_direct(xp, grad_matrix, grad_w, taps):
    """``grad_w[co, 0, i, j] += sum_n <grad_out[co, n], window (i, j) of xp[n, c(co)]>``, for C_in/groups == 1.

    xp: (b, C_in, Hp, Wp) zero-padded input (``conv_columns.WideRows.pad``); grad_matrix:
    (C_out, b, OH*Wp), the output gradient in the wide rows' column order with zeros in the junk
    columns (``WideRows.grad_matrix``); grad_w: (C_out, 1, kH, kW), accumulated into; taps: the
    offset of each tap's window in a plane, ``i*dH*Wp + j*dW``, padded to a multiple of 4
    (``tap_offsets``; the padding taps' sums are computed and dropped).

    Each tap's window is one contiguous run of the padded plane (as in ``im2col_stride1``) and is
    dotted with the gradient row directly, both in L1 cache, two filters and four taps at a time
    (``_window_dots``).
    """
    b, C_in, Hp, Wp = xp.shape
    C_out = grad_w.shape[0]
    n_taps = grad_w.shape[2] * grad_w.shape[3]
    run = grad_matrix.shape[2]
    out_per_group = C_out // C_in  # groups == C_in here: each group sees one input channel
    sums = np.zeros((C_out, taps.shape[0]), dtype=grad_w.dtype)
    for n in range(b):
        co = 0
        while co < C_out:
            # two filters of one group share their input plane; a filter without a partner is
            # paired with itself (its second set of sums is dropped)
            pair = co + 1 < C_out and (co + 1) // out_per_group == co // out_per_group
            second = co + 1 if pair else co
            plane = xp[n, co // out_per_group].reshape(Hp * Wp)
            g0, g1 = grad_matrix[co, n], grad_matrix[second, n]
            for k in range(0, taps.shape[0], 4):
                s0, s1, s2, s3, u0, u1, u2, u3 = _window_dots(g0, g1, plane, taps, k, run)
                sums[co, k] += s0
                sums[co, k + 1] += s1
                sums[co, k + 2] += s2
                sums[co, k + 3] += s3
                if pair:
                    sums[second, k] += u0
                    sums[second, k + 1] += u1
                    sums[second, k + 2] += u2
                    sums[second, k + 3] += u3
            co += 2 if pair else 1
    flat = grad_w.reshape(C_out, n_taps)
    flat += sums[:, :n_taps]
    return grad_w
