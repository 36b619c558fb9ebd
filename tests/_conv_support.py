"""Shared helpers of the conv tests: each stride-1 column layout, and the threaded chunks, forced.

At stride 1, ``conv.py`` builds its column matrix in one of two layouts, chosen by the geometry
(``BATCH_LAST_MIN_WIDENING``): ``_ColumnLayout``'s wide rows, or ``conv_batch_last``'s
batch-last matrix.  The tests' small images would mostly pick the second; both must be right.
"""

from __future__ import annotations

import contextlib
import math

from tinygraph.kernels.cpu import blas_threads, chunk_threads
from tinygraph.kernels.cpu import conv as K

#: layout name -> the BATCH_LAST_MIN_WIDENING that forces it at stride 1
STRIDE1_LAYOUTS = {"wide rows": math.inf, "batch last": 0.0}


@contextlib.contextmanager
def stride1_layout(name):
    """Within the block, stride-1 im2col kernels use the named layout (a key of STRIDE1_LAYOUTS)."""
    before = K.BATCH_LAST_MIN_WIDENING
    K.BATCH_LAST_MIN_WIDENING = STRIDE1_LAYOUTS[name]
    try:
        yield
    finally:
        K.BATCH_LAST_MIN_WIDENING = before


@contextlib.contextmanager
def chunk_threads_forced(threads):
    """Within the block, every conv call shares its images between ``threads`` threads (1: none).

    The sharing is normally for large layers only (``chunk_threads.MIN_THREADED_FLOPS``) and
    where NumPy's BLAS is OpenBLAS; here it is on for the tests' small ones, on any BLAS.
    """
    saved = (chunk_threads.CHUNK_THREADS, chunk_threads.MIN_THREADED_FLOPS)
    saved_blas = (blas_threads.available, blas_threads.worker_may_be_spinning)
    chunk_threads.CHUNK_THREADS, chunk_threads.MIN_THREADED_FLOPS = threads, 0
    blas_threads.available, blas_threads.worker_may_be_spinning = (lambda: True), (lambda: False)
    try:
        yield
    finally:
        chunk_threads.CHUNK_THREADS, chunk_threads.MIN_THREADED_FLOPS = saved
        blas_threads.available, blas_threads.worker_may_be_spinning = saved_blas
