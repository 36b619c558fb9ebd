"""Plumbing shared by every picture: a backend that works without a display, figures drawn
into an optional ``ax``, saving to an optional path, and turning Tensors into arrays.

Every public ``viz`` function follows the same pattern::

    fig, ax = figure_and_axes(ax, figsize=(6, 4))     # a new figure, or the caller's axes
    ...draw on ax...
    return finish(fig, save)                          # save if asked (parent dirs created), return fig

Grid pictures (kernels, feature maps, ...) use :func:`figure_and_region` instead: given an
``ax`` they draw their whole grid inside the space that ``ax`` occupied, so several pictures
can be composed into one figure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib
import numpy as np

import tinygraph as tg

DEFAULT_DPI = 100


def _headless() -> bool:
    """True on a Linux/BSD machine with no X11 or Wayland display (a server, CI, a container)."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _use_agg_when_headless() -> None:
    """Choose the file-only Agg backend when there is no display and nobody chose a backend.

    This must happen before ``matplotlib.pyplot`` is first imported; a backend the user picked
    (``MPLBACKEND``, ``matplotlib.use``, a matplotlibrc, or an already imported pyplot) is kept.
    """
    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return
    chosen = getattr(matplotlib.rcParams, "_get_backend_or_none", lambda: None)()
    if chosen is None and _headless():
        matplotlib.use("Agg")


def pyplot():
    """``matplotlib.pyplot``, imported only after the backend question is settled."""
    _use_agg_when_headless()
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize=(6.0, 4.0)):
    """A fresh pyplot figure (so ``plt.show()`` and notebooks display it as usual)."""
    return pyplot().figure(figsize=figsize)


def figure_and_axes(ax=None, figsize=(6.0, 4.0)):
    """``(fig, ax)``: the caller's axes and its figure, or a new figure with one axes."""
    if ax is not None:
        return root_figure(ax), ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot(1, 1, 1)


def figure_and_region(ax=None, figsize=(6.0, 4.0)):
    """``(fig, region)``: where a multi-panel picture draws its own grid of axes.

    Without ``ax`` the region is a new figure.  With ``ax`` the region is a subfigure that
    takes the place of ``ax`` (which is removed), so the grid fits where the caller wanted
    one panel.  ``region`` supports ``add_gridspec``, ``add_subplot`` and ``suptitle``.
    """
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig
    spec = ax.get_subplotspec()
    if spec is None:
        raise ValueError(
            "viz: ax must be a grid axes (from plt.subplots or fig.add_subplot), not one placed by add_axes"
        )
    region = ax.figure.add_subfigure(spec)  # ax.figure: the (sub)figure that holds ax
    root = root_figure(ax)
    ax.remove()
    return root, region


def root_figure(artist):
    """The top-level Figure an axes (or subfigure) belongs to: the one that can be saved."""
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: .figure is already the root
        fig = artist.figure
        while getattr(fig, "figure", fig) is not fig:  # a subfigure's .figure is its parent
            fig = fig.figure
        return fig


def finish(fig, save=None, dpi: int = DEFAULT_DPI):
    """Save ``fig`` to ``save`` (any format matplotlib knows, from the suffix) if given; return ``fig``."""
    if save is not None:
        path = Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def to_numpy(x, fn: str, arg: str) -> np.ndarray:
    """A NumPy copy-free view of a Tensor, array or nested list (a Tensor is detached first).

    ``fn`` and ``arg`` name the caller and the argument for the error message.
    """
    if isinstance(x, tg.Tensor):
        x = x.detach()
        if x.device != "cpu":
            x = x.cpu()
        return np.asarray(x.data)
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{fn}: {arg} must be a Tensor or an array, got {type(x).__name__}") from exc


def grid_shape(n: int, ncols: int | None = None) -> tuple:
    """``(rows, cols)`` for ``n`` panels: ``ncols`` columns if given, else a near-square grid."""
    if ncols is None:
        ncols = max(1, int(np.ceil(np.sqrt(n))))
    ncols = max(1, min(int(ncols), n))
    return int(np.ceil(n / ncols)), ncols


def hide_ticks(ax) -> None:
    """Image panels: no ticks or tick labels, but keep the axes (so titles and frames stay)."""
    ax.set_xticks([])
    ax.set_yticks([])


def minmax01(a: np.ndarray) -> np.ndarray:
    """Rescale ``a`` linearly to [0, 1]; a constant array becomes 0.5 (mid grey)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    if hi - lo == 0:
        return np.full(a.shape, 0.5)
    return (a - lo) / (hi - lo)


# ------------------------------------------------------------------------------- colour scales
# The rule for every picture in viz: signed data (weights, pre-activation maps, gradients) on a
# diverging colormap centred on zero (vmin = -vmax), so white means 0 and red/blue read as signs;
# non-negative data (post-ReLU maps, probabilities, counts) on a sequential colormap from 0.
DIVERGING = "RdBu_r"
SEQUENTIAL = "viridis"
SCALES = ("layer", "unit", "global")


def check_scale(scale: str, fn: str) -> str:
    """``scale`` if it is one of :data:`SCALES`, else a ValueError naming ``fn``."""
    if scale not in SCALES:
        raise ValueError(f"{fn}: scale must be one of {SCALES}, got {scale!r}")
    return scale


def color_scale(data, signed: bool | None = None) -> dict:
    """``imshow`` keywords (cmap, vmin, vmax) for ``data`` under the rule above.

    ``signed=None`` decides from the data: any negative value makes it signed. A signed
    scale is symmetric, ``(-max|data|, +max|data|)``; a non-negative one is ``(0, max)``.
    All-zero data gets a unit range so the colormap stays defined.
    """
    a = np.asarray(data, dtype=np.float64)
    finite = a[np.isfinite(a)] if a.size else a
    if signed is None:
        signed = bool(finite.size and finite.min() < 0)
    if signed:
        limit = float(np.abs(finite).max()) if finite.size else 0.0
        limit = limit if limit > 0 else 1.0
        return {"cmap": DIVERGING, "vmin": -limit, "vmax": limit}
    top = float(finite.max()) if finite.size else 0.0
    return {"cmap": SEQUENTIAL, "vmin": 0.0, "vmax": top if top > 0 else 1.0}


def cell_values(ax, values, fmt: str = "{:.2g}", fontsize: float = 9, gid: str | None = None, colors=None) -> list:
    """Write each value of a 2-D array in its cell of an ``imshow`` (row r, column c at (c, r)).

    The text is black on light cells and white on dark ones when ``colors`` (an (H, W, 4)
    RGBA array of the cells' colours) is given. Returns the text artists (``gid`` +
    ``":r:c"`` when ``gid`` is given).
    """
    texts = []
    for (r, c), v in np.ndenumerate(np.asarray(values)):
        color = "black"
        if colors is not None:
            red, green, blue = colors[r, c][:3]
            color = "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
        text = fmt.format(v + 0.0)
        if text.startswith("-") and float(text) == 0:  # -0.04 printed as "-0.0": show "0.0"
            text = text[1:]
        t = ax.text(c, r, text, ha="center", va="center", fontsize=fontsize, color=color)
        if gid:
            t.set_gid(f"{gid}:{r}:{c}")
        texts.append(t)
    return texts


def cell_colors(image) -> np.ndarray:
    """The RGBA colour of every cell of an ``AxesImage`` (for choosing readable text colours)."""
    return image.cmap(image.norm(np.asarray(image.get_array(), dtype=np.float64)))


def pixel_grid(ax, h: int, w: int, color: str = "0.6") -> None:
    """Thin lines between the pixels of an ``imshow``, no tick labels (so cells can be counted)."""
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color=color, lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_xticks([])
    ax.set_yticks([])
