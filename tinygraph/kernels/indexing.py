"""Index helpers shared by the host code and the device arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["is_basic_index"]


def is_basic_index(index) -> bool:
    """True for NumPy's basic indexing (ints, slices, None, Ellipsis): on the host the result is a view."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None
        or item is Ellipsis
        or isinstance(item, slice)
        or (isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)))
        for item in items
    )
