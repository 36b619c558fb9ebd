"""Activations of chosen layers for one input, captured with forward hooks."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

import tinygraph as tg
from tinygraph.nn.module import evaluating

from ._common import (
    DIVERGING,
    SEQUENTIAL,
    check_scale,
    color_scale,
    figure_and_region,
    finish,
    grid_shape,
    hide_ticks,
    to_numpy,
)


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
    return _capture(model, x, layers)[0]


def _capture(model, x, layers=None, extra=()) -> tuple:
    """``(capture_activations' dict, {name: output} of the ``extra`` module names, model output)``, one pass."""
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

    captured, output = _run_with_hooks(model, x, list(dict.fromkeys([*wanted, *extra])), fn)

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
    return result, {n: captured[n] for n in extra if n in captured}, output


def _run_with_hooks(model, x, wanted, fn: str) -> tuple:
    """``({name: first output array}, model output array)`` from ONE ``model(x)`` under no_grad in eval mode."""
    modules = dict(model.named_modules())
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
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    out = to_numpy(out, fn, "model(x)") if isinstance(out, tg.Tensor) else None
    return captured, out


def _one_input(x) -> tg.Tensor:
    """A batch of one: ``(C, H, W)`` gets a batch axis, ``(N, C, H, W)`` keeps its first sample."""
    arr = to_numpy(x, "plot_feature_maps", "x")
    if arr.ndim == 3:
        arr = arr[None]
    elif arr.ndim != 4:
        raise ValueError(f"plot_feature_maps: x must be one input (C, H, W) or a batch (N, C, H, W), got {arr.shape}")
    return tg.tensor(arr[:1])


def _head_layers(model) -> list:
    """Names of the Flatten and Linear modules (the end of the network), in model order."""
    kinds = (tg.nn.Flatten, tg.nn.Linear)
    return [n for n, m in model.named_modules() if n and isinstance(m, kinds)]


def _band_scale(data, scale: str, cmap: str) -> dict:
    """imshow keywords for one band of panels (see :func:`viz._common.color_scale`)."""
    kw = color_scale(data)
    if kw["cmap"] != DIVERGING:
        kw["cmap"] = cmap
    return kw


def _channel_count(channels, max_channels: int, available: int) -> int:
    if channels is None:
        return min(available, max(1, int(max_channels)))
    if channels == "all":
        return available
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool) and channels >= 1:
        return min(available, int(channels))
    raise ValueError(f"plot_feature_maps: channels must be 'all' or a positive int, got {channels!r}")


def _class_name(k, class_names) -> str:
    return str(class_names[k]) if class_names is not None and 0 <= k < len(class_names) else str(k)


def plot_feature_maps(
    model,
    x,
    layers=None,
    max_channels: int = 16,
    ncols: int = 8,
    show_input: bool = True,
    cmap: str = SEQUENTIAL,
    ax=None,
    save=None,
    scale: str = "layer",
    channels=None,
    label=None,
    class_names=None,
    show_output: bool = True,
):
    """Show what each chosen layer computes for one input, from the image to the softmax.

    Picture, top to bottom:

    * the input in its own colours (grey with a colourbar, or RGB), titled with its true
      label (``label``) and the model's prediction (green when right, red when wrong);
    * one band per chosen layer, titled ``"<layer name> (<Type>): (C, H, W)"``, one heat map
      per channel (``ch 0, ch 1, ...``) and a colourbar. Signed maps (a conv or batch-norm
      output before ReLU) use a diverging colormap centred on zero (blue < 0 < red, white =
      0); non-negative maps (after ReLU, after max pooling of those) a sequential one from 0.
      Channel ``c`` sits in the same column in every band, so a pre-activation band drawn
      just above its ReLU band shows what ReLU clips: every blue pixel turns dark;
    * with ``show_output``, the end of the network: a strip for the flattened vector (and
      any hidden dense layer), then the final dense layer's outputs (the logits, as bars)
      beside the softmax probabilities.

    Args:
        model: a ``tg.nn.Module``; its ``named_modules()`` give the layer names.
        x: one input ``(C, H, W)``, or a batch ``(N, C, H, W)`` of which the first is used.
        layers: a name or list of names from ``model.named_modules()``; ``None`` means every
            leaf module whose output is 4-D (conv, batch norm, ReLU, pooling, ...).
        max_channels: draw at most this many channels per layer (the first ones) when
            ``channels`` is not given.
        ncols: panels per row.
        show_input: draw the input first.
        cmap: the sequential colormap of non-negative maps (signed ones always use ``'RdBu_r'``).
        ax: draw in the place of this axes instead of a new figure.
        save: path to save the figure to.
        scale: ``'layer'`` (default): the panels of one layer share one scale, so a nearly
            dead channel looks dark beside a strong one; ``'global'``: one scale for every
            layer; ``'unit'``: every panel on its own scale (patterns of weak channels
            become visible, strengths cannot be compared; the colourbar then reads in
            fractions of each panel's own maximum).
        channels: ``'all'`` or a number of channels per layer (overrides ``max_channels``).
        label: the input's true class (an int), for the input's title.
        class_names: names of the classes (for the titles and the probability bars).
        show_output: draw the end of the network (needs a model whose output is ``(1, K)``).

    The activations come from forward hooks during ONE ``model(x)`` call under ``no_grad``
    in eval mode (see :func:`capture_activations`). Panel images carry ``gid``
    ``"<layer>:<channel>"`` and hold the raw activation values of that channel; the input
    image is ``"input"``; the end of the network has ``"head:<layer>"`` strips and bar axes
    with ``gid`` ``"head:logits"`` and ``"head:probabilities"``; every colourbar axes has a
    ``gid`` starting with ``"colorbar"``.

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_feature_maps"
    check_scale(scale, fn)
    xt = _one_input(x)
    if not hasattr(model, "named_modules"):
        raise TypeError(f"{fn}: model must be a tg.nn.Module (with named_modules()), got {type(model).__name__}")
    head_names = _head_layers(model) if show_output else []
    acts, captured, output = _capture(model, xt, layers, head_names)  # one forward pass for everything
    head_names = [n for n in head_names if n in captured]
    logits = output[0] if output is not None and output.ndim == 2 else None
    predicted = int(np.argmax(logits)) if logits is not None else None

    bands = []  # dicts: kind ('input' | 'maps' | 'strip' | 'bars'), title, panels [(gid, 2-D array)]
    if show_input:
        img = xt.data[0]
        title = f"input: {tuple(img.shape)}"
        if label is not None:
            title += f"   true: {_class_name(int(label), class_names)}"
        if predicted is not None:
            title += f"   predicted: {_class_name(predicted, class_names)}"
        bands.append({"kind": "input", "title": title, "panels": [("input", img)]})
    for name, (module, out) in acts.items():
        a = out[0]
        kind = type(module).__name__
        if a.ndim == 3:
            n = _channel_count(channels, max_channels, a.shape[0])
            panels = [(f"{name}:{c}", a[c]) for c in range(n)]
            more = f", first {n} channels" if a.shape[0] > n else ""
            bands.append({"kind": "maps", "title": f"{name} ({kind}): {tuple(a.shape)}{more}", "panels": panels})
        else:  # e.g. a Linear layer's (features,) asked for by name: one strip
            bands.append({"kind": "strip", "title": f"{name} ({kind}): {tuple(a.shape)}",
                          "panels": [(f"{name}:0", a.reshape(1, -1))]})  # fmt: skip
    if show_output and logits is not None:
        modules = dict(model.named_modules())
        last_linear = head_names[-1] if head_names and isinstance(modules[head_names[-1]], tg.nn.Linear) else None
        for name in head_names:
            if name == last_linear:
                continue
            v = captured[name][0].reshape(1, -1)
            module = modules[name]
            what = "flattened" if isinstance(module, tg.nn.Flatten) else "dense layer output"
            bands.append({"kind": "strip", "title": f"{name} ({type(module).__name__}, {what}): ({v.shape[1]},)",
                          "panels": [(f"head:{name}", v)]})  # fmt: skip
        heading = f"{last_linear or 'output'}: logits (dense layer) -> softmax probabilities"
        bands.append({"kind": "bars", "title": heading,
                      "panels": [("head", logits)]})  # fmt: skip

    # one scale per band ('layer'), or one over every map band ('global')
    map_data = [p for b in bands if b["kind"] in ("maps", "strip") for _, p in b["panels"]]
    global_kw = _band_scale(np.concatenate([p.ravel() for p in map_data]), scale, cmap) if map_data else None

    cols = max(1, min(int(ncols), max((len(b["panels"]) for b in bands if b["kind"] == "maps"), default=1)))
    cols = max(cols, 4)
    heights = []
    for b in bands:
        if b["kind"] == "maps":
            heights.append(grid_shape(len(b["panels"]), cols)[0] + 0.6)
        else:
            heights.append({"input": 1.7, "strip": 1.0, "bars": 2.6}[b["kind"]])
    panel = 1.15 if cols < 8 else 0.9  # inches per map; 8 columns stay within a README's width
    fig, region = figure_and_region(ax, figsize=(panel * cols + 1.2, panel * sum(heights) + 0.3))
    subfigs = np.atleast_1d(region.subfigures(len(bands), 1, height_ratios=heights))
    for sub, band, height in zip(subfigs, bands, heights):
        kind, panels = band["kind"], band["panels"]
        room = 0.5 if kind in ("maps", "bars") else 0.35  # inches above the panels: band title (+ channel titles)
        grid = sub.add_gridspec(
            grid_shape(len(panels), cols)[0] if kind == "maps" else 1, cols + 1,
            width_ratios=[1] * cols + [0.12], wspace=0.08, hspace=0.3, left=0.04, right=0.93,
            top=1 - room / (panel * height), bottom=0.12 if kind == "bars" else 0.04,
        )  # fmt: skip
        if kind == "input":
            _draw_input(sub, grid, panels[0][1], cols)
            color = "black" if label is None or predicted is None else ("green" if int(label) == predicted else "red")
            sub.suptitle(band["title"], fontsize=9, x=0.01, ha="left", color=color)
            continue
        if kind == "bars":
            _draw_head_bars(sub, grid, panels[0][1], cols, class_names, label)
            sub.suptitle(band["title"], fontsize=9, x=0.01, ha="left")
            continue
        values = np.concatenate([p.ravel() for _, p in panels])
        band_kw = global_kw if scale == "global" else _band_scale(values, scale, cmap)
        image = None
        for k, (gid, img) in enumerate(panels):
            r, c = divmod(k, cols)
            a = sub.add_subplot(grid[r, c] if kind == "maps" else grid[0, :cols])
            kw = _band_scale(img, scale, cmap) if scale == "unit" else band_kw
            if scale == "unit" and band_kw["cmap"] == DIVERGING:  # a signed band stays diverging in every panel
                limit = float(np.abs(img).max()) or 1.0
                kw = {"cmap": DIVERGING, "vmin": -limit, "vmax": limit}
            image = a.imshow(img, interpolation="nearest", aspect="equal" if kind == "maps" else "auto", **kw)
            image.set_gid(gid)
            hide_ticks(a)
            if kind == "maps":
                a.set_title(f"ch {gid.rsplit(':', 1)[1]}", fontsize=7, pad=2)
        _band_colorbar(sub, grid, image, band_kw, scale)
        sub.suptitle(band["title"], fontsize=9, x=0.01, ha="left")
    return finish(fig, save)


def _band_colorbar(sub, grid, image, band_kw, scale) -> None:
    """The band's colourbar: the shared scale, or (scale='unit') fractions of each panel's own maximum."""
    signed = band_kw["cmap"] == DIVERGING
    cax = sub.add_subplot(grid[:, -1])
    if scale == "unit":
        norm = Normalize(-1.0 if signed else 0.0, 1.0)
        bar = sub.colorbar(ScalarMappable(norm, cmap=band_kw["cmap"]), cax=cax)
        bar.set_ticks([-1, 0, 1] if signed else [0, 1], labels=["-max", "0", "+max"] if signed else ["0", "max"])
        bar.set_label("own scale", fontsize=7)
    else:
        bar = sub.colorbar(image, cax=cax)
        bar.set_label("signed, 0 = white" if signed else "value >= 0", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    cax.set_gid("colorbar")


def _draw_input(sub, grid, img, cols) -> None:
    """The input in its own colours: RGB as it is (rescaled only when outside [0, 1]), grey with a colourbar."""
    a = sub.add_subplot(grid[0, 0])
    if img.shape[0] == 3:
        rgb = img.transpose(1, 2, 0).astype(np.float64)
        if rgb.min() < 0 or rgb.max() > 1:  # standardised inputs: stretch to [0, 1] for display
            lo, hi = rgb.min(), rgb.max()
            rgb = (rgb - lo) / (hi - lo) if hi > lo else np.full(rgb.shape, 0.5)
            a.set_xlabel("rescaled to [0, 1]", fontsize=7)
        a.imshow(rgb, interpolation="nearest").set_gid("input")
    else:
        kw = color_scale(img[0])
        kw["cmap"] = "gray" if kw["cmap"] != DIVERGING else DIVERGING
        im = a.imshow(img[0], interpolation="nearest", **kw)
        im.set_gid("input")
        cax = sub.add_subplot(grid[0, 1]) if cols > 1 else sub.add_subplot(grid[0, -1])
        pos = cax.get_position()
        cax.set_position([pos.x0, pos.y0, pos.width * 0.15, pos.height])  # a slim bar next to the image
        bar = sub.colorbar(im, cax=cax)
        bar.set_label("pixel value", fontsize=7)
        bar.ax.tick_params(labelsize=7)
        cax.set_gid("colorbar:input")
    hide_ticks(a)


def _draw_head_bars(sub, grid, logits, cols, class_names, label) -> None:
    """Logits as signed bars beside the softmax probabilities (the predicted class dark, the true one outlined)."""
    names = [_class_name(k, class_names) for k in range(logits.size)]
    pair = grid[0, :cols].subgridspec(1, 2, wspace=0.25)
    a_logit = sub.add_subplot(pair[0])
    a_prob = sub.add_subplot(pair[1])
    limit = float(np.abs(logits).max()) or 1.0
    diverging = matplotlib.colormaps[DIVERGING]
    a_logit.bar(names, logits, color=[diverging(0.5 + 0.5 * v / limit) for v in logits], ec="0.3", lw=0.5)
    a_logit.axhline(0, color="0.4", lw=0.8)
    a_logit.set_ylabel("logit", fontsize=8)
    a_logit.set_gid("head:logits")
    shifted = logits - logits.max()
    probs = np.exp(shifted) / np.exp(shifted).sum()
    best = int(probs.argmax())
    colors = ["#3f007d" if k == best else "#bcbddc" for k in range(probs.size)]
    bars = a_prob.bar(names, probs, color=colors, ec="0.3", lw=0.5)
    if label is not None and 0 <= int(label) < probs.size:
        bars[int(label)].set_edgecolor("green")
        bars[int(label)].set_linewidth(2.0)
    a_prob.text(best, probs[best], f"{probs[best]:.2f}", ha="center", va="bottom", fontsize=7)
    a_prob.set_ylim(0, 1.15)
    a_prob.set_ylabel("softmax probability", fontsize=8)
    a_prob.set_gid("head:probabilities")
    for a in (a_logit, a_prob):
        a.tick_params(labelsize=7)
        a.grid(axis="y", alpha=0.3)
    a_prob.set_title("dark: predicted" + (", green outline: true class" if label is not None else ""), fontsize=7)
