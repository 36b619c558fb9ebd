"""Shared setup of the CUDA tests (``tests/test_cuda*.py``): the skip rule and small helpers.

The CUDA tests run on a real GPU, or under numba's CUDA simulator, which must be switched on
BEFORE numba is imported, so they get their own pytest process::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda

In the normal suite (no GPU, no simulator) every CUDA test module skips itself with that hint.
"""

from __future__ import annotations

import os

import numpy as np
import pytest


def _cuda_status() -> str | None:
    """None when CUDA kernels can run here, else the reason they cannot."""
    try:
        import numba
        from numba import cuda
    except Exception as err:  # numba-cuda not installed
        return f"numba.cuda cannot be imported ({err}); pip install 'tinygraph[cuda]'"
    if numba.config.ENABLE_CUDASIM:
        return None
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1 was set after numba was imported (run the CUDA tests in their own process)"
    try:
        if cuda.is_available():
            return None
    except Exception:  # pragma: no cover - broken driver
        pass
    return "no CUDA GPU; run these tests with the simulator: NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda"


SKIP_REASON = _cuda_status()


def skip_without_cuda() -> None:
    """Call at the top of a CUDA test module (after ``pytestmark = pytest.mark.cuda``)."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON, allow_module_level=True)


def host(x):
    """NumPy values of a CudaArray (or a NumPy array/scalar as it is)."""
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


def assert_same(got, want, rtol=1e-5, atol=1e-6):
    """Same shape, same dtype, same values (NaN == NaN) as the NumPy result."""
    got_h, want_h = host(got), np.asarray(want)
    assert got_h.shape == want_h.shape, f"shape {got_h.shape} != {want_h.shape}"
    assert got_h.dtype == want_h.dtype, f"dtype {got_h.dtype} != {want_h.dtype}"
    np.testing.assert_allclose(got_h, want_h, rtol=rtol, atol=atol, equal_nan=True)
