"""The same CNN with and without batch norm, with and without dropout: training curves and final accuracies.

    python examples/batchnorm_dropout.py                   # 4 variants x 3 seeds, 300 training digits, 20 epochs
    python examples/batchnorm_dropout.py --limit 0 --epochs 10     # all 1,442 training digits: little to regularise
    python examples/batchnorm_dropout.py --lr 0.1          # a high learning rate: only the BN nets cope

The network (x: (N, 1, 8, 8))::

    conv 3x3 (16) [+ BN] + ReLU -> conv 3x3 (16) [+ BN] + ReLU -> max pool 2   (N, 16, 4, 4)
    conv 3x3 (32) [+ BN] + ReLU -> max pool 2                                   (N, 32, 2, 2)
    flatten (N, 128) -> linear (N, 128) + ReLU [-> dropout p] -> linear          (N, 10)

trained four times per seed with SGD + momentum: plain, +batch norm, +dropout, +both; every
variant with --seeds seeds (same seeds for all), so the spread shows which differences are real.

What to look for:
  * Dropout zeroes a random fraction p of the hidden units at every training step (and scales the
    rest by 1/(1-p)), so no unit can rely on another; ``model.eval()`` turns it off. It is a
    regulariser: it pays off when the network overfits, i.e. when the test loss is far above the
    training loss. The default run trains on only 300 digits, where the plain network overfits
    (its training loss falls far below its test loss); with dropout the same network ends with a
    lower test loss and a smaller gap, seed after seed, though not a higher accuracy. On top of
    batch norm, which already regularises a little, dropout changes little here. With all 1,442
    training digits (--limit 0 --epochs 10) this small network hardly overfits, and dropout
    mainly slows training down: regularisation is not free.
  * Batch norm normalises every channel over the batch, so each layer sees inputs of a steady
    scale: the loss falls sooner, and a learning rate that breaks the plain net works
    (--lr 0.1: the nets without BN stay at 10%).
  * ``model.train()`` / ``model.eval()`` switch both layers: batch statistics vs running averages,
    dropout on vs off. Every loss here is measured the same way: in eval mode (dropout off, BN on
    running statistics), on the training images and on the test images, after each epoch.

Prints a line per epoch and a table (mean over seeds, with the min..max): train loss and test
loss, their gap, test accuracy. Saves to --out (default outputs/batchnorm_dropout/):

    loss_curves.png    train and test loss per epoch (eval mode), one panel per variant, mean and min..max
    accuracy.png       final test accuracy (axis from 0) and train/test loss gap, mean with min..max bars
"""

import argparse
import os
import sys
import time

import numpy as np
from matplotlib.figure import Figure  # a Figure without pyplot saves to a file on any machine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import tinygraph as tg
import tinygraph.functional as F
from tinygraph import nn, optim
from tinygraph.data import DataLoader, Digits, Subset

VARIANTS = {  # name: (batch norm, dropout)
    "plain": (False, False),
    "batch norm": (True, False),
    "dropout": (False, True),
    "batch norm + dropout": (True, True),
}


def make_cnn(batchnorm: bool, dropout: float, width: int = 16) -> nn.Sequential:
    """The network above; ``dropout=0`` leaves the Dropout layer out."""

    def conv(c_in, c_out):
        # With BN right after it, a conv bias is redundant (BN subtracts the mean and adds its own shift).
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
        return layers + ([nn.BatchNorm2d(c_out)] if batchnorm else []) + [nn.ReLU()]

    return nn.Sequential(
        *conv(1, width),
        *conv(width, width),
        nn.MaxPool2d(2),
        *conv(width, 2 * width),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * 2 * 2, 128),
        nn.ReLU(),
        *([nn.Dropout(dropout)] if dropout else []),
        nn.Linear(128, 10),
    )


def train_variant(name, batchnorm, dropout, seed, train_set, test_loader, args, live) -> dict:
    """Train one variant from ``seed``; per epoch the train and test loss in eval mode, and the final scores."""
    tg.manual_seed(seed)  # same initial weights where the layers match, same batches
    model = make_cnn(batchnorm, dropout)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    train_eval = DataLoader(train_set, batch_size=500)  # the training images again, scored in eval mode
    curves = {"train_loss": [], "test_loss": []}

    def epoch_line(epoch, history):
        train_loss, _ = tg.evaluate(model, train_eval)  # eval mode, as the test loss: comparable
        curves["train_loss"].append(train_loss)
        curves["test_loss"].append(history.val_loss[-1])
        if not live:
            print(
                f"{name:>20} seed {seed} epoch {epoch + 1}/{args.epochs}: train loss {train_loss:.3f}  "
                f"test loss {history.val_loss[-1]:.3f}  test acc {100 * history.val_acc[-1]:.1f}%",
                flush=True,
            )

    history = tg.fit(
        model,
        # drop_last: batch statistics of a tiny last batch are noise that can knock a BN net's
        # running averages (and weights) off course in the very last step.
        DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True),
        F.cross_entropy,
        optimizer,
        args.epochs,
        val_loader=test_loader,
        callbacks=[epoch_line],
        progress=live,
    )
    _, test_acc = tg.evaluate(model, test_loader)
    return {**curves, "test_acc": test_acc, "time": sum(history.epoch_time)}


def spread(values) -> tuple:
    """``(mean, min, max)`` over seeds (axis 0)."""
    v = np.asarray(values, dtype=np.float64)
    return v.mean(axis=0), v.min(axis=0), v.max(axis=0)


def plot_curves(results, args, path) -> None:
    """One panel per variant: train and test loss (eval mode) per epoch, mean over seeds with the min..max band."""
    fig = Figure(figsize=(11, 6.4))
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    epochs = np.arange(1, args.epochs + 1)
    for ax, (name, runs) in zip(axes, results.items()):
        for key, color, style in (("train_loss", "C0", "-"), ("test_loss", "C3", "--")):
            mean, low, high = spread([r[key] for r in runs])
            ax.fill_between(epochs, low, high, color=color, alpha=0.2, lw=0)
            ax.plot(epochs, mean, style, color=color, lw=1.8)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_yscale("log")
    for ax in axes[2:]:
        ax.set_xlabel("epoch")
    for ax in axes[::2]:
        ax.set_ylabel("cross-entropy loss (log scale)")
    handles = [Line2D([], [], color="C0", lw=1.8, label="train loss"),
               Line2D([], [], color="C3", ls="--", lw=1.8, label="test loss"),
               Patch(color="0.5", alpha=0.3, label=f"min..max over {args.seeds} seeds (line: mean)")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(
        f"{args.n_train} training digits, SGD lr {args.lr:g}, dropout p={args.dropout:g}: both losses measured in eval "
        "mode after each epoch;\noverfitting = test loss far above train loss",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=100)


def plot_accuracy(results, args, path) -> None:
    """Final test accuracy (axis from 0 %) and train/test loss gap per variant: mean, with min..max bars."""
    fig = Figure(figsize=(10, 3.8))
    acc_ax, gap_ax = fig.subplots(1, 2)
    names = list(results)
    colors = [f"C{i}" for i in range(len(names))]
    for ax, values, fmt, label in (
        (acc_ax, {n: [100 * r["test_acc"] for r in runs] for n, runs in results.items()}, "%.1f%%",
         "test accuracy (%)"),
        (gap_ax, {n: [r["test_loss"][-1] - r["train_loss"][-1] for r in runs] for n, runs in results.items()}, "%.3f",
         "test loss - train loss"),
    ):  # fmt: skip
        mean, low, high = spread(np.array([values[n] for n in names]).T)  # (seeds, variants) -> per variant
        bars = ax.bar(names, mean, color=colors, yerr=[mean - low, high - mean], capsize=4, ecolor="0.2")
        ax.bar_label(bars, fmt=fmt, fontsize=8, label_type="center", color="white")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelsize=8, rotation=15)
        ax.grid(axis="y", alpha=0.3)
    acc_ax.set_ylim(0, 100)  # the whole scale: differences of a point look like what they are
    acc_ax.set_title(f"final test accuracy (mean; bars: min..max of {args.seeds} seeds)", fontsize=9)
    gap_ax.set_title("generalisation gap at the end (eval mode; smaller = less overfitting)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout probability p of the dropout variants")
    parser.add_argument("--limit", type=int, default=300, help="use only the first N training images (0: all 1,442)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per variant, seeds seed .. seed + seeds - 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "batchnorm_dropout"), help="folder for the figures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()

    train_set, test_set = Digits(train=True), Digits(train=False)
    if args.limit:
        train_set = Subset(train_set, np.arange(min(args.limit, len(train_set))))
    args.n_train = len(train_set)
    print(
        f"{len(train_set)} training and {len(test_set)} test digits; SGD(lr={args.lr:g}, momentum=0.9), "
        f"{args.epochs} epochs, dropout p={args.dropout:g}, {args.seeds} seeds"
    )
    test_loader = DataLoader(test_set, batch_size=500)
    live = sys.stderr.isatty()

    results = {}
    for name, (batchnorm, dropout) in VARIANTS.items():
        if live:
            print(f"training {name}")
        results[name] = [
            train_variant(name, batchnorm, args.dropout if dropout else 0.0, args.seed + k, train_set, test_loader,
                          args, live)  # fmt: skip
            for k in range(args.seeds)
        ]

    print(f"\nmean over {args.seeds} seeds (min..max); both losses in eval mode")
    print(
        f"{'variant':>20}  {'train loss':>10}  {'test loss':>9}  {'gap':>6}  {'test acc':>8}  "
        f"{'acc min..max':>13}  {'time':>6}"
    )
    for name, runs in results.items():
        train_loss = np.mean([r["train_loss"][-1] for r in runs])
        test_loss = np.mean([r["test_loss"][-1] for r in runs])
        accs = [100 * r["test_acc"] for r in runs]
        seconds = sum(r["time"] for r in runs)
        print(
            f"{name:>20}  {train_loss:10.4f}  {test_loss:9.4f}  {test_loss - train_loss:6.3f}  "
            f"{np.mean(accs):7.1f}%  {min(accs):5.1f}..{max(accs):5.1f}%  {seconds:5.1f}s"
        )

    plot_curves(results, args, os.path.join(args.out, "loss_curves.png"))
    plot_accuracy(results, args, os.path.join(args.out, "accuracy.png"))
    print(
        f"\nsaved loss_curves.png, accuracy.png in {os.path.abspath(args.out)} "
        f"(total {time.perf_counter() - started:.1f}s)"
    )


if __name__ == "__main__":
    main()
