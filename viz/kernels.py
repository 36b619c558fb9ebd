"""Learned convolution filters as a grid of small images."""

from __future__ import annotations

import numpy as np

from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from ._common import DIVERGING, check_scale, figure_and_region, finish, grid_shape, hide_ticks, to_numpy

_NORMALIZE = ("filter", "shared")


def _conv_weight(weight_or_layer) -> tuple:
    """``(weight array (C_out, C_in/groups, kH, kW), name for titles)`` from a layer, Tensor or array."""
    fn = "plot_kernels"
    if hasattr(weight_or_layer, "weight") and not isinstance(weight_or_layer, np.ndarray):
        layer = weight_or_layer
        name = type(layer).__name__
        if layer.weight is None:
            raise TypeError(f"{fn}: {name} has no weight to draw; expected a Conv2d layer")
        w = to_numpy(layer.weight, fn, "weight_or_layer.weight")
        if w.ndim != 4:
            raise TypeError(
                f"{fn}: expected a Conv2d layer (weight of shape (C_out, C_in/groups, kH, kW)), "
                f"got {name} with a {w.ndim}-D weight of shape {w.shape}"
            )
        return w, name
    if isinstance(weight_or_layer, (list, tuple)) or not hasattr(weight_or_layer, "shape"):
        raise TypeError(
            f"{fn}: expected a Conv2d layer or a 4-D weight (C_out, C_in/groups, kH, kW), "
            f"got {type(weight_or_layer).__name__}"
        )
    w = to_numpy(weight_or_layer, fn, "weight")
    if w.ndim != 4:
        raise ValueError(f"{fn}: expected a 4-D conv weight (C_out, C_in/groups, kH, kW), got shape {w.shape}")
    return w, "weight"


def _channel_mode(channel, c_in: int) -> tuple:
    """``(mode, channel index)`` with mode one of 'rgb', 'single', 'mean', 'all'."""
    fn = "plot_kernels"
    if channel is None:
        if c_in == 3:
            return "rgb", None
        return ("single", 0) if c_in == 1 else ("all", None)
    if channel == "rgb":
        if c_in != 3:
            raise ValueError(f"{fn}: channel='rgb' needs filters with 3 input channels, these have {c_in}")
        return "rgb", None
    if channel in ("mean", "all"):
        return channel, None
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not -c_in <= channel < c_in:
            raise ValueError(f"{fn}: channel={channel} is out of range for filters with {c_in} input channels")
        return "single", int(channel) % c_in
    raise ValueError(f"{fn}: channel must be None, an int, 'rgb', 'mean' or 'all', got {channel!r}")


def plot_kernels(
    weight_or_layer,
    channel=None,
    normalize: str | None = None,
    max_filters: int = 64,
    max_channels: int = 16,
    ncols: int | None = None,
    cmap: str | None = None,
    title: str | None = None,
    ax=None,
    save=None,
    scale: str | None = None,
):
    """Draw every filter of a conv layer as a small image, in a grid, on one colour scale.

    Picture: a grid of little squares, one per filter (``#0, #1, ...`` above each). Weights are
    signed, so grey-scale squares use a diverging colormap centred on zero (red > 0, blue < 0,
    white = 0, limits ``-max|w| .. +max|w|``) with a colourbar, and by default all filters share
    that scale (``scale='layer'``), so a strong filter looks stronger than a weak one. For a
    first layer on colour images (3 input channels) each square is a tiny RGB picture (the
    default then): each channel's weight ``-m .. +m`` maps to intensity ``0 .. 1``, so 0 is mid
    grey, a red blob is a filter that wants red; the grey colourbar says what ``m`` is. For
    deeper layers (``C_in`` not 1 or 3) there is one row per filter and one column per input
    channel (``channel='all'``), or one square per filter showing a chosen input channel
    (``channel=2``) or the mean over input channels (``channel='mean'``).

    Args:
        weight_or_layer: a Conv2d-like layer (anything with a 4-D ``.weight``), or a weight
            Tensor/array of shape ``(C_out, C_in/groups, kH, kW)``.
        channel: which input channels to show (see above); default: colour when
            ``C_in == 3``, the only channel when ``C_in == 1``, else ``'all'``.
        scale: ``'layer'`` (default) or ``'global'``: one symmetric scale for every filter
            shown (a single layer has nothing more global); ``'unit'``: each filter divided by
            its own ``max|w|`` (still centred on zero), so weak filters' patterns are visible
            and the colourbar reads "weight / max |weight| of its filter".
        normalize: the older name of ``scale``: ``'shared'`` is ``'layer'``, ``'filter'`` is ``'unit'``.
        max_filters: show at most this many filters (the first ones).
        max_channels: with ``channel='all'``, show at most this many input channels.
        ncols: columns of the grid (not used with ``channel='all'``).
        cmap: a diverging colormap for grey images (default ``'RdBu_r'``).
        title: figure title (default: the layer type, weight shape and the scale).
        ax: draw the grid in the place of this axes instead of a new figure.
        save: path to save the figure to (parent directories are created).

    Returns:
        the matplotlib Figure. Each filter image carries ``gid`` ``"kernel:<f>"`` (or
        ``"kernel:<f>:<c>"`` with ``channel='all'``). Grey images hold the weights (divided by
        the filter's ``max|w|`` under ``scale='unit'``) with limits ``(-m, m)``; RGB images hold
        ``0.5 + w / (2 m)``. The colourbar's axes has ``gid`` ``"colorbar"``.

    Raises:
        TypeError: for a layer without a 4-D weight (e.g. Linear) or a non-array argument.
        ValueError: for a bad ``channel``/``scale``/``normalize`` or a weight that is not 4-D.
    """
    w, name = _conv_weight(weight_or_layer)
    scale = _resolve_scale(scale, normalize)
    c_out, c_in, kh, kw = w.shape
    mode, ch = _channel_mode(channel, c_in)
    n = min(c_out, int(max_filters))
    w = w[:n].astype(np.float64)

    # What each filter shows: (n, kH, kW, 3) colour, (n, kH, kW) grey, or (n, c, kH, kW) for 'all'.
    if mode == "rgb":
        shown = w.transpose(0, 2, 3, 1)
    elif mode == "single":
        shown = w[:, ch]
    elif mode == "mean":
        shown = w.mean(axis=1)
    else:
        shown = w[:, : min(c_in, int(max_channels))]

    if scale == "unit":  # every filter (all its shown channels) divided by its own max |w|
        per_filter = np.abs(shown.reshape(n, -1)).max(axis=1) if shown.size else np.zeros(n)
        per_filter[per_filter == 0] = 1.0
        shown = shown / per_filter.reshape((n,) + (1,) * (shown.ndim - 1))
        limit = 1.0
    else:
        limit = float(np.abs(shown).max()) if shown.size else 0.0
        limit = limit if limit > 0 else 1.0
    if mode == "rgb":  # -limit -> 0, 0 -> 0.5 (grey), +limit -> 1, in every colour channel
        images = 0.5 + shown / (2 * limit)
    else:
        images = shown
    cmap = cmap or DIVERGING

    if mode == "all":
        rows, cols = n, images.shape[1]
        cells = [((f, c), images[f, c]) for f in range(n) for c in range(cols)]
    else:
        rows, cols = grid_shape(n, ncols)
        cells = [((f,), images[f]) for f in range(n)]
    cell = 0.9 if max(rows, cols) <= 12 else 0.55
    fig, region = figure_and_region(ax, figsize=(max(3.5, cols * cell + 1.6), rows * cell + 1.0))
    grid = region.add_gridspec(rows, cols, wspace=0.08, hspace=0.3 if mode != "all" else 0.08)

    axes = []
    for k, (key, img) in enumerate(cells):
        r, c = (key[0], key[1]) if mode == "all" else divmod(k, cols)
        a = region.add_subplot(grid[r, c])
        if mode == "rgb":
            im = a.imshow(img, interpolation="nearest", vmin=0, vmax=1)
        else:
            im = a.imshow(img, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
        im.set_gid("kernel:" + ":".join(str(i) for i in key))
        hide_ticks(a)
        if mode != "all":
            a.set_title(f"#{key[0]}", fontsize=8, pad=2)
        else:
            if c == 0:
                a.set_ylabel(f"#{key[0]}", fontsize=8, rotation=0, labelpad=10, va="center")
            if r == 0:
                a.set_title(f"in {key[1]}", fontsize=8, pad=2)
        axes.append(a)

    if axes:
        unit = scale == "unit"
        if mode == "rgb":  # what a channel's intensity means: a grey ramp from -m to +m
            mappable = ScalarMappable(Normalize(-limit, limit), cmap="gray")
            label = "weight / own max, per colour" if unit else "weight, per colour channel\n(0 = mid grey)"
        else:
            mappable, label = axes[-1].images[0], ("weight / max |weight| of its filter" if unit else "weight")
        bar = region.colorbar(mappable, ax=axes, shrink=0.8, label=label)
        bar.ax.set_gid("colorbar")
    what = {
        "rgb": "RGB",
        "single": f"input channel {ch}",
        "mean": "mean over input channels",
        "all": "all input channels",
    }
    if scale == "unit":
        how = "each filter on its own scale"
    else:
        how = "one shared scale, 0 = " + ("grey" if mode == "rgb" else "white")
    shown_of = f"{n} of {c_out}" if n < c_out else f"{c_out}"
    region.suptitle(title or f"{name} {c_out}x{c_in}x{kh}x{kw}: {shown_of} filters, {what[mode]} ({how})", fontsize=9)
    return finish(fig, save)


def _resolve_scale(scale, normalize) -> str:
    """``scale`` from the new argument or the older ``normalize`` one (default ``'layer'``)."""
    if normalize is not None and normalize not in _NORMALIZE:
        raise ValueError(f"plot_kernels: normalize must be one of {_NORMALIZE}, got {normalize!r}")
    if scale is None:
        scale = {"filter": "unit", "shared": "layer", None: "layer"}[normalize]
    return check_scale(scale, "plot_kernels")
