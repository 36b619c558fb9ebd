"""Fast max pooling: the forward pass (maximum and where it was) and its backward pass.

Same functions, arguments and results as the textbook loops of ``reference/pool.py`` (read those
first); the shapes and the window arithmetic shared by the pooling kernels are in ``pool.py``.

Why faster than the reference: windows wholly inside the input (nearly all of them) are scanned
through the flat offsets of their taps, with no border test (``_max_pool2d_forward_into``); only
the ring of windows that touch the padding computes, per window, the range of its taps inside the
input (``windows.index_range``).  The most common pooling of all, 2x2 windows at stride 2 with no
padding, has a loop of its own with the four taps written out (``_max_pool_2x2_into``).  A large
batch is split between tinygraph's threads (``scheduling.run_split``), whole images each.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import buffers
from .scheduling import ELEMENT_STEP_FLOPS, run_split
from .windows import index_range

__all__ = ["max_pool2d_forward", "max_pool2d_backward"]


@njit(cache=True)
def _inside_range(k, stride, padding, dilation, size, n_out):
    """``[lo, hi)``: the outputs along one axis whose every tap lies inside the input (no padding)."""
    first_lo, first_hi = index_range(-padding, stride, size, n_out)  # the window's first tap inside
    last_lo, last_hi = index_range(-padding + (k - 1) * dilation, stride, size, n_out)  # and its last
    lo, hi = max(first_lo, last_lo), min(first_hi, last_hi)
    return min(lo, hi), hi


@njit(cache=True)
def _tap_offsets(kernel_size, dilation, W):
    """Flat offset ``kh*dH*W + kw*dW`` of every tap from its window's corner, in scan order (kh outer)."""
    kH, kW = kernel_size
    offsets = np.empty(kH * kW, dtype=np.uint64)
    for kh in range(kH):
        for kw in range(kW):
            offsets[kh * kW + kw] = kh * dilation[0] * W + kw * dilation[1]
    return offsets


@njit(cache=True)
def _max_pool_edge_window(x, out, argmax, oh, ow, kernel_size, stride, padding, dilation):
    """Max pooling of one window that may touch the padding: only its taps inside the input are scanned."""
    H, W = x.shape
    h0 = oh * stride[0] - padding[0]
    w0 = ow * stride[1] - padding[1]
    dH, dW = dilation
    kh0, kh1 = index_range(h0, dH, H, kernel_size[0])  # the taps inside the input
    kw0, kw1 = index_range(w0, dW, W, kernel_size[1])
    best = -np.inf
    best_at = -1
    for kh in range(kh0, kh1):
        ih = h0 + kh * dH
        for kw in range(kw0, kw1):
            iw = w0 + kw * dW
            v = x[ih, iw]
            # strict '>' keeps the first maximum on ties; v != v is NaN, which wins (as PyTorch)
            if best_at < 0 or v > best or v != v:
                best = v
                best_at = ih * W + iw
    out[oh, ow] = best
    argmax[oh, ow] = best_at


@njit(cache=True)
def _max_pool_plane(x, flat, out, argmax, offsets, inside, kernel_size, stride, padding, dilation):
    """Max pooling of one (H, W) plane ``x`` (``flat`` is the same plane as (H*W,)) into ``out``/``argmax``.

    The windows ``inside = (oh_lo, oh_hi, ow_lo, ow_hi)`` lie inside the input and are scanned
    through the tap ``offsets``; the ring around them (one or two windows wide where there is
    padding, empty where there is none) goes through ``_max_pool_edge_window``.
    """
    W = x.shape[1]
    OH, OW = out.shape
    sH, sW = stride
    pH, pW = padding
    oh_lo, oh_hi, ow_lo, ow_hi = inside
    for oh in range(oh_lo, oh_hi):
        for ow in range(ow_lo, ow_hi):
            corner = (oh * sH - pH) * W + ow * sW - pW
            window = flat[corner:]  # indexed by the (unsigned) tap offsets: see max_pool2d_forward
            best = window[0]  # the first tap; offsets[0] == 0
            best_at = 0.0  # offset of the best tap, as a float: see max_pool2d_forward
            for t in range(1, offsets.shape[0]):
                v = window[offsets[t]]
                # strict '>' keeps the first maximum on ties; v != v is NaN, which wins (as PyTorch)
                if v > best or v != v:
                    best = v
                    best_at = float(offsets[t])
            out[oh, ow] = best
            argmax[oh, ow] = corner + int(best_at)
    for oh in range(OH):
        # the ring: in an inside row, the columns left and right of [ow_lo, ow_hi); elsewhere, all
        left, right = (ow_lo, ow_hi) if oh_lo <= oh < oh_hi else (OW, OW)
        for ow in range(left):
            _max_pool_edge_window(x, out, argmax, oh, ow, kernel_size, stride, padding, dilation)
        for ow in range(right, OW):
            _max_pool_edge_window(x, out, argmax, oh, ow, kernel_size, stride, padding, dilation)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size):
    """Allocates the result and runs ``_max_pool_2x2_into`` or ``_max_pool2d_forward_into`` (below) on it."""
    N, C = x.shape[:2]
    pooled = (N, C) + tuple(out_size)
    out, argmax = buffers.empty(pooled, x.dtype), buffers.empty(pooled, np.int64)
    two_by_two = (
        tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0)
        and tuple(dilation) == (1, 1) and 2 * out_size[0] <= x.shape[2] and 2 * out_size[1] <= x.shape[3]
    )  # and no ceil_mode window past the input's edge

    def pool_images(start, stop):
        if two_by_two:
            _max_pool_2x2_into(x[start:stop], out[start:stop], argmax[start:stop])
        else:
            _max_pool2d_forward_into(
                x[start:stop], kernel_size, stride, padding, dilation, out_size, out[start:stop], argmax[start:stop]
            )

    run_split(pool_images, N, ELEMENT_STEP_FLOPS * out.size * kernel_size[0] * kernel_size[1])  # a step per tap
    return out, argmax


@njit(cache=True, nogil=True, inline="always")
def _wins(v, best):
    """Whether tap value ``v`` replaces the running maximum: strictly larger (first maximum kept on ties), or NaN.

    ``|`` rather than ``or``: both tests are evaluated, so the compiler emits a select, not a branch.
    """
    return (v > best) | (v != v)


@njit(cache=True, nogil=True)
def _max_pool_2x2_into(x, out, argmax):
    """2x2 windows at stride 2, no padding (``2*OH <= H``, ``2*OW <= W``): the reference's result, taps written out.

    Window ``(oh, ow)`` covers ``x[2oh, 2ow], x[2oh, 2ow+1], x[2oh+1, 2ow], x[2oh+1, 2ow+1]``, taken
    in that (the reference's scan) order.
    """
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                top, bottom = x[n, c, 2 * oh], x[n, c, 2 * oh + 1]
                top_at = 2 * oh * W  # flat index of the row ``top`` in the plane
                for ow in range(OW):
                    left = 2 * ow
                    best, at = top[left], top_at + left
                    v = top[left + 1]
                    won = _wins(v, best)
                    best, at = (v, top_at + left + 1) if won else (best, at)
                    v = bottom[left]
                    won = _wins(v, best)
                    best, at = (v, top_at + W + left) if won else (best, at)
                    v = bottom[left + 1]
                    won = _wins(v, best)
                    best, at = (v, top_at + W + left + 1) if won else (best, at)
                    out[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = at
    return out, argmax


@njit(cache=True, nogil=True)
def _max_pool2d_forward_into(x, kernel_size, stride, padding, dilation, out_size, out, argmax):
    """Fast max pooling; same contract as the reference ``max_pool2d_forward``.  ``x`` must be C-contiguous.

    Differs from the reference: compiled, and:

    * Windows that lie inside the input (nearly all of them) are scanned as ONE loop over the
      flat offsets of their taps from the window's corner (``_tap_offsets``, computed once per
      call), with no border logic.  Only the ring of windows that touch the padding computes,
      per window, the range of its taps inside the input (``_max_pool_edge_window``).
    * The running maximum starts at the window's first tap instead of -inf, so the loop needs
      no "nothing chosen yet" test.
    * The running argmax is kept as a float64 (exact: flat indices are far below 2**53).
    * The tap offsets are unsigned and index a slice that starts at the window's corner, so
      Numba emits no negative-index wrap-around test per tap (as in ``avg_pool._sum``).

    The order of the taps and the rule (strict '>' or NaN) are the reference's, so results and
    indices are identical, ties and NaN included.

    Why: the cost of the straightforward kernel is per-window set-up (tap ranges, nested loop
    prologues) and a chain of dependent instructions through ``best``; an integer argmax makes
    the comparison's mask move between register files and back.  Flat offsets remove the first,
    the float argmax the second (both selects then use one mask register).
    """
    N, C, H, W = x.shape
    OH, OW = out_size
    flat = x.reshape(N * C, H * W)
    offsets = _tap_offsets(kernel_size, dilation, W)
    inside = _inside_range(kernel_size[0], stride[0], padding[0], dilation[0], H, OH) + _inside_range(
        kernel_size[1], stride[1], padding[1], dilation[1], W, OW
    )
    for p in range(N * C):
        n, c = p // C, p % C
        _max_pool_plane(
            x[n, c], flat[p], out[n, c], argmax[n, c], offsets, inside, kernel_size, stride, padding, dilation
        )
    return out, argmax


def max_pool2d_backward(grad_out, argmax, in_size):
    """Allocates the result and runs ``_max_pool2d_backward_into`` (below)."""
    grad_x = buffers.empty(grad_out.shape[:2] + tuple(in_size), grad_out.dtype)

    def images(start, stop):
        _max_pool2d_backward_into(grad_out[start:stop], argmax[start:stop], in_size, grad_x[start:stop])

    run_split(images, grad_out.shape[0], ELEMENT_STEP_FLOPS * (grad_x.size + grad_out.size))  # zeros, adds
    return grad_x


@njit(cache=True, nogil=True)
def _max_pool2d_backward_into(grad_out, argmax, in_size, grad_x):
    """Fast max-pool backward; same contract as the reference ``max_pool2d_backward``.

    Differs from the reference: compiled, flat indices, and each plane of ``grad_x`` (not zeroed
    by the caller) is zeroed just before its windows add into it, while it is in the cache.
    ``grad_out`` and ``argmax`` must be C-contiguous.
    """
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    planes = grad_x.reshape(N * C, H * W)
    g = grad_out.reshape(N * C, OH * OW)
    a = argmax.reshape(N * C, OH * OW)
    for p in range(N * C):
        planes[p] = 0.0
        for o in range(OH * OW):
            i = a[p, o]
            if i >= 0:
                planes[p, i] += g[p, o]
    return grad_x
