"""Sharing a convolution's chunks of images between Python threads, each on a one-thread BLAS.

``conv.py`` processes a batch in chunks of images (im2col, a BLAS product, the result put back
in place).  By default BLAS runs each product on all cores and the Numba copies between products
run on one.  For layers whose products are large, :func:`run_chunks` instead deals the chunks
round-robin to ``CHUNK_THREADS`` threads (the calling thread and a small pool), each doing the
whole of its chunks, copies and products, while BLAS is held to one thread
(``blas_threads.single_threaded_blas``).  The copies then run on every core too, and no
product pays for handing its work to BLAS's threads and back.  The conv kernels are compiled
``nogil=True``, so these threads run at the same time.

Measured: see ``conv.py``'s "threads" paragraph and ``MIN_THREADED_FLOPS``.
"""

from __future__ import annotations

import concurrent.futures

from . import blas_threads

#: Threads that share one call's chunks (1 turns the threading off).
CHUNK_THREADS = 2
#: Only calls whose matrix products take at least this many floating-point operations per
#: chunk are threaded: below it, a chunk is too short to pay for the hand-over (see conv.py).
MIN_THREADED_FLOPS = 50e6

_pool = None  # the helper threads, started on first use


def threads_for(n_batch, flops_per_image):
    """How many threads to share a call of ``n_batch`` images among: CHUNK_THREADS or 1.

    ``flops_per_image``: the multiply-adds (x2) of one image's matrix products.  Threaded when
    BLAS's thread count can be set, there are images for every thread, and each thread's share
    of the work is at least MIN_THREADED_FLOPS.
    """
    threads = max(1, int(CHUNK_THREADS))
    if threads == 1 or n_batch < threads or not blas_threads.available():
        return 1
    if flops_per_image * n_batch / threads < MIN_THREADED_FLOPS:
        return 1
    return threads


def run_chunks(work, chunks, threads):
    """``work(start, stop, slot)`` for every ``(start, stop)`` in ``chunks``; ``slot``: which thread (0..threads-1).

    With ``threads > 1`` the chunks are dealt round-robin to that many threads, the calling one
    included, under a one-thread BLAS; ``work`` must then write only to the rows ``start:stop``
    of shared outputs, and to per-``slot`` accumulators.  The first exception raised is re-raised.
    """
    if threads <= 1:
        for start, stop in chunks:
            work(start, stop, 0)
        return
    with blas_threads.single_threaded_blas():
        helpers = [_helper_pool().submit(_each, work, chunks[slot::threads], slot) for slot in range(1, threads)]
        try:
            _each(work, chunks[0::threads], 0)
        finally:
            for future in helpers:  # wait for every helper, even when the calling thread failed
                future.exception()
        for future in helpers:
            future.result()


def _each(work, chunks, slot):
    for start, stop in chunks:
        work(start, stop, slot)


def _helper_pool():
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, CHUNK_THREADS - 1), thread_name_prefix="tinygraph-conv")
    return _pool
