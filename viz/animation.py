"""A kernel sliding over a padded input and filling the output, one output pixel per frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.patches import Rectangle

from ._common import new_figure, to_numpy


def _pair(value, name: str) -> tuple:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(float(v).is_integer() for v in pair):
        raise ValueError(f"animate_convolution: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _plane(a, fn: str, arg: str) -> np.ndarray:
    """A single 2-D plane from (H, W), (1, H, W) or (1, 1, H, W)."""
    a = to_numpy(a, fn, arg)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{fn}: {arg} must be one 2-D plane (H, W) (or (1, 1, H, W)), got shape {a.shape}")
    return a.astype(np.float64)


@dataclass
class ConvStep:
    """One output pixel: ``out[row, col] = sum(kernel * padded[taps])``."""

    row: int
    col: int
    taps: list  # (padded row, padded col) of each kernel tap, in kernel order
    value: float


@dataclass
class ConvolutionSteps:
    """Everything the animation shows: the padded input, the full output and one step per output pixel."""

    padded: np.ndarray  # (H + 2*ph, W + 2*pw)
    kernel: np.ndarray  # (kH, kW)
    output: np.ndarray  # (H_out, W_out)
    steps: list  # ConvStep, row-major over the output
    padding: tuple
    stride: tuple
    dilation: tuple


def convolution_steps(x, kernel, stride=1, padding=0, dilation=1) -> ConvolutionSteps:
    """Cross-correlation as ``conv2d`` computes it, one output pixel at a time.

    ``out[i, j] = sum_{u, v} kernel[u, v] * padded[i*sH + u*dH, j*sW + v*dW]`` with
    ``H_out = (H + 2*pH - dH*(kH - 1) - 1) // sH + 1`` (and the same for W).
    """
    fn = "animate_convolution"
    x, k = _plane(x, fn, "x"), _plane(kernel, fn, "kernel")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(
            f"{fn}: stride and dilation must be >= 1 and padding >= 0, got {stride}, {dilation}, {padding}"
        )
    padded = np.pad(x, ((ph, ph), (pw, pw)))
    kh, kw = k.shape
    h_out = (padded.shape[0] - dh * (kh - 1) - 1) // sh + 1
    w_out = (padded.shape[1] - dw * (kw - 1) - 1) // sw + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"{fn}: the dilated kernel ({dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}) is larger than the padded input "
            f"{padded.shape}; use more padding or a smaller kernel/dilation"
        )
    steps, out = [], np.empty((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            taps = [(i * sh + u * dh, j * sw + v * dw) for u in range(kh) for v in range(kw)]
            value = float(sum(k[u, v] * padded[r, c] for (r, c), (u, v) in zip(taps, np.ndindex(kh, kw))))
            out[i, j] = value
            steps.append(ConvStep(i, j, taps, value))
    return ConvolutionSteps(padded, k, out, steps, (ph, pw), (sh, sw), (dh, dw))


def _grid(ax, h: int, w: int) -> None:
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.6", lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


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
):
    """A step-by-step animation of a 2-D convolution (the CNN Explainer picture), optionally as a GIF.

    Picture: three panels. Left, the input with its zero padding (the padding cells hatched
    grey) and red squares on the input pixels the kernel touches now: a compact block for
    dilation 1, a spread-out lattice for dilation 2, jumping by the stride between frames.
    Middle, the kernel's weights. Right, the output grid filling up in reading order, the
    pixel being computed outlined in red and its value written in the title
    (``out[1, 2] = 3.50``). The figure title states stride, padding, dilation and the
    output size.

    Frames: exactly one per output position, ``H_out * W_out`` in row-major order; with
    ``final_frame=True`` one more frame at the end shows the finished output with no
    highlight (``H_out * W_out + 1``).

    Args:
        x: the input plane (H, W) (or (1, 1, H, W)).
        kernel: the kernel (kH, kW) (or (1, 1, kH, kW)).
        stride, padding, dilation: ints or (h, w) pairs, as in ``conv2d``.
        save: path of a ``.gif`` to write with matplotlib's PillowWriter (parent dirs created).
        fps: frames per second of the GIF.
        final_frame: add the finished-output frame described above.
        show_values: write the numbers in the cells (default: when the padded input is at
            most 12x12).
        dpi: resolution of the GIF.

    Returns:
        the ``matplotlib.animation.FuncAnimation`` (in a notebook, show it with
        ``HTML(anim.to_jshtml())``); its figure is ``anim.figure`` and the computed steps
        (:class:`ConvolutionSteps`) are ``anim.steps``. Keep a reference to it until it is
        saved or shown, as with any matplotlib animation.
    """
    cs = convolution_steps(x, kernel, stride, padding, dilation)
    padded, k, out = cs.padded, cs.kernel, cs.output
    hp, wp = padded.shape
    kh, kw = k.shape
    h_out, w_out = out.shape
    ph, pw = cs.padding
    if show_values is None:
        show_values = max(hp, wp) <= 12

    fig = new_figure((2.2 + 0.45 * (wp + kw + w_out), 1.2 + 0.45 * max(hp, kh, h_out)))
    grid = fig.add_gridspec(1, 3, width_ratios=[wp, kw, w_out], wspace=0.25)
    ax_in, ax_k, ax_out = (fig.add_subplot(grid[0, i]) for i in range(3))

    # Input: the padding ring is masked and drawn hatched grey, so it reads as "not data".
    is_pad = np.ones(padded.shape, dtype=bool)
    is_pad[ph : hp - ph, pw : wp - pw] = False
    lim = max(np.abs(padded).max(), 1e-12)
    ax_in.imshow(
        np.ma.masked_array(padded, is_pad), cmap="Blues", vmin=-lim, vmax=lim, alpha=0.55, interpolation="nearest"
    )  # pale, so the numbers stay readable
    for r, c in zip(*np.nonzero(is_pad)):
        ax_in.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fc="0.9", ec="none", hatch="//", zorder=0.5))
    ax_in.set_title(f"input {hp - 2 * ph}x{wp - 2 * pw}, padded to {hp}x{wp}", fontsize=9)
    klim = max(np.abs(k).max(), 1e-12)
    ax_k.imshow(k, cmap="RdBu_r", vmin=-klim, vmax=klim, alpha=0.55, interpolation="nearest")
    ax_k.set_title(f"kernel {kh}x{kw}", fontsize=9)
    shown_out = np.ma.masked_all(out.shape)
    olim = max(np.abs(out).max(), 1e-12)
    out_image = ax_out.imshow(shown_out, cmap="Oranges", vmin=-olim, vmax=olim, alpha=0.7, interpolation="nearest")
    for a, (h, w) in ((ax_in, (hp, wp)), (ax_k, (kh, kw)), (ax_out, (h_out, w_out))):
        _grid(a, h, w)
    out_texts = {}
    if show_values:
        for r in range(hp):
            for c in range(wp):
                ax_in.text(c, r, f"{padded[r, c]:g}", ha="center", va="center", fontsize=7, color="0.2")
        for u in range(kh):
            for v in range(kw):
                ax_k.text(v, u, f"{k[u, v]:g}", ha="center", va="center", fontsize=7)
        for r in range(h_out):
            for c in range(w_out):
                out_texts[r, c] = ax_out.text(
                    c, r, f"{out[r, c]:.3g}", ha="center", va="center", fontsize=7, visible=False
                )
    taps = [
        ax_in.add_patch(Rectangle((0, 0), 1, 1, fc=(1, 0, 0, 0.25), ec="red", lw=1.5, zorder=3)) for _ in range(kh * kw)
    ]
    cursor = ax_out.add_patch(Rectangle((0, 0), 1, 1, fill=False, ec="red", lw=2, zorder=3))
    (sh, sw), (dh, dw) = cs.stride, cs.dilation

    def fmt(pair):  # "2" for (2, 2), "(1, 2)" otherwise
        return str(pair[0]) if pair[0] == pair[1] else str(pair)

    fig.suptitle(
        f"stride={fmt((sh, sw))}, padding={fmt((ph, pw))}, dilation={fmt((dh, dw))}: output {h_out}x{w_out}",
        fontsize=10,
    )

    n_steps = len(cs.steps)

    def draw(frame: int):
        done = min(frame + 1, n_steps)  # output pixels computed so far
        filled = np.ma.masked_all(out.shape)
        for idx, step in enumerate(cs.steps):
            if idx < done:
                filled[step.row, step.col] = step.value
            if show_values:
                out_texts[step.row, step.col].set_visible(idx < done)
        out_image.set_data(filled)
        active = frame < n_steps
        for patch in taps + [cursor]:
            patch.set_visible(active)
        if active:
            step = cs.steps[frame]
            for patch, (r, c) in zip(taps, step.taps):
                patch.set_xy((c - 0.5, r - 0.5))
            cursor.set_xy((step.col - 0.5, step.row - 0.5))
            ax_out.set_title(f"out[{step.row}, {step.col}] = {step.value:.3g}", fontsize=9)
        else:
            ax_out.set_title(f"output {h_out}x{w_out}", fontsize=9)
        return [out_image, cursor, *taps]

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
