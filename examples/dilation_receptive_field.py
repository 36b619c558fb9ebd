"""Receptive fields of stacked standard, dilated and strided 3x3 convolutions, measured by backpropagation.

    python examples/dilation_receptive_field.py            # 4 layers of each kind on a 33x33 input (a few seconds)
    python examples/dilation_receptive_field.py --layers 3 --size 25

The receptive field of an output pixel is the set of input pixels it depends on.  Autodiff
measures it without any formula: put a gradient of 1 on that one output pixel, call
backward(), and look where the input's gradient is non-zero (``viz.receptive_field``).

The formula for a stack of convolutions with kernel k, dilation d and stride s, layer by layer::

    r = 1 + sum over layers l of (k_l - 1) * d_l * (s_1 * ... * s_{l-1})

Four 3x3 layers: standard ones see 9x9; dilations 1, 2, 4, 8 see 31x31 at full resolution with
the same 9 weights per layer; dilation 2 everywhere sees 17x17 but with holes (the "gridding"
problem: a lattice of pixels); stride 2 everywhere also sees 31x31, but its output is 16x smaller.

Prints, for every stack and depth, the measured field (height x width, pixels) beside the formula.
Saves to --out (default outputs/dilation_receptive_field/):

    receptive_fields.png   the input pixels one centre output pixel sees (support map), one panel per stack,
                           with each stack's parameter count (the same for all four)
    growth.png             field size against depth: measured (markers) and formula (lines), side by side
"""

import argparse
import os
import time

import numpy as np
from matplotlib.figure import Figure  # a Figure without pyplot saves to a file on any machine

import tinygraph as tg
import viz
from tinygraph import nn
from viz.receptive_field import field_extent

KERNEL = 3


def stacks(layers: int) -> dict:
    """``{title: [(dilation, stride), ...]}``: the stacks to compare, ``layers`` convolutions each."""
    doubling = ", ".join(str(2**i) for i in range(layers))
    return {
        f"standard, x{layers}": [(1, 1)] * layers,
        f"dilation {doubling}": [(2**i, 1) for i in range(layers)],
        f"dilation 2, x{layers}": [(2, 1)] * layers,
        f"stride 2, x{layers}": [(1, 2)] * layers,
    }


def build(spec, channels: int, in_channels: int = 1) -> list:
    """Conv2d layers for ``spec``; padding = dilation keeps the size for stride 1 (k = 3)."""
    layers, c = [], in_channels
    for dilation, stride in spec:
        layers.append(nn.Conv2d(c, channels, KERNEL, stride=stride, padding=dilation, dilation=dilation))
        c = channels
    return layers


def formula(spec) -> int:
    """``1 + sum((k - 1) * d * jump)`` where ``jump`` is the product of the earlier strides."""
    size, jump = 1, 1
    for dilation, stride in spec:
        size += (KERNEL - 1) * dilation * jump
        jump *= stride
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4, help="convolutions per stack")
    parser.add_argument("--size", type=int, default=33, help="input height and width (odd: it has a centre)")
    parser.add_argument("--channels", type=int, default=4, help="channels of every conv")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and input")
    parser.add_argument(
        "--out", default=os.path.join("outputs", "dilation_receptive_field"), help="folder for the figures"
    )
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    tg.manual_seed(args.seed)
    input_shape = (1, args.size, args.size)

    models = {title: build(spec, args.channels) for title, spec in stacks(args.layers).items()}
    print(f"receptive field of the centre output pixel, input {args.size}x{args.size}, 3x3 kernels")
    print(f"{'stack':<24}{'depth':>6}{'measured':>12}{'pixels':>8}{'formula':>9}")
    growth = {}
    for (title, spec), layers in zip(stacks(args.layers).items(), models.values()):
        growth[title] = []
        for depth in range(1, len(layers) + 1):
            # Backpropagate from the centre pixel of the first `depth` layers' output to the input.
            rf = viz.receptive_field(layers[:depth], input_shape)
            height, width, pixels = field_extent(rf)
            predicted = formula(spec[:depth])
            growth[title].append((height, predicted))
            flag = "" if height == width == predicted else "  <- differs (input too small?)"
            print(
                f"{title if depth == 1 else '':<24}{depth:>6}{f'{height}x{width}':>12}{pixels:>8}"
                f"{f'{predicted}x{predicted}':>9}{flag}"
            )

    path = os.path.join(args.out, "receptive_fields.png")
    counts = {sum(p.data.size for layer in layers for p in layer.parameters()) for layers in models.values()}
    same = f"all {len(models)} stacks have the same {min(counts):,} parameters" if len(counts) == 1 else "counts differ"
    viz.plot_receptive_field(
        models, input_shape, ncols=4, save=path,
        caption=f"Same parameter count, different reach: {same} ({args.layers} layers of 3x3 kernels, "
        f"{args.channels} channels); stride 2 reaches as far as dilation but shrinks the output.",
    )  # fmt: skip
    print(f"saved {path}")

    fig = Figure(figsize=(8.5, 4))
    ax = fig.add_subplot()
    depths = np.arange(1, args.layers + 1)
    markers = "osD^"
    offsets = np.linspace(-0.12, 0.12, len(growth))  # side by side: equal sizes (dilation vs stride 2) stay visible
    for i, (title, points) in enumerate(growth.items()):
        measured, predicted = np.array(points).T
        ax.plot(depths + offsets[i], predicted, "-", color=f"C{i}", alpha=0.6, lw=2.5 - 0.4 * i)
        ax.plot(depths + offsets[i], measured, markers[i % 4], color=f"C{i}", ms=7, mfc="white" if i % 2 else f"C{i}",
                mew=1.5, label=title)  # fmt: skip
    ax.set_xticks(depths)
    ax.set_xlabel("number of 3x3 conv layers")
    ax.set_ylabel("receptive field side (pixels)")
    ax.set_title("measured by backprop (markers) vs formula (lines), stacks drawn side by side", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    path = os.path.join(args.out, "growth.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")
    print(f"figures are in {os.path.abspath(args.out)} (total {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
