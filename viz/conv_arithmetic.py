"""One output pixel of a convolution, worked out: window x kernel = products, summed over channels, + bias.

The still version of CNN Explainer's convolution view. For output pixel ``out[o, i, j]``::

    out[o, i, j] = bias[o] + sum over c of  sum over u, v of  weight[o, c, u, v] * padded[c, i*s + u*d, j*s + v*d]

Each input channel is one row of the picture: the padded input channel with the window
outlined, the window's values, the kernel's values, their elementwise products and that
channel's sum. The last line adds the channel sums and the bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.patches import Rectangle

from ._common import (
    DIVERGING,
    cell_colors,
    cell_values,
    color_scale,
    figure_and_region,
    finish,
    pixel_grid,
    to_numpy,
)

WINDOW_COLOR = "#00a000"  # green: not a colour of the diverging weight map (red/blue)


def pair(value, name: str, fn: str) -> tuple:
    """``(h, w)`` from an int or a pair of ints."""
    p = (value, value) if np.isscalar(value) else tuple(value)
    if len(p) != 2 or not all(float(v).is_integer() for v in p):
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    return int(p[0]), int(p[1])


@dataclass
class PixelArithmetic:
    """Every number of one output pixel: per channel window, kernel, products and sums.

    window, kernel, products: (C, kH, kW); channel_sums: (C,); taps: (kH*kW) (padded row, col).
    """

    out_index: tuple  # (o, i, j)
    padded: np.ndarray  # (C, H + 2 pH, W + 2 pW)
    window: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    channel_sums: np.ndarray
    bias: float
    value: float
    taps: list


def conv_input(x, weight, bias, fn: str) -> tuple:
    """``(x (C, H, W), weight (C_out, C, kH, kW), bias (C_out,))`` as float64 arrays, checked."""
    xa = to_numpy(x, fn, "x").astype(np.float64)
    if xa.ndim == 4:
        if xa.shape[0] != 1:
            raise ValueError(f"{fn}: x must be one input (C, H, W) or a batch of one (1, C, H, W), got {xa.shape}")
        xa = xa[0]
    if xa.ndim == 2:
        xa = xa[None]
    if xa.ndim != 3:
        raise ValueError(f"{fn}: x must be (H, W), (C, H, W) or (1, C, H, W), got shape {xa.shape}")
    wa = to_numpy(weight, fn, "weight").astype(np.float64)
    if wa.ndim == 2:
        wa = wa[None, None]
    elif wa.ndim == 3:
        wa = wa[None]
    if wa.ndim != 4 or wa.shape[1] != xa.shape[0]:
        raise ValueError(
            f"{fn}: weight must be (C_out, C_in, kH, kW) with C_in = {xa.shape[0]} (the input's channels), "
            f"or (C_in, kH, kW) / (kH, kW) for one filter; got weight {wa.shape} for x {xa.shape}"
        )
    if bias is None:
        ba = np.zeros(wa.shape[0])
    else:
        ba = np.atleast_1d(to_numpy(bias, fn, "bias").astype(np.float64))
        if ba.shape != (wa.shape[0],):
            raise ValueError(f"{fn}: bias must have shape ({wa.shape[0]},) (one per filter), got {ba.shape}")
    return xa, wa, ba


def pixel_arithmetic(x, weight, bias, out_index, stride=1, padding=0, dilation=1, fn="plot_conv_arithmetic"):
    """The numbers of :class:`PixelArithmetic` for ``out[out_index]`` (``(o, i, j)`` or ``(i, j)`` for filter 0)."""
    xa, wa, ba = conv_input(x, weight, bias, fn)
    (sh, sw), (ph, pw) = pair(stride, "stride", fn), pair(padding, "padding", fn)
    dh, dw = pair(dilation, "dilation", fn)
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(
            f"{fn}: stride and dilation must be >= 1 and padding >= 0, got {stride}, {dilation}, {padding}"
        )
    padded = np.pad(xa, ((0, 0), (ph, ph), (pw, pw)))
    c_out, c_in, kh, kw = wa.shape
    h_out = (padded.shape[1] - dh * (kh - 1) - 1) // sh + 1
    w_out = (padded.shape[2] - dw * (kw - 1) - 1) // sw + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"{fn}: the (dilated) kernel is larger than the padded input {padded.shape[1:]}")
    index = tuple(int(v) for v in out_index)
    if len(index) == 2:
        index = (0, *index)
    o, i, j = index
    if len(index) != 3 or not (0 <= o < c_out and 0 <= i < h_out and 0 <= j < w_out):
        raise ValueError(
            f"{fn}: out_index {tuple(out_index)} is outside the output (C_out, H_out, W_out) = {(c_out, h_out, w_out)}"
        )
    taps = [(i * sh + u * dh, j * sw + v * dw) for u in range(kh) for v in range(kw)]
    rows, cols = np.array(taps).T
    window = padded[:, rows, cols].reshape(c_in, kh, kw)
    products = window * wa[o]
    sums = products.sum(axis=(1, 2))
    value = float(sums.sum() + ba[o])
    return PixelArithmetic(index, padded, window, wa[o], products, sums, float(ba[o]), value, taps)


def plot_conv_arithmetic(
    x,
    weight,
    bias=None,
    out_index=(0, 0, 0),
    stride=1,
    padding=0,
    dilation=1,
    max_channels: int = 4,
    title: str | None = None,
    ax=None,
    save=None,
):
    """How one output pixel of ``conv2d`` is computed, number by number, over every input channel.

    Picture: one row per input channel ``c``: the padded input channel (grey, padding
    hatched) with the window outlined in green; the window's values; the kernel's values
    (red > 0 > blue, one scale for all channels); their elementwise products (red > 0 > blue,
    one scale); and ``= s_c``, the channel's sum. The bottom line adds it up:
    ``out[o, i, j] = s_0 + s_1 + ... + bias = value``. Colourbars explain each colour scale.

    Args:
        x: the input, ``(C, H, W)`` (or ``(1, C, H, W)``, or ``(H, W)`` for one channel).
        weight: ``(C_out, C, kH, kW)`` (or one filter ``(C, kH, kW)`` / ``(kH, kW)``).
        bias: ``(C_out,)`` or None (no bias).
        out_index: ``(o, i, j)``: filter ``o``, output row ``i``, column ``j`` (or ``(i, j)`` for filter 0).
        stride, padding, dilation: as in ``conv2d`` (ints or pairs).
        max_channels: draw at most this many channel rows; the sum always covers every channel.
        title: figure title.
        ax: draw in the place of this axes.
        save: path to save the figure to.

    The bottom line is a text artist with ``gid`` ``"conv:sum"``; the products of channel
    ``c`` are texts with ``gid`` ``"conv:product:<c>:<u>:<v>"``, the channel sums ``"conv:channel_sum:<c>"``.

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_conv_arithmetic"
    pa = pixel_arithmetic(x, weight, bias, out_index, stride, padding, dilation, fn)
    (ph, pw) = pair(padding, "padding", fn)
    c_in, kh, kw = pa.kernel.shape
    shown = min(c_in, max(1, int(max_channels)))
    _, hp, wp = pa.padded.shape
    whole = all(np.allclose(a, np.round(a)) for a in (pa.window, pa.kernel))  # small integers: no decimals
    number = "{:.3g}" if whole else "{:.2f}"
    cell = 0.42 if whole else 0.62  # inches per kernel cell: room for a 9-point number
    big = max(kh, kw) * cell * 1.25  # the input panel's side
    fig, region = figure_and_region(ax, figsize=(big + 3 * kw * cell + 3.6, max(4.6, shown * (kh * cell + 0.7) + 1.3)))
    grid = region.add_gridspec(
        shown + 1, 6, width_ratios=[big, kw * cell, kw * cell, kw * cell, 0.8, 0.12],
        height_ratios=[kh * cell + 0.5] * shown + [0.5], wspace=0.35, hspace=0.55,
    )  # fmt: skip
    input_scale = color_scale(pa.padded, signed=None)
    input_scale["cmap"] = "gray" if input_scale["cmap"] != DIVERGING else DIVERGING
    kernel_scale = color_scale(pa.kernel, signed=True)
    product_scale = color_scale(pa.products, signed=True)
    o, i, j = pa.out_index
    rows, cols = np.array(pa.taps).T
    images = {}
    for c in range(shown):
        a_in = region.add_subplot(grid[c, 0])
        images["input"] = a_in.imshow(pa.padded[c], interpolation="nearest", **input_scale)
        for r in range(hp):  # the zero padding, hatched: not data
            for q in range(wp):
                if r < ph or r >= hp - ph or q < pw or q >= wp - pw:
                    a_in.add_patch(Rectangle((q - 0.5, r - 0.5), 1, 1, fc="0.92", ec="none", hatch="//", zorder=2))
        for r, q in pa.taps:
            a_in.add_patch(Rectangle((q - 0.5, r - 0.5), 1, 1, fill=False, ec=WINDOW_COLOR, lw=1.5, zorder=3))
        a_in.set_xticks([])
        a_in.set_yticks([])
        a_in.set_ylabel(f"channel {c}", fontsize=9)
        if c == 0:
            padded_to = f", padded to {hp}x{wp}" if ph or pw else ", no padding"
            a_in.set_title(f"input {hp - 2 * ph}x{wp - 2 * pw}{padded_to}", fontsize=9)
        for col, data, scale, name in (
            (1, pa.window[c], input_scale, "window"),
            (2, pa.kernel[c], kernel_scale, "kernel"),
            (3, pa.products[c], product_scale, "product"),
        ):
            a = region.add_subplot(grid[c, col])
            im = a.imshow(data, interpolation="nearest", **scale)
            images[name] = im
            pixel_grid(a, kh, kw, color="0.5")
            cell_values(a, data, number, 9, gid=f"conv:{name}:{c}", colors=cell_colors(im))  # gid ...:<c>:<u>:<v>
            if c == 0:
                heading = {"window": "window", "kernel": f"kernel {o}", "product": "window x kernel"}[name]
                a.set_title(heading, fontsize=9)
        a_sum = region.add_subplot(grid[c, 4])
        a_sum.axis("off")
        a_sum.text(0.0, 0.5, f"sum =\n{pa.channel_sums[c]:.4g}", fontsize=10, va="center", gid=f"conv:channel_sum:{c}")
    a_total = region.add_subplot(grid[shown, :5])
    a_total.axis("off")
    terms = " + ".join(f"{s:.4g}" for s in pa.channel_sums[:shown])
    more = ""
    if shown < c_in:  # the channels not drawn still count: their sums, added up in one term
        terms += f" + {pa.channel_sums[shown:].sum():.4g}"
        more = f"   (the last term: channels {shown}..{c_in - 1}, not drawn)"
    a_total.text(
        0.0, 0.5, f"out[{o}, {i}, {j}] = {terms} + bias {pa.bias:.4g} = {pa.value:.6g}{more}",
        fontsize=10, va="center", weight="bold", gid="conv:sum",
    )  # fmt: skip
    pieces = grid[:shown, 5].subgridspec(3, 1, hspace=0.6)  # colourbars: input values, kernel weights, products
    for k, (name, label) in enumerate((("input", "input value"), ("kernel", "weight"), ("product", "product"))):
        cax = region.add_subplot(pieces[k])
        region.colorbar(images[name], cax=cax, label=label).ax.set_gid(f"colorbar:{name}")
    stride_text = f"stride {pair(stride, 'stride', fn)}, padding {(ph, pw)}, dilation {pair(dilation, 'dilation', fn)}"
    region.suptitle(title or f"conv2d, one output pixel: out[{o}, {i}, {j}] ({stride_text})", fontsize=10)
    return finish(fig, save)
