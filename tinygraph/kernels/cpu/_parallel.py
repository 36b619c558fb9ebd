"""Choosing between a threaded and a serial build of a Numba kernel, per call.

Shared by the pooling and batch-norm kernels.
"""

from __future__ import annotations

import functools
import types

from numba import njit

#: Inputs with fewer elements than this run the serial build of a kernel (see ``serial_when_small``).
#: Measured on 2 cores: a LeNet5 training step (batch 64) took 26.7 ms with the pool/batch-norm
#: kernels threaded from 65,536 elements on, and 8.5 ms with every Numba kernel on one thread
#: (BLAS owns the cores; waking Numba's threads beside it costs milliseconds). So threads start
#: only for tensors of 4M+ elements, where one kernel's work dwarfs that cost.
PARALLEL_MIN_SIZE = 1 << 22


def serial_when_small(parallel_kernel):
    """Compile a ``prange`` kernel twice and pick a build per call by the size of its first argument.

    Starting the worker threads of a parallel loop costs more than a small op: on this 2-core
    machine a 2x4x4 max pool took 30-100 us through the parallel build and 1.5 us through the
    serial one (and 11 us with ``numba.set_num_threads(1)``), and under load from other
    processes the parallel build lost even at 300k elements.  Compiled without
    ``parallel=True``, ``prange`` is a plain ``range``, so the serial build is the very same
    source.  It is given its own name (``<name>_serial``) so the two builds get separate
    entries in Numba's on-disk cache (which keys files by function name, not by flags).

    The returned function has ``.parallel`` and ``.serial`` attributes, so tests can hold both
    builds to the reference.
    """
    source = parallel_kernel.py_func
    twin = types.FunctionType(source.__code__, source.__globals__, source.__name__ + "_serial", source.__defaults__)
    twin.__qualname__ = source.__qualname__ + "_serial"
    options = dict(parallel_kernel.targetoptions)  # the same cache/fastmath options, without threads
    options.pop("parallel")
    options.pop("nopython", None)  # implied by njit
    serial_kernel = njit(**options)(twin)

    @functools.wraps(source)
    def kernel(first, *args, **kwargs):
        build = parallel_kernel if first.size >= PARALLEL_MIN_SIZE else serial_kernel
        return build(first, *args, **kwargs)

    kernel.parallel, kernel.serial = parallel_kernel, serial_kernel
    return kernel
