"""Sharing a convolution's chunks of images between Python threads, each on a one-thread BLAS.

``conv.py`` processes a batch in chunks of images (im2col, a BLAS product, the result put back
in place).  By default BLAS runs each product on all cores and the Numba copies between products
run on one.  For layers of at least MIN_THREADED_FLOPS per thread, :func:`run_chunks` deals the chunks
round-robin to ``CHUNK_THREADS`` threads (the calling thread and a small pool), each doing the
whole of its chunks, copies and products, while BLAS is held to one thread
(``blas_threads.single_threaded_blas``).  The copies then run on every core too, and no
product pays for handing its work to BLAS's threads and back.  The conv kernels are compiled
``nogil=True``, so these threads run at the same time.  The direct forward pass
(``conv_direct``) shares its images the same way.

Measured: see ``conv.py``'s "threads" paragraph, ``MIN_THREADED_FLOPS`` and ``_staying_on``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import threading

from . import blas_threads

ENV_VARIABLE = "TINYGRAPH_CONV_THREADS"


def _threads_from_environment():
    """The thread count TINYGRAPH_CONV_THREADS asks for, or None where it is unset."""
    value = os.environ.get(ENV_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_VARIABLE} must be a whole number of threads, 1 or more; got {value!r}")
    return int(value)


#: Threads that share one call's chunks; None: as many as BLAS would use (its thread count, which
#: follows the cores and OPENBLAS_NUM_THREADS / OMP_NUM_THREADS); 1 turns the threading off.
#: The environment variable TINYGRAPH_CONV_THREADS, read at import, sets it.
CHUNK_THREADS = _threads_from_environment()

#: Only calls with at least this many floating-point operations per thread are threaded: a
#: threaded call costs ~70-100 us more (waking the helper thread, which on this VM means waking
#: its idle virtual CPU, and waiting for it).  LeNet's first layer is just above it (7.5 MFLOP
#: per thread forward; 8.6 for its input gradient, when one is needed).  Alone it gained little
#: or nothing (0.51 -> 0.44 ms forward, 1.75 -> 1.83 ms fwd+bwd); in a LeNet5 training step,
#: where only its forward pass is threaded (the images need no gradient and its weight gradient
#: is direct), in-process A/B over 20 rounds: one thread 6.90 ms, threaded from 10 MFLOP
#: (its second layer only) 6.73 ms, from 4 MFLOP 6.10 ms.
MIN_THREADED_FLOPS = 4e6

_pool = None  # the helper threads, started on first use
_pool_pid = None  # the process that started them
_pinned = threading.local()  # per helper thread: the CPU set it is restricted to (_keep_off)


def _load_libc():
    """The C library, for ``sched_getcpu`` (glibc), or None."""
    try:
        libc = ctypes.CDLL(None)
        libc.sched_getcpu.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError, TypeError):  # no sched_getcpu (not glibc), or no CDLL(None) (Windows)
        return None


_libc = _load_libc()
_allowed_cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def threads_for(n_batch, flops_per_image):
    """How many threads to plan a call of ``n_batch`` images for (see CHUNK_THREADS), or 1.

    ``flops_per_image``: the multiply-adds (x2) of one image's matrix products.  Threads when
    BLAS's thread count can be set, there are images for every thread, and each thread's share of
    the work is at least MIN_THREADED_FLOPS.  The answer depends on the shapes and the settings
    only, never on timing: callers cut their chunks by it, and the chunks decide how sums are
    rounded, so a call gives the same numbers whether ``run_chunks`` then shares them or not.
    """
    if not blas_threads.available():
        return 1
    threads = max(1, int(CHUNK_THREADS if CHUNK_THREADS is not None else blas_threads.thread_count()))
    if threads == 1 or n_batch < threads:
        return 1
    if flops_per_image * n_batch / threads < MIN_THREADED_FLOPS:
        return 1
    return threads


def run_chunks(work, chunks, threads):
    """``work(index, start, stop)`` for every ``(start, stop) = chunks[index]``.

    With ``threads > 1`` the chunks are dealt round-robin to that many threads, the calling one
    included, under a one-thread BLAS; ``work`` must then write only to its own chunk's share of
    any output.  The first exception raised is re-raised.

    On one thread instead while BLAS's worker may be busy-waiting (for ~0.1 s after a product
    on BLAS's threads, ``blas_threads.worker_may_be_spinning``): a thread of ours beside it would
    run at half speed.  Measured, LeNet5 training rounds each after one batch-1000 inference
    (whose first fully connected product runs on BLAS's threads), fresh processes: 4.9-8.9 ms a
    step sharing regardless of the worker, against 4.1-7.5 ms on one thread.
    """
    numbered = list(enumerate(chunks))
    if threads <= 1 or blas_threads.worker_may_be_spinning():
        _each(work, numbered)
        return
    caller_cpu = _current_cpu()
    with blas_threads.single_threaded_blas(), _staying_on(caller_cpu):
        pool = _helper_pool()
        helpers = [pool.submit(_each_beside, caller_cpu, work, numbered[k::threads]) for k in range(1, threads)]
        try:
            _each(work, numbered[0::threads])
        finally:
            for future in helpers:  # wait for every helper, even when the calling thread failed
                future.exception()
        for future in helpers:
            future.result()


def _each(work, numbered_chunks):
    for index, (start, stop) in numbered_chunks:
        work(index, start, stop)


def _each_beside(caller_cpu, work, numbered_chunks):
    """``_each`` on a helper thread kept off the CPU the calling thread runs on (see ``_keep_off``)."""
    _keep_off(caller_cpu)
    _each(work, numbered_chunks)


def _current_cpu():
    """The CPU the calling thread runs on now (glibc's ``sched_getcpu``), or None where unknown."""
    if _libc is None:
        return None
    cpu = _libc.sched_getcpu()
    return cpu if cpu >= 0 else None


@contextlib.contextmanager
def _staying_on(cpu):
    """Within the block, the calling thread stays on ``cpu``; its own CPU set is restored after.

    Why pin at all: after the machine has been idle a moment, Linux tends to wake a thread on
    the CPU of the thread that woke it (the helper beside the caller; the caller, waiting for
    the helper's result, beside the helper), and a call of a few milliseconds ends before the
    load balancer separates them: both threads then share one core.  Measured on the dilated
    benchmark case, forward passes after 0.3 s of sleep: 5.2-6.7 ms with both threads on one
    CPU against 2.6-3.2 ms on two (one thread: 3.3-3.9 ms).  So the caller stays where it is
    and the helper is kept off that CPU (``_keep_off``).
    """
    if cpu is None or len(_allowed_cpus) < 2:
        yield
        return
    try:
        before = os.sched_getaffinity(0)  # 0: this thread
        os.sched_setaffinity(0, {cpu})
    except OSError:  # a sandbox that forbids it: run unpinned
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _keep_off(cpu):
    """Restrict the calling (helper) thread to the process's CPUs other than ``cpu`` (see ``_staying_on``)."""
    others = _allowed_cpus - {cpu}
    if cpu is None or not others or getattr(_pinned, "cpus", None) == others:
        return
    try:
        os.sched_setaffinity(0, others)  # 0: this thread
        _pinned.cpus = others
    except OSError:  # a sandbox that forbids it: run unpinned
        pass


def _helper_pool():
    """The pool of helper threads, started on first use, and again in a forked child (which has none)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        helpers = max(1, len(_allowed_cpus) - 1, (CHUNK_THREADS or 1) - 1)
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="tinygraph-conv")
        _pool_pid = os.getpid()
    return _pool
