"""Max pooling for one output pixel: the window, the maximum it keeps, and where the gradient goes back."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

import tinygraph as tg
import tinygraph.functional as F

from ._common import (
    SEQUENTIAL,
    cell_colors,
    cell_values,
    color_scale,
    figure_and_region,
    finish,
    hide_ticks,
    pixel_grid,
    to_numpy,
)
from .conv_arithmetic import pair

WINDOW_COLOR = "#e7298a"  # magenta: not a colour of the viridis value map


def pooling_step(x, kernel_size, stride=None, out_index=(0, 0)) -> dict:
    """Max pooling of a 2-D map computed by tinygraph, forward and backward, for one output pixel.

    Returns ``{"output": (H_out, W_out), "window": (r0, c0, kH, kW), "argmax": (r, c),
    "grad": (H, W)}``: ``grad`` is ``d out[i, j] / d x`` from ``backward()`` (1 at the
    window's maximum, 0 elsewhere: the gradient goes only to the pixel that won).
    """
    fn = "plot_pooling"
    a = to_numpy(x, fn, "x").astype(np.float64)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{fn}: x must be one 2-D map (H, W) (or (1, 1, H, W)), got shape {a.shape}")
    kh, kw = pair(kernel_size, "kernel_size", fn)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", fn)
    xt = tg.tensor(a[None, None], requires_grad=True)
    out = F.max_pool2d(xt, (kh, kw), stride=(sh, sw))
    h_out, w_out = out.shape[2:]
    i, j = (int(v) for v in out_index)
    if not (0 <= i < h_out and 0 <= j < w_out):
        raise ValueError(f"{fn}: out_index {(i, j)} is outside the output of size {(h_out, w_out)}")
    seed = np.zeros(out.shape, dtype=out.dtype)
    seed[0, 0, i, j] = 1.0
    out.backward(seed)
    grad = xt.grad.numpy()[0, 0]
    r, c = np.unravel_index(int(np.argmax(grad)), grad.shape)
    return {"output": out.detach().numpy()[0, 0], "window": (i * sh, j * sw, kh, kw), "argmax": (int(r), int(c)),
            "grad": grad}  # fmt: skip


def plot_pooling(x, kernel_size, stride=None, out_index=(0, 0), show_values: bool | None = None, title=None, ax=None,
                 save=None):  # fmt: skip
    """Max pooling, CNN Explainer style: which window an output pixel reads, which value wins, where the gradient goes.

    Picture: left, the input map with the window of output pixel ``out_index`` outlined in
    green and its maximum circled; middle, the pooled output with that pixel outlined and its
    value; right, the backward pass: the gradient of that output pixel with respect to the
    input, as computed by ``backward()`` (1 on the winning pixel, 0 everywhere else, including
    the other pixels of the window: they did not affect the output).

    Args:
        x: the input map (H, W) (or (1, 1, H, W)).
        kernel_size: the window size (int or pair).
        stride: the step (default ``kernel_size``, as in ``max_pool2d``).
        out_index: ``(i, j)`` of the output pixel to explain.
        show_values: write the numbers in the cells (default: input at most 10x10).
        title, ax, save: as usual.

    Images carry ``gid`` ``"pool:input"``, ``"pool:output"`` and ``"pool:grad"``.

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_pooling"
    step = pooling_step(x, kernel_size, stride, out_index)
    a = to_numpy(x, fn, "x").astype(np.float64).reshape(step["grad"].shape)
    out, grad = step["output"], step["grad"]
    r0, c0, kh, kw = step["window"]
    i, j = (int(v) for v in out_index)
    if show_values is None:
        show_values = max(a.shape) <= 10
    scale = color_scale(np.concatenate([a.ravel(), out.ravel()]))
    fig, region = figure_and_region(ax, figsize=(14.0, 4.6))
    axes = region.subplots(1, 3, gridspec_kw={"width_ratios": [a.shape[1], out.shape[1], a.shape[1]], "wspace": 0.45})
    panels = (
        (axes[0], a, scale, "input", f"input {a.shape[0]}x{a.shape[1]}: window {kh}x{kw}, max circled"),
        (axes[1], out, scale, "output", f"out[{i}, {j}] = {out[i, j]:.3g}"),
        (axes[2], grad, {"cmap": SEQUENTIAL, "vmin": 0.0, "vmax": 1.0}, "grad",
         f"backward: d out[{i}, {j}] / d input"),
    )  # fmt: skip
    for axis, data, sc, name, heading in panels:
        im = axis.imshow(data, interpolation="nearest", **sc)
        im.set_gid(f"pool:{name}")
        if show_values:
            pixel_grid(axis, *data.shape, color="0.7")
            number = "{:g}" if np.allclose(data, np.round(data)) else "{:.2f}"
            cell_values(axis, data, number, 9, gid=f"pool:{name}", colors=cell_colors(im))
        else:
            hide_ticks(axis)
        axis.set_title(heading, fontsize=9)
        label = "gradient" if name == "grad" else "value"
        region.colorbar(im, ax=axis, shrink=0.75, label=label).ax.set_gid(f"colorbar:{name}")
    for axis in (axes[0], axes[2]):
        axis.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), kw, kh, fill=False, ec=WINDOW_COLOR, lw=2.5, zorder=3))
    r, c = step["argmax"]
    axes[0].plot(c, r, "o", ms=22 if show_values else 10, mfc="none", mec="red", mew=2.5, zorder=4)
    axes[1].add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=WINDOW_COLOR, lw=2.5, zorder=3))
    stride_text = pair(kernel_size if stride is None else stride, "stride", fn)
    region.suptitle(title or f"max pooling {kh}x{kw}, stride {stride_text}: the largest value in the window wins, "
                    "and only it gets the gradient back", fontsize=10)  # fmt: skip
    return finish(fig, save)
