"""Several maps side by side at their true relative size: one data pixel covers the same area in every panel."""

from __future__ import annotations

import numpy as np

from ._common import color_scale, finish, new_figure, to_numpy


def plot_maps_to_scale(
    maps: dict,
    pixel_inches: float | None = None,
    max_width: float = 13.0,
    max_height: float = 6.0,
    signed: bool | None = None,
    label: str = "value",
    caption: str | None = None,
    title: str | None = None,
    save=None,
):
    """Draw ``{title: 2-D map}`` in a row, every panel at the same inches per pixel, on one colour scale.

    Picture: the panels share their top edge; a 16x16 map is drawn twice as wide and high as
    an 8x8 one, so "stride 2 halves the size" is seen, not only read. One colour scale for all
    panels (diverging and centred on zero for signed data, sequential from 0 otherwise) with
    one colourbar, so equal colours mean equal values everywhere. An optional ``caption``
    below the panels explains what to look at. (No ``ax`` argument: the panels' sizes in inches
    are the point, so the function lays out its own figure.)

    Args:
        maps: ``{panel title: (H, W) array or Tensor}`` (at least one).
        pixel_inches: the side of one data pixel in inches (default: the largest that fits
            ``max_width`` x ``max_height`` inches for all panels).
        max_width, max_height: inches available for the panels (without the colourbar).
        signed: force a diverging (True) or sequential (False) scale; default from the data.
        label: the colourbar's label.
        caption, title, save: as usual.

    Panel images carry ``gid`` ``"map:<title>"``; the colourbar's axes ``"colorbar"``.

    Returns:
        the matplotlib Figure. Each panel's axes is ``H * pixel_inches`` high and ``W * pixel_inches`` wide.
    """
    fn = "plot_maps_to_scale"
    if not maps:
        raise ValueError(f"{fn}: got no maps")
    arrays = {}
    for name, m in maps.items():
        a = to_numpy(m, fn, f"maps[{name!r}]").astype(np.float64)
        if a.ndim != 2:
            raise ValueError(f"{fn}: maps[{name!r}] must be 2-D (H, W), got shape {a.shape}")
        arrays[name] = a
    gap, bar_width, margin, top_room = 0.45, 0.18, 0.3, 0.75
    bottom_room = 0.25 + (0.25 * (caption.count("\n") + 1) + 0.15 if caption else 0.0)
    widths = [a.shape[1] for a in arrays.values()]
    heights = [a.shape[0] for a in arrays.values()]
    if pixel_inches is None:
        pixel_inches = min((max_width - gap * (len(arrays) - 1)) / sum(widths), max_height / max(heights))
    fig_w = margin + sum(widths) * pixel_inches + gap * len(arrays) + bar_width + 0.9
    fig_h = top_room + max(heights) * pixel_inches + bottom_room
    fig = new_figure((fig_w, fig_h))
    scale = color_scale(np.concatenate([a.ravel() for a in arrays.values()]), signed=signed)
    x, image = margin, None
    for (name, a), w, h in zip(arrays.items(), widths, heights):
        top = fig_h - top_room
        box = [x / fig_w, (top - h * pixel_inches) / fig_h, w * pixel_inches / fig_w, h * pixel_inches / fig_h]
        ax = fig.add_axes(box)
        image = ax.imshow(a, interpolation="nearest", aspect="equal", **scale)
        image.set_gid(f"map:{name}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        x += w * pixel_inches + gap
    cax = fig.add_axes([x / fig_w, bottom_room / fig_h, bar_width / fig_w, max(heights) * pixel_inches / fig_h])
    fig.colorbar(image, cax=cax, label=label).ax.set_gid("colorbar")
    if caption:
        fig.text(margin / fig_w, 0.15 / fig_h, caption, fontsize=9, va="bottom", ha="left", gid="caption")
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.15 / fig_h, va="top")
    return finish(fig, save)
