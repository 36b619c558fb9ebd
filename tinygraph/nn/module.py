"""``Module``: the base class of every layer and model.

A Module owns three kinds of state, found by attribute assignment::

    class Net(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tg.nn.Linear(4, 2)                          # a submodule
            self.scale = tg.nn.Parameter(tg.ones(2))              # a learnable Parameter
            self.register_buffer("count", tg.zeros(1))            # a buffer: state, not learned

        def forward(self, x):
            return self.fc(x) * self.scale

``parameters()`` walks the tree of submodules; ``state_dict()`` names every
parameter and (persistent) buffer by its dotted path (``"fc.weight"``), which is
what checkpoints store.  ``model(x)`` runs ``forward`` and then any forward hooks,
which is how ``viz`` captures feature maps without changing the model.

Registered parameters, buffers and submodules live both in the ordered
registries (``_parameters``, ``_buffers``, ``_modules``) and in the instance
``__dict__``, so ``self.weight`` inside ``forward`` is a plain, fast attribute
lookup; ``__setattr__``/``__delattr__`` keep the two in step.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import namedtuple

import numpy as np

from ..hooks import RemovableHandle
from ..tensor import Tensor
from .parameter import Parameter

__all__ = ["Module", "RemovableHandle", "IncompatibleKeys", "evaluating"]

#: what ``load_state_dict(strict=False)`` returns, as in PyTorch
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for layers and models: subclass it, assign parts in ``__init__``, define ``forward``.

    Attributes:
        training: True in training mode (dropout active, batch norm uses batch statistics),
                  False after ``eval()``.
    """

    def __init__(self):
        # Written through __dict__ because our __setattr__ needs these registries to exist.
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = {}
        d["_forward_hooks"] = {}

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required forward() method")

    def __call__(self, *args, **kwargs):
        """``module(x)``: pre-hooks, ``forward``, then forward hooks (which may replace the output)."""
        if self._forward_pre_hooks:
            for hook in tuple(self._forward_pre_hooks.values()):
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in tuple(self._forward_hooks.values()):
                result = hook(self, args, output)
                if result is not None:
                    output = result
        return output

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; ``inputs`` is the tuple of positional args.

        A hook that returns something other than None replaces the output.  Returns a handle
        whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook: hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None result replaces the inputs."""
        if not callable(hook):
            raise TypeError(f"register_forward_pre_hook: hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        registries = self.__dict__.get("_parameters")
        if isinstance(value, (Parameter, Module)) and registries is None:
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() call; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._unregister(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._unregister(name)
            self._modules[name] = value
        elif registries is not None and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' of {type(self).__name__} "
                    "(tg.nn.Parameter or None expected)"
                )
            self._parameters[name] = None
        elif registries is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module '{name}' of {type(self).__name__} "
                    "(tg.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif registries is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer '{name}' of {type(self).__name__} "
                    "(Tensor or None expected)"
                )
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if "_parameters" in self.__dict__:
            self._unregister(name)
        object.__delattr__(self, name)

    def _unregister(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def _check_new_name(self, kind: str, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register {kind} '{name}' before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")
        if (
            name in self.__dict__
            and name not in self._parameters
            and name not in self._buffers
            and name not in self._modules
        ):
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")

    def register_parameter(self, name: str, param) -> None:
        """``register_parameter("w", Parameter(...))``, or ``None`` for an optional, absent parameter."""
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: '{name}' must be a tg.nn.Parameter or None, got {type(param).__name__}"
            )
        self._unregister(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a non-learned tensor (e.g. batch norm's running mean); persistent ones go in ``state_dict``."""
        self._check_new_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: '{name}' must be a Tensor or None, got {type(tensor).__name__}")
        self._unregister(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module) -> None:
        """Register ``module`` under ``name`` (what ``self.name = module`` does, for computed names)."""
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a tg.nn.Module or None, got {type(module).__name__}")
        self._unregister(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ---------------------------------------------------------------- walking
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module (name ``""``) and every descendant, pre-order."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, prefix + "." + name if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (module_prefix + "." + name if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """``model.get_submodule("layer1.0.conv1")``."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(
                    f"get_submodule: {type(module).__name__} has no submodule '{part}' (in {target!r})"
                )
            module = child
        return module

    def apply(self, fn) -> Module:
        """Call ``fn(m)`` on every submodule (children first) and on self, e.g. for custom initialisation."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (``mode=True``) or evaluation mode for this module and all submodules."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout off, batch norm uses its running statistics. Same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (``None``, or zero-filled with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    # ------------------------------------------------------------- device/dtype
    def to(self, device=None, dtype=None) -> Module:
        """``model.to('cpu')``, ``model.to(tg.float64)`` or ``model.to('cpu', tg.float64)``; changes self in place.

        Parameters and buffers move to ``device`` ('cpu' or 'cuda') and floating-point ones change
        dtype; the Parameter objects stay the same (only their ``.data`` changes), so an optimizer
        built earlier still holds them.
        """
        from .. import cuda

        if device is not None and not isinstance(device, str) and dtype is None:
            device, dtype = None, device
        device = cuda.canonical_device(device)
        if device == "cuda":
            cuda.require(f"Module.to({device!r})")
        if device is not None:
            for t in itertools.chain(self.parameters(), self.buffers()):
                t.data = cuda.move(t.data, device)
                if t.grad is not None:
                    t.grad.data = cuda.move(t.grad.data, device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: dtype must be a floating dtype, got {dtype}")
            for t in itertools.chain(self.parameters(), self.buffers()):
                if t.dtype.kind == "f" and t.dtype != dtype:
                    t.data = t.data.astype(dtype)
                    if t.grad is not None:
                        t.grad.data = t.grad.data.astype(dtype)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        return self.to("cuda")

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ------------------------------------------------------------- state dict
    def _state_tensors(self, prefix: str = "") -> dict:
        """Name -> Tensor for every parameter and persistent buffer, in PyTorch's order (own first, then children).

        Shared submodules are listed under every name they are reachable by, as PyTorch does.
        """
        out = {}
        for module_prefix, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = module_prefix + "." if module_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    out[dot + name] = b
        return out

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> dict:
        """Every parameter and persistent buffer by dotted name: ``{"conv1.weight": Tensor, ...}``.

        The tensors share memory with the model (as in PyTorch), so the dict follows later
        training; ``copy.deepcopy`` it (or ``tg.save`` it) to keep a snapshot.
        """
        tensors = self._state_tensors(prefix)
        if keep_vars:
            return tensors
        return {name: Tensor._wrap(t.data) for name, t in tensors.items()}

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this model's parameters and buffers, in place.

        ``strict=True``: the keys must match exactly.  A shape mismatch is always an error.
        Nothing is copied unless every check passes, so a failed load leaves the model as it was.
        Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict of name -> tensor, got {type(state_dict).__name__}")
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays, problems = {}, []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else value
            if not isinstance(array, (np.ndarray, np.generic, int, float, bool)):
                problems.append(f"'{key}': expected a Tensor or array, got {type(value).__name__}")
                continue
            array = np.asarray(array)
            if array.shape != target.shape:
                problems.append(
                    f"size mismatch for '{key}': the checkpoint has shape {array.shape}, "
                    f"the model has shape {tuple(target.shape)}"
                )
                continue
            arrays[key] = array
        if strict:
            key_problems = []
            if missing:
                key_problems.append("missing key(s): " + ", ".join(f"'{k}'" for k in missing))
            if unexpected:
                key_problems.append("unexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected))
            problems = key_problems + problems
        if problems:
            raise ValueError(
                f"load_state_dict: error(s) loading a state dict into {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for key, array in arrays.items():
            own[key].data[...] = array  # in place: optimizers keep pointing at the same arrays' owners
            own[key]._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside ``Name(...)`` besides the children; layers override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_text}")
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({extra})"
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


@contextlib.contextmanager
def evaluating(model: Module):
    """``with evaluating(model):`` runs the block in eval mode, then restores every submodule's own mode
    (a model may deliberately keep, say, a frozen batch norm in eval mode while the rest trains)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.__dict__["training"] = mode
