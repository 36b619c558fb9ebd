"""tinygraph's own threads, and BLAS held to one thread while they run.  The only scheduling policy there is.

A large convolution is cut into chunks of images (``conv.py``); each chunk is copies (Numba loops
compiled ``nogil=True``) and a BLAS matrix product.  :func:`run_chunks` shares the chunks between
``get_num_threads()`` threads: the calling thread and helper threads that tinygraph starts and
owns (named ``tinygraph-worker-*``; ``workers.py`` hands them their shares).  While they run,
BLAS is held to one thread (:func:`one_blas_thread`, through ``threadpoolctl``, as scikit-learn
does), so that each thread's product runs on its own core instead of every product fighting for
all of them.

What tinygraph does NOT do to the user's process: no CPU pinning of any thread, no environment
variables, no change to BLAS outside a parallel region of its own.  The limit goes through
threadpoolctl, which lets one thread at a time set OpenBLAS's count: while the user holds a
``threadpool_limits`` block in another thread, tinygraph's request does nothing and the call
runs on the calling thread alone.  A process forked during a region starts with the counts
from before it.

``set_num_threads(1)`` turns the sharing off.  Results never depend on the thread count: callers
cut their chunks by the shapes alone and sum partial results in chunk order.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading

from . import workers

__all__ = [
    "set_num_threads",
    "get_num_threads",
    "worth_sharing",
    "threads_for",
    "run_chunks",
    "run_split",
    "one_blas_thread",
    "MIN_THREADED_FLOPS",
    "ELEMENT_STEP_FLOPS",
]

#: A call is shared between threads only when each thread gets at least this many floating-point
#: operations: handing work to a helper thread and collecting it costs as much as a million or so
#: of them (the GIL changes hands twice).
MIN_THREADED_FLOPS = 2e6
#: Loops bound by memory rather than arithmetic (pooling, normalization: a value loaded, compared
#: or scaled, maybe stored) count this many floating-point operations per element step.
ELEMENT_STEP_FLOPS = 16


_cpu_count = None  # the CPUs this process may run on, read on first use (again in a forked child)


def _cpus() -> int:
    """The CPUs this process may run on (as ``torch.get_num_threads``, read once, not at every call)."""
    global _cpu_count
    if _cpu_count is None:
        if hasattr(os, "sched_getaffinity"):
            _cpu_count = max(1, len(os.sched_getaffinity(0)))
        else:
            _cpu_count = max(1, os.cpu_count() or 1)
    return _cpu_count


_num_threads = None  # None: one per CPU (asked on first use)


def set_num_threads(n: int) -> None:
    """Threads tinygraph's CPU kernels may use for one call (the caller's included), as ``torch.set_num_threads``.

    1 runs everything on the calling thread.  Results are the same whatever the number.
    """
    global _num_threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"tg.set_num_threads: the number of threads must be a whole number >= 1, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """Threads tinygraph's CPU kernels may use for one call (default: the CPUs this process may run on)."""
    return _num_threads if _num_threads is not None else _cpus()


def worth_sharing(flops: float) -> bool:
    """Whether a call of ``flops`` floating-point operations is a parallel region (two threads' worth of work)."""
    return flops >= 2 * MIN_THREADED_FLOPS


def threads_for(n_chunks: int, flops: float) -> int:
    """How many threads should share a call of ``n_chunks`` chunks and ``flops`` floating-point operations."""
    threads = min(get_num_threads(), n_chunks)
    if threads <= 1 or flops / threads < MIN_THREADED_FLOPS:
        return 1
    return threads


def run_chunks(work, chunks, flops: float, uses_blas: bool = True) -> None:
    """``work(index, start, stop)`` for every ``(start, stop) = chunks[index]``, shared between threads when worth it.

    The chunks of a call ``worth_sharing`` are taken in turn by ``threads_for`` threads, the
    calling one included.  With ``uses_blas``, BLAS is held to one thread for the call
    (``one_blas_thread``), also when the setting leaves it one thread, so that each product is
    computed the same way whatever the setting, and BLAS's workers are not woken for products
    this small.  ``work`` must write only to its own chunk's share of any output (which thread
    runs a chunk changes no number).  The first exception raised is re-raised, after every
    thread is done.
    """
    with one_blas_thread() if uses_blas else contextlib.nullcontext(True) as blas_on_one_thread:
        threads = threads_for(len(chunks), flops) if worth_sharing(flops) else 1
        # not BLAS's threads and ours at once; and while another thread of the user's has the crew,
        # this call runs on the calling thread alone
        crew = _crew(threads - 1) if threads > 1 and blas_on_one_thread else None
        if crew is None or not crew.busy.acquire(blocking=False):
            _take_chunks(work, chunks, itertools.count())
            return
        tickets = itertools.count()  # next() on it is atomic (under the GIL): each chunk is taken once
        try:
            crew.run([functools.partial(_take_chunks, work, chunks, tickets)] * threads)
        finally:
            crew.busy.release()


def run_split(work, n_items, flops: float) -> None:
    """``work(start, stop)`` over ranges of ``range(n_items)`` (images, channels), one range per thread.

    For kernels without BLAS whose items are independent: each item is computed whole by one
    thread, so the split changes no number.  A call not ``worth_sharing`` is one range.
    """
    threads = threads_for(n_items, flops) if worth_sharing(flops) else 1
    share = max(1, -(-n_items // threads))
    ranges = [(start, min(start + share, n_items)) for start in range(0, n_items, share)]
    run_chunks(lambda _index, start, stop: work(start, stop), ranges, flops, uses_blas=False)


def _take_chunks(work, chunks, tickets):
    """Take the next chunk no thread has taken, run it, and again until none is left.

    A thread that starts late, or whose chunks run slower, simply takes fewer of them.
    """
    while (index := next(tickets)) < len(chunks):
        start, stop = chunks[index]
        work(index, start, stop)


_crew_now = None  # tinygraph's helper threads, started on first use
_crew_key = None  # (process id, size) they were started for
_crew_lock = threading.Lock()


def _crew(size: int) -> workers.Crew:
    """The ``size`` helper threads, started on first use; again after a fork (the child has none) or a resize."""
    global _crew_now, _crew_key
    key = (os.getpid(), size)
    with _crew_lock:
        if _crew_key != key:
            if _crew_now is not None and _crew_key[0] == os.getpid():
                with _crew_now.busy:  # once the last call that uses them is done
                    _crew_now.stop()
            _crew_now, _crew_key = workers.Crew(size), key
        return _crew_now


# ---------------------------------------------------------------------------- BLAS's threads

_libraries = None  # threadpoolctl's controllers of the BLAS libraries loaded in this process
_lock = threading.Lock()
_regions = 0  # regions now running, in any thread
_before = []  # BLAS's thread counts when the first of them began ([] when it left them alone)
_on_one_thread = True  # whether BLAS runs on one thread during the regions now running


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (found once)."""
    global _libraries
    if _libraries is None:
        _libraries = _import_threadpoolctl().ThreadpoolController().select(user_api="blas").lib_controllers
    return _libraries


def _set_count(lib, count):
    """Set a library's thread count (threadpoolctl's setter for OpenBLAS obeys only the thread that holds it)."""
    getattr(lib, "_real_set_num_threads", lib.set_num_threads)(count)


def _held_by_the_user() -> bool:
    """True while a thread of the user's holds threadpoolctl's control of OpenBLAS (a ``threadpool_limits`` block)."""
    shared_state = getattr(_import_threadpoolctl().OpenBLASController, "_SHARED_STATE", None)
    holder = getattr(shared_state, "controlling_thread", None)
    return holder is not None and holder.is_alive()


class _OneBlasThread:
    """The context manager of :func:`one_blas_thread`: a class, because every conv call enters one."""

    __slots__ = ()

    def __enter__(self) -> bool:
        global _regions, _before, _on_one_thread
        with _lock:
            if _regions == 0:
                libraries = _blas_libraries()
                _before = [] if _held_by_the_user() else [lib.num_threads for lib in libraries]
                for lib, count in zip(libraries, _before):
                    if count != 1:
                        _set_count(lib, 1)
                _on_one_thread = all(lib.num_threads == 1 for lib in libraries)
            _regions += 1
            return _on_one_thread

    def __exit__(self, *exception) -> None:
        global _regions, _before
        with _lock:
            _regions -= 1
            if _regions == 0:
                for lib, count in zip(_blas_libraries(), _before):
                    if count != 1 and lib.num_threads == 1:  # unless someone changed it meanwhile
                        _set_count(lib, count)
                _before = []


_ONE_BLAS_THREAD = _OneBlasThread()


def one_blas_thread():
    """Within the block, BLAS runs each product on the thread that calls it; the counts are restored after.

    ``with one_blas_thread() as on_one_thread:`` tells whether BLAS is on one thread.  Blocks may
    overlap, in several threads: the first to enter saves the counts and sets 1, the last to
    leave restores them (unless someone changed them meanwhile).  While a ``threadpool_limits``
    block of the user's holds BLAS (threadpoolctl lets one thread at a time set OpenBLAS's
    process-wide count), nothing is changed and the caller keeps its work to one thread.
    """
    return _ONE_BLAS_THREAD


@functools.cache  # once: later calls must not touch the environment again
def _import_threadpoolctl():
    """threadpoolctl, imported on first use, with the environment left as it was.

    Importing it sets ``KMP_DUPLICATE_LIB_OK`` (for programs that load two OpenMP runtimes);
    the environment is the user's, so the variable is put back as it was.
    """
    saved = os.environ.get("KMP_DUPLICATE_LIB_OK")
    import threadpoolctl

    if saved is None:
        os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
    else:
        os.environ["KMP_DUPLICATE_LIB_OK"] = saved
    return threadpoolctl


def _before_fork():
    """A child forked during a region must start with the counts from before it: given back in the parent for the fork.

    (Not in the child: calling into BLAS there, where the parent's other threads are gone, can hang.)
    """
    _lock.acquire()
    for lib, count in zip(_blas_libraries() if _before else (), _before):
        _set_count(lib, count)


def _after_fork_in_parent():
    for lib, count in zip(_blas_libraries() if _before else (), _before):
        if count != 1:
            _set_count(lib, 1)
    _lock.release()


def _after_fork_in_child():
    """The child has none of the parent's threads: no region runs in it."""
    global _lock, _crew_lock, _regions, _before, _cpu_count
    _lock, _crew_lock = threading.Lock(), threading.Lock()
    _regions, _before = 0, []
    _cpu_count = None  # the child may be allowed other CPUs


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
