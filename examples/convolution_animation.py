"""Watch a 3x3 kernel slide over a small input: stride, padding and dilation, one output pixel per frame.

    python examples/convolution_animation.py                  # five GIFs of a 5x5 (7x7 for dilation) input
    python examples/convolution_animation.py --fps 4 --size 6

The CNN Explainer picture, as GIFs (matplotlib's Pillow writer, no browser needed), with the
arithmetic of every step: on the left the input with its zero padding hatched and the pixels
the kernel touches now outlined in green; then the window's values, the kernel's weights, their
elementwise products and their sum; on the right the output filling up in reading order.  Every
output pixel is

    out[i, j] = bias + sum over c, u, v of
                kernel[c, u, v] * padded[c, i * stride + u * dilation, j * stride + v * dilation]

and the output side is ``(H + 2 * padding - dilation * (k - 1) - 1) // stride + 1``.

For each setting the script prints that size, checks that the animation's numbers equal
``tg.functional.conv2d`` on the same input, and saves to --out (default outputs/convolution_animation/):

    conv_stride1_pad0.gif      the plain case: 5x5 -> 3x3, the kernel never leaves the input
    conv_stride1_pad1.gif      "same" padding: a ring of zeros keeps 5x5 -> 5x5
    conv_stride2_pad1.gif      stride 2 skips every other position: 5x5 -> 3x3
    conv_dilation2.gif         dilation 2 spreads the taps apart: a 5x5 view with 9 weights, 7x7 (no padding) -> 3x3
    conv_3channels.gif         three input channels (an RGB-like input): one row per channel, the channel sums
                               added up with the bias: 5x5x3 -> 3x3

The kernel of the one-channel GIFs is the Sobel x kernel of sobel_edges.py (right minus left).
"""

import argparse
import os
import time

import numpy as np

import tinygraph as tg
import tinygraph.functional as F
import viz

KERNEL = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]  # Sobel x, as in sobel_edges.py: right minus left

# name: (stride, padding, dilation, extra input size)
SETTINGS = {
    "conv_stride1_pad0": (1, 0, 1, 0),
    "conv_stride1_pad1": (1, 1, 1, 0),
    "conv_stride2_pad1": (2, 1, 1, 0),
    "conv_dilation2": (1, 0, 2, 2),  # a 7x7 input, so the 5x5 dilated view still fits 3x3 times
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=5, help="input height and width (dilation gets size + 2)")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second of the GIFs")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the GIFs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input digits")
    parser.add_argument("--out", default=os.path.join("outputs", "convolution_animation"), help="folder for the GIFs")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    kernel = np.array(KERNEL, dtype=np.float32)

    jobs = [(name, setting, 1) for name, setting in SETTINGS.items()] + [("conv_3channels", (1, 0, 1, 0), 3)]
    for name, (stride, padding, dilation, extra), channels in jobs:
        size = args.size + extra
        x = rng.integers(0, 4, size=(channels, size, size)).astype(np.float32)  # small integers: sums easy to check
        weight = kernel[None] if channels == 1 else rng.integers(-1, 2, size=(channels, 3, 3)).astype(np.float32)
        bias = 0.0 if channels == 1 else 1.0
        path = os.path.join(args.out, name + ".gif")
        anim = viz.animate_convolution(
            x[0] if channels == 1 else x,
            weight[0] if channels == 1 else weight,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
            kernel_name="Sobel x" if channels == 1 else "kernel",
            fps=args.fps,
            final_frame=True,
            dpi=args.dpi,
            save=path,
        )
        expected = F.conv2d(
            tg.tensor(x[None]), tg.tensor(weight[None]), tg.tensor([bias], dtype=tg.float32),
            stride=stride, padding=padding, dilation=dilation,
        ).numpy()[0, 0]  # fmt: skip
        shown = anim.steps.output
        if shown.shape != expected.shape or not np.allclose(shown, expected, atol=1e-5):
            raise SystemExit(f"{name}: the animation's output differs from conv2d's: {shown} vs {expected}")
        side = (size + 2 * padding - dilation * (3 - 1) - 1) // stride + 1
        print(
            f"{channels} channel(s), stride={stride} padding={padding} dilation={dilation}: {size}x{size} -> "
            f"{side}x{side} ({len(anim.steps.steps)} frames, equal to conv2d)  saved {path}"
        )
        anim.figure.clf()  # free the figure: several animations in one process

    print(f"GIFs are in {os.path.abspath(args.out)} (total {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
