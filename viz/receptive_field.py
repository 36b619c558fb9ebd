"""Receptive fields measured with the network's own gradients.

The receptive field of an output pixel is the set of input pixels it depends on. Autodiff
measures it directly: put a gradient of 1 on that output pixel (0 everywhere else),
backpropagate to the input, and look where the input gradient is non-zero. No formula for
kernel sizes, strides or dilations is needed, so it works for any stack of layers, and the
size of the gradient shows how strongly each pixel counts (the centre more than the rim).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

import tinygraph as tg
from tinygraph.nn.module import evaluating

from ._common import figure_and_region, finish, grid_shape, to_numpy


def _as_callable(model_or_layers):
    """A model, any callable, or a list/tuple of layers applied one after another."""
    if isinstance(model_or_layers, (list, tuple)):
        layers = list(model_or_layers)
        if not all(callable(f) for f in layers):
            raise TypeError("plot_receptive_field: every item of a list of layers must be callable")

        def chain(x):
            for f in layers:
                x = f(x)
            return x

        return chain, layers
    if not callable(model_or_layers):
        raise TypeError(
            "plot_receptive_field: expected a model, a callable or a list of layers, "
            f"got {type(model_or_layers).__name__}"
        )
    return model_or_layers, [model_or_layers]


def _parameters(parts) -> list:
    params, seen = [], set()
    for part in parts:
        for p in part.parameters() if hasattr(part, "parameters") else ():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def _input_shape(input_shape) -> tuple:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        return (1, *shape)
    if len(shape) == 4 and shape[0] >= 1:
        return (1, *shape[1:])
    raise ValueError(f"plot_receptive_field: input_shape must be (C, H, W) or (N, C, H, W), got {input_shape}")


def receptive_field(model_or_layers, input_shape, output_position=None, x=None, channel=None) -> np.ndarray:
    """``|d out[0, channel, i, j] / d x|`` summed over input channels: an ``(H, W)`` map.

    Args:
        model_or_layers: a model, a callable, or a list of layers applied in order; it must
            map ``(1, C, H, W)`` to a 4-D output.
        input_shape: ``(C, H, W)`` (or ``(N, C, H, W)``; one sample is used).
        output_position: ``(i, j)`` in the output; default the centre ``(H_out // 2, W_out // 2)``.
        x: the input to differentiate at, shape ``(C, H, W)`` or ``(1, C, H, W)``; default a
            fixed standard-normal sample. A purely linear stack (convs without ReLU or
            pooling) gives the same map for every input; ReLUs and max-pooling make the
            *effective* field depend on the input (dead units cut paths).
        channel: one output channel, or ``None`` for the sum of all channels at that pixel.

    The receptive field is ``result > 0``. The pass runs in eval mode (batch norm on running
    statistics: in training mode the batch mean would make every pixel depend on every
    other); modes are restored after. Parameters of the model get no gradient from this
    (their ``requires_grad`` is switched off during the pass and restored after).
    """
    fn = "receptive_field"
    f, parts = _as_callable(model_or_layers)
    shape = _input_shape(input_shape)
    if x is None:
        data = np.random.default_rng(0).standard_normal(shape).astype(tg.get_default_dtype())
    else:
        data = to_numpy(x, fn, "x")
        data = data[None] if data.ndim == 3 else data
        if data.shape != shape:
            raise ValueError(f"{fn}: x has shape {data.shape}, expected {shape} from input_shape")
    xt = tg.tensor(np.array(data), requires_grad=True)

    params = _parameters(parts)
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad = False  # measure d out / d input only; leave the parameters' .grad alone
        with tg.enable_grad(), contextlib.ExitStack() as modes:
            for part in parts:  # eval mode: batch statistics would couple every pixel to every other
                if hasattr(part, "modules"):
                    modes.enter_context(evaluating(part))
            out = f(xt)
        if not isinstance(out, tg.Tensor) or out.ndim != 4:
            got = tuple(out.shape) if isinstance(out, tg.Tensor) else type(out).__name__
            raise ValueError(f"{fn}: the model must return a 4-D (N, C, H, W) tensor for input {shape}, got {got}")
        _, c_out, h_out, w_out = out.shape
        i, j = (h_out // 2, w_out // 2) if output_position is None else (int(v) for v in output_position)
        if not (0 <= i < h_out and 0 <= j < w_out):
            raise ValueError(f"{fn}: output_position {(i, j)} is outside the output of size {(h_out, w_out)}")
        seed = np.zeros(out.shape, dtype=out.dtype)
        if channel is None:
            seed[0, :, i, j] = 1.0
        else:
            if not -c_out <= channel < c_out:
                raise ValueError(f"{fn}: channel={channel} but the output has {c_out} channels")
            seed[0, channel, i, j] = 1.0
        if not out.requires_grad:
            return np.zeros(shape[2:])  # the output does not depend on the input at all
        out.backward(seed)
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
    return np.abs(to_numpy(xt.grad, fn, "grad")[0]).sum(axis=0)


def field_extent(rf: np.ndarray) -> tuple:
    """``(height, width, pixel count)`` of the non-zero region (its bounding box, and how many are non-zero)."""
    rows, cols = np.nonzero(rf)
    if rows.size == 0:
        return 0, 0, 0
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1), int(rows.size)


def plot_receptive_field(
    models,
    input_shape,
    output_position=None,
    x=None,
    channel=None,
    ncols: int | None = None,
    cmap: str = "Purples",
    ax=None,
    save=None,
    mode: str = "support",
    caption: str | None = None,
):
    """Which input pixels one output pixel sees, for one network or several side by side.

    Picture: one panel per network, each the input grid with the pixels the chosen output
    pixel depends on filled in purple (``mode='support'``, the default: which pixels matter,
    not how much, since with random weights "how much" is noise) and white elsewhere, a
    legend saying so, and a cyan box around the region. Titles say the size and the number
    of parameters, e.g. ``"3x3 conv x2: 5x5 (25 px), 20 parameters"``. ``mode='gradient'``
    shades each pixel by ``|gradient|`` divided by its maximum instead, with a colourbar.
    Side by side, two stacked 3x3 convs show a solid 5x5 square, while a 3x3 conv with
    dilation 2 shows a 5x5 square with holes: a lattice of 9 pixels.

    Args:
        models: a model / callable / list of layers, or a dict ``{title: model}`` to compare.
        input_shape, output_position, x, channel: as in :func:`receptive_field`.
        ncols: panels per row.
        cmap: a sequential colormap for the non-zero pixels (zeros are always white).
        ax: draw the panels in the place of this axes.
        save: path to save the figure to.
        mode: ``'support'`` (1 inside the field, 0 outside) or ``'gradient'`` (see above).
        caption: a line of text under the panels.

    Each panel's image (``gid`` ``"rf:<title>"``) holds 1 on the receptive field
    (``mode='gradient'``: the gradient map divided by its maximum), zeros masked, so the
    receptive field is exactly where the image is non-zero.

    Returns:
        the matplotlib Figure.
    """
    if mode not in ("support", "gradient"):
        raise ValueError(f"plot_receptive_field: mode must be 'support' or 'gradient', got {mode!r}")
    entries = dict(models) if isinstance(models, Mapping) else {"": models}
    if not entries:
        raise ValueError("plot_receptive_field: got an empty dict of models")
    maps = {title: receptive_field(m, input_shape, output_position, x, channel) for title, m in entries.items()}

    # Exactly-zero pixels (outside the field) are white; inside, even a tiny gradient gets a visible
    # colour: the colormap starts a quarter of the way in instead of at its near-white end.
    colors = ListedColormap(matplotlib.colormaps[cmap](np.linspace(0.25, 1.0, 256))).with_extremes(bad="white")
    n = len(maps)
    rows, cols = grid_shape(n, ncols)
    below = 0.35 + (0.3 if mode == "support" else 0) + (0.3 if caption else 0)  # inches: ticks, legend, caption
    height = 3.6 * rows + below + 0.3
    fig, region = figure_and_region(ax, figsize=(3.6 * cols, height))
    axes = np.atleast_1d(region.subplots(rows, cols, squeeze=False, gridspec_kw={"bottom": below / height})).ravel()
    image = None
    for a, (title, rf) in zip(axes, maps.items()):
        top = rf.max()
        if mode == "support":
            shown = (rf > 0).astype(np.float64)
        else:
            shown = rf / top if top > 0 else rf
        h, w = shown.shape
        image = a.imshow(np.ma.masked_equal(shown, 0), cmap=colors, vmin=0, vmax=1, interpolation="nearest")
        image.set_gid(f"rf:{title}")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # pixel indices, not 2.5
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
        if max(h, w) <= 64:  # pixel grid, so single pixels and holes can be counted
            a.set_xticks(np.arange(-0.5, w, 1), minor=True)
            a.set_yticks(np.arange(-0.5, h, 1), minor=True)
            a.grid(which="minor", color="0.85", lw=0.5)
            a.tick_params(which="minor", length=0)
        rh, rw, count = field_extent(rf)
        if count:
            r0, c0 = np.nonzero(rf)[0].min(), np.nonzero(rf)[1].min()
            a.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), rw, rh, fill=False, ec="c", lw=1.5))
        name = f"{title}:\n" if title else ""
        n_params = sum(int(np.prod(p.shape)) for p in _parameters(_as_callable(entries[title])[1]))
        params = f", {n_params:,} parameters" if n_params else ""
        a.set_title(f"{name}{rh}x{rw} ({count} px){params}", fontsize=9)
    for a in axes[n:]:
        a.set_visible(False)
    if mode == "support":  # what the two colours mean
        region.legend(
            handles=[Patch(fc=colors(1.0), ec="0.5", label="in the receptive field: the output pixel depends on it"),
                     Patch(fc="white", ec="0.5", label="outside: no path from this input pixel to the output pixel"),
                     Line2D([], [], color="c", lw=1.5, label="bounding box of the field")],
            loc="lower center", ncol=3, fontsize=8, frameon=False,
            bbox_to_anchor=(0.5, (0.3 if caption else 0.0) / height),
        )  # fmt: skip
    elif image is not None:
        region.colorbar(image, ax=list(axes[:n]), shrink=0.8, label="|gradient| / its maximum (white: 0)")
    if caption:
        region.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=9)
    where = "the centre" if output_position is None else f"{tuple(output_position)}"
    region.suptitle(f"receptive field of the output pixel at {where}, input {tuple(input_shape)[-2:]}", fontsize=9)
    return finish(fig, save)
