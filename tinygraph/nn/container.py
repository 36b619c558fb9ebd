"""Containers: ``Sequential`` (a pipeline) and ``ModuleList`` (a registered list)."""

from __future__ import annotations

from collections import OrderedDict

from .module import Module

__all__ = ["ModuleList", "Sequential"]


class _IndexedModules(Module):
    """Shared list behaviour: children are named "0", "1", ... in order."""

    def _values(self) -> list:
        return list(self._modules.values())

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, not {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {n} modules")
        return idx % n

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self._from_items(list(self._modules.items())[idx])
        return self._values()[self._index(idx)]

    @classmethod
    def _from_items(cls, items: list):  # pragma: no cover - each container defines it
        raise NotImplementedError

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._index(idx)]
        setattr(self, key, module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        doomed = keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]
        for key in doomed:
            delattr(self, key)
        self._renumber(self._values())

    def _renumber(self, modules: list) -> None:
        """Re-register ``modules`` as children "0", "1", ... (after a deletion or insertion, as in PyTorch)."""
        for key in list(self._modules):
            delattr(self, key)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self, module: Module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self


class Sequential(_IndexedModules):
    """Apply modules one after another: ``Sequential(Conv2d(1, 6, 5), ReLU(), Flatten())``.

    ``Sequential(OrderedDict(conv=..., act=...))`` names the children; otherwise they are "0", "1", ...
    Indexable (``seq[0]``, ``seq[1:]`` is a Sequential), ``len()``-able and iterable.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a tg.nn.Module")
                self.add_module(str(i), m)

    @classmethod
    def _from_items(cls, items: list) -> Sequential:
        return cls(OrderedDict(items))  # a slice keeps the children's names, as in PyTorch

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered (a plain Python list's would be invisible)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    @classmethod
    def _from_items(cls, items: list) -> ModuleList:
        return cls(m for _, m in items)

    def insert(self, index: int, module: Module) -> None:
        items = self._values()
        items.insert(index, module)
        self._renumber(items)

    def __iadd__(self, modules):
        return self.extend(modules)
