"""Argument helpers shared by the functional ops."""

from __future__ import annotations

import numpy as np


def pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints -> ``(h, w)``; TypeError naming the op and the argument otherwise."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (h, w), got {value!r}")
    return int(items[0]), int(items[1])
