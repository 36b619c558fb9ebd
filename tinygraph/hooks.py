"""``RemovableHandle``: what every ``register_*hook`` returns, for tensors and modules alike.

It lives below both ``tensor`` and ``nn`` so that ``Tensor.register_hook`` and
``Module.register_forward_hook`` hand back the same kind of handle.
"""

from __future__ import annotations

import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Returned by ``register_hook``/``register_forward_hook``; ``handle.remove()`` unregisters the hook.

    Also a context manager: ``with model.fc.register_forward_hook(fn): model(x)``.
    """

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
