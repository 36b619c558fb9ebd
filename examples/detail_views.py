"""CNN Explainer's detail views on one handwritten digit: convolution, ReLU, max pooling and softmax, number by number.

    python examples/detail_views.py                 # trains DigitsCNN briefly (2 epochs), then draws the views
    python examples/detail_views.py --index 7 --channel 3 --out /tmp/views

The overview pictures (train_cnn.py's feature maps) show what each layer computes; these show
how, for one pixel at a time, with the numbers of a trained network:

    conv_arithmetic.png   one output pixel of the second convolution: per input channel window x kernel =
                          products and their sum; the channel sums added up
    relu.png              one channel before and after ReLU, and the function between them
    pooling.png           one window of max pooling, the value that wins, and where the gradient goes back
    softmax.png           the network's logits for the digit -> exp -> probabilities that sum to 1
"""

import argparse
import os
import sys
import time

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph import optim
from tinygraph.data import DataLoader, Digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="training epochs before drawing (0: untrained)")
    parser.add_argument("--index", type=int, default=0, help="which test digit to look at")
    parser.add_argument("--channel", type=int, default=0, help="which channel of the first layers to show")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "detail_views"), help="folder for the figures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    tg.manual_seed(args.seed)

    train_set, test_set = Digits(train=True), Digits(train=False)
    model = tg.models.DigitsCNN()
    if args.epochs:
        print(f"training DigitsCNN for {args.epochs} epochs on {len(train_set)} digits", flush=True)
        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        tg.fit(model, DataLoader(train_set, batch_size=32, shuffle=True), F.cross_entropy, optimizer, args.epochs,
               progress=sys.stderr.isatty())  # fmt: skip
    x, label = test_set[args.index]
    x = tg.tensor(x.numpy()[None])  # (1, 1, 8, 8)
    acts = viz.capture_activations(model, x, ["features.bn1", "features.relu1", "features.relu2"])
    before, after = acts["features.bn1"][1][0, args.channel], acts["features.relu1"][1][0, args.channel]
    model.eval()
    with tg.no_grad():
        logits = model(x).numpy()[0]
    conv = model.features.conv2
    c = args.channel

    saved = []

    def path(name):
        saved.append(name)
        return os.path.join(args.out, name)

    # The second convolution reads the 32 channels of the first block: one row per input channel
    # (the first 3 drawn), the products summed in each row, the row sums added up.
    viz.plot_conv_arithmetic(
        acts["features.relu1"][1], conv.weight, conv.bias, (c, 3, 4), padding=1, max_channels=3,
        save=path("conv_arithmetic.png"),
        title=f"features.conv2, filter {c}, output pixel (3, 4), on test digit {args.index} (a {int(label)}): "
        "a sum over all 32 input channels",
    )  # fmt: skip
    viz.plot_relu(before, after, title=f"ReLU after features.bn1, channel {c}", save=path("relu.png"))
    viz.plot_pooling(acts["features.relu2"][1][0, c], 2, out_index=(1, 2), save=path("pooling.png"),
                     title=f"features.pool1 (2x2 max), channel {c}: the largest value in the window wins, "
                     "and only it gets the gradient back")  # fmt: skip
    viz.plot_softmax(logits, test_set.classes, save=path("softmax.png"),
                     title=f"softmax of DigitsCNN's logits for test digit {args.index} (true class {int(label)})")
    print(f"saved {', '.join(saved)} in {os.path.abspath(args.out)} (total {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
