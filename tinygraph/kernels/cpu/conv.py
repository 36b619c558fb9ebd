"""2-D convolution kernels: the forward pass and the gradients for the input and the weight.

Array in, array out: no Tensor, no autograd, no argument checks (``tinygraph.functional.conv``
validates the arguments and computes the output size; these functions trust what they get).
Arrays are C-contiguous float32 or float64, all of one dtype.

Shapes and geometry (every pair is ``(height, width)``, a tuple of ints)::

    x:       (N, C_in, H, W)
    weight:  (C_out, C_in // groups, kH, kW)          bias: (C_out,) or None
    out:     (N, C_out, OH, OW)                       out_size=(OH, OW), in_size=(H, W)
    stride=(sH, sW)   padding=(pH, pW)   dilation=(dH, dW)   groups: int

The formula every kernel here computes (or differentiates)::

    out[n, co, oh, ow] = bias[co] + sum over ci < C_in/groups, i < kH, j < kW of
                         weight[co, ci, i, j] * x[n, g*(C_in/groups) + ci, oh*sH - pH + i*dH, ow*sW - pW + j*dW]

where ``g = co // (C_out/groups)`` is the group of output channel ``co`` and ``x`` is zero
outside ``[0, H) x [0, W)`` (the zero padding).  ``padding`` is the padding *before* the first
row and column; the padding after the last row/column only decides how many outputs there are,
so it is implied by ``out_size``.  That is how ``padding='same'`` with an even kernel gets its
extra row at the bottom and extra column at the right, as in PyTorch, with no special case here.

Every kernel comes twice:

* ``*_reference``: plain Python loops, the formula above written out.  Slow, obvious, the
  oracle the tests hold the fast kernels to.  Read these first.
* the fast kernel (same name without the suffix): im2col + one BLAS matrix product per group,
  described in the "fast kernels" section below.  The forward pass has a second fast kernel
  for narrow layers at stride 1, a direct convolution with no column matrix
  (``conv_direct.py``); ``conv2d_forward`` picks between the two.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from numba import njit, prange

from ._parallel import serial_when_small
from .blas_threads import one_thread_if_small
from .chunk_threads import run_chunks, threads_for
from .conv_batch_last import (
    batch_last_to_nchw,
    col2im_batch_last,
    im2col_batch_last,
    nchw_to_batch_last,
    pad_batch_last,
    unpad_batch_last,
)
from .conv_direct import conv2d_forward_direct, pad_image, rows_out, tap_offsets, use_direct

__all__ = [
    "conv2d_bias_grad",
    "conv2d_forward",
    "conv2d_forward_direct",
    "conv2d_forward_im2col",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_backward",
    "im2col",
    "col2im",
    "im2col_stride1",
    "col2im_stride1",
]


# =====================================================================================
# Fast kernels: im2col + BLAS.
# =====================================================================================
#
# A convolution is a matrix product in disguise.  Copy every input window into a column of a
# "column matrix" (im2col):
#
#     cols[(c*kH + i)*kW + j,  b, oh, ow] = x[b, c, oh*sH - pH + i*dH, ow*sW - pW + j*dW]
#
# so cols, seen as a matrix, is (C_in*kH*kW, B*OH*OW) for a chunk of B images.  Its rows come
# in `groups` blocks of Kg = (C_in/groups)*kH*kW rows, one per group, and per group g:
#
#     out[g]         (C_out/groups, B*OH*OW) = weight[g] (C_out/groups, Kg) @ cols[g] (Kg, B*OH*OW)
#     grad_weight[g]                        += grad_out[g] @ cols[g].T   (computed as (cols[g] @ grad_out[g].T).T)
#     grad_cols[g]                           = weight[g].T @ grad_out[g],  then col2im adds every
#                                              column back onto the input pixels it came from.
#
# The products run in NumPy's BLAS (OpenBLAS: ~190 GFLOP/s float32 on the 2 reference cores,
# which no loop we could write in Numba comes near); the copies run in Numba.
#
# Design choices, each measured on the cases of benchmarks/bench_kernels.py (2-core AMD EPYC VM,
# float32, forward + backward; the ResNet case is 32x64x32x32 with 64 3x3 filters):
# * One product per chunk of images, (C_out/g, Kg) @ (Kg, B*OH*OW), not one per image: small
#   layers (LeNet: OH*OW = 100) get a wide matrix BLAS is efficient on.  The price is moving
#   the (C_out, B, pixels) result into NCHW order: one pass (``_product_to_nchw``), which also
#   adds the bias.
# * Chunks of images whose column matrix is at most _COLS_BYTES.  The ResNet case's column
#   matrix is 75 MB: each fresh allocation that big costs ~10 ms of page faults, and im2col's
#   writes then go to DRAM.  ResNet case: 88 ms with 7-image chunks (16 MB), 72 ms with
#   2-image chunks (5 MB), 75 ms with 1 (before the stride-1 layout below).  Since the forward
#   pass of narrow layers went direct (no column matrix), 3 MB beats 6 MB, in interleaved A/B
#   of fwd+bwd: LeNet conv1 0.86x, conv2 0.95x, a LeNet5 training step 0.90x; ResNet 3x3 and
#   dilated unchanged (1.00x, 1.02x); 2 MB was worse on the dilated case (1.15x: one image per chunk).
# * Stride 1 (most layers) has its own column layout, ``im2col_stride1``: each output row is
#   computed Wp = OW + (kW-1)*dW wide, so every tap's window is one contiguous run of the
#   zero-padded input instead of OH short rows.  The products do Wp/OW more work (junk columns,
#   dropped on the way out) and still win: ResNet 77 -> 58 ms, LeNet's second layer 3.3 -> 2.0
#   ms, whose 10-number rows cost more in loop overhead than in copying.
# * Small images at stride 1 get a third layout, ``conv_batch_last``: the image index last, so
#   one output row's windows over the whole chunk are one run of OW*B numbers and there are no
#   junk columns.  It is used where the junk share would be large (``BATCH_LAST_MIN_WIDENING``):
#   LeNet's second layer, backward 1.29 -> 0.90 ms; a LeNet5 training step 0.86-0.91x
#   (interleaved A/B in one process, three runs).
# * The reorder passes (NCHW <-> the matrix's column order) are Numba loops over rows: NumPy's
#   strided copies of 32-number rows ran at ~4 GB/s, 1.8 ms each way on ResNet; ~0.5 ms now.
# * grad_weight is computed as (cols @ grad_out.T).T: OpenBLAS runs that orientation 1.3-1.8x
#   faster on these shapes (a long inner dimension and a short output side).
# * The backward pass rebuilds the column matrix instead of keeping the forward pass's: a
#   training step then holds no 75 MB matrices, and all scratch memory is reused from call to
#   call (``_scratch``).  Keeping it was measured too, twice: for the one-chunk LeNet layers no
#   faster (2.0 vs 2.0 ms; 2.8 vs 2.7 ms), and over a whole LeNet5 step slower (8.5-9.0 against
#   7.0-8.0 ms of CPU time), since a kept matrix is fresh, cache-cold memory each step.
# * With one input channel per group at stride 1 (a grayscale first layer, depthwise layers)
#   the weight gradient skips the column matrix: ``weight_grad_stride1_direct`` dots each
#   tap's window with the gradient directly (LeNet's first layer: 0.34 against 1.1 ms).
# * The copy loops index slices of rows with plain loop counters.  Numba allows negative
#   indices, so `row[k + off]` with a signed `off` compiles to a wrap-around test per element
#   that LLVM can only vectorize with gather/scatter instructions (5x slower here).
# * Threads, two kinds.  (1) Small layers (and any layer while BLAS's worker may be busy-waiting,
#   see ``chunk_threads.run_chunks``): NumPy's BLAS runs the products (on both cores when they
#   are large, ``blas_threads.SMALL_PRODUCT``), and the copies between products run on one
#   Numba thread (IM2COL_THREADS).  Numba's OpenMP workers and OpenBLAS's threads would take
#   turns on the same cores, and each hand-over costs: with OpenMP's default spin-waiting, a
#   product right after an im2col took 19 ms instead of 2.7 ms, and a parallel launch 8-12 ms
#   instead of 60 us whenever other processes share the machine (and PyTorch, if imported
#   first, loads the same libgomp with spin-waiting on).  (2) Layers of at least
#   ``chunk_threads.MIN_THREADED_FLOPS`` per thread (every case of the benchmark, LeNet's
#   included): the chunks are dealt to two Python threads, each doing its own copies and its
#   own products on a one-thread BLAS, so the copies use both cores too.  In-process A/B
#   against (1), fwd+bwd, medians of interleaved rounds (scratch scripts; figures in the commit
#   messages): ResNet 3x3 63.4 -> 53.8 ms, strided 48.8 -> 34.7, dilated 10.2 -> 8.5, stem
#   83.8 -> 65.4, LeNet's second layer 2.54 -> 1.77 ms.  Raise IM2COL_THREADS on a machine with
#   more cores and memory bandwidth (it turns (2) off).

IM2COL_THREADS = 1  # Numba threads for im2col/col2im (see above); NumPy's BLAS threads are separate
_COLS_BYTES = 3 << 20  # column-matrix budget per chunk of images


def _on_threads(kernel, *args):
    """Call a copy kernel on ``IM2COL_THREADS`` Numba threads, restoring Numba's setting after.

    The copy kernels get both builds from ``serial_when_small``, but its size rule is not used
    here: one thread (the default) runs the serial build, since even a one-thread launch of a
    ``parallel=True`` build goes through Numba's threading layer.
    """
    wanted = max(1, min(IM2COL_THREADS, numba.config.NUMBA_NUM_THREADS))
    if wanted == 1:
        return kernel.serial(*args)
    previous = numba.get_num_threads()
    if wanted == previous:
        return kernel.parallel(*args)
    numba.set_num_threads(wanted)
    try:
        return kernel.parallel(*args)
    finally:
        numba.set_num_threads(previous)


def _chunk_threads(n_batch, flops_per_image):
    """How many Python threads share a call's chunks (``chunk_threads.threads_for``).

    One when the copy kernels are threaded themselves (IM2COL_THREADS > 1): Numba's default
    threading layer (workqueue) must not be entered from two threads at once.
    """
    return 1 if IM2COL_THREADS > 1 else threads_for(n_batch, flops_per_image)


_WORKSPACE_MAX_BYTES = 64 << 20  # larger scratch buffers are allocated per call, not kept
_workspace = threading.local()  # per thread: reusable scratch buffers, {(name, dtype): 1-D array}


def _scratch(name, size, dtype):
    """A scratch buffer of ``size`` elements, reused from call to call (per thread; grown when too small).

    The column matrix and its companions are rebuilt for every call, so their memory can be
    reused: allocating them afresh cost page faults on every call whenever the allocator had
    handed the pages back to the system (measured: 1,150 faults, +3.5 ms, per LeNet-layer call
    once PyTorch had run in the same process).  Chunking keeps them at most ~_COLS_BYTES each.
    """
    if size * np.dtype(dtype).itemsize > _WORKSPACE_MAX_BYTES:  # a one-off giant (one huge image): not kept
        return np.empty(size, dtype=dtype)
    buffers = _workspace.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size]


@njit(cache=True, nogil=True)
def _inside(offset, stride, size, n_out):
    """Output positions ``o`` in ``[lo, hi)`` whose input index ``o*stride + offset`` is in ``[0, size)``.

    Every other position reads the zero padding.  Integer ceilings: ``ceil(a / s) == (a + s - 1) // s``.
    """
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - offset + stride - 1) // stride if size > offset else 0
    hi = min(hi, n_out)
    return min(lo, hi), hi


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
    oh_lo, oh_hi = _inside(off_h, sH, H, OH)
    ow_lo, ow_hi = _inside(off_w, sW, W, OW)
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
    # vectorizes the copy (measured 2x slower on LeNet-sized rows).
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
    oh_lo, oh_hi = _inside(off_h, sH, H, OH)
    ow_lo, ow_hi = _inside(off_w, sW, W, OW)
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


@serial_when_small
@njit(parallel=True, cache=True, nogil=True)
def im2col(x, cols, kernel_size, stride, padding, dilation):
    """Fill ``cols: (C*kH*kW, N, OH, OW)`` with the windows of ``x: (N, C, H, W)`` (see above); returns ``cols``.

    ``prange`` over the (image, channel) planes: each writes its own kH*kW rows of ``cols``.
    """
    N, C = x.shape[0], x.shape[1]
    kH, kW = kernel_size
    pH, pW = padding
    dH, dW = dilation
    for plane in prange(N * C):
        n, c = plane // C, plane % C
        for i in range(kH):
            for j in range(kW):
                _gather_window(x[n, c], cols[(c * kH + i) * kW + j, n], i * dH - pH, j * dW - pW, stride)
    return cols


@serial_when_small
@njit(parallel=True, cache=True, nogil=True)
def col2im(cols, grad_x, kernel_size, stride, padding, dilation):
    """Sum the columns ``cols: (C*kH*kW, N, OH, OW)`` back onto ``grad_x: (N, C, H, W)`` (overwritten); returns it.

    Windows overlap, so several columns add into one input pixel.  ``prange`` over the
    (image, channel) planes of ``grad_x``: each plane is summed by one thread, so no two
    threads ever add into the same pixel.
    """
    N, C = grad_x.shape[0], grad_x.shape[1]
    kH, kW = kernel_size
    pH, pW = padding
    dH, dW = dilation
    for plane in prange(N * C):
        n, c = plane // C, plane % C
        grad_x[n, c] = 0.0
        for i in range(kH):
            for j in range(kW):
                _scatter_window(cols[(c * kH + i) * kW + j, n], grad_x[n, c], i * dH - pH, j * dW - pW, stride)
    return grad_x


@serial_when_small
@njit(parallel=True, cache=True, nogil=True)
def im2col_stride1(xp, cols, kernel_size, dilation):
    """im2col for stride 1 on a zero-padded input ``xp: (N, C, Hp, Wp)``; fills ``cols: (C*kH*kW, N, OH*Wp)``.

    With stride 1, output row ``oh`` of tap ``(i, j)`` reads padded row ``oh + i*dH`` from
    column ``j*dW`` on, so if every output row is taken ``Wp`` wide (the last ``Wp - OW``
    columns are junk the caller drops), the tap's whole window is ONE contiguous run of
    ``OH*Wp`` numbers in the flattened plane, starting at ``i*dH*Wp + j*dW``.  One long copy
    instead of OH short ones: LeNet's 10-number rows spent more time in loop overhead than in
    copying.  ``Hp`` has one spare zero row, for the junk end of the last run.
    """
    N, C, Hp, Wp = xp.shape
    kH, kW = kernel_size
    dH, dW = dilation
    run = cols.shape[2]  # OH * Wp
    for plane in prange(N * C):
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


@serial_when_small
@njit(parallel=True, cache=True, nogil=True)
def col2im_stride1(cols, grad_xp, kernel_size, dilation):
    """The adjoint of ``im2col_stride1``: ``cols: (C*kH*kW, N, OH*Wp)`` summed onto ``grad_xp: (N, C, Hp, Wp)``.

    ``grad_xp`` is overwritten.  The junk columns of ``cols`` must be zero (they are: their
    output gradient is zero).  ``prange`` over planes, as ``col2im``.
    """
    N, C, Hp, Wp = grad_xp.shape
    kH, kW = kernel_size
    dH, dW = dilation
    run = cols.shape[2]
    for plane in prange(N * C):
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
def _product_to_nchw(prod, bias, out):
    """``out[n, co, oh, ow] = prod[co, n, oh*row_len + ow] + bias[co]`` for ``ow < OW``; wider ``prod`` rows are junk.

    prod: (C_out, B, OH*row_len) (the matrix product), out: (B, C_out, OH, OW).  A loop over
    rows: NumPy's strided copy of the same spends more time per 32-number row than copying it.
    """
    N, C, OH = out.shape[0], out.shape[1], out.shape[2]
    row_len = prod.shape[2] // OH
    for co in range(C):
        for n in range(N):
            rows_out(prod[co, n], bias[co], out[n, co], row_len)
    return out


@njit(cache=True, nogil=True)
def _nchw_to_product(grad, g):
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

    xp: (b, C_in, Hp, Wp) zero-padded input (``_ColumnLayout.pad``); grad_matrix: (C_out, b, OH*Wp),
    the output gradient in the stride-1 column order with zeros in the junk columns
    (``_ColumnLayout.grad_matrix``); grad_w: (C_out, 1, kH, kW), accumulated into; taps: the
    offset of each tap's window in a plane, ``i*dH*Wp + j*dW``, padded to a multiple of 4
    (``conv_direct.tap_offsets``; the padding taps' sums are computed and dropped).

    Why not im2col + BLAS: with one input channel per group (the first layer of a grayscale
    network, depthwise layers) the column matrix has only kH*kW rows and C_out is small, so
    the product is a thin (kH*kW, B*L) @ (B*L, C_out) that reads ~kH*kW times more memory
    than it computes on.  Here each tap's window is one contiguous run of the padded plane (as
    in ``im2col_stride1``) and is dotted with the gradient row directly, both in L1 cache, two
    filters and four taps at a time (``_window_dots``).  Measured on LeNet's first layer
    (64x1x28x28, 6 5x5 filters): 0.23 ms, against 0.50 ms one dot product at a time and
    1.1 ms for im2col + product.
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


class _ColumnLayout:
    """How a chunk of images becomes the column matrix ``(C_in*kH*kW, B*L)`` and how results come back.

    ``L`` is the number of matrix columns per image: ``OH*OW`` in general, or ``OH*Wp`` for
    stride 1, where each output row is computed ``Wp`` wide (``im2col_stride1``) and the junk
    columns are dropped on the way out (the matrix products do ``Wp/OW`` more work, 6% for
    ResNet's 3x3 layers, 40% for LeNet's second layer, and still win there).
    """

    def __init__(self, in_size, kernel_size, stride, padding, dilation, out_size):
        (self.H, self.W), (self.kH, self.kW) = tuple(in_size), tuple(kernel_size)
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.OH, self.OW = out_size
        self.stride1 = self.stride == (1, 1)
        if self.stride1:  # the padded plane that holds every window: see im2col_stride1
            self.Wp = self.OW + (self.kW - 1) * self.dilation[1]
            self.Hp = self.OH + (self.kH - 1) * self.dilation[0] + 1
        self.row_len = self.Wp if self.stride1 else self.OW  # matrix columns per output row
        self.L = self.OH * self.row_len

    def build(self, x, cols, scratch):
        """cols (rows, b*L) <- the windows of x (b, C, H, W); scratch: a flat buffer for the padded input."""
        b = x.shape[0]
        if not self.stride1:
            _on_threads(im2col, x, cols.reshape(cols.shape[0], b, self.OH, self.OW), *self._geometry())
            return cols
        xp = self.pad(x, scratch)
        _on_threads(im2col_stride1, xp, cols.reshape(cols.shape[0], b, self.L), (self.kH, self.kW), self.dilation)
        return cols

    def pad(self, x, scratch):
        """The zero-padded planes ``xp: (b, C, Hp, Wp)`` of x (b, C, H, W) that stride-1 windows read (in scratch)."""
        xp = self._padded(scratch, x.shape[:2])
        return _pad_images(x, xp, self.padding)

    def scatter(self, grad_cols, grad_x, scratch):
        """grad_x (b, C, H, W) <- the column gradients grad_cols (rows, b*L) summed back onto the pixels."""
        b = grad_x.shape[0]
        if not self.stride1:
            _on_threads(col2im, grad_cols.reshape(grad_cols.shape[0], b, self.OH, self.OW), grad_x, *self._geometry())
            return grad_x
        grad_xp = self._padded(scratch, grad_x.shape[:2])
        grad_cols = grad_cols.reshape(grad_cols.shape[0], b, self.L)
        _on_threads(col2im_stride1, grad_cols, grad_xp, (self.kH, self.kW), self.dilation)
        h, w = self._copied_size()
        pH, pW = self.padding
        if (h, w) != (self.H, self.W):
            grad_x[...] = 0.0  # input rows/columns no window reaches
        grad_x[:, :, :h, :w] = grad_xp[:, :, pH : pH + h, pW : pW + w]
        return grad_x

    def output(self, prod, bias, out):
        """out (b, C_out, OH, OW) <- the product prod (C_out, b*L), junk columns dropped, plus bias."""
        b, C_out = out.shape[:2]
        bias = np.zeros(C_out, out.dtype) if bias is None else bias
        _product_to_nchw(prod.reshape(C_out, b, self.L), bias, out)

    def grad_matrix(self, grad_out, buf):
        """grad_out (b, C_out, OH, OW) -> (C_out, b*L) in the matrix's column order, zero in junk columns."""
        b, C_out = grad_out.shape[:2]
        g = buf[: C_out * b * self.L].reshape(C_out, b, self.OH, self.row_len)
        return _nchw_to_product(grad_out, g).reshape(C_out, b * self.L)

    def scratch(self, chunk, channels, dtype):
        """A buffer for one chunk's padded input (stride 1 only)."""
        return _scratch("padded", chunk * channels * self.Hp * self.Wp if self.stride1 else 0, dtype)

    def _geometry(self):
        return (self.kH, self.kW), self.stride, self.padding, self.dilation

    def _padded(self, scratch, batch_channels):
        n = batch_channels[0] * batch_channels[1] * self.Hp * self.Wp
        return scratch[:n].reshape(tuple(batch_channels) + (self.Hp, self.Wp))

    def _copied_size(self):
        """Input rows/columns that land inside the padded plane (windows never reach the others)."""
        pH, pW = self.padding
        return min(self.H, self.Hp - pH), min(self.W, self.Wp - pW)


#: At stride 1, the batch-last column matrix (``conv_batch_last``) is used when the stride-1
#: layout's rows would be at least this many times wider than the output's, ``Wp >= 1.2 * OW``
#: (a sixth or more of its columns junk): small images under large kernels, as LeNet's second
#: layer (14 / 10).  Below that the transposes it needs cost about what the junk does.
BATCH_LAST_MIN_WIDENING = 1.2


def _column_layout(in_size, kernel_size, stride, padding, dilation, out_size, batch_last_ok=True):
    """The column-matrix layout for this geometry: ``_BatchLastLayout`` or ``_ColumnLayout``.

    ``batch_last_ok=False``: the caller needs the stride-1 layout's padded planes (the direct weight gradient).
    """
    layout = _ColumnLayout(in_size, kernel_size, stride, padding, dilation, out_size)
    if batch_last_ok and layout.stride1 and layout.Wp >= BATCH_LAST_MIN_WIDENING * layout.OW:
        return _BatchLastLayout(layout)
    return layout


class _BatchLastLayout:
    """The stride-1 column matrix with the image index last and no junk columns (see ``conv_batch_last``).

    Columns are ordered ``(oh, ow, n)``, ``L = OH*OW`` per image; same methods as ``_ColumnLayout``.
    """

    def __init__(self, stride1_layout):
        s = stride1_layout
        self.kernel_size, self.padding, self.dilation = (s.kH, s.kW), s.padding, s.dilation
        self.out_size = (s.OH, s.OW)
        self.plane = (s.Hp - 1, s.Wp)  # the stride-1 layout's spare row is for its junk columns
        self.L = s.OH * s.OW

    def build(self, x, cols, scratch):
        """cols (rows, L*b) <- the windows of x (b, C, H, W); scratch: a flat buffer for the padded input."""
        xpt = pad_batch_last(x, self._padded(scratch, x.shape[:2]), self.padding)
        return _on_threads(im2col_batch_last, xpt, cols, self.kernel_size, self.dilation, self.out_size)

    def scatter(self, grad_cols, grad_x, scratch):
        """grad_x (b, C, H, W) <- the column gradients grad_cols (rows, L*b) summed back onto the pixels."""
        grad_xpt = self._padded(scratch, grad_x.shape[:2])
        _on_threads(col2im_batch_last, grad_cols, grad_xpt, self.kernel_size, self.dilation, self.out_size)
        return unpad_batch_last(grad_xpt, grad_x, self.padding)

    def output(self, prod, bias, out):
        """out (b, C_out, OH, OW) <- the product prod (C_out, L*b), plus bias."""
        b, C_out = out.shape[:2]
        bias = np.zeros(C_out, out.dtype) if bias is None else bias
        batch_last_to_nchw(prod.reshape(C_out, self.L, b), bias, out)

    def grad_matrix(self, grad_out, buf):
        """grad_out (b, C_out, OH, OW) -> (C_out, L*b) in the matrix's column order."""
        b, C_out = grad_out.shape[:2]
        g = buf[: C_out * self.L * b].reshape(C_out, self.L, b)
        return nchw_to_batch_last(grad_out, g).reshape(C_out, self.L * b)

    def scratch(self, chunk, channels, dtype):
        """A buffer for one chunk's padded input."""
        return _scratch("padded", chunk * channels * self.plane[0] * self.plane[1], dtype)

    def _padded(self, scratch, batch_channels):
        b, C = batch_channels
        return scratch[: C * self.plane[0] * self.plane[1] * b].reshape(C, self.plane[0], self.plane[1], b)


@njit(cache=True, nogil=True)
def _pad_images(x, xp, padding):
    """``xp: (b, C, Hp, Wp)`` <- each image of ``x: (b, C, H, W)`` placed at (pH, pW) in zero planes; returns xp.

    A compiled loop over rows: NumPy's strided slice assignments of the same took 2.3x longer on
    32-wide rows (4 images of 32x32x32: 58 against 25 us).
    """
    b, C, Hp, Wp = xp.shape
    for n in range(b):
        pad_image(x[n], xp[n].reshape(C * Hp * Wp), padding, (Hp, Wp))
    return xp


def _chunk_size(n_batch, rows, n_cols, itemsize, threads=1):
    """Images per chunk: as many as keep the column matrix under _COLS_BYTES (at least one).

    With ``threads`` sharing the chunks, no more than ``ceil(n_batch / threads)``: one chunk for each.
    """
    per_thread = -(-n_batch // threads)
    return max(1, min(per_thread, _COLS_BYTES // max(1, rows * n_cols * itemsize)))


def _chunks(n_batch, chunk):
    """``(start, stop)`` of consecutive chunks of at most ``chunk`` images."""
    return [(start, min(start + chunk, n_batch)) for start in range(0, n_batch, chunk)]


def _as_group_matrices(weight, groups):
    """weight (C_out, C_in/groups, kH, kW) -> (groups, C_out/groups, Kg), Kg = (C_in/groups)*kH*kW (a view)."""
    return weight.reshape(groups, weight.shape[0] // groups, -1)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    """Fast forward pass; same arguments and result as ``conv2d_forward_reference``.

    Two fast kernels, chosen by the layer's shape: at stride 1 with at most 16 filters per group,
    the direct convolution of ``conv_direct`` (no column matrix; LeNet's layers 2.3-2.6x and
    1.1x faster); otherwise im2col + BLAS (``conv2d_forward_im2col``).
    """
    if use_direct(stride, weight.shape, groups):
        return conv2d_forward_direct(x, weight, bias, padding, dilation, groups, out_size)
    return conv2d_forward_im2col(x, weight, bias, stride, padding, dilation, groups, out_size)


def conv2d_forward_im2col(x, weight, bias, stride, padding, dilation, groups, out_size):
    """The forward pass by im2col + BLAS; same arguments and result as ``conv2d_forward_reference``.

    Differs from the reference: the windows are copied into a column matrix (``im2col``) and
    multiplied by the filters in one BLAS product per group and chunk of images, instead of a
    seven-deep loop of scalar multiply-adds.  The bias is added in the pass that puts the
    product's ``(C_out, B, pixels)`` result into NCHW order.
    """
    N, C_in = x.shape[:2]
    C_out, _, kH, kW = weight.shape
    layout = _column_layout(x.shape[2:], (kH, kW), stride, padding, dilation, out_size)
    rows, L = C_in * kH * kW, layout.L
    w_mat = _as_group_matrices(weight, groups)
    out = np.empty((N, C_out) + tuple(out_size), dtype=x.dtype)
    threads = _chunk_threads(N, 2 * C_out * (rows // groups) * L)
    chunk = _chunk_size(N, rows, L, x.itemsize, threads)

    def forward_chunk(_index, start, stop):
        b = stop - start
        cols_buf = _scratch("cols", rows * chunk * L, x.dtype)  # scratch is per thread
        prod = _scratch("product", C_out * chunk * L, x.dtype)[: C_out * b * L].reshape(groups, C_out // groups, b * L)
        padded = layout.scratch(chunk, C_in, x.dtype)
        cols = layout.build(x[start:stop], cols_buf[: rows * b * L].reshape(rows, b * L), padded)
        with one_thread_if_small(C_out * (rows // groups) * b * L, note=False):
            np.matmul(w_mat, cols.reshape(groups, -1, b * L), out=prod)
        layout.output(prod, bias, out[start:stop])

    run_chunks(forward_chunk, _chunks(N, chunk), threads)
    return out


def conv2d_backward(
    grad_out,
    x,
    weight,
    stride,
    padding,
    dilation,
    groups,
    in_size,
    kernel_size,
    need_input=True,
    need_weight=True,
):
    """Fast gradients for the input and the weight, in one pass over the chunks: ``(grad_x, grad_w)``.

    Either is None when not wanted (``need_input``/``need_weight``); ``x`` is needed only for
    ``grad_w`` and ``weight`` only for ``grad_x``.  Doing both together puts each chunk of
    ``grad_out`` into the column order once, for both products.
    """
    N, C_out = grad_out.shape[:2]
    kH, kW = kernel_size
    C_in = x.shape[1] if x is not None else weight.shape[1] * groups
    # one input channel per group, stride 1: the weight gradient is a few long dot products (see
    # weight_grad_stride1_direct) on the stride-1 layout's padded planes, no column matrix needed for it
    direct_weight = need_weight and tuple(stride) == (1, 1) and C_in == groups
    layout = _column_layout(in_size, kernel_size, stride, padding, dilation, grad_out.shape[2:], not direct_weight)
    rows, L = C_in * kH * kW, layout.L
    dtype = grad_out.dtype
    products = int(need_input) + int(need_weight and not direct_weight)
    threads = _chunk_threads(N, products * 2 * C_out * (rows // groups) * L)
    chunk = _chunk_size(N, rows, L, grad_out.itemsize, threads)
    # im2col's output, then the column gradients; not needed for the direct weight gradient alone
    needs_cols = need_input or (need_weight and not direct_weight)
    grad_x = np.empty((N, C_in) + tuple(in_size), dtype=dtype) if need_input else None
    if need_input:
        w_t = _as_group_matrices(weight, groups).transpose(0, 2, 1)  # (groups, Kg, C_out/groups), a view
    # the weight gradient is summed in ``threads`` accumulators, chunk i into accumulator i % threads
    # (the thread that runs chunk i when they are shared), and these are added in order at the end:
    # the same numbers whether run_chunks shares the chunks or keeps them on one thread
    if direct_weight:
        taps = tap_offsets(1, kernel_size, dilation, (layout.Hp, layout.Wp))
        grad_w_sums = np.zeros((threads, C_out, 1, kH, kW), dtype=dtype)
    elif need_weight:  # transposed, (groups, Kg, C_out/groups): see the product below
        grad_w_sums = np.zeros((threads, groups, rows // groups, C_out // groups), dtype=dtype)

    def backward_chunk(index, start, stop):
        b = stop - start
        scratch = layout.scratch(chunk, C_in, dtype)  # scratch buffers are per thread
        grad_buf = _scratch("product", C_out * chunk * L, dtype)
        g = layout.grad_matrix(grad_out[start:stop], grad_buf).reshape(groups, C_out // groups, b * L)
        work = _scratch("cols", rows * chunk * L, dtype)[: rows * b * L].reshape(rows, b * L) if needs_cols else None
        product_size = C_out * (rows // groups) * b * L  # multiply-adds of each product below
        if direct_weight:
            xp = layout.pad(x[start:stop], scratch)
            weight_grad_stride1_direct(xp, g.reshape(C_out, b, L), grad_w_sums[index % threads], taps)
        elif need_weight:
            chunk_cols = layout.build(x[start:stop], work, scratch)
            # grad_w[g]^T = cols[g] @ grad_out[g]^T: the same numbers as grad_out[g] @ cols[g]^T, but
            # OpenBLAS runs this orientation 1.3-1.8x faster on these shapes (long inner dimension B*L)
            partial = _scratch("grad_w", grad_w_sums[0].size, dtype).reshape(grad_w_sums[0].shape)
            with one_thread_if_small(product_size, note=False):
                np.matmul(chunk_cols.reshape(groups, -1, b * L), g.transpose(0, 2, 1), out=partial)
            grad_w_sums[index % threads] += partial
        if need_input:  # the gradient of every column, then back onto the pixels
            with one_thread_if_small(product_size, note=False):
                np.matmul(w_t, g, out=work.reshape(groups, -1, b * L))
            layout.scatter(work, grad_x[start:stop], scratch)

    run_chunks(backward_chunk, _chunks(N, chunk), threads)
    grad_w = None
    if direct_weight:
        grad_w = _sum_in_order(grad_w_sums)
    elif need_weight:
        grad_w_t = _sum_in_order(grad_w_sums)
        grad_w = np.ascontiguousarray(grad_w_t.transpose(0, 2, 1)).reshape(C_out, rows // (groups * kH * kW), kH, kW)
    return grad_x, grad_w


def _sum_in_order(parts):
    """``parts[0] + parts[1] + ...``, added in that order (a fixed rounding, unlike a pairwise sum)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def conv2d_bias_grad(grad_out):
    """dL/dbias ``(C_out,)``: ``grad_out (N, C_out, OH, OW)`` summed over images and pixels.

    ``einsum`` rather than ``grad_out.sum(axis=(0, 2, 3))``: NumPy's reduction over those
    strided axes took 56 us on LeNet's 64x6x28x28 gradient, einsum 20 us.
    """
    return np.einsum("nchw->c", grad_out)


def conv2d_backward_input(grad_out, weight, stride, padding, dilation, groups, in_size):
    """Fast gradient w.r.t. the input; same arguments and result as ``conv2d_backward_input_reference``.

    Differs from the reference: instead of sending ``grad * weight`` to each input pixel one
    product at a time, one BLAS product per group and chunk computes the gradient of every
    column of the column matrix, ``weight[g].T @ grad_out[g]``, and ``col2im`` adds each
    column back onto the pixels its window covers.
    """
    return conv2d_backward(
        grad_out, None, weight, stride, padding, dilation, groups, in_size, weight.shape[2:], need_weight=False
    )[0]


def conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size):
    """Fast gradient w.r.t. the weight; same arguments and result as ``conv2d_backward_weight_reference``.

    Differs from the reference: the sum of ``grad_out * x`` over all images and output pixels
    is one BLAS product per group and chunk, ``grad_out[g] @ cols[g].T``, on the column matrix
    that ``im2col`` builds.
    """
    return conv2d_backward(
        grad_out, x, None, stride, padding, dilation, groups, x.shape[2:], kernel_size, need_input=False
    )[1]
