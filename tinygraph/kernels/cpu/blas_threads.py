"""Running NumPy's BLAS on one thread for a while, so that tinygraph can use the cores itself.

Why: a convolution is copies (im2col, col2im: Numba loops) and matrix products (NumPy's BLAS).
BLAS spreads each product over both cores of the reference machine, but the copies between the
products run on one, and OpenBLAS's idle worker then spins on the other core (it busy-waits for
~0.1 s after every product before it sleeps) where it does no work.  Splitting a call's chunks of
images over two Python threads instead, each doing its own copies AND its own products on a
one-thread BLAS, keeps both cores on useful work (``conv.py``, "threads").

:func:`single_threaded_blas` lowers OpenBLAS's thread count for the duration of a ``with``
block and restores it after.  It finds OpenBLAS's ``set_num_threads``/``get_num_threads`` in
the library NumPy loaded (read from ``/proc/self/maps``: Linux only), under the names that
NumPy's own wheels (``scipy_openblas``) and system builds give them.  Where there is no
OpenBLAS (MKL, Accelerate, another OS) :func:`available` is False and callers keep to one
thread of their own.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import threading
import time

import numpy as np  # noqa: F401  (loads NumPy's BLAS, so that /proc/self/maps lists it)

# (setter, getter) names: NumPy's wheels (64-bit integers, prefixed and suffixed), then plain builds
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)

_lock = threading.Lock()  # guards _state
_state = {"inside": 0, "before": 1}  # blocks now open; the thread count to restore when none are
_controls = None  # (set_num_threads, get_num_threads) once looked up, () when there are none


def _loaded_openblas_paths():
    """Paths of the loaded shared libraries whose file name mentions OpenBLAS (Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            fields = (line.split() for line in maps)
            return sorted({f[-1] for f in fields if len(f) >= 6 and "openblas" in f[-1].rsplit("/", 1)[-1].lower()})
    except OSError:
        return []


def _find_controls():
    """OpenBLAS's ``(set_num_threads, get_num_threads)`` as ctypes functions, or () when not found."""
    for path in _loaded_openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(library, set_name) and hasattr(library, get_name):
                setter, getter = getattr(library, set_name), getattr(library, get_name)
                setter.argtypes, setter.restype = (ctypes.c_int,), None
                getter.argtypes, getter.restype = (), ctypes.c_int
                return setter, getter
    return ()


def _controls_or_none():
    global _controls
    if _controls is None:
        _controls = _find_controls()
    return _controls or None


def available() -> bool:
    """True when NumPy's BLAS is an OpenBLAS whose thread count can be set (Linux)."""
    return _controls_or_none() is not None


#: Products of fewer multiply-adds than this run on one BLAS thread (``one_thread_if_small``).
#: Measured on 2 cores (float32, medians of 200): 64x400 @ 400x120 (LeNet's first fully connected
#: layer, 3.1M) 67 us on one thread against 80 us on two; 64x256 @ 256x256 (4.2M) 88 against
#: 100 us; 128x512 @ 512x512 (33.6M) 668 against 545 us.  Below it, waking BLAS's second
#: thread costs more than it saves, and that thread then spins for ~0.1 s on the core that
#: tinygraph's convolution threads need (``chunk_threads``).
SMALL_PRODUCT = 8_000_000
#: OpenBLAS runs products of at most this many multiply-adds on one thread by itself
#: (``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD`` in its gemm interface): no need to ask.
_ALREADY_ONE_THREAD = 65536 * 4


#: How long OpenBLAS's idle worker thread busy-waits after a product before it sleeps: ~0.1 s
#: measured (CPU time of an otherwise sleeping process: 48-52 ms in each 50 ms up to 0.1 s after a
#: product, 0.1 ms from 0.2 s on), with a margin.
SPIN_SECONDS = 0.15

_last_shared_product = -math.inf  # time.monotonic() of the last product we let BLAS run on its threads


def one_thread_if_small(multiply_adds, note=True):
    """A context manager for tinygraph's products: ``single_threaded_blas()`` below SMALL_PRODUCT.

    A larger product runs on BLAS's threads as usual, and with ``note`` its time is noted: for
    SPIN_SECONDS after it, :func:`worker_may_be_spinning` is True.  The convolutions pass
    ``note=False``: they are what the note is for, and a convolution that stays on one thread
    because of it must not renew it with its own products, or it would never thread again
    (measured: dilated fwd+bwd calls in a loop, median 13.0 ms when they noted, 8.5 ms now).
    """
    global _last_shared_product
    if _ALREADY_ONE_THREAD < multiply_adds < SMALL_PRODUCT:
        return single_threaded_blas()
    if note and multiply_adds > _ALREADY_ONE_THREAD and _state["inside"] == 0:
        _last_shared_product = time.monotonic()
    return contextlib.nullcontext()


def worker_may_be_spinning() -> bool:
    """True within SPIN_SECONDS of a product that ran on BLAS's threads (one that tinygraph saw).

    Threads of tinygraph's own started then would share a core with that busy-waiting worker.
    NumPy products that the user's code runs outside tinygraph are not seen.
    """
    return time.monotonic() - _last_shared_product < SPIN_SECONDS


def thread_count() -> int:
    """The threads NumPy's BLAS runs a product on now (1 where :func:`available` is False)."""
    controls = _controls_or_none()
    return controls[1]() if controls is not None else 1


@contextlib.contextmanager
def single_threaded_blas():
    """Within the block, NumPy's matrix products run on the calling thread only; restored after.

    Does nothing where :func:`available` is False.  The setting is process-wide: products that
    other threads start during the block run on one thread too.  Blocks may overlap (nested, or
    in several threads): the first to enter saves the thread count, the last to leave restores it.
    """
    controls = _controls_or_none()
    if controls is None:
        yield
        return
    set_threads, get_threads = controls
    with _lock:
        if _state["inside"] == 0:
            _state["before"] = get_threads()
            set_threads(1)
        _state["inside"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["inside"] -= 1
            if _state["inside"] == 0:
                set_threads(_state["before"])
