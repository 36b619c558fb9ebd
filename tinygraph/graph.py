"""The recorded computation graph as plain data, and as a text tree.

``tg.graph(loss)`` returns a :class:`Graph`: nodes for tensors and ops, and edges
from inputs to the ops that consume them and from ops to their outputs.  ``viz``
draws it; ``print(tg.graph(loss))`` shows it as an indented tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tensor import Tensor


@dataclass
class Node:
    """One vertex: ``kind`` is ``"op"`` or ``"tensor"``.

    For a tensor: ``label`` is its name (or ``"input"``/``"param"``), ``shape`` its shape,
    ``grad_norm`` the L2 norm of its ``.grad`` when it has one.  For an op: ``label``
    is the op name, ``shape`` the output shape, ``params`` the op's keyword arguments.
    """

    id: int
    kind: str
    label: str
    shape: tuple
    params: dict = field(default_factory=dict)
    grad_norm: float | None = None
    is_leaf: bool = False
    requires_grad: bool = False


@dataclass
class Graph:
    nodes: list
    edges: list  # (source id, target id)
    root: int

    def ops(self) -> list:
        return [n for n in self.nodes if n.kind == "op"]

    def __str__(self) -> str:
        return render_text(self)


def _grad_norm(t: Tensor):
    return None if t.grad is None else float(np.linalg.norm(t.grad.data.ravel()))


def _tensor_label(t: Tensor) -> str:
    if t.name:
        return t.name
    if t._ctx is None:
        return "param" if t.requires_grad else "input"
    return "tensor"


def graph(root: Tensor, names: dict | None = None) -> Graph:
    """Nodes and edges reachable from ``root`` (walked iteratively, no recursion limit).

    ``names`` may map tensors (e.g. ``dict(model.named_parameters())`` inverted) to labels.
    Non-leaf tensors appear as the output of their op node; leaves as tensor nodes.
    """
    names = {id(t): n for t, n in (names or {}).items()}
    nodes, edges, seen = [], [], {}

    def tensor_node(t: Tensor) -> int:
        key = ("t", id(t))
        if key not in seen:
            seen[key] = len(nodes)
            label = names.get(id(t)) or _tensor_label(t)
            nodes.append(Node(seen[key], "tensor", label, tuple(t.shape), grad_norm=_grad_norm(t),
                              is_leaf=t._ctx is None, requires_grad=t.requires_grad))
        return seen[key]

    root_id = tensor_node(root)
    stack = [root]
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx is None or ("o", id(ctx)) in seen:
            continue
        op_id = len(nodes)
        seen[("o", id(ctx))] = op_id
        params = {k: v for k, v in ctx.params.items() if not isinstance(v, np.ndarray)}
        nodes.append(Node(op_id, "op", ctx.name, tuple(ctx.output_shape), params=params))
        edges.append((op_id, tensor_node(t)))
        for parent in ctx.inputs:
            edges.append((tensor_node(parent), op_id))
            if parent._ctx is not None:  # an intermediate tensor: walk on to the op that made it
                stack.append(parent)
    return Graph(nodes, edges, root_id)


def render_text(g: Graph, max_depth: int = 50) -> str:
    """An indented tree from the root back to the leaves; shared subgraphs are printed once."""
    producers = {}  # tensor id -> op id
    consumers_inputs = {}  # op id -> [tensor ids]
    for src, dst in g.edges:
        if g.nodes[src].kind == "op":
            producers[dst] = src
        else:
            consumers_inputs.setdefault(dst, []).append(src)
    lines, printed = [], set()
    stack = [(g.root, 0)]
    while stack:
        tid, depth = stack.pop()
        t = g.nodes[tid]
        op_id = producers.get(tid)
        pad = "  " * depth
        grad = f"  |grad|={t.grad_norm:.3g}" if t.grad_norm is not None else ""
        if op_id is None:
            lines.append(f"{pad}{t.label} {t.shape}{grad}")
            continue
        op = g.nodes[op_id]
        params = ", ".join(f"{k}={v}" for k, v in op.params.items())
        head = f"{pad}{op.label}({params}) -> {t.shape}{grad}"
        if op_id in printed or depth >= max_depth:
            lines.append(head + "  [shown above]" if op_id in printed else head + "  ...")
            continue
        printed.add(op_id)
        lines.append(head)
        for child in reversed(consumers_inputs.get(op_id, [])):
            stack.append((child, depth + 1))
    return "\n".join(lines)
