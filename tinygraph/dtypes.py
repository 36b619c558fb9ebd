"""Type promotion: the dtype of an op's result from its operands' dtypes, PyTorch's rules in one place.

Dtypes fall in three categories, ordered ``bool < integer < floating``.  NumPy widens across
categories (``float32 + int64`` is ``float64`` there); PyTorch does not: a result needs only the
category of its highest operand and, within that category, the wider of the dtypes there.

Operands are ranked in three tiers, as in PyTorch (``c10::ResultTypeState``):

1. tensors with at least one dimension,
2. zero-dimensional tensors,
3. Python numbers (``bool`` stays bool, ``int`` counts as int64, ``float`` as the default float dtype).

A lower tier changes the result only when it is of a higher category than every tier above it::

    int32 tensor + 5             -> int32     (5 is not of a higher category)
    int32 tensor + 2.5           -> float32   (a float beats the integer tensors: the default float)
    float32 tensor + float64 0-d -> float32   (0-d tensors do not widen within a category)
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["category", "promote_types", "result_type", "default_float_for", "as_dtype"]

_BOOL, _INT, _FLOAT = 0, 1, 2


def category(dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating point."""
    kind = np.dtype(dtype).kind
    if kind == "b":
        return _BOOL
    if kind in "iu":
        return _INT
    if kind == "f":
        return _FLOAT
    raise TypeError(f"type promotion: unsupported dtype {np.dtype(dtype)} (expected bool, an integer or a float)")


def promote_types(a, b) -> np.dtype:
    """``torch.promote_types``: the higher category wins; within a category the wider dtype (NumPy's rule there)."""
    a, b = np.dtype(a), np.dtype(b)
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _promote_all(dtypes):
    result = None
    for d in dtypes:
        result = d if result is None else promote_types(result, d)
    return result


def _combine(higher, lower):
    """Let the lower tier's dtype in only when it is of a higher category (c10's ``combine_categories``)."""
    if higher is None:
        return lower
    if lower is None or category(higher) == _FLOAT:
        return higher
    if category(higher) == _BOOL or category(lower) == _FLOAT:
        return promote_types(higher, lower)
    return higher  # an integer tier: a lower tier of integers or bools does not widen it


def result_type(*operands) -> np.dtype:
    """The dtype PyTorch gives an elementwise op of ``operands`` (Tensors, arrays or Python numbers)."""
    from .tensor import get_default_dtype  # the default float dtype can change at run time

    dims, zero_dims, numbers_ = [], [], []
    for x in operands:
        if isinstance(x, bool):
            numbers_.append(np.dtype(np.bool_))
        elif isinstance(x, numbers.Integral) and not hasattr(x, "dtype"):
            numbers_.append(np.dtype(np.int64))
        elif isinstance(x, numbers.Real) and not hasattr(x, "dtype"):
            numbers_.append(get_default_dtype())
        elif hasattr(x, "dtype") and hasattr(x, "shape"):
            (dims if len(x.shape) else zero_dims).append(np.dtype(x.dtype))
        else:
            raise TypeError(f"type promotion: expected tensors or numbers, got {type(x).__name__}")
    return _combine(_promote_all(dims), _combine(_promote_all(zero_dims), _promote_all(numbers_)))


def default_float_for(dtype) -> np.dtype:
    """The dtype of a floating op (``exp``, ``sqrt``, ``/``) on ``dtype``: itself if floating, else the default."""
    from .tensor import get_default_dtype

    return np.dtype(dtype) if category(dtype) == _FLOAT else get_default_dtype()


def as_dtype(dtype, op: str) -> np.dtype:
    """``dtype`` as a NumPy dtype tinygraph supports (bool, integers, floats), or a TypeError naming ``op``."""
    try:
        result = np.dtype(dtype)
    except (TypeError, ValueError):
        result = None
    if dtype is None or result is None or result.kind not in "biuf":
        raise TypeError(
            f"{op}: dtype must be a bool, integer or floating dtype such as tg.float32, tg.float64 or tg.int64, "
            f"got {dtype!r}"
        )
    return result
