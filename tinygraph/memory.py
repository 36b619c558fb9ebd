"""An explicit, opt-in setting for your process: keep freed memory for reuse between training steps.

Every training step allocates the same arrays again (activations, gradients, masks).  glibc's
``malloc`` serves blocks above its mmap threshold with fresh pages from the kernel and gives the
top of its heap back as soon as it is freed, so each step's arrays start on pages the kernel must
map and zero first; on small networks such as LeNet-5 that is a large part of a step (the
figures are in ``docs/performance.md``).

tinygraph never changes this by itself: ``malloc``'s settings belong to the whole process (every
library in it keeps the memory too).  A training script that wants the speed asks for it once::

    import tinygraph as tg
    tg.memory.retain_freed_memory()    # process-wide; up to trim_threshold bytes stay with the process

Elsewhere than glibc (macOS, Windows, musl) the call changes nothing and returns False.
"""

from __future__ import annotations

import ctypes

__all__ = ["retain_freed_memory"]

# glibc's mallopt parameter numbers (<malloc.h>)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this size come from the heap, whose freed memory is reused; larger ones are still
#: mapped one by one (from 4 MiB on, NumPy asks for 2 MiB "huge" pages, which fault in rarely).
MMAP_THRESHOLD = 4 << 20
#: The heap keeps up to this much freed memory at its top before giving it back to the system.
TRIM_THRESHOLD = 256 << 20


def retain_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks for reuse (``mallopt``); True if it took both settings.

    Process-wide and lasting: call it yourself, once, in a script that trains.  ``mmap_threshold``:
    blocks smaller than this come from the reusable heap; ``trim_threshold``: how much freed memory
    the heap keeps.  Returns False, changing nothing, where the C library is not glibc.
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise ValueError(f"retain_freed_memory: {name} must be an int in [0, 2**31), got {value!r}")
    libc = _glibc()
    if libc is None:
        return False
    took_mmap = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    return took_mmap and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def _glibc():
    """The process's C library when it is glibc (it has ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process, libc's among them
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: musl and macOS's libSystem lack it
            return None
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc
