"""Pooling kernels: max, average and adaptive average pooling over 2-D planes.

Array in, array out: no Tensor, no autograd, no argument checks (``tinygraph.functional.pool``
validates arguments and computes output sizes; these functions trust what they are given).

Same functions, arguments and results as the textbook loops of ``reference/pool.py`` (read
those first); compiled with Numba, one (n, c) plane at a time (``nogil``).

Geometry arguments are ``(height, width)`` pairs of ints::

    x: (N, C, H, W)   kernel_size=(kH, kW) stride=(sH, sW) padding=(pH, pW) dilation=(dH, dW)
    out_size=(OH, OW)  ->  out: (N, C, OH, OW)

Output position ``oh`` looks at input rows ``oh*sH - pH + kh*dH`` for ``kh = 0 .. kH-1``; rows
outside ``[0, H)`` are padding.  The same holds for columns.

Why the fast kernels are faster than the reference:

1. Instead of testing every tap of every window against the borders, they first compute the
   range of taps that land inside the input (``windows.index_range``), so the inner loops have
   no bounds checks.  Max pooling goes further: windows wholly inside the input skip even that
   (see ``_max_pool2d_forward_into``).
2. The large window sums of adaptive pooling run over contiguous stretches of memory and may be
   reassociated, so they run as SIMD partial sums (see ``_window_sum``); the reference adds
   one value at a time.
3. Nothing is allocated inside the loops; outputs are allocated once per call, by NumPy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .windows import index_range


__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
]


# =====================================================================================
# Fast kernels (Numba).  Shared helpers first, then one function per plane, then the
# drivers that run the planes.
# =====================================================================================

def _pooled(x, out_size, *dtypes):
    """Result arrays ``(N, C, OH, OW)`` for pooling ``x: (N, C, H, W)``, one per dtype (default: x's)."""
    return tuple(np.empty(x.shape[:2] + tuple(out_size), dtype=d) for d in (dtypes or (x.dtype,)))


def _input_gradient(grad_out, in_size):
    """A zero ``(N, C, H, W)`` gradient for the pooled input, to be summed into."""
    return (np.zeros(grad_out.shape[:2] + tuple(in_size), dtype=grad_out.dtype),)


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
    """Allocates the result and runs ``_max_pool2d_forward_into`` (below)."""
    out, argmax = _pooled(x, out_size, x.dtype, np.int64)
    return _max_pool2d_forward_into(x, kernel_size, stride, padding, dilation, out_size, out, argmax)


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
      Numba emits no negative-index wrap-around test per tap (as in ``_sum``).

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
    return _max_pool2d_backward_into(grad_out, argmax, in_size, *_input_gradient(grad_out, in_size))


@njit(cache=True, nogil=True)
def _max_pool2d_backward_into(grad_out, argmax, in_size, grad_x):
    """Fast max-pool backward; same contract as the reference ``max_pool2d_backward``.

    Differs from the reference: compiled, flat indices.  ``grad_out`` and ``argmax`` must be C-contiguous.
    """
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    planes = grad_x.reshape(N * C, H * W)
    g = grad_out.reshape(N * C, OH * OW)
    a = argmax.reshape(N * C, OH * OW)
    for p in range(N * C):
        for o in range(OH * OW):
            i = a[p, o]
            if i >= 0:
                planes[p, i] += g[p, o]
    return grad_x


@njit(cache=True)
def _avg_span(o, stride, padding, k, size):
    """Window of output ``o`` along one axis: ``[lo, hi)`` clipped to the input, and its length in the padded input.

    PyTorch's rule: the window is first clipped to the PADDED input (that is all a ceil_mode
    window hanging past the padding loses); that length is what ``count_include_pad`` divides
    by.  Then it is clipped to the real input.
    """
    lo = o * stride - padding
    hi = min(lo + k, size + padding)
    return max(lo, 0), min(hi, size), hi - lo


@njit(cache=True)
def _avg_divisor(h0, h1, w0, w1, padded_area, count_include_pad, divisor_override):
    if divisor_override != 0:
        return divisor_override
    return padded_area if count_include_pad else (h1 - h0) * (w1 - w0)


# Sums: ``fastmath={"reassoc"}`` lets LLVM reorder the additions of a window sum and so use SIMD
# (several partial sums); without it every add waits for the previous one.  Only reassociation is
# allowed, not "no NaN/inf" assumptions, so NaN and inf still propagate as in the reference.
_SUM_MATH = {"reassoc", "contract"}


@njit(cache=True)
def _runs(W, h0, h1, w0, w1):
    """A window ``[h0, h1) x [w0, w1)`` of a row-major plane of width W as contiguous runs of the flat plane.

    Returns ``(first, length, count, step)``: runs start at ``first + r*step`` for ``r < count``.
    Full-width windows (global pooling) are ONE run of ``(h1-h0)*W`` values: one long loop.
    """
    if w0 == 0 and w1 == W:
        return h0 * W, (h1 - h0) * W, 1, 0
    return h0 * W + w0, w1 - w0, h1 - h0, W


@njit(cache=True, fastmath=_SUM_MATH)
def _sum(run):
    """Sum of a 1-D array, float64 accumulator.  Looping ``range(run.shape[0])`` from 0 lets
    Numba drop its negative-index (wrap-around) check, and without that check LLVM uses SIMD;
    a loop from an offset, ``flat[first + i]``, is not vectorized."""
    total = 0.0
    for i in range(run.shape[0]):
        total += run[i]
    return total


@njit(cache=True)
def _add(run, value):
    for i in range(run.shape[0]):
        run[i] += value


@njit(cache=True)
def _window_sum(flat, W, h0, h1, w0, w1):
    """Sum of the window ``[h0, h1) x [w0, w1)`` of a flat (H*W,) plane, run by run."""
    first, length, count, step = _runs(W, h0, h1, w0, w1)
    total = 0.0
    for r in range(count):
        total += _sum(flat[first + r * step : first + r * step + length])
    return total


@njit(cache=True)
def _window_add(flat, W, h0, h1, w0, w1, value):
    """Add ``value`` to the window ``[h0, h1) x [w0, w1)`` of a flat (H*W,) plane, run by run."""
    first, length, count, step = _runs(W, h0, h1, w0, w1)
    for r in range(count):
        _add(flat[first + r * step : first + r * step + length], value)


@njit(cache=True)
def _avg_pool_plane(x, out, kernel_size, stride, padding, count_include_pad, divisor_override):
    H, W = x.shape
    OH, OW = out.shape
    for oh in range(OH):
        h0, h1, padded_h = _avg_span(oh, stride[0], padding[0], kernel_size[0], H)
        for ow in range(OW):
            w0, w1, padded_w = _avg_span(ow, stride[1], padding[1], kernel_size[1], W)
            total = 0.0  # float64 accumulator, also for float32 input
            for ih in range(h0, h1):  # pooling windows are small: plain loops beat row slices here
                for iw in range(w0, w1):
                    total += x[ih, iw]
            divisor = _avg_divisor(h0, h1, w0, w1, padded_h * padded_w, count_include_pad, divisor_override)
            empty = h1 <= h0 or w1 <= w0  # cannot happen for valid arguments; PyTorch gives 0
            out[oh, ow] = 0.0 if empty else total / divisor


@njit(cache=True)
def _avg_pool_plane_backward(grad_out, grad_x, kernel_size, stride, padding, count_include_pad, divisor_override):
    H, W = grad_x.shape
    OH, OW = grad_out.shape
    for oh in range(OH):
        h0, h1, padded_h = _avg_span(oh, stride[0], padding[0], kernel_size[0], H)
        for ow in range(OW):
            w0, w1, padded_w = _avg_span(ow, stride[1], padding[1], kernel_size[1], W)
            if h1 <= h0 or w1 <= w0:
                continue
            divisor = _avg_divisor(h0, h1, w0, w1, padded_h * padded_w, count_include_pad, divisor_override)
            share = grad_out[oh, ow] / divisor
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    grad_x[ih, iw] += share


def avg_pool2d_forward(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override):
    """Allocates the result and runs ``_avg_pool2d_forward_into`` (below)."""
    (out,) = _pooled(x, out_size)
    return _avg_pool2d_forward_into(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, out)


@njit(cache=True, nogil=True)
def _avg_pool2d_forward_into(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override, out):
    """Fast average pooling; same contract as the reference ``avg_pool2d_forward``.

    Differs from the reference: compiled, and each window is clipped to the
    input once per axis (``_avg_span``) instead of testing every tap.  ``divisor_override=0`` means none.
    """
    N, C = x.shape[0], x.shape[1]
    for p in range(N * C):
        n, c = p // C, p % C
        _avg_pool_plane(x[n, c], out[n, c], kernel_size, stride, padding, count_include_pad, divisor_override)
    return out


def avg_pool2d_backward(grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override):
    """Allocates the result and runs ``_avg_pool2d_backward_into`` (below)."""
    (grad_x,) = _input_gradient(grad_out, in_size)
    geometry = (kernel_size, stride, padding, count_include_pad, divisor_override)
    return _avg_pool2d_backward_into(grad_out, in_size, *geometry, grad_x)


@njit(cache=True, nogil=True)
def _avg_pool2d_backward_into(
    grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override, grad_x
):
    """Fast average-pool backward; same contract as the reference ``avg_pool2d_backward``.

    Differs from the reference: compiled, windows clipped once.
    """
    N, C = grad_out.shape[0], grad_out.shape[1]
    for p in range(N * C):
        n, c = p // C, p % C
        _avg_pool_plane_backward(
            grad_out[n, c], grad_x[n, c], kernel_size, stride, padding, count_include_pad, divisor_override
        )
    return grad_x


@njit(cache=True)
def _adaptive_range(i, in_len, out_len):
    """Window of output i in integer arithmetic: [floor(i*L/O), ceil((i+1)*L/O))."""
    return (i * in_len) // out_len, ((i + 1) * in_len + out_len - 1) // out_len


def adaptive_avg_pool2d_forward(x, out_size):
    """Allocates the result and runs ``_adaptive_avg_pool2d_forward_into`` (below)."""
    return _adaptive_avg_pool2d_forward_into(x, out_size, *_pooled(x, out_size))


@njit(cache=True, nogil=True)
def _adaptive_avg_pool2d_forward_into(x, out_size, out):
    """Fast adaptive average pooling; same contract as the reference ``adaptive_avg_pool2d_forward``.

    Differs from the reference: compiled, window bounds computed in exact
    integer arithmetic instead of floor/ceil of floats, and windows summed as contiguous runs
    of the flattened plane with SIMD (``_window_sum``): global average pooling is one run per
    plane.  ``x`` must be C-contiguous.
    """
    N, C, H, W = x.shape
    OH, OW = out_size
    planes = x.reshape(N * C, H * W)
    means = out.reshape(N * C, OH * OW)
    for p in range(N * C):
        for oh in range(OH):
            h0, h1 = _adaptive_range(oh, H, OH)
            for ow in range(OW):
                w0, w1 = _adaptive_range(ow, W, OW)
                means[p, oh * OW + ow] = _window_sum(planes[p], W, h0, h1, w0, w1) / ((h1 - h0) * (w1 - w0))
    return out


def adaptive_avg_pool2d_backward(grad_out, in_size):
    """Allocates the result and runs ``_adaptive_avg_pool2d_backward_into`` (below)."""
    return _adaptive_avg_pool2d_backward_into(grad_out, in_size, *_input_gradient(grad_out, in_size))


@njit(cache=True, nogil=True)
def _adaptive_avg_pool2d_backward_into(grad_out, in_size, grad_x):
    """Fast adaptive-average-pool backward; same contract as the reference.

    Windows are updated as contiguous runs of the flattened plane, as in the forward kernel.
    ``grad_out`` must be C-contiguous.
    """
    N, C, OH, OW = grad_out.shape
    H, W = in_size
    grad = grad_out.reshape(N * C, OH * OW)
    planes = grad_x.reshape(N * C, H * W)
    for p in range(N * C):
        for oh in range(OH):
            h0, h1 = _adaptive_range(oh, H, OH)
            for ow in range(OW):
                w0, w1 = _adaptive_range(ow, W, OW)
                _window_add(planes[p], W, h0, h1, w0, w1, grad[p, oh * OW + ow] / ((h1 - h0) * (w1 - w0)))
    return grad_x
