"""Helpers shared by the convolution and pooling kernels: which window positions lie inside the input, and zero padding.

A window (or a tap of it) at output position ``o`` reads input index ``o*step + offset``.  The
positions whose index falls inside ``[0, size)`` form one range, computed with integer
ceilings (``ceil(a / s) == (a + s - 1) // s``) instead of a bounds test per position.
"""

from __future__ import annotations

from numba import njit

__all__ = ["index_range", "pad_planes"]


@njit(cache=True, nogil=True)
def index_range(offset, step, size, count):
    """``[lo, hi)``: the ``o`` in ``[0, count)`` with ``0 <= o*step + offset < size`` (step > 0)."""
    lo = 0 if offset >= 0 else (-offset + step - 1) // step
    hi = (size - offset + step - 1) // step if size > offset else 0
    hi = min(hi, count)
    return min(lo, hi), hi


@njit(cache=True, nogil=True)
def pad_planes(x, xp, padding):
    """``xp[n, c, pH + r, pW + s] = x[n, c, r, s]``, zero elsewhere; returns ``xp: (b, C, Hp, Wp)``.

    ``xp`` may be any view (the batch-last layout passes a transposed one).  Input rows and
    columns beyond ``xp``'s plane are never read by a window, so they are not copied.
    """
    b, C, H, W = x.shape
    Hp, Wp = xp.shape[2], xp.shape[3]
    pH, pW = padding
    xp[...] = 0.0
    h, w = min(H, Hp - pH), min(W, Wp - pW)
    for c in range(C):
        for r in range(h):
            for n in range(b):
                src = x[n, c, r]
                dst = xp[n, c, pH + r]
                for s in range(w):
                    dst[pW + s] = src[s]
    return xp
