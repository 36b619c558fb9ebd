"""``Parameter``: a Tensor that a Module learns.

It is an ordinary leaf Tensor with ``requires_grad=True``; being its own type is
what lets ``Module`` tell a weight apart from any other tensor attribute and
register it (``self.weight = Parameter(...)`` shows up in ``parameters()`` and
``state_dict()``; ``self.cache = tensor(...)`` does not).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _to_array


class Parameter(Tensor):
    """A learnable leaf tensor.

    ``Parameter(data)`` shares memory with ``data`` when it is already a Tensor or an
    array (as PyTorch does), so ``Parameter(t).data is t.data``.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        array = _to_array(data)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"Parameter: only floating-point data can require grad, got dtype {array.dtype}")
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):  # copy.deepcopy(model): a fresh Parameter with copied values, no grad
        p = Parameter(self.data.copy(), self.requires_grad)
        memo[id(self)] = p
        return p
