"""Direct 2-D convolution at stride 1: the forward pass without a column matrix.

Same formula, arguments and result as ``conv.conv2d_forward_reference`` (read that first); used
by ``conv.conv2d_forward`` for layers with few filters per group, where it is faster than
im2col + BLAS.  Shapes::

    x: (N, C_in, H, W)     weight: (C_out, C_in // groups, kH, kW)     out: (N, C_out, OH, OW)

How it works.  Zero-pad one image into a flat buffer of planes ``Hp x Wp`` with
``Wp = OW + (kW-1)*dW`` (as ``conv.im2col_stride1`` does).  Then output row ``oh`` of filter
``co`` is a sum over taps ``(ci, i, j)`` of ``weight[co, ci, i, j]`` times a run of the
buffer, and if every output row is taken ``Wp`` wide (the last ``Wp - OW`` numbers are junk,
dropped when the rows are copied out), the whole output plane is ONE run of ``OH*Wp``
numbers, and so is each tap's window::

    acc[t] = sum over taps k of weight[co, k] * padded[tap_offset[k] + t],   t < OH*Wp
    tap_offset[(ci, i, j)] = ci*Hp*Wp + i*dH*Wp + j*dW

Why it beats im2col + BLAS on narrow layers.  im2col writes every window out (kH*kW copies of
the input) so that BLAS can multiply; with few filters the product is short and the copies
dominate: LeNet's first layer (1 -> 6 channels, 5x5) spent 0.86 ms in im2col + product, and
takes 0.31 ms here, on ONE core against BLAS's two (PyTorch: 0.38 ms).  With many filters
BLAS wins (64 filters of 64x3x3 at 32x32: 20 ms against 27 ms here), see ``use_direct``.

Why it is fast at all.  The inner loop updates 4 output rows from 4 taps at a time:
4 loads of the input feed 16 multiply-adds, so the loop is bound by arithmetic, not by loads
and stores (one filter at a time, 4 taps per step: 2x slower on LeNet's second layer, 1.01
against 0.50 ms).  The run is a multiple of ``_LANES`` so that the compiler, which can see it, emits
whole vectors with no scalar tail: on LeNet's second layer (a run of 140) the tail alone made
the kernel 1.5x slower (0.74 against 0.50 ms).  Filters and taps are padded with zero weights
to multiples of 4, so there are no remainder loops either.

Threads.  The images are split between two Python threads (``chunk_threads``; the kernel
releases the GIL) when each thread gets at least ``chunk_threads.MIN_THREADED_FLOPS`` of work:
LeNet's second layer, not its first.  Measured (in-process A/B, 15-20 interleaved rounds):
LeNet's second layer forward 0.85 -> 0.65 ms median; its first layer gained nothing
(0.51 -> 0.44 ms forward but 1.75 -> 1.83 ms forward + backward), hence the threshold.  The
caller and the helper are kept on different CPUs for the call: unpinned, Linux often ran both
on one CPU after an idle moment and two threads were slower than one (1.29-1.39x).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .chunk_threads import run_chunks, threads_for

__all__ = ["conv2d_forward_direct", "pad_image", "rows_out", "tap_offsets", "use_direct"]

_BLOCK = 4  # output channels per pass, and taps per step of the inner loop
_LANES = 16  # the run is rounded up to a multiple of this (16 float32 = one AVX-512 register)

#: ``conv2d_forward`` goes direct when a group has at most this many filters (stride 1).  Measured
#: against im2col + BLAS (2 cores): 6 filters 2.3-2.6x faster, 16 filters 1.1x; 32 filters (32x3x3,
#: dilated) 0.95x, 64 filters (64x3x3) 0.75x.
MAX_FILTERS_PER_GROUP = 16


def use_direct(stride, weight_shape, groups) -> bool:
    """Whether ``conv.conv2d_forward`` should take this direct path (see MAX_FILTERS_PER_GROUP)."""
    return tuple(stride) == (1, 1) and weight_shape[0] // groups <= MAX_FILTERS_PER_GROUP


def conv2d_forward_direct(x, weight, bias, padding, dilation, groups, out_size):
    """Stride-1 convolution, directly: ``out: (N, C_out, OH, OW)``; arguments as ``conv2d_forward_reference``."""
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    OH, OW = out_size
    dH, dW = dilation
    Hp, Wp = OH + (kH - 1) * dH, OW + (kW - 1) * dW  # the padded plane every window lies in
    run_blocks = -(-OH * Wp // _LANES)  # the run OH*Wp, in whole blocks of _LANES
    taps = tap_offsets(C_in_g, (kH, kW), dilation, (Hp, Wp))
    filters = _filter_blocks(weight, groups, taps.shape[0])
    bias = np.zeros(C_out, x.dtype) if bias is None else bias
    out = np.empty((N, C_out, OH, OW), dtype=x.dtype)
    # each image's padded buffer: the last tap's run may overshoot the last plane by < _LANES
    image_len = C_in * Hp * Wp + _LANES
    if N == 0 or OH == 0 or OW == 0:
        return out

    def convolve(_index, start, stop):
        images = x[start:stop]
        _convolve_images(images, filters, taps, bias, out[start:stop], tuple(padding), (Hp, Wp), image_len, run_blocks)

    threads = threads_for(N, 2 * C_out * C_in_g * kH * kW * OH * OW)
    share = -(-N // threads)  # images per thread
    run_chunks(convolve, [(start, min(start + share, N)) for start in range(0, N, share)], threads)
    return out


def tap_offsets(channels, kernel_size, dilation, plane):
    """``offset[(ci*kH + i)*kW + j] = ci*Hp*Wp + i*dH*Wp + j*dW``, padded with zeros to a multiple of _BLOCK.

    The padding taps read a valid position: here they get zero weights (``_filter_blocks``);
    in ``conv.weight_grad_stride1_direct`` their sums are dropped.
    """
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
    """For each image: pad it, then each block of 4 filters of each group fills 4 output planes."""
    N, C_in, C_out = x.shape[0], x.shape[1], out.shape[1]
    groups, blocks = filters.shape[0], filters.shape[1]
    Hp, Wp = plane
    per_group = C_out // groups
    group_len = (C_in // groups) * Hp * Wp  # buffer length of one group's input planes
    padded = np.empty(image_len, dtype=x.dtype)
    acc = np.empty((_BLOCK, run_blocks * _LANES), dtype=x.dtype)
    for n in range(N):
        pad_image(x[n], padded, padding, plane)
        for g in range(groups):
            group_input = padded[g * group_len :]
            for block in range(blocks):
                _four_filters(acc, group_input, filters[g, block], taps, run_blocks)
                for q in range(_BLOCK):
                    co = block * _BLOCK + q
                    if co < per_group:  # not a padding filter
                        rows_out(acc[q], bias[g * per_group + co], out[n, g * per_group + co], Wp)


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
            a0[t] += w00 * x0 + w01 * x1 + w02 * x2 + w03 * x3
            a1[t] += w10 * x0 + w11 * x1 + w12 * x2 + w13 * x3
            a2[t] += w20 * x0 + w21 * x1 + w22 * x2 + w23 * x3
            a3[t] += w30 * x0 + w31 * x1 + w32 * x2 + w33 * x3


@njit(cache=True, nogil=True)
def pad_image(image, padded, padding, plane):
    """``padded`` <- the planes of ``image: (C, H, W)``, each placed at (pH, pW) in a zero Hp x Wp plane.

    Input rows/columns beyond the plane are never read by a window, so they are not copied.
    """
    C, H, W = image.shape
    pH, pW = padding
    Hp, Wp = plane
    padded[:] = 0.0
    h, w = min(H, Hp - pH), min(W, Wp - pW)
    for c in range(C):
        for r in range(h):
            start = (c * Hp + pH + r) * Wp + pW
            dst = padded[start : start + w]
            src = image[c, r, :w]
            for s in range(w):
                dst[s] = src[s]


@njit(cache=True, nogil=True)
def rows_out(run, bias, out_plane, row_len):
    """``out_plane[oh, ow] = run[oh*row_len + ow] + bias``: a run of ``row_len``-wide rows without their junk ends.

    out_plane: (OH, OW), OW <= row_len.  Also ``conv._product_to_nchw``'s row copy.
    """
    OH, OW = out_plane.shape
    for oh in range(OH):
        src = run[oh * row_len : oh * row_len + OW]
        dst = out_plane[oh]
        for ow in range(OW):
            dst[ow] = src[ow] + bias
