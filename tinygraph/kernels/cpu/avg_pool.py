"""Fast average pooling and adaptive average pooling, forward and backward.

Same functions, arguments and results as the textbook loops of ``reference/pool.py`` (read those
first); the shapes and the window arithmetic shared by the pooling kernels are in ``pool.py``.

Why faster than the reference: each window is clipped to the input once per axis
(``_avg_span``, ``_adaptive_range``) instead of testing every tap, and the large windows of
adaptive pooling are summed as contiguous runs of the flattened plane with SIMD partial sums
(``_window_sum``); the reference adds one value at a time.  Outputs are allocated once per call;
a large batch is split between tinygraph's threads (``scheduling.run_split``), whole images each.
"""

from __future__ import annotations

from numba import njit

from . import buffers
from .scheduling import ELEMENT_STEP_FLOPS, run_split

__all__ = [
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
]


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
    out = buffers.empty(x.shape[:2] + tuple(out_size), x.dtype)
    geometry = (kernel_size, stride, padding, out_size, count_include_pad, divisor_override)
    run_split(lambda start, stop: _avg_pool2d_forward_into(x[start:stop], *geometry, out[start:stop]),
              x.shape[0], ELEMENT_STEP_FLOPS * out.size * kernel_size[0] * kernel_size[1])  # a step per tap
    return out


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
    grad_x = buffers.zeros(grad_out.shape[:2] + tuple(in_size), grad_out.dtype)
    geometry = (kernel_size, stride, padding, count_include_pad, divisor_override)

    def images(start, stop):
        _avg_pool2d_backward_into(grad_out[start:stop], in_size, *geometry, grad_x[start:stop])

    run_split(images, grad_out.shape[0], ELEMENT_STEP_FLOPS * grad_out.size * kernel_size[0] * kernel_size[1])
    return grad_x


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
    out = buffers.empty(x.shape[:2] + tuple(out_size), x.dtype)
    run_split(lambda start, stop: _adaptive_avg_pool2d_forward_into(x[start:stop], out_size, out[start:stop]),
              x.shape[0], ELEMENT_STEP_FLOPS * x.size)  # every input added once (more where windows overlap)
    return out


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
    grad_x = buffers.zeros(grad_out.shape[:2] + tuple(in_size), grad_out.dtype)

    def images(start, stop):
        _adaptive_avg_pool2d_backward_into(grad_out[start:stop], in_size, grad_x[start:stop])

    run_split(images, grad_out.shape[0], ELEMENT_STEP_FLOPS * grad_x.size)
    return grad_x


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
