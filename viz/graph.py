"""The recorded computation graph, drawn in layers from the inputs down to the loss.

``tg.graph(t)`` gives the graph as data: op nodes, tensor nodes and edges tensor -> op -> tensor.
For a readable picture we draw a simplified version of it (the "drawing graph"):

* every op is a box labelled with the op name and its output shape (the intermediate tensor
  between two ops is the edge between their boxes, so it is not drawn again);
* parameter leaves (tensors that require grad and were made by no op) are folded into the
  box of the op that uses them, as a line ``param (6, 1, 5, 5)``; constants of a single
  value (the ``2`` in ``x * 2``) are folded in silently;
* other leaves are tensor boxes, and so is the root (the loss). An unnamed leaf that needs no
  gradient is labelled ``input`` in the top layer (the data fed in), ``target (one-hot)`` when
  it is the target of cross_entropy (which turns class indices into one-hot rows), ``target``
  for another loss, and ``constant`` otherwise (a mask);
* a model's buffers (batch norm's running statistics) are dashed boxes with a dashed line:
  state the layer keeps, not data of the step (in training mode they are updated, not used);
* every op has one naming style, snake_case as in ``tg.functional`` (``conv2d``, ``relu``,
  ``reshape``, ``div``), and the fused cross-entropy op says what it holds:
  ``cross_entropy (log_softmax + nll)``.

Layers come from longest-path layering: an op sits one layer below the deepest of its inputs,
so every edge points down; leaves sit just above their first consumer.
"""

from __future__ import annotations

import re

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

import tinygraph as tg

from ._common import figure_and_axes, finish

_OP_COLOR, _INPUT_COLOR, _ROOT_COLOR, _MORE_COLOR = "#dbe9f6", "#eeeeee", "#fde0c5", "#ffffff"
_FONTSIZE = 7  # points, monospace
_PAD = 0.35  # box padding, in font sizes (the boxstyle's pad)
_GAP = 0.25  # inches between two boxes of one layer
_MARGIN = 0.15  # inches of white around the drawing
_MIN_PITCH = 0.95  # inches from one layer to the next, at least


def box_size(label: str, fontsize: float = _FONTSIZE) -> tuple:
    """``(width, height)`` in inches of the padded box drawn around ``label`` (monospace, one line per ``\\n``).

    Measured from the font's glyph advances, so no renderer (and no drawing) is needed.
    """
    prop = FontProperties(family="monospace", size=fontsize)
    lines = label.split("\n")
    width = max(text_to_path.get_text_width_height_descent(line or " ", prop, ismath=False)[0] for line in lines)
    pad = 2 * _PAD * fontsize
    return (width + pad) / 72, (len(lines) * 1.2 * fontsize + pad) / 72  # 1.2: matplotlib's line spacing


_SPECIAL_NAMES = {
    "CrossEntropy": "cross_entropy (log_softmax + nll)",  # one fused op: softmax is inside it
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "GELU": "gelu",
    "MatMul": "matmul",
    "GetItem": "getitem",
    "ToDevice": "to_device",
    "PowScalar": "pow",
}


def op_name(label: str) -> str:
    """One naming style for every op box: snake_case as in ``tg.functional`` (``Conv2d`` -> ``conv2d``)."""
    if label in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[label]
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", label.lstrip("_")).lower()
    return name.replace("2_d", "2d").replace("1_d", "1d")


_LOSS_OPS = {"CrossEntropy", "nll_loss", "mse_loss"}  # their second leaf input is the target


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if len(shape) != 1 else f"({shape[0]},)"


def _buffer_names(names) -> set:
    """Labels of a model's buffers (batch norm's running statistics), empty for anything else."""
    if names is not None and hasattr(names, "named_buffers"):
        return {n for n, _ in names.named_buffers()}
    return set()


def _as_graph(tensor_or_graph, names) -> tg.Graph:
    if isinstance(tensor_or_graph, tg.Graph):
        return tensor_or_graph
    if not isinstance(tensor_or_graph, tg.Tensor):
        raise TypeError(
            f"plot_graph: expected a Tensor (e.g. the loss) or a tg.Graph, got {type(tensor_or_graph).__name__}"
        )
    if names is not None and hasattr(names, "named_parameters"):  # a model: label parameters and buffers by name
        buffers = names.named_buffers() if hasattr(names, "named_buffers") else ()  # batch norm's running stats
        names = {t: n for n, t in [*buffers, *names.named_parameters()]}
    return tg.graph(tensor_or_graph, names=names)


class DrawingGraph:
    """The simplified graph that is drawn, with its layering (see the module docstring).

    Attributes:
        labels:  drawn node id -> text of its box
        kinds:   drawn node id -> 'op' | 'input' | 'root'
        edges:   list of (drawn src id, drawn dst id)
        layer:   drawn node id -> layer index (0 = top)
    Drawn node ids are the ids of the nodes of ``tg.graph`` they stand for.
    """

    def __init__(
        self,
        g: tg.Graph,
        show_grad_norms: bool = True,
        collapse_params: bool = True,
        show_params: bool = False,
        buffers: set = frozenset(),
    ):
        nodes = g.nodes
        producer, output_of, inputs_of, consumers = {}, {}, {}, {}
        for src, dst in g.edges:
            if nodes[src].kind == "op":  # op -> its output tensor
                producer[dst], output_of[src] = src, dst
            else:  # tensor -> an op that uses it
                inputs_of.setdefault(dst, []).append(src)
                consumers.setdefault(src, []).append(dst)

        def grad_text(node) -> str:
            return f"  |grad|={node.grad_norm:.3g}" if show_grad_norms and node.grad_norm is not None else ""

        def folded(node) -> bool:
            if node.id in producer or not collapse_params:
                return False
            return node.requires_grad or len(node.shape) == 0  # a parameter, or a 0-d constant like the 2 in x * 2

        self.labels, self.kinds, self.edges = {}, {}, []
        for node in nodes:
            if node.kind != "op":
                continue
            lines = [op_name(node.label)]
            if show_params and node.params:
                lines.append(", ".join(f"{k}={v}" for k, v in node.params.items()))
            lines.append(f"-> {_fmt_shape(node.shape)}{grad_text(nodes[output_of[node.id]])}")
            for t in inputs_of.get(node.id, []):
                leaf = nodes[t]
                if folded(leaf) and leaf.requires_grad:
                    lines.append(f"{leaf.label} {_fmt_shape(leaf.shape)}{grad_text(leaf)}")
            self.labels[node.id], self.kinds[node.id] = "\n".join(lines), "op"
            for t in inputs_of.get(node.id, []):
                if t in producer:
                    self.edges.append((producer[t], node.id))
                elif not folded(nodes[t]):
                    self.edges.append((t, node.id))
        for node in nodes:  # drawn tensor boxes: unfolded leaves that feed some op, and the root
            if node.kind == "tensor" and node.id not in producer and not folded(node) and node.id in consumers:
                self.labels[node.id], self.kinds[node.id] = (
                    f"{node.label}\n{_fmt_shape(node.shape)}{grad_text(node)}",
                    "input",
                )
        root = nodes[g.root]
        self.labels[g.root] = (
            f"{root.label if root.label != 'tensor' else 'output'}\n{_fmt_shape(root.shape)}{grad_text(root)}"
        )
        self.kinds[g.root] = "input" if g.root not in producer else "root"
        if g.root in producer:
            self.edges.append((producer[g.root], g.root))
        self.edges = list(dict.fromkeys(self.edges))  # an op that uses one tensor twice: one arrow
        self.layer = self._layers()
        targets = {inputs_of[op][1] for op in inputs_of if nodes[op].label in _LOSS_OPS and len(inputs_of[op]) > 1}
        for n, kind in self.kinds.items():
            if kind != "input" or n == g.root:
                continue
            if nodes[n].label == "input" and n in targets:  # cross_entropy turns class indices into one-hot rows
                one_hot = " (one-hot)" if any(nodes[op].label == "CrossEntropy" for op in consumers.get(n, [])) else ""
                self.labels[n] = f"target{one_hot}" + self.labels[n][len("input") :]
            elif nodes[n].label == "input" and self.layer[n] > 0:  # an unnamed leaf fed in below the top: a constant
                self.labels[n] = "constant" + self.labels[n][len("input") :]
            elif nodes[n].label in buffers:  # batch norm's running statistics: state of the layer, not data
                self.kinds[n] = "buffer"
                training = any(nodes[op].params.get("training") for op in consumers.get(n, []))
                self.labels[n] += "\nbuffer (updated, not read)" if training else "\nbuffer: read (eval mode)"

    def _layers(self) -> dict:
        """Longest-path layering in topological order (Kahn's algorithm, no recursion)."""
        preds = {n: [] for n in self.labels}
        succs = {n: [] for n in self.labels}
        for s, d in self.edges:
            preds[d].append(s)
            succs[s].append(d)
        indegree = {n: len(p) for n, p in preds.items()}
        ready = sorted(n for n, k in indegree.items() if k == 0)
        layer, order = {}, []
        while ready:
            n = ready.pop()
            order.append(n)
            layer[n] = 1 + max((layer[p] for p in preds[n]), default=-1)
            for d in succs[n]:
                indegree[d] -= 1
                if indegree[d] == 0:
                    ready.append(d)
        for n in order:  # a leaf floats down to just above its first consumer (no long arrows for labels)
            if not preds[n] and succs[n]:
                layer[n] = min(layer[d] for d in succs[n]) - 1
        low = min(layer.values(), default=0)
        return {n: v - low for n, v in layer.items()}

    def keep_last(self, max_nodes: int) -> int:
        """Drop the layers nearest the inputs until at most ``max_nodes`` remain; return how many were dropped.

        Kept nodes that lost an input get an edge from one ``"... N more nodes"`` box (id -1).
        """
        if len(self.labels) <= max_nodes:
            return 0
        counts = np.bincount(list(self.layer.values()))
        cut, kept = len(counts), 0
        while cut > 0 and kept + counts[cut - 1] <= max_nodes - 1:  # -1: room for the "more" box
            cut -= 1
            kept += counts[cut]
        if kept == 0:  # one layer alone is too wide: keep it anyway rather than draw nothing
            cut, kept = len(counts) - 1, counts[-1]
        dropped = [n for n, v in self.layer.items() if v < cut]
        for n in dropped:
            del self.labels[n], self.kinds[n], self.layer[n]
        gone = set(dropped)
        cut_edges = {d for s, d in self.edges if s in gone and d not in gone}
        self.edges = [(s, d) for s, d in self.edges if s not in gone and d not in gone]
        self.labels[-1], self.kinds[-1], self.layer[-1] = f"... {len(gone)} more nodes", "more", cut - 1
        self.edges += [(-1, d) for d in sorted(cut_edges)]
        low = min(self.layer.values())
        self.layer = {n: v - low for n, v in self.layer.items()}
        return len(gone)

    def positions(self, widths: dict | None = None, gap: float = 0.0, sweeps: int = 4) -> dict:
        """x, y of each node: y = -layer.

        The order within a layer comes from the barycenter heuristic (sort by the mean x of the
        neighbours, a few sweeps down and up) to keep arrows from crossing.  Then the boxes of each
        layer are laid side by side, ``gap`` apart given their ``widths`` (node -> width, default 1),
        and the layer is shifted towards its neighbours so arrows stay short and straight.
        """
        preds = {n: [s for s, d in self.edges if d == n] for n in self.labels}
        succs = {n: [d for s, d in self.edges if s == n] for n in self.labels}
        rows = {}
        for n in sorted(self.labels, key=lambda n: (self.layer[n], n)):
            rows.setdefault(self.layer[n], []).append(n)
        x = {}

        def place(row):
            for i, n in enumerate(row):
                x[n] = i - (len(row) - 1) / 2

        for row in rows.values():
            place(row)
        order = sorted(rows)
        for sweep in range(sweeps):
            layers, neighbours = (order[1:], preds) if sweep % 2 == 0 else (order[-2::-1], succs)
            for lay in layers:
                rows[lay].sort(key=lambda n: np.mean([x[m] for m in neighbours[n]]) if neighbours[n] else x[n])
                place(rows[lay])

        widths = widths or dict.fromkeys(self.labels, 1.0)
        inner = {n for n in self.labels if preds[n]}  # not a leaf: leaves follow their op, not the reverse

        def pack(row, want):
            """Left to right, each box at its wanted x or just right of its left neighbour; then the
            whole layer shifts (gaps kept) so that its ops sit, on average, where they want to."""
            xs = []
            for i, n in enumerate(row):
                xs.append(want[n] if i == 0 else max(want[n], xs[-1] + (widths[row[i - 1]] + widths[n]) / 2 + gap))
            anchors = [(n, xi) for n, xi in zip(row, xs) if n in inner] or list(zip(row, xs))
            shift = np.mean([want[n] - xi for n, xi in anchors])
            x.update({n: xi + shift for n, xi in zip(row, xs)})

        def want(n, neighbours):
            near = [m for m in neighbours[n] if m in inner] or neighbours[n]
            return np.mean([x[m] for m in near]) if near else x[n]

        for row in rows.values():
            pack(row, dict.fromkeys(row, 0.0))  # every layer centred on 0
        for sweep in range(sweeps):
            layers, neighbours = (order[1:], preds) if sweep % 2 == 0 else (order[-2::-1], succs)
            for lay in layers:
                pack(rows[lay], {n: want(n, neighbours) for n in rows[lay]})
        return {n: (float(x[n]), -float(self.layer[n])) for n in self.labels}


def plot_graph(
    tensor_or_graph,
    max_nodes: int = 80,
    show_grad_norms: bool = True,
    collapse_params: bool = True,
    show_params: bool = False,
    names=None,
    title: str | None = None,
    ax=None,
    save=None,
):
    """Draw the computation graph that produced ``tensor`` (usually the loss), inputs at the top.

    Picture: rounded blue boxes are ops (``conv2d`` / ``-> (8, 6, 28, 28)`` / ``weight
    (6, 1, 5, 5)``), grey square boxes are the leaves fed in from outside (``input``: the image
    batch; ``target (one-hot)``: cross_entropy's target), dashed white boxes are buffers such as
    ``bn1.running_mean`` (with a dashed line to their op), and the orange box at the bottom is
    the result. Arrows follow the data from
    top to bottom in layers: an op sits one layer below the deepest op it depends on, so a
    residual connection shows as an arrow skipping layers. After ``loss.backward()`` each
    parameter line and leaf box also shows ``|grad|=`` (the L2 norm of its gradient).

    Args:
        tensor_or_graph: a Tensor (walked with ``tg.graph``) or a ``tg.Graph``.
        max_nodes: draw at most this many boxes: the layers nearest the output are kept and
            everything above them becomes one ``"... N more nodes"`` box.
        show_grad_norms: add ``|grad|=`` where a gradient is known.
        collapse_params: fold parameter leaves into the op that uses them (False: draw every
            leaf as its own box).
        show_params: add each op's keyword arguments (stride, padding, ...) to its box.
        names: a model (its ``named_parameters()`` and ``named_buffers()`` label the parameter
            lines and the buffer boxes) or a dict
            ``{tensor: name}``; ignored when a Graph is given.
        title: axes title (default: the number of ops and layers).
        ax: axes to draw into.
        save: path to save the figure to.

    Every box is a text artist whose ``gid`` is ``"op:<id>"``, ``"tensor:<id>"`` or
    ``"more"``, with ``<id>`` the node id in ``tg.graph``; arrows have ``gid``
    ``"edge:<src>-><dst>"``.

    Returns:
        the matplotlib Figure.
    """
    g = _as_graph(tensor_or_graph, names)
    dg = DrawingGraph(
        g, show_grad_norms=show_grad_norms, collapse_params=collapse_params, show_params=show_params,
        buffers=_buffer_names(names),
    )  # fmt: skip
    all_layers = max(dg.layer.values()) + 1
    dropped = dg.keep_last(max(2, int(max_nodes)))
    sizes = {n: box_size(label) for n, label in dg.labels.items()}
    pos = dg.positions(widths={n: w for n, (w, _) in sizes.items()}, gap=_GAP)  # x in inches

    # one x unit is one inch and one y unit one layer pitch, so the measured boxes fit as laid out
    n_layers = max(dg.layer.values()) + 1
    left = min(pos[n][0] - w / 2 for n, (w, _) in sizes.items()) - _MARGIN
    right = max(pos[n][0] + w / 2 for n, (w, _) in sizes.items()) + _MARGIN
    pitch = max(_MIN_PITCH, max(h for _, h in sizes.values()) + 0.3)
    own_figure = ax is None
    width, title_room = max(5.0, right - left), 0.45
    fig, ax = figure_and_axes(ax, figsize=(width, n_layers * pitch + title_room))
    if own_figure:
        ax.set_position([0.0, 0.0, 1.0, n_layers * pitch / (n_layers * pitch + title_room)])
        left, right = (left + right - width) / 2, (left + right + width) / 2  # centred in a 5-inch minimum

    styles = {
        "op": dict(boxstyle="round,pad=0.35", fc=_OP_COLOR, ec="#4a78a8"),
        "input": dict(boxstyle="square,pad=0.35", fc=_INPUT_COLOR, ec="#777777"),
        "root": dict(boxstyle="round,pad=0.35", fc=_ROOT_COLOR, ec="#c0772b"),
        "more": dict(boxstyle="round,pad=0.35", fc=_MORE_COLOR, ec="#999999", ls="--"),
        "buffer": dict(boxstyle="square,pad=0.35", fc="#ffffff", ec="#777777", ls="--"),
    }
    boxes = {}
    for n, (x, y) in pos.items():
        kind = dg.kinds[n]
        gid = "more" if kind == "more" else (f"op:{n}" if kind == "op" else f"tensor:{n}")  # buffers: tensor:
        boxes[n] = ax.text(
            x,
            y,
            dg.labels[n],
            ha="center",
            va="center",
            fontsize=_FONTSIZE,
            family="monospace",
            bbox=styles[kind],
            gid=gid,
            zorder=3,
        )
    for s, d in dg.edges:
        buffer = dg.kinds.get(s) == "buffer"  # dashed: state the op keeps, not data flowing through it
        arrow = ax.annotate(
            "",
            xy=pos[d],
            xytext=pos[s],
            zorder=4,  # after the boxes: clipped to their edges
            arrowprops=dict(
                arrowstyle="-" if buffer and "updated" in dg.labels[s] else "-|>",
                color="#999999" if buffer else "#555555",
                lw=0.9,
                ls="--" if buffer else "-",
                shrinkA=1,
                shrinkB=1,
                patchA=boxes[s].get_bbox_patch(),
                patchB=boxes[d].get_bbox_patch(),
            ),
        )
        arrow.set_gid(f"edge:{s}->{d}")

    ax.set_xlim(left, right)
    ax.set_ylim(-(n_layers - 1) - 0.5, 0.5)
    ax.axis("off")
    n_ops = len(g.ops())
    shown = f", showing the last {len(dg.labels) - 1} of {len(dg.labels) - 1 + dropped} boxes" if dropped else ""
    ax.set_title(title or f"computation graph: {n_ops} ops in {all_layers} layers{shown}", fontsize=9)
    return finish(fig, save)


def graph_text(tensor_or_graph, layered: bool = False, show_grad_norms: bool = True, names=None) -> str:
    """The graph as plain text for a terminal.

    ``layered=False``: ``tg.graph``'s indented tree from the root back to the leaves.
    ``layered=True``: the boxes of :func:`plot_graph`, one line per layer from the inputs
    to the root, e.g. ``"layer 2: conv2d -> (8, 6, 28, 28) | weight (6, 1, 5, 5)"``.
    """
    g = _as_graph(tensor_or_graph, names)
    if not layered:
        return str(g)
    dg = DrawingGraph(g, show_grad_norms=show_grad_norms, buffers=_buffer_names(names))
    pos = dg.positions()
    lines = []
    for lay in range(max(dg.layer.values()) + 1):
        row = sorted((n for n in dg.labels if dg.layer[n] == lay), key=lambda n: pos[n][0])
        texts = [dg.labels[n].replace("\n", " | ") for n in row]
        lines.append(f"layer {lay}: " + "   ||   ".join(texts))
    return "\n".join(lines)
