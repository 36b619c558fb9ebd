"""Shared helper of the conv tests: run the im2col kernels under each of their two stride-1 layouts.

At stride 1, ``conv.py`` builds its column matrix in one of two layouts, chosen by the geometry
(``BATCH_LAST_MIN_WIDENING``): ``_ColumnLayout``'s wide rows, or ``conv_batch_last``'s
batch-last matrix.  The tests' small images would mostly pick the second; both must be right.
"""

from __future__ import annotations

import contextlib
import math

from tinygraph.kernels.cpu import conv as K

#: layout name -> the BATCH_LAST_MIN_WIDENING that forces it at stride 1
STRIDE1_LAYOUTS = {"wide rows": math.inf, "batch last": 0.0}


@contextlib.contextmanager
def stride1_layout(name):
    """Within the block, stride-1 im2col kernels use the named layout (a key of STRIDE1_LAYOUTS)."""
    before = K.BATCH_LAST_MIN_WIDENING
    K.BATCH_LAST_MIN_WIDENING = STRIDE1_LAYOUTS[name]
    try:
        yield
    finally:
        K.BATCH_LAST_MIN_WIDENING = before
