"""Pooling kernels: max, average and adaptive average pooling over 2-D planes.

The pooling family of the ``fast`` kernel set (``kernels/dispatch.py``), in two files by job:

* ``max_pool.py``: max pooling, forward (maximum and where it was) and backward;
* ``avg_pool.py``: average and adaptive average pooling, forward and backward.

Array in, array out: no Tensor, no autograd, no argument checks (``tinygraph.functional.pool``
validates arguments and computes output sizes; these functions trust what they are given).

Same functions, arguments and results as the textbook loops of ``reference/pool.py`` (read
those first); compiled with Numba, one (n, c) plane at a time (``nogil``).

Geometry arguments are ``(height, width)`` pairs of ints::

    x: (N, C, H, W)   kernel_size=(kH, kW) stride=(sH, sW) padding=(pH, pW) dilation=(dH, dW)
    out_size=(OH, OW)  ->  out: (N, C, OH, OW)

Output position ``oh`` looks at input rows ``oh*sH - pH + kh*dH`` for ``kh = 0 .. kH-1``; rows
outside ``[0, H)`` are padding.  The same holds for columns.
"""

from __future__ import annotations

from .avg_pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
)
from .max_pool import max_pool2d_backward, max_pool2d_forward

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
]
