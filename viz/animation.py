"""A kernel sliding over a padded input and filling the output, one output pixel per frame, with the arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.patches import Rectangle

from ._common import DIVERGING, new_figure, pixel_grid, to_numpy
from .conv_arithmetic import WINDOW_COLOR

FONT = 9  # points: every number in the animation is at least this size at the saved size


def _pair(value, name: str) -> tuple:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(float(v).is_integer() for v in pair):
        raise ValueError(f"animate_convolution: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _planes(x, kernel, fn: str) -> tuple:
    """``(x (C, H, W), kernel (C, kH, kW), was 2-D)`` from planes (H, W)/(kH, kW) or channel stacks."""
    xa, ka = to_numpy(x, fn, "x").astype(np.float64), to_numpy(kernel, fn, "kernel").astype(np.float64)
    while xa.ndim > 3 and xa.shape[0] == 1:
        xa = xa[0]
    while ka.ndim > 3 and ka.shape[0] == 1:
        ka = ka[0]
    flat = xa.ndim == 2
    xa = xa[None] if xa.ndim == 2 else xa
    ka = ka[None] if ka.ndim == 2 else ka
    if xa.ndim != 3 or ka.ndim != 3 or xa.shape[0] != ka.shape[0]:
        raise ValueError(
            f"{fn}: x must be one 2-D plane (H, W) or channels (C, H, W), and kernel (kH, kW) or (C, kH, kW) "
            f"with the same C (one filter); got x {to_numpy(x, fn, 'x').shape} "
            f"and kernel {to_numpy(kernel, fn, 'kernel').shape}"
        )
    return xa, ka, flat and ka.shape[0] == 1


@dataclass
class ConvStep:
    """One output pixel: ``out[row, col] = sum over c of sum(kernel[c] * padded[c][taps]) + bias``."""

    row: int
    col: int
    taps: list  # (padded row, padded col) of each kernel tap, in kernel order
    value: float


@dataclass
class ConvolutionSteps:
    """Everything the animation shows: the padded input, the full output and one step per output pixel.

    For a single plane, ``padded`` is ``(H + 2*pH, W + 2*pW)`` and ``kernel`` ``(kH, kW)``; for
    several input channels they keep the channel axis: ``(C, H + 2*pH, W + 2*pW)`` and ``(C, kH, kW)``.
    """

    padded: np.ndarray
    kernel: np.ndarray
    output: np.ndarray  # (H_out, W_out)
    steps: list  # ConvStep, row-major over the output
    padding: tuple
    stride: tuple
    dilation: tuple
    bias: float = 0.0


def convolution_steps(x, kernel, stride=1, padding=0, dilation=1, bias: float = 0.0) -> ConvolutionSteps:
    """Cross-correlation as ``conv2d`` computes it (one filter), one output pixel at a time.

    ``out[i, j] = bias + sum_{c, u, v} kernel[c, u, v] * padded[c, i*sH + u*dH, j*sW + v*dW]`` with
    ``H_out = (H + 2*pH - dH*(kH - 1) - 1) // sH + 1`` (and the same for W).
    """
    fn = "animate_convolution"
    xs, ks, flat = _planes(x, kernel, fn)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(
            f"{fn}: stride and dilation must be >= 1 and padding >= 0, got {stride}, {dilation}, {padding}"
        )
    padded = np.pad(xs, ((0, 0), (ph, ph), (pw, pw)))
    _, kh, kw = ks.shape
    h_out = (padded.shape[1] - dh * (kh - 1) - 1) // sh + 1
    w_out = (padded.shape[2] - dw * (kw - 1) - 1) // sw + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"{fn}: the dilated kernel ({dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}) is larger than the padded input "
            f"{padded.shape[1:]}; use more padding or a smaller kernel/dilation"
        )
    steps, out = [], np.empty((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            taps = [(i * sh + u * dh, j * sw + v * dw) for u in range(kh) for v in range(kw)]
            rows, cols = np.array(taps).T
            value = float((padded[:, rows, cols].reshape(ks.shape) * ks).sum() + bias)
            out[i, j] = value
            steps.append(ConvStep(i, j, taps, value))
    shown_padded, shown_kernel = (padded[0], ks[0]) if flat else (padded, ks)
    return ConvolutionSteps(shown_padded, shown_kernel, out, steps, (ph, pw), (sh, sw), (dh, dw), float(bias))


def animate_convolution(
    x,
    kernel,
    stride=1,
    padding=0,
    dilation=1,
    save=None,
    fps: float = 2.0,
    final_frame: bool = False,
    show_values: bool | None = None,
    dpi: int = 80,
    bias: float = 0.0,
    kernel_name: str | None = None,
):
    """A step-by-step animation of a 2-D convolution with its arithmetic (CNN Explainer's view), optionally a GIF.

    Picture, one row per input channel: the input with its zero padding (hatched grey) and
    green squares on the pixels the kernel touches now (a compact block for dilation 1, a
    spread-out lattice for dilation 2, jumping by the stride between frames); the kernel's
    weights (red > 0 > blue); the products ``window x kernel`` of this step, as numbers; and
    ``= s_c``, their sum. Right, the output grid filling up in reading order, the pixel being
    computed outlined in green; under it ``out[i, j] = s_0 + s_1 + ... + bias = value``.
    The title states stride, padding, dilation and the sizes (``input 5x5, padded to 7x7``,
    or ``no padding``).

    Frames: exactly one per output position, ``H_out * W_out`` in row-major order; with
    ``final_frame=True`` one more frame at the end shows the finished output with no
    highlight (``H_out * W_out + 1``).

    Args:
        x: the input plane (H, W), or several channels (C, H, W) (or (1, C, H, W)).
        kernel: one filter: (kH, kW) for a plane, (C, kH, kW) for C channels (or (1, C, kH, kW)).
        stride, padding, dilation: ints or (h, w) pairs, as in ``conv2d``.
        save: path of a ``.gif`` to write with matplotlib's PillowWriter (parent dirs created).
        fps: frames per second of the GIF.
        final_frame: add the finished-output frame described above.
        show_values: write the input numbers in the cells (default: padded input at most 12x12).
        dpi: resolution of the GIF.
        bias: the filter's bias, added to every output pixel.
        kernel_name: a name for the kernel's title (e.g. ``"Sobel x"``).

    Returns:
        the ``matplotlib.animation.FuncAnimation`` (in a notebook, show it with
        ``HTML(anim.to_jshtml())``); its figure is ``anim.figure`` and the computed steps
        (:class:`ConvolutionSteps`) are ``anim.steps``. The first axes is channel 0's input,
        holding the green tap squares. Keep a reference to it until it is saved or shown.
    """
    cs = convolution_steps(x, kernel, stride, padding, dilation, bias)
    xs, ks, _ = _planes(x, kernel, "animate_convolution")
    (ph, pw), (sh, sw), (dh, dw) = cs.padding, cs.stride, cs.dilation
    padded = np.pad(xs, ((0, 0), (ph, ph), (pw, pw)))
    n_ch, hp, wp = padded.shape
    _, kh, kw = ks.shape
    out = cs.output
    h_out, w_out = out.shape
    if show_values is None:
        show_values = max(hp, wp) <= 12

    cell = 0.42  # inches per cell: room for a 9-point number
    row_h = max(hp, kh) * cell
    fig = new_figure((cell * (wp + 3 * kw + w_out) + 4.2, n_ch * (row_h + 0.45) + 1.3))
    grid = fig.add_gridspec(
        n_ch + 1, 6, width_ratios=[wp, kw, kw, kw, 1.6, w_out], height_ratios=[row_h] * n_ch + [0.35],
        left=0.02, right=0.98, bottom=0.03, top=1 - 0.75 / fig.get_figheight(), wspace=0.3, hspace=0.35,
    )  # fmt: skip
    in_axes, taps, product_images, product_texts, sum_texts, window_images, window_texts = [], [], [], [], [], [], []
    lim = max(np.abs(padded).max(), 1e-12)
    klim = max(np.abs(ks).max(), 1e-12)
    windows = [padded[:, r, c] for r, c in (tuple(np.array(step.taps).T) for step in cs.steps)]
    plim = max(max(np.abs(w).max() for w in windows) * klim, 1e-12)  # one scale for the products of every frame
    for c in range(n_ch):
        ax_in = fig.add_subplot(grid[c, 0])
        is_pad = np.ones((hp, wp), dtype=bool)
        is_pad[ph : hp - ph, pw : wp - pw] = False
        ax_in.imshow(np.ma.masked_array(padded[c], is_pad), cmap="Greys", vmin=-lim, vmax=lim, alpha=0.5,
                     interpolation="nearest")  # fmt: skip  (pale grey, so the numbers stay readable)
        for r, q in zip(*np.nonzero(is_pad)):
            ax_in.add_patch(Rectangle((q - 0.5, r - 0.5), 1, 1, fc="0.92", ec="none", hatch="//", zorder=0.5))
        pixel_grid(ax_in, hp, wp)
        if show_values:
            for r in range(hp):
                for q in range(wp):
                    ax_in.text(q, r, f"{padded[c, r, q]:g}", ha="center", va="center", fontsize=FONT, color="0.15")
        taps.append([ax_in.add_patch(Rectangle((0, 0), 1, 1, fc=(0, 0.63, 0, 0.18), ec=WINDOW_COLOR, lw=2, zorder=3))
                     for _ in range(kh * kw)])  # fmt: skip
        size = f"input {hp - 2 * ph}x{wp - 2 * pw}" + (f", padded to {hp}x{wp}" if ph or pw else ", no padding")
        ax_in.set_title(size if n_ch == 1 else f"channel {c}: {size}", fontsize=FONT)
        in_axes.append(ax_in)

        ax_w = fig.add_subplot(grid[c, 1])  # the window's values, as the kernel sees them (dilation: spread taps)
        window_images.append(ax_w.imshow(np.zeros((kh, kw)), cmap="Greys", vmin=-lim, vmax=lim, alpha=0.5,
                                         interpolation="nearest"))  # fmt: skip
        pixel_grid(ax_w, kh, kw)
        window_texts.append([[ax_w.text(v, u, "", ha="center", va="center", fontsize=FONT) for v in range(kw)]
                             for u in range(kh)])  # fmt: skip
        ax_w.set_title("window", fontsize=FONT)

        ax_k = fig.add_subplot(grid[c, 2])
        ax_k.imshow(ks[c], cmap=DIVERGING, vmin=-klim, vmax=klim, alpha=0.6, interpolation="nearest")
        pixel_grid(ax_k, kh, kw)
        for u in range(kh):
            for v in range(kw):
                ax_k.text(v, u, f"{ks[c, u, v]:g}", ha="center", va="center", fontsize=FONT)
        name = kernel_name or "kernel"
        ax_k.set_title(f"{name} {kh}x{kw}" if n_ch == 1 else f"{name}[{c}]", fontsize=FONT)

        ax_p = fig.add_subplot(grid[c, 3])
        product_images.append(ax_p.imshow(np.zeros((kh, kw)), cmap=DIVERGING, vmin=-plim, vmax=plim, alpha=0.6,
                                          interpolation="nearest"))  # fmt: skip
        pixel_grid(ax_p, kh, kw)
        product_texts.append([[ax_p.text(v, u, "", ha="center", va="center", fontsize=FONT) for v in range(kw)]
                              for u in range(kh)])  # fmt: skip
        ax_p.set_title("window x kernel", fontsize=FONT)

        ax_s = fig.add_subplot(grid[c, 4])
        ax_s.axis("off")
        sum_texts.append(ax_s.text(0.05, 0.5, "", fontsize=FONT + 1, va="center", ha="left"))

    ax_out = fig.add_subplot(grid[:n_ch, 5])
    olim = max(np.abs(out).max(), 1e-12)
    out_image = ax_out.imshow(np.ma.masked_all(out.shape), cmap=DIVERGING, vmin=-olim, vmax=olim, alpha=0.6,
                              interpolation="nearest")  # fmt: skip
    pixel_grid(ax_out, h_out, w_out)
    out_texts = {(r, q): ax_out.text(q, r, f"{out[r, q]:.3g}", ha="center", va="center", fontsize=FONT, visible=False)
                 for r in range(h_out) for q in range(w_out)}  # fmt: skip
    cursor = ax_out.add_patch(Rectangle((0, 0), 1, 1, fill=False, ec=WINDOW_COLOR, lw=2.5, zorder=3))
    ax_total = fig.add_subplot(grid[n_ch, :])
    ax_total.axis("off")
    total = ax_total.text(0.0, 0.5, "", fontsize=FONT + 1, va="center", ha="left", weight="bold")
    ax_total.text(1.0, 0.5, "colours: red > 0 > blue, grey = input; hatched = zero padding; numbers are the values",
                  fontsize=FONT, va="center", ha="right", color="0.3")  # fmt: skip

    def fmt(pair):  # "2" for (2, 2), "(1, 2)" otherwise
        return str(pair[0]) if pair[0] == pair[1] else str(pair)

    fig.suptitle(
        f"stride={fmt((sh, sw))}, padding={fmt((ph, pw))}, dilation={fmt((dh, dw))}: output {h_out}x{w_out}"
        + ("; the same kernel slides over every channel position, and the channel sums add up" if n_ch > 1 else ""),
        fontsize=FONT + 1,
    )
    n_steps = len(cs.steps)

    def draw(frame: int):
        done = min(frame + 1, n_steps)  # output pixels computed so far
        filled = np.ma.masked_all(out.shape)
        for idx, step in enumerate(cs.steps):
            if idx < done:
                filled[step.row, step.col] = step.value
            out_texts[step.row, step.col].set_visible(idx < done)
        out_image.set_data(filled)
        active = frame < n_steps
        for patch in [p for row in taps for p in row] + [cursor]:
            patch.set_visible(active)
        if not active:
            ax_out.set_title(f"output {h_out}x{w_out}", fontsize=FONT)
            total.set_text("done: every output pixel is one such sum")
            for c in range(n_ch):
                product_images[c].set_data(np.zeros((kh, kw)))
                window_images[c].set_data(np.zeros((kh, kw)))
                sum_texts[c].set_text("")
                for t in [t for row in product_texts[c] + window_texts[c] for t in row]:
                    t.set_text("")
            return [out_image, cursor]
        step = cs.steps[frame]
        rows, cols = np.array(step.taps).T
        sums = []
        for c in range(n_ch):
            for patch, (r, q) in zip(taps[c], step.taps):
                patch.set_xy((q - 0.5, r - 0.5))
            window = padded[c, rows, cols].reshape(kh, kw)
            products = window * ks[c]
            product_images[c].set_data(products)
            window_images[c].set_data(window)
            for u in range(kh):
                for v in range(kw):
                    product_texts[c][u][v].set_text(f"{products[u, v] + 0.0:g}")
                    window_texts[c][u][v].set_text(f"{window[u, v] + 0.0:g}")
            sums.append(products.sum())
            sum_texts[c].set_text(f"sum\n= {sums[-1] + 0.0:g}")
        cursor.set_xy((step.col - 0.5, step.row - 0.5))
        ax_out.set_title(f"out[{step.row}, {step.col}] = {step.value:.3g}", fontsize=FONT)
        if n_ch == 1 and not cs.bias:
            total.set_text(f"out[{step.row}, {step.col}] = sum of the products = {step.value:.4g}")
        else:
            terms = " + ".join(f"{s_ + 0.0:g}" for s_ in sums)
            total.set_text(f"out[{step.row}, {step.col}] = {terms} + bias {cs.bias:g} = {step.value:.4g}")
        return [out_image, cursor, total]

    frames = n_steps + (1 if final_frame else 0)
    anim = FuncAnimation(fig, draw, frames=frames, interval=1000 / fps, blit=False, repeat=True)
    anim.figure = fig
    anim.steps = cs
    draw(0)  # the figure itself shows the first step
    if save is not None:
        path = Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
    return anim
