"""Shared helpers of the conv tests: each stride-1 column layout, and the threaded chunks, forced.

At stride 1, ``conv_columns`` builds the column matrix in one of two layouts, chosen by the geometry
(``BATCH_LAST_MIN_WIDENING``, and ``WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING`` for the weight
gradient): ``WideRows`` or ``BatchLast``.  The tests' small images would
mostly pick the second; both must be right.
"""

from __future__ import annotations

import contextlib
import math

import tinygraph as tg
from tinygraph.kernels.cpu import conv_columns, scheduling

#: layout name -> the minimum widening that forces it at stride 1
STRIDE1_LAYOUTS = {"wide rows": math.inf, "batch last": 0.0}


@contextlib.contextmanager
def stride1_layout(name):
    """Within the block, stride-1 im2col kernels use the named layout (a key of STRIDE1_LAYOUTS)."""
    names = ("BATCH_LAST_MIN_WIDENING", "WEIGHT_GRAD_BATCH_LAST_MIN_WIDENING")
    before = [getattr(conv_columns, n) for n in names]
    for n in names:
        setattr(conv_columns, n, STRIDE1_LAYOUTS[name])
    try:
        yield
    finally:
        for n, value in zip(names, before):
            setattr(conv_columns, n, value)


@contextlib.contextmanager
def chunk_threads_forced(threads):
    """Within the block, every conv call shares its chunks between ``threads`` threads (1: none).

    The sharing is normally for large layers only (``scheduling.MIN_THREADED_FLOPS``); here it
    is on for the tests' small ones too.
    """
    saved = (tg.get_num_threads(), scheduling.MIN_THREADED_FLOPS)
    tg.set_num_threads(threads)
    scheduling.MIN_THREADED_FLOPS = 0
    try:
        yield
    finally:
        tg.set_num_threads(saved[0])
        scheduling.MIN_THREADED_FLOPS = saved[1]
