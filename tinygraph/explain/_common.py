"""Checks and plumbing shared by every explanation method.

Every method follows the same contract, implemented once here:

* ``model`` is a ``tg.nn.Module`` mapping ``x: (N, C, H, W)`` to logits ``(N, classes)``;
* ``target`` is an int (the same class for every image), an ``(N,)`` array, or None for the
  class the model predicts;
* the call runs in eval mode (dropout off, batch norm on its running statistics) and every
  submodule's mode is restored afterwards;
* the parameters' ``requires_grad`` is switched off for the call, so nothing is added to
  their ``.grad`` (a gradient left there by training stays exactly as it was).
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import enable_grad, no_grad
from ..nn.module import Module, evaluating
from ..tensor import Tensor, tensor


def check_model(model, fn: str) -> Module:
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a tg.nn.Module, got {type(model).__name__}")
    return model


def host(array) -> np.ndarray:
    """A NumPy array of ``array`` (a device array is copied to the host)."""
    return array.copy_to_host() if hasattr(array, "copy_to_host") else np.asarray(array)


def check_images(x, fn: str, arg: str = "x") -> np.ndarray:
    """``x`` as a floating ``(N, C, H, W)`` NumPy array (a Tensor's data; no copy when possible)."""
    if isinstance(x, Tensor):
        data = host(x.data)
    elif isinstance(x, np.ndarray):
        data = x
    else:
        raise TypeError(f"{fn}: {arg} must be a Tensor or a NumPy array (N, C, H, W), got {type(x).__name__}")
    if data.ndim != 4:
        hint = "; add a batch axis with x[None]" if data.ndim == 3 else ""
        raise ValueError(f"{fn}: {arg} must be a batch of images (N, C, H, W), got shape {tuple(data.shape)}{hint}")
    if data.shape[0] == 0:
        raise ValueError(f"{fn}: {arg} is an empty batch, shape {tuple(data.shape)}")
    if data.dtype.kind != "f":
        raise TypeError(f"{fn}: {arg} must hold floating-point values, got dtype {data.dtype}")
    return data


def check_logits(logits, fn: str, n: int) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != n:
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"{fn}: the model must return logits (N, classes) = ({n}, classes) for {n} images, got {got}")


def resolve_target(target, logits: Tensor, fn: str) -> np.ndarray:
    """The target class of every image, an int64 ``(N,)`` array checked against the logits' classes.

    ``None`` picks the predicted class (the argmax of the logits).
    """
    n, classes = logits.shape
    if target is None:
        return host(logits.data).argmax(axis=1).astype(np.int64)
    if isinstance(target, Tensor):
        target = host(target.data)
    t = np.asarray(target)
    if t.dtype.kind not in "iu" or t.ndim > 1:
        raise TypeError(f"{fn}: target must be an int, an (N,) int array or None, got {target!r:.60}")
    if t.ndim == 0:
        t = np.full(n, int(t), dtype=np.int64)
    if t.shape != (n,):
        raise ValueError(f"{fn}: target has shape {t.shape}, expected ({n},): one class per image of x")
    bad = (t < 0) | (t >= classes)
    if bad.any():
        raise ValueError(
            f"{fn}: target {int(t[bad][0])} is out of range for a model with {classes} classes "
            f"(logits of shape {(n, classes)}); expected 0 <= target < {classes}"
        )
    return t.astype(np.int64)


def one_hot(target: np.ndarray, logits: Tensor) -> np.ndarray:
    """``(N, classes)`` with a 1 at each image's target: the seed that backpropagates ``logit_target``."""
    seed = np.zeros(logits.shape, dtype=logits.dtype)
    seed[np.arange(len(target)), target] = 1
    return seed


def find_layer(model: Module, layer, fn: str) -> tuple[str, Module]:
    """``(dotted name, submodule)`` for ``layer``, given as a submodule of ``model`` or its dotted name."""
    named = list(model.named_modules())
    if isinstance(layer, str):
        for name, module in named:
            if name == layer:
                return name, module
    elif isinstance(layer, Module):
        for name, module in named:
            if module is layer:
                return name, module
    else:
        raise TypeError(f"{fn}: layer must be a submodule of model or its dotted name, got {type(layer).__name__}")
    known = ", ".join(repr(name) for name, _ in named if name) or "(none)"
    shown = repr(layer) if isinstance(layer, str) else f"{type(layer).__name__} module"
    raise ValueError(f"{fn}: layer {shown} is not in the model; its named_modules() are: {known}")


@contextlib.contextmanager
def explaining(model: Module):
    """Eval mode and frozen parameters for the block; every mode and ``requires_grad`` flag restored after."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad = False  # d/dx only: the parameters' .grad is left as it was
        with evaluating(model), enable_grad():
            yield model
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag


class LayerOutput:
    """Captures what one layer returns during forward passes: ``with LayerOutput(module, fn) as out: model(x)``.

    ``out.tensors`` lists the layer's outputs in call order (one per call of the layer).
    """

    def __init__(self, module: Module, name: str, fn: str):
        self.module, self.name, self.fn = module, name, fn
        self.tensors = []

    def _hook(self, module, inputs, output):
        if not isinstance(output, Tensor):
            raise TypeError(f"{self.fn}: layer {self.name!r} returned {type(output).__name__}, expected a Tensor")
        self.tensors.append(output)

    def __enter__(self):
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()

    def only(self, want_ndim: int | None = None) -> Tensor:
        """The single output of a layer that ran once, optionally checked to be ``want_ndim``-D."""
        if len(self.tensors) != 1:
            raise ValueError(
                f"{self.fn}: layer {self.name!r} ran {len(self.tensors)} times in one forward pass; "
                "choose a layer that runs exactly once"
            )
        out = self.tensors[0]
        if want_ndim is not None and out.ndim != want_ndim:
            raise ValueError(
                f"{self.fn}: layer {self.name!r} returns shape {tuple(out.shape)}; "
                f"a {want_ndim}-D (N, K, h, w) feature map is needed"
            )
        return out


def batches(n: int, batch_size: int):
    """``slice`` objects covering ``range(n)`` in steps of ``batch_size``."""
    return (slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size))


def model_device(model: Module) -> str:
    """Where the model's parameters live ('cpu' for a model without parameters); inputs go there too."""
    for p in model.parameters():
        return p.device
    return "cpu"


def forward_no_grad(model: Module, x: np.ndarray) -> Tensor:
    with no_grad():
        return model(tensor(x, device=model_device(model)))


def leaf(x: np.ndarray, model: Module) -> Tensor:
    """A fresh input leaf on the model's device that requires grad, so the whole forward pass is recorded."""
    return tensor(x, requires_grad=True, device=model_device(model))
