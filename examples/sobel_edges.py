"""Hand-set Sobel kernels applied with conv2d to a real photo: edges, and how stride and padding change the output.

    python examples/sobel_edges.py [--out outputs/sobel] [--stride 2] [--padding 1]

Before a network learns its filters, it helps to see what one filter does. The Sobel
kernels respond to horizontal and vertical changes of brightness; the gradient
magnitude sqrt(gx^2 + gy^2) outlines edges. The photo of Grace Hopper ships with
matplotlib. Saves ``sobel_kernels.png`` (the two kernels, drawn with ``viz.plot_kernels``),
``sobel_edges.png`` and ``stride_padding.png`` to --out.
"""

import argparse
import os
import sys

import matplotlib

if not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")
import matplotlib.cbook as cbook
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np

import tinygraph as tg
import tinygraph.functional as F
import viz

SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]  # d/dx: right minus left, centre row weighted twice
SOBEL_Y = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]  # d/dy: bottom minus top


def load_photo(downsample: int) -> np.ndarray:
    """Grace Hopper as a grey (1, 1, H, W) float32 image in [0, 1]."""
    rgb = mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).astype(np.float32) / 255
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma
    return grey[::downsample, ::downsample][None, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/sobel", help="folder for the figures")
    parser.add_argument("--downsample", type=int, default=2, help="keep every n-th pixel of the photo")
    parser.add_argument("--stride", type=int, default=2, help="stride for the stride/padding comparison")
    parser.add_argument("--padding", type=int, default=1, help="padding for the stride/padding comparison")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    image = tg.tensor(load_photo(args.downsample))
    kernels = tg.tensor([[SOBEL_X], [SOBEL_Y]], dtype=tg.float32)  # (C_out=2, C_in=1, 3, 3)
    print(f"photo {tuple(image.shape)}, Sobel kernels {tuple(kernels.shape)}", file=sys.stderr)
    path = os.path.join(args.out, "sobel_kernels.png")
    viz.plot_kernels(kernels, title="Sobel x and Sobel y (red > 0 > blue)", save=path)
    print(f"saved {path}")

    edges = F.conv2d(image, kernels, padding=1)  # (1, 2, H, W): same size as the photo
    gx, gy = edges.numpy()[0]
    magnitude = np.sqrt(gx**2 + gy**2)

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    panels = [
        (image.numpy()[0, 0], "photo", "gray"),
        (gx, "Sobel x: vertical edges", "RdBu_r"),
        (gy, "Sobel y: horizontal edges", "RdBu_r"),
        (magnitude, "edge strength sqrt(gx²+gy²)", "magma"),
    ]
    for ax, (data, title, cmap) in zip(axes, panels):
        limit = np.abs(data).max()  # signed responses: centred on zero (white = no change of brightness)
        shown = ax.imshow(data, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit)
        fig.colorbar(shown, ax=ax, shrink=0.7, label="brightness" if cmap == "gray" else "response")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(
        "conv2d with hand-set Sobel kernels, padding=1 keeps the size; "
        "the lines along the borders are false edges: the zero padding is darker than the photo"
    )
    fig.tight_layout()
    path = os.path.join(args.out, "sobel_edges.png")
    fig.savefig(path, dpi=110)
    print(f"saved {path}")

    # How stride and padding change the output size: floor((H + 2p - k) / s) + 1. The panels are drawn
    # at their true relative size (one output pixel = the same area everywhere) on one colour scale.
    settings = [(1, 0), (1, args.padding), (args.stride, 0), (args.stride, args.padding)]
    height, width = image.shape[2:]
    outputs = {}
    for stride, padding in settings:
        out = F.conv2d(image, kernels[:1], stride=stride, padding=padding).numpy()[0, 0]
        expected = ((height + 2 * padding - 3) // stride + 1, (width + 2 * padding - 3) // stride + 1)
        assert out.shape == expected, (out.shape, expected)
        size = f"{height}x{width} -> {out.shape[0]}x{out.shape[1]}"
        outputs[f"stride={stride}, padding={padding}\n{size}"] = out
        print(f"stride={stride} padding={padding}: {size}")
    caption = (
        "Panels at true relative size: stride 2 halves each side, padding 1 adds a pixel on every border.\n"
        "With padding, the kernel sees zeros beyond the photo's edge: the jump from the photo's brightness to 0 is\n"
        "itself an edge, so the padded outputs have a false edge along the left and right borders (the photo does not)."
    )
    path = os.path.join(args.out, "stride_padding.png")
    viz.plot_maps_to_scale(
        outputs, label="Sobel x response (signed)", caption=caption,
        title="Sobel x with conv2d: output size = floor((H + 2·padding − kernel) / stride) + 1", save=path,
    )  # fmt: skip
    print(f"saved {path}")
    print(f"figures are in {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
