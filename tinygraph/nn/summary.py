"""``summary(model, input_shape)``: a table of layers, output shapes, parameter counts and multiply-adds.

It runs one forward pass on a zero input under ``no_grad`` and in eval mode (so batch-norm
running statistics and the random generator are left untouched), with a forward hook
on every layer recording what came out.

Multiply-adds (MACs) count the multiplications of the layers that dominate the cost:

* ``Conv2d``: every output value is a dot product over ``C_in/groups * kH * kW`` inputs, so
  ``MACs = N * H_out * W_out * C_out * (C_in / groups) * kH * kW``;
* ``Linear``: ``MACs = rows * in_features * out_features`` (rows = N for ``(N, in)`` inputs).

Biases, activations, pooling and normalisation are cheap by comparison and count 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor, get_default_dtype
from .layers import Conv2d, Linear
from .module import Module, evaluating

__all__ = ["LayerSummary", "ModelSummary", "summary"]


@dataclass
class LayerSummary:
    name: str  # dotted path in the model, e.g. "layer1.0.conv1"
    type: str  # class name, e.g. "Conv2d"
    output_shape: tuple  # shape of the output (a tuple of shapes for several outputs)
    params: int  # parameters owned by this layer itself
    macs: int  # multiply-adds of this call


@dataclass
class ModelSummary:
    """What ``summary`` found; ``str()`` of it is the printed table."""

    model_name: str
    input_shape: tuple
    layers: list
    total_params: int
    trainable_params: int
    total_macs: int

    def __str__(self) -> str:
        header = ("Layer (type)", "Output shape", "Params", "Mult-adds")
        rows = [
            (f"{s.name} ({s.type})", _shape_text(s.output_shape), f"{s.params:,}", f"{s.macs:,}") for s in self.layers
        ]
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

        def line(cells):
            return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}  {cells[3]:>{widths[3]}}"

        rule = "-" * len(line(header))
        return "\n".join(
            [f"{self.model_name} on input {self.input_shape}", rule, line(header), rule]
            + [line(r) for r in rows]
            + [
                "=" * len(rule),
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                f"Total mult-adds: {self.total_macs:,}",
            ]
        )

    __repr__ = __str__


def _shape_text(shape) -> str:
    return " ".join(str(s) for s in shape) if shape and isinstance(shape[0], tuple) else str(shape)


def _output_shape(output):
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_output_shape(o) for o in output)
    return ()


def _macs(module: Module, output) -> int:
    """Multiply-adds of one call of ``module`` that produced ``output``."""
    if isinstance(module, Conv2d):
        kh, kw = module.kernel_size
        return int(output.data.size) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, Linear):
        return int(output.data.size) * module.in_features
    return 0


def summary(model: Module, input_shape, dtype=None, verbose: bool = True) -> ModelSummary:
    """Print (unless ``verbose=False``) and return a :class:`ModelSummary` of ``model``.

    input_shape: the full input shape *including the batch dimension*, e.g. ``(1, 1, 28, 28)``;
    multiply-adds are for that whole batch (use batch 1 for per-image numbers).
    Rows are the layers in the order they ran (a layer used twice has two rows); every
    module without children is a layer, and so is any module that owns parameters itself.
    The totals count every parameter of ``model`` exactly once.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a tg.nn.Module, got {type(model).__name__}")
    input_shape = tuple(int(n) for n in input_shape)
    if dtype is None:
        first = next(model.parameters(), None)
        dtype = first.dtype if first is not None else get_default_dtype()

    layers, handles = [], []

    def record(name):
        def hook(module, inputs, output):
            own = sum(p.data.size for p in module.parameters(recurse=False))
            layers.append(
                LayerSummary(
                    name or type(module).__name__,
                    type(module).__name__,
                    _output_shape(output),
                    int(own),
                    _macs(module, output),
                )
            )

        return hook

    for name, module in model.named_modules():
        has_children = bool(module._modules)
        owns_params = any(True for _ in module.parameters(recurse=False))
        if not has_children or owns_params:
            handles.append(module.register_forward_hook(record(name)))
    try:
        with no_grad(), evaluating(model):
            model(Tensor._wrap(np.zeros(input_shape, dtype=dtype)))
    finally:
        for h in handles:
            h.remove()

    params = list(model.parameters())
    result = ModelSummary(
        model_name=type(model).__name__,
        input_shape=input_shape,
        layers=layers,
        total_params=int(sum(p.data.size for p in params)),
        trainable_params=int(sum(p.data.size for p in params if p.requires_grad)),
        total_macs=int(sum(s.macs for s in layers)),
    )
    if verbose:
        print(result)
    return result
