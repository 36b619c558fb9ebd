"""Find every random generator a training run uses, so a checkpoint can save and restore each one.

``tg.manual_seed``'s generator is not the only source of randomness in a run: a transform such as
``RandomCrop(8, generator=np.random.default_rng(7))`` or a ``DataLoader(seed=...)`` draws from its own.
A resumed run repeats the uninterrupted one only when all of them continue where they stopped, so
``fit`` checkpoints the state of each generator it can reach from the model and the loaders, named by
the attribute path that leads to it (``train_loader.dataset.transform.transforms[0].generator``).

Supported: ``np.random.Generator``, ``np.random.RandomState`` and Python's ``random.Random``, found in
attributes, lists, dicts, a function's closure (``Lambda(fn)``) and the module globals a function names.
"""

from __future__ import annotations

import random
import types

import numpy as np

from .random import default_generator
from .tensor import Tensor

__all__ = ["find_generators", "generator_state", "set_generator_state"]

_GENERATOR_TYPES = (np.random.Generator, np.random.RandomState, random.Random)
_MAX_DEPTH = 8  # attribute hops from a root; generators sit a few levels down (loader.dataset.transform...)
_MAX_SEQUENCE = 64  # longer lists are data (samples, file names), not configuration: not searched
_LEAVES = (str, bytes, int, float, complex, bool, type(None), np.ndarray, np.generic, Tensor, type, types.ModuleType)


def find_generators(roots: dict) -> dict:
    """``{path: generator}`` for every generator reachable from ``roots`` (``{name: object}``).

    Each generator appears once, under the first path found (breadth first, in attribute order);
    ``tg.manual_seed``'s global generator is left out: the checkpoint stores it on its own.
    """
    found, seen = {}, {id(default_generator())}
    frontier = [(name, obj) for name, obj in roots.items() if obj is not None]
    for _ in range(_MAX_DEPTH + 1):
        next_frontier = []
        for path, obj in frontier:
            if id(obj) in seen or isinstance(obj, _LEAVES):
                continue
            seen.add(id(obj))
            if isinstance(obj, _GENERATOR_TYPES):
                found[path] = obj
                continue
            next_frontier.extend(_children(path, obj))
        frontier = next_frontier
    return found


def _children(path: str, obj):
    if isinstance(obj, types.FunctionType):  # Lambda(fn): what fn's closure holds, and the globals it names
        for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                yield (f"{path}.<closure {name}>", cell.cell_contents)
            except ValueError:  # a cell not filled yet
                continue
        for name in obj.__code__.co_names:
            value = obj.__globals__.get(name)
            if isinstance(value, _GENERATOR_TYPES):
                yield (f"{obj.__module__}.{name}", value)
    elif isinstance(obj, types.MethodType):
        yield (f"{path}.__self__", obj.__self__)
    elif isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType)):
        return
    elif isinstance(obj, dict):
        if len(obj) <= _MAX_SEQUENCE:
            yield from ((f"{path}[{key!r}]", value) for key, value in obj.items())
    elif isinstance(obj, (list, tuple)):
        if len(obj) <= _MAX_SEQUENCE:
            yield from ((f"{path}[{i}]", value) for i, value in enumerate(obj))
    elif hasattr(obj, "__dict__"):
        for name, value in vars(obj).items():
            if name != "_parameters":  # Tensors only; a Module's ``_modules`` and other attributes are searched
                yield (f"{path}.{name}", value)


def generator_state(generator):
    """The state of ``generator`` as dicts, lists, numbers and arrays (what ``tg.save`` stores)."""
    if isinstance(generator, np.random.Generator):
        return {"kind": "numpy.Generator", "state": generator.bit_generator.state}
    if isinstance(generator, np.random.RandomState):
        return {"kind": "numpy.RandomState", "state": dict(generator.get_state(legacy=False))}
    version, internal, gauss = generator.getstate()
    return {"kind": "random.Random", "state": [version, list(internal), gauss]}


def set_generator_state(generator, saved, path: str) -> None:
    """Put ``generator`` back in the state :func:`generator_state` returned; a ValueError naming ``path``
    when the saved state is of another kind of generator."""
    kinds = {np.random.Generator: "numpy.Generator", np.random.RandomState: "numpy.RandomState"}
    kind = next((k for cls, k in kinds.items() if isinstance(generator, cls)), "random.Random")
    if not isinstance(saved, dict) or saved.get("kind") != kind:
        raise ValueError(f"the checkpoint holds no {kind} state for the generator at {path}")
    state = saved["state"]
    if kind == "numpy.Generator":
        generator.bit_generator.state = _plain(state)
    elif kind == "numpy.RandomState":
        generator.set_state(_plain(state))
    else:
        version, internal, gauss = state
        generator.setstate((version, tuple(internal), gauss))


def _plain(value):
    """Loaded checkpoints give Tensors for arrays; generators want NumPy arrays."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Tensor):
        return value.data
    return value
