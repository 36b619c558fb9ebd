"""``tg.cuda``: is the GPU backend usable here, and moving arrays to and from it.

The GPU path needs the ``numba-cuda`` package (``pip install 'tinygraph[cuda]'``), an NVIDIA
GPU and its driver.  None of that is needed to import tinygraph: this module imports
``numba.cuda`` (slow: half a second) only when a function here is first called, and the kernels
in ``tinygraph/kernels/cuda`` are imported only when data is moved to the device.

The CUDA simulator counts as available.  With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is
imported, numba runs the kernels in Python, one block at a time, on the CPU: every device feature
works, only very slowly (keep shapes tiny).  That is how the device code is tested without a GPU,
so :func:`is_available` returns True then; :func:`is_simulator` tells the two apart (benchmarks
use ``is_available() and not is_simulator()``).
"""

from __future__ import annotations

import functools
import os

__all__ = [
    "is_available",
    "is_simulator",
    "unavailable_reason",
    "device_name",
    "require",
    "to_device",
    "to_host",
    "is_cuda_array",
    "synchronize",
]


@functools.cache
def _probe() -> tuple[bool, bool, str | None, str | None]:
    """(available, simulator, reason it is not available, device name), computed once."""
    try:
        import numba
        from numba import cuda
    except Exception as err:  # numba-cuda missing, or a broken CUDA installation
        reason = f"numba.cuda cannot be imported ({err}); install it with: pip install 'tinygraph[cuda]'"
        return False, False, reason, None
    if numba.config.ENABLE_CUDASIM:
        return True, True, None, "CUDA simulator (numba, NUMBA_ENABLE_CUDASIM=1)"
    late = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    try:
        available = bool(cuda.is_available())
    except Exception as err:
        return False, False, f"the CUDA driver could not be initialised ({err})", None
    if not available:
        hint = (
            "NUMBA_ENABLE_CUDASIM=1 was set after numba had been imported, so it has no effect; set it before"
            if late
            else "to run the device code without a GPU, set NUMBA_ENABLE_CUDASIM=1 before importing tinygraph"
        )
        return False, False, f"no CUDA GPU or driver was found (numba.cuda.is_available() is False); {hint}", None
    try:
        name = cuda.get_current_device().name
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # pragma: no cover - depends on the driver
        name = "CUDA GPU"
    return True, False, None, name


def is_available() -> bool:
    """True when tensors can be moved to ``'cuda'`` (a GPU with numba-cuda, or the CUDA simulator)."""
    return _probe()[0]


def is_simulator() -> bool:
    """True when the 'GPU' is numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): correct, but very slow."""
    return _probe()[1]


def unavailable_reason() -> str | None:
    """Why CUDA cannot be used here (None when it can): the text of the error ``.to('cuda')`` raises."""
    return _probe()[2]


def device_name() -> str | None:
    """The GPU's name (or the simulator's), None when unavailable."""
    return _probe()[3]


def require(op: str = "to('cuda')") -> None:
    """Raise a RuntimeError saying why, unless CUDA is available."""
    if not is_available():
        raise RuntimeError(f"{op}: CUDA is not available: {unavailable_reason()}. (Everything else runs on 'cpu'.)")


def to_device(array):
    """Copy a NumPy array to the GPU as a :class:`~tinygraph.kernels.cuda.array.CudaArray` (no-op if already there)."""
    require("to_device")
    from .kernels.cuda.array import to_device as _to_device

    return _to_device(array)


def to_host(array):
    """Copy a CudaArray back to a new NumPy array (a NumPy array is returned as it is)."""
    if is_cuda_array(array):
        return array.copy_to_host()
    return array


def is_cuda_array(x) -> bool:
    """True for a CudaArray.  Never imports numba: a CudaArray can only exist once the kernels were imported."""
    return getattr(type(x), "device", None) == "cuda" and hasattr(x, "copy_to_host")


def synchronize() -> None:
    """Wait for every queued kernel to finish (for timing; copies to the host already wait)."""
    require("synchronize")
    from numba import cuda

    cuda.synchronize()


# ----------------------------------------------------------------------------------------------
# Helpers for the layers above the kernels (functional, tensor, nn): device-neutral array code.
# None of them imports numba for host arrays.


def device_of(array) -> str:
    """``'cuda'`` for a CudaArray, ``'cpu'`` for anything else (NumPy arrays and scalars)."""
    return "cuda" if is_cuda_array(array) else "cpu"


def canonical_device(device) -> str | None:
    """``None``, ``'cpu'``, ``'cuda'`` (``'cuda:0'`` and ``tg.device``-like objects with a ``type`` too)."""
    if device is None:
        return None
    name = str(getattr(device, "type", device))
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if name not in ("cuda", "cuda:0"):
            raise RuntimeError(f"device {device!r}: tinygraph uses one GPU, 'cuda' (= 'cuda:0')")
        return "cuda"
    raise RuntimeError(f"device {device!r}: expected 'cpu' or 'cuda'")


def move(array, device: str):
    """``array`` on ``device`` ('cpu' or 'cuda'): the explicit copy between host and GPU (as is when already there)."""
    device = canonical_device(device)
    if device == "cuda":
        return array if is_cuda_array(array) else to_device(array)
    return to_host(array)


def ascontiguous(array):
    """``np.ascontiguousarray`` for host arrays; device arrays are always C-contiguous already."""
    import numpy as np

    return array if is_cuda_array(array) else np.ascontiguousarray(array)
