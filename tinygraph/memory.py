"""Keeping freed memory for reuse, so that a training step does not pay the kernel for fresh pages.

Every training step allocates the same arrays again: activations, gradients, masks.  glibc's
``malloc`` serves arrays of more than ~128 KiB with fresh pages from the kernel (``mmap``) or
gives the top of its heap back to the kernel (``trim``) as soon as they are freed, so the next
step's arrays start on pages the kernel must map and zero first.  Measured on the 2-core
machine this project is developed on (``python benchmarks/bench_train.py --separate-processes 2
--infer-batch 1``), a LeNet5 training step (batch 64) took 1,358-1,406 such page faults and
10.3-10.4 ms; with freed memory kept, 0 faults and 6.1-6.7 ms.

:func:`retain_freed_memory` tells glibc to keep freed memory in the process for reuse, and
``import tinygraph`` calls it once.  The price is memory: up to ``trim_threshold`` bytes of
freed memory stay with the process instead of going back to the system.  Set the environment
variable ``TINYGRAPH_RETAIN_FREED_MEMORY=0`` before importing tinygraph to leave ``malloc``
as it was.  Elsewhere than glibc (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import os

# glibc's mallopt parameter numbers (<malloc.h>)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this size come from the heap, whose freed memory is reused; larger ones are
#: still mapped and unmapped one by one.  4 MiB is where NumPy starts asking the kernel for
#: 2 MiB "huge" pages (``madvise``), which fault in 512 times fewer steps and cost the TLB less:
#: keeping such arrays in the heap instead made a 25 MB ResNet-stem convolution slower
#: (83-89 against 68-75 ms forward+backward with a 32 MiB threshold).
MMAP_THRESHOLD = 4 << 20
#: The heap keeps up to this much freed memory at its top before giving it back to the system.
TRIM_THRESHOLD = 256 << 20

ENV_VARIABLE = "TINYGRAPH_RETAIN_FREED_MEMORY"


def retain_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks for reuse; True if it took both settings.

    Returns False, changing nothing, where the C library is not glibc.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )


def _glibc():
    """The process's C library when it is glibc (it has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process, libc's among them
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: musl and macOS's libSystem lack it
            return None
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def _retain_on_import() -> bool:
    """What ``import tinygraph`` does: retain freed memory unless the environment says no."""
    if os.environ.get(ENV_VARIABLE, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return retain_freed_memory()
