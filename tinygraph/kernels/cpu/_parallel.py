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


def serial_when_small(parallel_kernel=None, *, outputs=None):
    """Compile a ``prange`` kernel twice and pick a build per call by the size of its first argument.

    Starting the worker threads of a parallel loop costs more than a small op: on this 2-core
    machine a 2x4x4 max pool took 30-100 us through the parallel build and 1.5 us through the
    serial one (and 11 us with ``numba.set_num_threads(1)``), and under load from other
    processes the parallel build lost even at 300k elements.  Compiled without
    ``parallel=True``, ``prange`` is a plain ``range``, so the serial build is the very same
    source.  It is given its own name (``<name>_serial``) so the two builds get separate
    entries in Numba's on-disk cache (which keys files by function name, not by flags).

    ``outputs``: a function of the call's arguments returning the kernel's result arrays,
    allocated by NumPy; the kernel takes them as its last arguments and the caller does not
    pass them.  Why: an array created inside a kernel comes from Numba's allocator, in fresh
    4 KiB pages for large arrays, where NumPy asks the kernel for 2 MiB pages from 4 MiB on
    (the gradient of a ResNet-stem max pool, 25 MB: 6,273 page faults and 17.3 ms allocated in
    the kernel, 5.4 ms allocated by NumPy).

    The returned function has ``.parallel`` and ``.serial`` attributes (each taking the same
    arguments), so tests can hold both builds to the reference.
    """
    if parallel_kernel is None:  # used as @serial_when_small(outputs=...)
        return functools.partial(serial_when_small, outputs=outputs)
    source = parallel_kernel.py_func
    twin = types.FunctionType(source.__code__, source.__globals__, source.__name__ + "_serial", source.__defaults__)
    twin.__qualname__ = source.__qualname__ + "_serial"
    options = dict(parallel_kernel.targetoptions)  # the same cache/fastmath options, without threads
    options.pop("parallel")
    options.pop("nopython", None)  # implied by njit
    serial_kernel = njit(**options)(twin)
    names = source.__code__.co_varnames[: source.__code__.co_argcount]
    serial, parallel = (_with_outputs(build, outputs, names) for build in (serial_kernel, parallel_kernel))

    @functools.wraps(source)
    def kernel(first, *args, **kwargs):
        build = parallel if first.size >= PARALLEL_MIN_SIZE else serial
        return build(first, *args, **kwargs)

    kernel.parallel, kernel.serial = parallel, serial
    return kernel


def _with_outputs(build, outputs, names):
    """``build`` called with the arrays ``outputs(*args)`` appended to its arguments (``build`` itself without).

    Keyword arguments are put in their places first (``names``: the kernel's parameter names),
    since the output arrays follow them positionally.
    """
    if outputs is None:
        return build

    def call(*args, **kwargs):
        if kwargs:
            args += tuple(kwargs.pop(name) for name in names[len(args) :] if name in kwargs)
            if kwargs:
                raise TypeError(f"{build.__name__}() got unexpected keyword arguments {sorted(kwargs)}")
        return build(*args, *outputs(*args))

    return call
