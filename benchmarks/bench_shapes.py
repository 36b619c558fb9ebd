"""Shapes: how fast the pictures are made, and how well models that are not CNNs do on them.

    python benchmarks/bench_shapes.py                 # 10,000 train / 2,000 test pictures of 64x64
    python benchmarks/bench_shapes.py --train 2000 --epochs 3

Prints Markdown tables:

* generation: wall and CPU seconds to make ``--train`` pictures (median of ``--repeats``), with and
  without masks;
* baselines on raw pixels, each trained with Adam and a cosine schedule for ``--epochs`` epochs
  and scored on the test split:
    - colour histogram: logistic regression on each picture's 8-bin histogram per channel
      (what colour alone tells);
    - logistic regression on the 3 x 64 x 64 pixels;
    - MLP: pixels -> 256 -> ReLU -> 10.
  Compare with TinyVGG in ``python examples/train_cnn.py --dataset shapes``.

The machine may be shared: the load average is printed with the tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
from tinygraph import nn, optim  # noqa: E402
from tinygraph.data import DataLoader, Shapes, TensorDataset  # noqa: E402


def time_generation(n: int, repeats: int, masks: bool) -> tuple[float, float]:
    """Median ``(wall seconds, CPU seconds of this process)`` to make ``n`` training pictures.

    The CPU time is what a machine of one idle core would take: on a shared machine the wall time
    also counts the time other programs held the cores.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        Shapes(train=True, n=n, return_masks=masks)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def colour_histograms(x: np.ndarray, bins: int = 8) -> np.ndarray:
    """``(N, 3, H, W)`` in [0, 1] -> ``(N, 3 * bins)``: the fraction of each channel's pixels in each bin."""
    index = np.minimum((x * bins).astype(np.int64), bins - 1)  # (N, 3, H, W) bin numbers
    n, c = x.shape[:2]
    flat = (index + bins * np.arange(c)[None, :, None, None]).reshape(n, -1)
    counts = np.stack([np.bincount(row, minlength=c * bins) for row in flat])
    return (counts / flat.shape[1] * c).astype(np.float32)


def train_and_score(model, x_train, y_train, x_test, y_test, epochs: int, lr: float) -> tuple[float, float]:
    """Train with Adam + cosine schedule; returns (test accuracy, seconds)."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # standardise every input feature
    train = DataLoader(TensorDataset((x_train - mean) / std, y_train), batch_size=64, shuffle=True)
    test = DataLoader(TensorDataset((x_test - mean) / std, y_test), batch_size=500)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    started = time.perf_counter()
    history = tg.fit(model, train, F.cross_entropy, optimizer, epochs, val_loader=test, scheduler=scheduler)
    return history.val_acc[-1], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=10_000, help="training pictures")
    parser.add_argument("--test", type=int, default=2_000, help="test pictures")
    parser.add_argument("--epochs", type=int, default=10, help="epochs for each baseline")
    parser.add_argument("--repeats", type=int, default=3, help="generation timings to take the median of")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tg.manual_seed(args.seed)

    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores)\n")
    print(f"| making {args.train:,} pictures of 64x64 (median of {args.repeats}) | wall seconds | CPU seconds |")
    print("|---|---|---|")
    for label, masks in (("images and labels", False), ("with masks", True)):
        wall, cpu = time_generation(args.train, args.repeats, masks)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |", flush=True)

    x_train, y_train = Shapes(train=True, n=args.train).arrays()
    x_test, y_test = Shapes(train=False, n=args.test).arrays()
    pixels = x_train[0].size
    baselines = [
        (
            "colour histogram + logistic regression",
            colour_histograms,
            lambda d: nn.Linear(d, 10),
            1e-2,
        ),
        ("logistic regression on pixels", lambda x: x.reshape(len(x), -1), lambda d: nn.Linear(d, 10), 1e-3),
        (
            "MLP on pixels (256 hidden, ReLU)",
            lambda x: x.reshape(len(x), -1),
            lambda d: nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 10)),
            1e-3,
        ),
    ]
    setting = f"{args.train:,} train / {args.test:,} test pictures, {args.epochs} epochs"
    print(f"\n| model ({setting}) | test accuracy | seconds |")
    print("|---|---|---|")
    for name, features, make_model, lr in baselines:
        f_train, f_test = features(x_train), features(x_test)
        model = make_model(f_train.shape[1])
        accuracy, seconds = train_and_score(model, f_train, y_train, f_test, y_test, args.epochs, lr)
        print(f"| {name} | {100 * accuracy:.1f}% | {seconds:.0f} |", flush=True)
    print(f"\n(inputs: {pixels:,} pixel values per picture; chance is 10%)")
    print(f"load average after: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
