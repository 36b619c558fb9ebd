"""Run a model once on one image and record what the explainer page draws: a list of columns.

A *column* is one tensor of the forward pass (the input, or one layer's output), with the layer
that produced it, the tensor it read, and the block (residual or other composite module) it
belongs to.  Forward hooks on every module record, in the order calls finish, each module's
input and output Tensor objects; because a Tensor handed from one layer to the next is the
same Python object, "which tensor feeds which layer" is found by object identity.  A tensor
that no module produced (``out.relu()`` inside a block's ``forward``) becomes an extra column
labelled as computed in ``forward``, so nothing the model does is silently dropped.

Containers (``Sequential``, ``ModuleList`` and the model itself) are transparent: only their
leaves become columns.  Any other module with children (``nn.BasicBlock``, a user's block)
is a *block*: its leaves' columns are grouped, its own output (e.g. ``relu(main + shortcut)``)
becomes a column when no child produced it, and its skip connection is drawn when it has one
(a ``shortcut`` attribute or ``skip=True``, the convention of ``tg.nn.BasicBlock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import tinygraph as tg
from tinygraph.functional import conv2d_padding
from tinygraph.nn.module import evaluating

FN = "viz.explainer"

# The layer kinds the page has a detail view for; anything else is kind "other" (a labelled box).
_KINDS = [
    (tg.nn.Conv2d, "conv"),
    (tg.nn.LeakyReLU, "leaky_relu"),
    (tg.nn.ReLU, "relu"),
    (tg.nn.MaxPool2d, "maxpool"),
    (tg.nn.AvgPool2d, "avgpool"),
    (tg.nn.AdaptiveAvgPool2d, "adaptive_avgpool"),
    (tg.nn.BatchNorm2d, "batchnorm"),
    (tg.nn.Dropout, "dropout"),
    (tg.nn.Flatten, "flatten"),
    (tg.nn.Linear, "linear"),
]
_CONTAINERS = (tg.nn.Sequential, tg.nn.ModuleList)


@dataclass
class Column:
    """One tensor of the forward pass and the layer that made it.

    ``value``: the tensor without its batch axis, ``(C, H, W)`` or ``(F,)``.
    ``source``: index of the column this layer read (None for the input and for block outputs).
    ``kind``: "input", a layer kind from ``_KINDS``, "other", "forward" (made by forward code,
    not a module) or "block_out" (a block's result).
    """

    name: str
    type: str
    kind: str
    value: np.ndarray
    source: int | None
    module: object = None
    block: int | None = None


@dataclass
class Block:
    """A composite module: its columns, the column it read and whether a skip connection is drawn."""

    name: str
    type: str
    source: int | None
    columns: list = field(default_factory=list)
    skip: bool = False


@dataclass
class Trace:
    columns: list
    blocks: list
    logits: np.ndarray  # (K,) the model's output for the image


def kind_of(module) -> str:
    for cls, kind in _KINDS:
        if isinstance(module, cls):
            return kind
    return "other"


def _has_skip(module) -> bool:
    """tg.nn.BasicBlock's convention: ``skip`` says whether ``x`` is added back; a ``shortcut`` attribute implies it."""
    skip = getattr(module, "skip", None)
    if skip is not None:
        return bool(skip)
    return hasattr(module, "shortcut")


def _value(t, where: str) -> np.ndarray:
    if not isinstance(t, tg.Tensor):
        raise TypeError(f"{FN}: {where} is a {type(t).__name__}, expected a Tensor")
    data = t.detach().cpu().data if t.device != "cpu" else t.data
    arr = np.asarray(data)
    if arr.ndim < 2 or arr.shape[0] != 1:
        raise ValueError(f"{FN}: {where} has shape {arr.shape}, expected a batch of one (1, ...)")
    return np.array(arr[0], dtype=np.float32)


def _record_calls(model, x: tg.Tensor):
    """``(calls, output)``: every module call of ``model(x)`` as ``(module, input, output)``, in finishing order."""
    calls = []

    def record(module, inputs, output):
        calls.append((module, inputs[0] if inputs else None, output))

    handles = [m.register_forward_hook(record) for _, m in model.named_modules()]
    try:
        with tg.no_grad(), evaluating(model):
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls, output


class _Builder:
    """Turns the recorded calls into columns and blocks (see the module docstring)."""

    def __init__(self, model, x):
        self.model = model
        self.modules = dict(model.named_modules())
        self.names = {}
        for name, module in self.modules.items():
            self.names.setdefault(id(module), name)
        self.columns = [Column("input", "input", "input", _value(x, "x"), None)]
        self.column_of = {id(x): 0}  # id(Tensor) -> column; the recorded calls keep every Tensor alive
        self.blocks, self.block_of = [], {}  # block name -> index into blocks

    def add(self, tensor, column: Column) -> int:
        self.columns.append(column)
        self.column_of[id(tensor)] = len(self.columns) - 1
        return len(self.columns) - 1

    def enclosing_block(self, name: str):
        """Index of the innermost block that ``name`` lies inside (the block is created on first use)."""
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            owner_name = ".".join(parts[:cut])
            owner = self.modules.get(owner_name)
            if owner is None or isinstance(owner, _CONTAINERS) or owner is self.model:
                continue
            if owner_name not in self.block_of:
                self.block_of[owner_name] = len(self.blocks)
                self.blocks.append(Block(owner_name, type(owner).__name__, None, skip=_has_skip(owner)))
            return self.block_of[owner_name]
        return None

    def column_for_input(self, t, reader: str, block):
        """The column holding ``t``; a new column when no module produced it (code in a ``forward``).

        When ``t`` is ``relu`` of the latest column (``out.relu()`` in ``BasicBlock.forward``) it is
        shown as that ReLU, with its before/after view; otherwise as a labelled "forward" column.
        """
        if t is None or id(t) in self.column_of:
            return None if t is None else self.column_of[id(t)]
        value = _value(t, f"input of {reader}")
        last = len(self.columns) - 1
        previous = self.columns[last].value
        if previous.shape == value.shape and np.array_equal(np.maximum(previous, 0), value):
            return self.add(t, Column(f"relu before {reader}", "relu() in forward()", "relu", value, last, block=block))
        return self.add(t, Column(f"before {reader}", "computed in forward()", "forward", value, None, block=block))

    def call(self, module, inp, out) -> None:
        name = self.names.get(id(module), type(module).__name__)
        if module is self.model or isinstance(module, _CONTAINERS):
            return
        if not isinstance(out, tg.Tensor):
            raise TypeError(f"{FN}: layer {name!r} returned {type(out).__name__}, expected a Tensor")
        if any(True for _ in module.children()):  # a block; its leaves finished (and were added) before it
            index = self.enclosing_block(name + ".child")
            if self.blocks[index].source is None and id(inp) in self.column_of:
                self.blocks[index].source = self.column_of[id(inp)]
            if id(out) not in self.column_of:
                value = _value(out, f"output of {name}")
                self.add(out, Column(f"{name} output", type(module).__name__, "block_out", value, None, block=index))
            return
        block = self.enclosing_block(name)
        source = self.column_for_input(inp, name, block)
        if block is not None and self.blocks[block].source is None:
            self.blocks[block].source = source
        value = _value(out, f"output of {name}")
        self.add(out, Column(name, type(module).__name__, kind_of(module), value, source, module, block))


def trace(model, x: tg.Tensor) -> Trace:
    """Run ``model(x)`` once (``x: (1, C, H, W)``, eval mode, no grad) and return its columns in order."""
    if not hasattr(model, "named_modules"):
        raise TypeError(f"{FN}: model must be a tg.nn.Module, got {type(model).__name__}")
    calls, output = _record_calls(model, x)
    builder = _Builder(model, x)
    for module, inp, out in calls:
        builder.call(module, inp, out)
    columns, blocks = builder.columns, builder.blocks
    logits = _value(output, "the model's output").reshape(-1)
    if id(output) not in builder.column_of:  # forward() did more after its last module
        columns.append(Column("output", "computed in forward()", "forward", logits, None))
    for i, col in enumerate(columns):
        if col.block is not None:
            blocks[col.block].columns.append(i)
    return Trace(columns, blocks, logits)


def _pair(v) -> list:
    return [int(v), int(v)] if np.isscalar(v) else [int(v[0]), int(v[1])]


def layer_params(col: Column) -> dict:
    """What the detail view of ``col``'s layer needs beyond the tensors (hyper-parameters, weights)."""
    m, kind = col.module, col.kind
    if kind == "conv":
        pad = conv2d_padding(m.padding, m.kernel_size, m.stride, m.dilation)
        return {
            "weight": m.weight.detach().numpy().astype(np.float32),
            "bias": None if m.bias is None else m.bias.detach().numpy().astype(np.float32),
            "stride": list(m.stride),
            "padding": list(pad),  # top, bottom, left, right
            "dilation": list(m.dilation),
            "groups": int(m.groups),
        }
    if kind in ("maxpool", "avgpool"):
        p = _pair(m.padding)
        return {
            "kernel": _pair(m.kernel_size),
            "stride": _pair(m.stride),
            "padding": [p[0], p[0], p[1], p[1]],
            "dilation": _pair(getattr(m, "dilation", 1)),
            "count_include_pad": bool(getattr(m, "count_include_pad", True)),
        }
    if kind == "leaky_relu":
        return {"negative_slope": float(m.negative_slope)}
    if kind == "dropout":
        return {"p": float(m.p)}
    if kind == "batchnorm":
        running = m.running_mean is not None
        n = m.num_features
        return {
            "mean": m.running_mean.numpy().astype(float).tolist() if running else None,
            "var": m.running_var.numpy().astype(float).tolist() if running else None,
            "gamma": m.weight.detach().numpy().astype(float).tolist() if m.weight is not None else [1.0] * n,
            "beta": m.bias.detach().numpy().astype(float).tolist() if m.bias is not None else [0.0] * n,
            "eps": float(m.eps),
        }
    if kind == "linear":
        return {"in_features": int(m.in_features), "out_features": int(m.out_features)}
    return {}
