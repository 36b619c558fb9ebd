"""How big the gradients are at each depth of a network, after one backward pass."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import MaxNLocator

import tinygraph as tg

from ._common import figure_and_axes, finish, to_numpy


def _named_parameters(source, fn: str) -> list:
    """``[(name, parameter)]`` from a model, a dict ``{name: tensor}`` or an iterable of pairs."""
    if hasattr(source, "named_parameters"):
        return list(source.named_parameters())
    if isinstance(source, Mapping):
        return list(source.items())
    try:
        pairs = list(source)
    except TypeError:
        raise TypeError(
            f"{fn}: expected a model, a dict {{name: parameter}} or (name, parameter) pairs, "
            f"got {type(source).__name__}"
        ) from None
    if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], tg.Tensor) for p in pairs):
        raise TypeError(f"{fn}: expected (name, parameter) pairs such as model.named_parameters()")
    return pairs


def gradient_stats(model_or_params, include_bias: bool = False) -> list:
    """``[(name, mean |grad|, max |grad|)]`` in the model's parameter order (input side first).

    Only parameters that have a ``.grad`` are listed; biases and other 1-D parameters
    (batch-norm scales) are skipped unless ``include_bias``, since the weights tell the
    story and the plot stays readable.

    Raises:
        ValueError: when no parameter has a gradient (``loss.backward()`` was not called).
    """
    fn = "plot_gradient_flow"
    stats = []
    for name, p in _named_parameters(model_or_params, fn):
        if getattr(p, "grad", None) is None or (p.ndim <= 1 and not include_bias):
            continue
        g = np.abs(to_numpy(p.grad, fn, name))
        stats.append((name, float(g.mean()), float(g.max())))
    if not stats:
        raise ValueError(f"{fn}: no parameter has a gradient; call loss.backward() before plotting gradient flow")
    return stats


def _layer_kinds(models: Mapping, include_bias: bool):
    """Tick labels ``conv 1, conv 2, ..., linear`` from the weights' shapes, when every model has the same ones."""
    shapes = []
    for m in models.values():
        shapes.append([p.ndim for _, p in m.named_parameters()
                       if getattr(p, "grad", None) is not None and (p.ndim > 1 or include_bias)])  # fmt: skip
    if any(s != shapes[0] for s in shapes):
        return None
    labels, counts = [], {}
    for ndim in shapes[0]:
        kind = {4: "conv", 2: "linear"}.get(ndim, "param")
        counts[kind] = counts.get(kind, 0) + 1
        labels.append(kind)
    numbered = {}
    for i, kind in enumerate(labels):  # a kind that occurs once keeps its plain name
        numbered[kind] = numbered.get(kind, 0) + 1
        labels[i] = kind if counts[kind] == 1 else f"{kind} {numbered[kind]}"
    return labels


def plot_gradient_flow(
    model_or_params,
    include_bias: bool = False,
    log_scale: bool = True,
    title: str | None = None,
    ax=None,
    save=None,
):
    """Mean and max ``|grad|`` of each layer's weights, from the input side (left) to the output (right).

    Picture: for each network a coloured line with dots for the mean absolute gradient of
    every weight tensor and a dashed line of the same colour for the largest one, on a log
    axis. In a deep plain network the lines fall steeply towards the left (the gradient
    vanishes before it reaches the first layers); a residual network of the same depth
    keeps them nearly flat. With one model the x ticks are the parameter names; with
    several they are depth indices (so networks with different names line up).

    Args:
        model_or_params: a model (after ``loss.backward()``), a dict ``{name: parameter}``,
            ``(name, parameter)`` pairs, or a dict ``{label: model}`` to overlay several.
        include_bias: also show 1-D parameters (biases, batch-norm scales).
        log_scale: logarithmic y axis (zeros are left out of a log plot).
        title: axes title.
        ax: axes to draw into.
        save: path to save the figure to.

    Lines carry ``gid`` ``"<label>:mean"`` and ``"<label>:max"`` (label ``""`` for one model)
    with y data equal to :func:`gradient_stats`.

    Returns:
        the matplotlib Figure.
    """
    if (
        isinstance(model_or_params, Mapping)
        and model_or_params
        and all(hasattr(m, "named_parameters") for m in model_or_params.values())
    ):
        runs = {str(label): gradient_stats(m, include_bias) for label, m in model_or_params.items()}
    else:
        runs = {"": gradient_stats(model_or_params, include_bias)}

    longest = max(len(s) for s in runs.values())
    own_figure = ax is None
    fig, ax = figure_and_axes(ax, figsize=(max(6.0, 0.35 * longest + 3) + 2.0, 4.5))
    for i, (label, stats) in enumerate(runs.items()):
        color = f"C{i % 10}"
        depth = np.arange(len(stats))
        means = np.array([s[1] for s in stats])
        maxes = np.array([s[2] for s in stats])
        prefix = f"{label}: " if label else ""
        ax.plot(depth, means, "o-", color=color, ms=4, label=f"{prefix}mean |grad|", gid=f"{label}:mean")
        ax.plot(depth, maxes, "^--", color=color, ms=3, alpha=0.7, label=f"{prefix}max |grad|", gid=f"{label}:max")
    if len(runs) == 1:
        names = [s[0] for s in next(iter(runs.values()))]
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_xlabel("parameter (input side -> output side)")
    else:
        ax.set_xlabel("layer depth (input side -> output side)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # depths are whole layers, never 2.5
        kinds = _layer_kinds(model_or_params, include_bias)
        if kinds is not None:  # every point named: "conv 1" ... "conv 17", "linear", so counts can be checked
            ax.set_xticks(range(len(kinds)), kinds, rotation=60, ha="right", fontsize=7)
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel("|gradient|")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside: no curve hidden
    ax.set_title(title or "gradient flow: |grad| per layer after backward()", fontsize=10)
    if own_figure:
        fig.tight_layout()
    return finish(fig, save)
