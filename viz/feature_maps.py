"""Activations of chosen layers for one input, captured with forward hooks."""

from __future__ import annotations

import numpy as np

import tinygraph as tg
from tinygraph.nn.module import evaluating

from ._common import figure_and_region, finish, grid_shape, hide_ticks, to_numpy


def _leaf_names(names: list) -> list:
    """Names of modules without children (``'features.0'`` but not ``'features'`` or the root ``''``)."""
    return [n for n in names if n and not any(other.startswith(n + ".") for other in names)]


def capture_activations(model, x, layers=None) -> dict:
    """Run ``model(x)`` once and return ``{layer name: (module, output array)}`` for the chosen layers.

    The outputs are captured by forward hooks registered on the named modules (and removed
    afterwards, even if the forward pass fails), under ``tg.no_grad()`` and in eval mode
    (dropout off, batch norm on its running statistics, which are not updated); every
    module's own train/eval mode is restored afterwards. A module that runs
    several times in one forward pass keeps its first output. ``layers=None`` picks every
    leaf module whose output is 4-D ``(N, C, H, W)``; otherwise ``layers`` is a name or a
    list of names from ``model.named_modules()``.
    """
    fn = "plot_feature_maps"
    if not hasattr(model, "named_modules"):
        raise TypeError(f"{fn}: model must be a tg.nn.Module (with named_modules()), got {type(model).__name__}")
    modules = dict(model.named_modules())
    if layers is None:
        wanted, only_4d = _leaf_names(list(modules)), True
    else:
        wanted, only_4d = ([layers] if isinstance(layers, str) else list(layers)), False
        unknown = [n for n in wanted if n not in modules]
        if unknown:
            known = ", ".join(repr(n) for n in modules if n) or "(none)"
            raise ValueError(f"{fn}: unknown layer name(s) {unknown}; the model's named_modules() are: {known}")

    captured = {}

    def hook_for(name):
        def hook(module, inputs, output):
            if name not in captured:
                if not isinstance(output, tg.Tensor):
                    raise TypeError(f"{fn}: layer {name!r} returned {type(output).__name__}, expected a Tensor")
                captured[name] = to_numpy(output, fn, name).copy()

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in wanted]
    try:
        with tg.no_grad(), evaluating(model):  # no dropout, no running-statistics update
            model(x)
    finally:
        for handle in handles:
            handle.remove()

    result = {}
    for name in wanted:  # in the order asked for (default: the order of named_modules)
        if name not in captured:
            if not only_4d:
                raise ValueError(f"{fn}: layer {name!r} did not run during model(x), so it has no activation")
            continue
        if only_4d and captured[name].ndim != 4:
            continue
        result[name] = (modules[name], captured[name])
    if not result:
        raise ValueError(f"{fn}: no layer produced a 4-D (N, C, H, W) activation; pass layers=[...] by name")
    return result


def _one_input(x) -> tg.Tensor:
    """A batch of one: ``(C, H, W)`` gets a batch axis, ``(N, C, H, W)`` keeps its first sample."""
    arr = to_numpy(x, "plot_feature_maps", "x")
    if arr.ndim == 3:
        arr = arr[None]
    elif arr.ndim != 4:
        raise ValueError(f"plot_feature_maps: x must be one input (C, H, W) or a batch (N, C, H, W), got {arr.shape}")
    return tg.tensor(arr[:1])


def plot_feature_maps(
    model,
    x,
    layers=None,
    max_channels: int = 16,
    ncols: int = 8,
    show_input: bool = True,
    cmap: str = "viridis",
    ax=None,
    save=None,
):
    """Show what each chosen layer computes for one input: one small image per channel.

    Picture: one band per layer, top to bottom in the order asked for. Each band is titled
    ``"<layer name> (<Type>): (C, H, W)"`` and holds one heat map per output channel
    (``ch 0, ch 1, ...``, at most ``max_channels``), bright where the channel fires. Early
    bands look like edge-filtered copies of the input; deeper bands are smaller and more
    abstract. With ``show_input`` the input image comes first.

    Args:
        model: a ``tg.nn.Module``; its ``named_modules()`` give the layer names.
        x: one input ``(C, H, W)``, or a batch ``(N, C, H, W)`` of which the first is used.
        layers: a name or list of names from ``model.named_modules()``; ``None`` means every
            leaf module whose output is 4-D (conv, ReLU, pooling, ...).
        max_channels: draw at most this many channels per layer (the first ones).
        ncols: panels per row.
        show_input: draw the input first (colour if it has 3 channels, else channel 0).
        cmap: colormap; each panel is scaled to its own min..max.
        ax: draw in the place of this axes instead of a new figure.
        save: path to save the figure to.

    The activations come from forward hooks during ONE ``model(x)`` call under ``no_grad``
    in eval mode (see :func:`capture_activations`); panel images carry ``gid`` ``"<layer>:<channel>"``
    and hold the raw activation values of that channel.

    Returns:
        the matplotlib Figure.
    """
    xt = _one_input(x)
    acts = capture_activations(model, xt, layers)
    max_channels = max(1, int(max_channels))

    bands = []  # (title, list of (gid, 2-D image), rgb?)
    if show_input:
        img = xt.data[0]
        rgb = img.shape[0] == 3
        shown = img.transpose(1, 2, 0) if rgb else img[0]
        if rgb:  # imshow needs RGB in [0, 1]
            lo, hi = shown.min(), shown.max()
            shown = (shown - lo) / (hi - lo) if hi > lo else np.full(shown.shape, 0.5)
        bands.append((f"input: {tuple(img.shape)}", [("input", shown)], rgb))
    for name, (module, out) in acts.items():
        a = out[0]
        kind = type(module).__name__
        if a.ndim == 3:
            panels = [(f"{name}:{c}", a[c]) for c in range(min(a.shape[0], max_channels))]
        else:  # e.g. a Linear layer's (features,) asked for by name: one strip
            panels = [(f"{name}:0", a.reshape(1, -1))]
        more = f", first {len(panels)} channels" if a.ndim == 3 and a.shape[0] > len(panels) else ""
        bands.append((f"{name} ({kind}): {tuple(a.shape)}{more}", panels, False))

    shapes = [grid_shape(len(p), ncols) if len(p) > 1 else (1, 1) for _, p, _ in bands]
    cols = max(c for _, c in shapes)
    heights = [r + 0.35 for r, _ in shapes]
    fig, region = figure_and_region(ax, figsize=(max(4.0, 1.15 * cols), 1.15 * sum(heights) + 0.3))
    subfigs = np.atleast_1d(region.subfigures(len(bands), 1, height_ratios=heights))
    for sub, (title, panels, rgb), (rows, _) in zip(subfigs, bands, shapes):
        grid = sub.add_gridspec(rows, cols, wspace=0.05, hspace=0.25)
        for k, (gid, img) in enumerate(panels):
            r, c = divmod(k, cols)
            a = sub.add_subplot(grid[r, c] if img.shape[0] > 1 else grid[r, :])
            im = a.imshow(
                img, cmap=None if rgb else cmap, interpolation="nearest", aspect="equal" if img.shape[0] > 1 else "auto"
            )
            im.set_gid(gid)
            hide_ticks(a)
            if len(panels) > 1:
                a.set_title(f"ch {gid.rsplit(':', 1)[1]}", fontsize=7, pad=2)
        sub.suptitle(title, fontsize=9, x=0.01, ha="left")
    return finish(fig, save)
