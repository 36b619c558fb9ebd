"""Detail views of two elementwise steps: ReLU (what it clips) and softmax (logits -> probabilities)."""

from __future__ import annotations

import matplotlib
import numpy as np

from ._common import (
    DIVERGING,
    SEQUENTIAL,
    cell_colors,
    cell_values,
    figure_and_region,
    finish,
    hide_ticks,
    pixel_grid,
    to_numpy,
)


def _map(a, fn: str, arg: str) -> np.ndarray:
    """One 2-D map from (H, W), (1, H, W) or (1, 1, H, W)."""
    a = to_numpy(a, fn, arg).astype(np.float64)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{fn}: {arg} must be one 2-D map (H, W) (or (1, 1, H, W)), got shape {a.shape}")
    return a


def plot_relu(before, after=None, show_values: bool | None = None, title: str | None = None, ax=None, save=None):
    """ReLU on one feature map: the signed map before, the function, the clipped map after.

    Picture: left, the map before ReLU on a diverging scale centred on zero (blue < 0 < red);
    middle, ``relu(z) = max(z, 0)`` with every pixel of the map as a dot on it (the negative
    ones land on the flat zero part); right, the map after ReLU on a sequential scale from 0
    to the same maximum, so brightness compares directly with the red of the left panel.
    Negative pixels become 0: every blue pixel on the left is dark on the right. With
    ``show_values`` (default: maps of at most 8x8) the numbers are written in the cells.

    Args:
        before: the pre-activation map (H, W) (or (1, 1, H, W)).
        after: the map after ReLU, same shape; default ``max(before, 0)``. A map that is not
            ``max(before, 0)`` is a ValueError (it would be another function).
        show_values, title, ax, save: as usual.

    Images carry ``gid`` ``"relu:before"`` and ``"relu:after"``; colourbars ``"colorbar:before"``, ``"colorbar:after"``.

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_relu"
    z = _map(before, fn, "before")
    a = np.maximum(z, 0.0) if after is None else _map(after, fn, "after")
    if a.shape != z.shape:
        raise ValueError(f"{fn}: before {z.shape} and after {a.shape} must have the same shape")
    if not np.allclose(a, np.maximum(z, 0.0), rtol=1e-5, atol=1e-6):
        raise ValueError(f"{fn}: after is not max(before, 0) everywhere; pass the output of ReLU for this input")
    if show_values is None:
        show_values = max(z.shape) <= 8
    limit = float(np.abs(z).max()) or 1.0
    fig, region = figure_and_region(ax, figsize=(15.0, 5.0))
    a_before, a_fn, a_after = region.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.9, 1], "wspace": 0.45})
    im_b = a_before.imshow(z, cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
    im_a = a_after.imshow(a, cmap=SEQUENTIAL, vmin=0, vmax=limit, interpolation="nearest")
    panels = ((im_b, a_before, "before", "value (signed)"), (im_a, a_after, "after", "value (>= 0)"))
    for im, axis, name, label in panels:
        im.set_gid(f"relu:{name}")
        if show_values:
            pixel_grid(axis, *z.shape, color="0.7")
            cell_values(axis, np.asarray(im.get_array()), "{:.1f}", 9, gid=f"relu:{name}", colors=cell_colors(im))
        else:
            hide_ticks(axis)
        region.colorbar(im, ax=axis, shrink=0.8, label=label).ax.set_gid(f"colorbar:{name}")
    n_neg = int((z < 0).sum())
    a_before.set_title(f"before ReLU: {n_neg} of {z.size} negative", fontsize=9)
    a_after.set_title("after ReLU: negatives set to 0", fontsize=9)

    line = np.linspace(-limit, limit, 101)
    a_fn.plot(line, np.maximum(line, 0), color="0.3", lw=1.5, label="relu(z) = max(z, 0)")
    a_fn.scatter(z.ravel(), a.ravel(), c=z.ravel(), cmap=DIVERGING, vmin=-limit, vmax=limit, s=18, ec="0.3",
                 lw=0.4, zorder=3, label="the map's pixels")  # fmt: skip
    a_fn.axhline(0, color="0.8", lw=0.8)
    a_fn.axvline(0, color="0.8", lw=0.8)
    a_fn.set_xlabel("before (z)", fontsize=9)
    a_fn.set_ylabel("after", fontsize=9)
    a_fn.set_title("the function", fontsize=9)
    a_fn.legend(fontsize=8, loc="upper left")
    region.subplots_adjust(top=0.84)
    region.suptitle(title or f"ReLU on a {z.shape[0]}x{z.shape[1]} map", fontsize=10)
    return finish(fig, save)


def softmax_numbers(logits) -> tuple:
    """``(shifted, exps, probs)``: ``z - max z``, ``exp`` of that, and ``exp / sum(exp)``."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max()  # the same probabilities, and exp never overflows
    exps = np.exp(shifted)
    return shifted, exps, exps / exps.sum()


def plot_softmax(logits, classes=None, title: str | None = None, ax=None, save=None):
    """Softmax step by step: logits, exp of the (shifted) logits, and the normalised probabilities.

    Picture: three bar charts over the classes, each bar labelled with its number. Left, the
    logits (signed: red > 0, blue < 0). Middle, ``exp(z - max z)``: subtracting the largest
    logit changes nothing after normalising but keeps exp from overflowing; every bar is now
    positive and the largest is 1. Right, the probabilities ``exp / sum(exp)``, which sum to 1
    (stated in the title); the predicted class (the largest) is dark.

    Args:
        logits: ``(K,)`` scores of one example (or ``(1, K)``).
        classes: K class names (default ``0 .. K-1``).
        title, ax, save: as usual.

    Bar labels are texts with ``gid`` ``"softmax:<step>:<k>"`` (step ``logit``, ``exp``, ``prob``).

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_softmax"
    z = to_numpy(logits, fn, "logits").astype(np.float64)
    if z.ndim == 2 and z.shape[0] == 1:
        z = z[0]
    if z.ndim != 1 or z.size < 1:
        raise ValueError(f"{fn}: logits must be one example's scores (K,) or (1, K), got shape {z.shape}")
    names = [str(c) for c in (range(z.size) if classes is None else classes)]
    if len(names) != z.size:
        raise ValueError(f"{fn}: got {z.size} logits but {len(names)} class names")
    shifted, exps, probs = softmax_numbers(z)
    fig, region = figure_and_region(ax, figsize=(min(16.0, max(10.0, 1.2 * z.size + 2)), 4.2))
    axes = region.subplots(1, 3, gridspec_kw={"wspace": 0.3})
    limit = float(np.abs(z).max()) or 1.0
    div = matplotlib.colormaps[DIVERGING]
    steps = (
        ("logit", z, [div(0.5 + 0.5 * v / limit) for v in z], "logits z (red > 0 > blue)"),
        ("exp", exps, ["#9e9ac8"] * z.size, f"exp(z - max z),  sum = {exps.sum():.4g}"),
        ("prob", probs, ["#3f007d" if k == probs.argmax() else "#bcbddc" for k in range(z.size)],
         f"probabilities = exp / sum,  sum = {probs.sum():.3f}"),
    )  # fmt: skip
    for a, (step, values, colors, heading) in zip(axes, steps):
        bars = a.bar(names, values, color=colors, ec="0.3", lw=0.5)
        for k, (bar, v) in enumerate(zip(bars, values)):
            y = bar.get_height()
            a.text(bar.get_x() + bar.get_width() / 2, y, f"{v:.2g}" if step != "prob" else f"{v:.3f}",
                   ha="center", va="bottom" if y >= 0 else "top", fontsize=8 if z.size <= 6 else 7,
                   rotation=0 if z.size <= 6 else 90, gid=f"softmax:{step}:{k}")  # fmt: skip
        a.set_title(heading, fontsize=9)
        a.tick_params(axis="x", labelsize=8, rotation=45 if max(len(n) for n in names) > 3 else 0)
        a.axhline(0, color="0.5", lw=0.8)
        a.grid(axis="y", alpha=0.3)
        top = max(values.max(), 0)
        bottom = min(values.min(), 0)
        pad = 0.15 * (top - bottom or 1)
        a.set_ylim(bottom - (pad if bottom < 0 else 0), top + pad)
    axes[2].set_ylim(0, 1.2)
    axes[2].set_ylabel("probability", fontsize=9)
    region.subplots_adjust(top=0.82)
    region.suptitle(title or f"softmax: predicted {names[int(probs.argmax())]} ({100 * probs.max():.1f}%)", fontsize=10)
    return finish(fig, save)
