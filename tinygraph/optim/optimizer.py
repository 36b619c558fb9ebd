"""The optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

An optimizer holds the parameters it updates in ``param_groups``: a list of dicts, each
with a ``"params"`` list and that group's hyperparameters (``lr``, ``momentum``, ...),
so different layers can learn at different rates::

    tg.optim.SGD([{"params": model.features.parameters()},
                  {"params": model.classifier.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

``state`` maps each parameter to its own running values (momentum buffer, Adam's
moments), kept as plain NumPy arrays so a step is a few vectorised in-place operations
on ``.data``: nothing is recorded in the autograd graph.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor

__all__ = ["Optimizer"]


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


#: marks a hyperparameter with no default (e.g. SGD's lr)
required = _Required()


def check_numbers(optimizer: str, **values) -> None:
    """A TypeError naming the optimizer and the argument when a hyperparameter is not a number (``lr="0.1"``)."""
    for name, value in values.items():
        if value is required:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{optimizer}: {name} must be a number, got {value!r} ({type(value).__name__})")


class Optimizer:
    """Base class.  Subclasses set ``defaults`` and implement ``step()``.

    Attributes:
        param_groups: list of dicts ``{"params": [Parameter, ...], "lr": ..., ...}``
        state:        dict Parameter -> dict of that parameter's running values
        defaults:     the hyperparameters a group gets when it does not set its own
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, got a single Tensor; "
                "pass model.parameters() or [tensor]"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list (is the model built?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. when unfreezing layers)."""
        if not isinstance(group, dict):
            raise TypeError(f"add_param_group: a group must be a dict, got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can only optimize leaf tensors (parameter {i} is not a leaf)")
        group["params"] = params
        check_numbers(
            type(self).__name__,
            **{k: v for k, v in group.items() if k != "params" and isinstance(self.defaults.get(k), numbers.Real)},
        )
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{type(self).__name__}: parameter group did not specify a value of required '{name}'")
            group.setdefault(name, default)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in known for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of all parameters (set to None, or zero-fill with ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are named by their position across all groups (0, 1, ...), as in PyTorch, so
        the dict can be saved with ``tg.save`` and loaded into an optimizer over a fresh model.
        The arrays are the live state (as in PyTorch); ``tg.save`` writes them out immediately.
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict`."""
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                f"(from optimizer.state_dict()), got {type(state_dict).__name__}"
            ) from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: parameter group {g} has {len(saved['params'])} "
                    f"parameters in the saved state but {len(group['params'])} here"
                )
            for i, p in zip(saved["params"], group["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, values in saved_state.items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for unknown parameter index {i}")
            new_state[p] = {k: self._load_value(k, v, p, int(i)) for k, v in values.items()}
        for saved, group in zip(saved_groups, self.param_groups):  # every check passed: now change self
            for k, v in saved.items():
                if k != "params":
                    group[k] = v
        self.state = new_state

    def _load_value(self, key: str, value, p: Tensor, index: int):
        """Arrays come back as copies in the parameter's dtype; numbers stay numbers."""
        if isinstance(value, (Tensor, np.ndarray)):
            array = value.data if isinstance(value, Tensor) else value
            if array.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: state '{key}' of parameter {index} has shape "
                    f"{array.shape}, the parameter has shape {tuple(p.shape)}"
                )
            return np.array(array, dtype=p.dtype, copy=True)
        return value

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"
