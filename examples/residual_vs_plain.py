"""A deep plain CNN against the same network with skip connections: vanishing gradients, and the cure.

    python examples/residual_vs_plain.py                  # 8 blocks = 17 conv layers, no batch norm (~30 s)
    python examples/residual_vs_plain.py --blocks 4       # shallower: the plain net starts to learn
    python examples/residual_vs_plain.py --batchnorm      # tg.nn.BasicBlock (with BN) in both networks

Both networks are the same stack: a 3x3 stem conv, 2x2 max pooling, ``--blocks`` blocks of two
3x3 convs, global average pooling and a linear classifier, with PyTorch's default initialisation
and no batch norm.  The only difference is the ``+ x`` in every block::

    plain:     out = relu(conv2(relu(conv1(x))))
    residual:  out = relu(conv2(relu(conv1(x))) + x)

In the plain stack every layer multiplies the backpropagated gradient by a matrix whose typical
gain is below one, so after 17 layers almost nothing reaches the first ones (the gradient
"vanishes") and the loss stays at ln(10) = 2.30: chance level for 10 classes. The skip
connection adds an identity path, so every block passes the gradient back unchanged plus a
correction, and the same depth trains. Batch norm (``--batchnorm``) is the other cure.

Prints each network's gradient at the first and last conv layer, then per-epoch lines and the
final test accuracies. Saves to --out (default outputs/residual_vs_plain/):

    gradient_flow.png   mean and max |grad| of every conv layer after one backward pass, both nets
    loss_curves.png     training loss and test accuracy of both nets, overlaid
"""

import argparse
import os
import sys
import time

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph import nn, optim
from tinygraph.data import DataLoader, Digits


class Block(nn.Module):
    """Two 3x3 convs, with (``skip=True``) or without the identity shortcut; no batch norm.

    x: (N, C, H, W) -> (N, C, H, W).  ``tg.nn.BasicBlock`` is the same block with batch norm after each conv.
    """

    def __init__(self, channels: int, skip: bool):
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        out = self.conv2(self.conv1(x).relu())
        return (out + x).relu() if self.skip else out.relu()


def deep_cnn(blocks: int, width: int, skip: bool, batchnorm: bool) -> nn.Module:
    """x (N, 1, 8, 8) -> stem conv (N, width, 8, 8) -> pool (N, width, 4, 4) -> blocks -> GAP -> logits (N, 10)."""
    block = (lambda: nn.BasicBlock(width, width, skip=skip)) if batchnorm else (lambda: Block(width, skip))
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        *[block() for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=8, help="blocks of two convs (depth = 2 * blocks + 1 convs)")
    parser.add_argument("--width", type=int, default=16, help="channels of every conv")
    parser.add_argument("--batchnorm", action="store_true", help="use tg.nn.BasicBlock (conv-BN-ReLU-conv-BN)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's initial learning rate (cosine schedule)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "residual_vs_plain"), help="folder for the figures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()

    train_set, test_set = Digits(train=True), Digits(train=False)
    if args.limit:
        train_set = tg.data.Subset(train_set, list(range(min(args.limit, len(train_set)))))
    kind = "with batch norm" if args.batchnorm else "no batch norm"
    print(f"{2 * args.blocks + 1} conv layers of width {args.width} ({kind}), {len(train_set)} digits")

    # Same seed, so both networks start from the same weights (the residual one has no extra parameters).
    models = {}
    for name, skip in (("plain", False), ("residual", True)):
        tg.manual_seed(args.seed)
        models[name] = deep_cnn(args.blocks, args.width, skip, args.batchnorm)

    # Gradient flow at initialisation: one backward pass on the same first batch.
    x, y = next(iter(DataLoader(train_set, batch_size=args.batch_size)))
    for name, model in models.items():
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        stats = viz.gradient_stats(model)  # [(name, mean |grad|, max |grad|)] from the input side
        first, last = stats[0][1], stats[-2][1]  # stats[-1] is the classifier
        print(f"{name:>8}: mean |grad| first conv {first:.2e}, last conv {last:.2e} (ratio {last / first:.1e})")
    viz.plot_gradient_flow(
        models,
        title="gradient flow at initialisation: mean/max |grad| per layer",
        save=os.path.join(args.out, "gradient_flow.png"),
    )

    histories = {}
    live = sys.stderr.isatty()
    for name, model in models.items():
        model.zero_grad()
        tg.manual_seed(args.seed)  # same shuffling for both
        optimizer = optim.Adam(model.parameters(), lr=args.lr)
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))  # settles the last epochs

        def epoch_line(epoch, history, name=name):
            if not live:
                print(
                    f"{name:>8} epoch {epoch + 1}/{args.epochs}: train loss {history.train_loss[-1]:.3f}  "
                    f"test acc {100 * history.val_acc[-1]:.1f}%",
                    flush=True,
                )

        print(f"training {name}")
        histories[name] = tg.fit(
            model,
            DataLoader(train_set, batch_size=args.batch_size, shuffle=True),
            F.cross_entropy,
            optimizer,
            args.epochs,
            val_loader=DataLoader(test_set, batch_size=500),
            scheduler=scheduler,
            callbacks=[epoch_line],
            progress=live,
        )

    viz.plot_loss_curves(
        list(histories.values()),
        labels=list(histories),
        show_steps=True,
        held_out="test",
        title=f"{2 * args.blocks + 1} conv layers, {kind}: plain vs residual",
        save=os.path.join(args.out, "loss_curves.png"),
    )
    print(f"\n{'network':>10}  {'train loss':>10}  {'test acc':>8}  {'time':>6}")
    for name, h in histories.items():
        print(f"{name:>10}  {h.train_loss[-1]:10.3f}  {100 * h.val_acc[-1]:7.1f}%  {sum(h.epoch_time):5.1f}s")
    print(
        f"\nsaved gradient_flow.png, loss_curves.png in {os.path.abspath(args.out)} "
        f"(total {time.perf_counter() - started:.1f}s)"
    )


if __name__ == "__main__":
    main()
