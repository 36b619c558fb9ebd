"""Learned convolution filters as a grid of small images."""

from __future__ import annotations

import numpy as np

from ._common import figure_and_region, finish, grid_shape, hide_ticks, minmax01, to_numpy

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
    normalize: str = "filter",
    max_filters: int = 64,
    max_channels: int = 16,
    ncols: int | None = None,
    cmap: str | None = None,
    title: str | None = None,
    ax=None,
    save=None,
):
    """Draw every filter of a conv layer as a small image, in a grid.

    Picture: a grid of little squares, one per filter (``#0, #1, ...`` above each). For a
    first layer on colour images (3 input channels) each square is a tiny RGB picture, so
    edge and colour-blob detectors are recognisable at a glance. For a grey first layer the
    squares are grey-scale. For deeper layers (``C_in`` not 1 or 3) there is one row per
    filter and one column per input channel (``channel='all'``), or one square per filter
    showing a chosen input channel (``channel=2``) or the mean over input channels
    (``channel='mean'``).

    Args:
        weight_or_layer: a Conv2d-like layer (anything with a 4-D ``.weight``), or a weight
            Tensor/array of shape ``(C_out, C_in/groups, kH, kW)``.
        channel: which input channels to show (see above); default: colour when
            ``C_in == 3``, the only channel when ``C_in == 1``, else ``'all'``.
        normalize: ``'filter'`` (default): each filter is rescaled on its own to [0, 1]
            (min -> black, max -> white), so weak filters are visible too.
            ``'shared'``: one scale for all filters, so strengths can be compared; grey
            images use a diverging colormap centred on zero (blue < 0 < red, 0 = white,
            limits +-max|w|) with a colorbar; RGB images map -max|w| .. +max|w| to 0 .. 1.
        max_filters: show at most this many filters (the first ones).
        max_channels: with ``channel='all'``, show at most this many input channels.
        ncols: columns of the grid (not used with ``channel='all'``).
        cmap: colormap for grey images (default ``'gray'``, or ``'RdBu_r'`` when shared).
        title: figure title (default: the layer type and weight shape).
        ax: draw the grid in the place of this axes instead of a new figure.
        save: path to save the figure to (parent directories are created).

    Returns:
        the matplotlib Figure. Each filter image carries ``gid`` ``"kernel:<f>"`` (or
        ``"kernel:<f>:<c>"`` with ``channel='all'``); its data are the values described
        under ``normalize``.

    Raises:
        TypeError: for a layer without a 4-D weight (e.g. Linear) or a non-array argument.
        ValueError: for a bad ``channel``/``normalize`` or a weight that is not 4-D.
    """
    w, name = _conv_weight(weight_or_layer)
    if normalize not in _NORMALIZE:
        raise ValueError(f"plot_kernels: normalize must be one of {_NORMALIZE}, got {normalize!r}")
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

    shared = normalize == "shared"
    limit = float(np.abs(shown).max()) if shown.size else 0.0
    if not shared:
        images = np.stack([minmax01(f) for f in shown])  # each filter (all its shown channels) to [0, 1]
    elif mode == "rgb":
        # One symmetric scale for all filters: -limit -> 0, 0 -> 0.5 (grey), +limit -> 1.
        images = 0.5 + shown / (2 * limit) if limit > 0 else np.full(shown.shape, 0.5)
    else:
        images = shown  # raw weights; the diverging colormap is centred on 0 by vmin = -vmax
    if cmap is None:
        cmap = "RdBu_r" if shared else "gray"
    if shared and mode != "rgb":
        vmin, vmax = (-limit, limit) if limit > 0 else (-1.0, 1.0)
    else:
        vmin, vmax = 0.0, 1.0

    if mode == "all":
        rows, cols = n, images.shape[1]
        cells = [((f, c), images[f, c]) for f in range(n) for c in range(cols)]
    else:
        rows, cols = grid_shape(n, ncols)
        cells = [((f,), images[f]) for f in range(n)]
    cell = 0.9 if max(rows, cols) <= 12 else 0.55
    fig, region = figure_and_region(ax, figsize=(max(3.0, cols * cell + 0.8), rows * cell + 0.8))
    grid = region.add_gridspec(rows, cols, wspace=0.08, hspace=0.3 if mode != "all" else 0.08)

    axes, last_image = [], None
    for k, (key, img) in enumerate(cells):
        r, c = (key[0], key[1]) if mode == "all" else divmod(k, cols)
        a = region.add_subplot(grid[r, c])
        if mode == "rgb":
            last_image = a.imshow(img, interpolation="nearest", vmin=0, vmax=1)
        else:
            last_image = a.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        last_image.set_gid("kernel:" + ":".join(str(i) for i in key))
        hide_ticks(a)
        if mode != "all":
            a.set_title(f"#{key[0]}", fontsize=7, pad=2)
        else:
            if c == 0:
                a.set_ylabel(f"#{key[0]}", fontsize=7, rotation=0, labelpad=10, va="center")
            if r == 0:
                a.set_title(f"in {key[1]}", fontsize=7, pad=2)
        axes.append(a)

    if shared and mode != "rgb" and last_image is not None:
        region.colorbar(last_image, ax=axes, shrink=0.8, label="weight")
    what = {
        "rgb": "RGB",
        "single": f"input channel {ch}",
        "mean": "mean over input channels",
        "all": "all input channels",
    }
    scale = "shared scale, 0 = middle" if shared else "each filter scaled to its own min..max"
    shown_of = f"{n} of {c_out}" if n < c_out else f"{c_out}"
    region.suptitle(title or f"{name} {c_out}x{c_in}x{kh}x{kw}: {shown_of} filters, {what[mode]} ({scale})", fontsize=9)
    return finish(fig, save)
