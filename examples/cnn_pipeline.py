"""The classic CNN pipeline on one 224x224 colour photo, stage by stage: what each layer computes.

    python examples/cnn_pipeline.py                    # matplotlib's sample photo (Grace Hopper)
    python examples/cnn_pipeline.py my_photo.jpg       # any PNG or JPEG
    python examples/cnn_pipeline.py --retrain          # train the weights again instead of reusing them

The course's worked example: a colour photo is resized to 224x224 and passes through

    conv1 (5x5) + ReLU -> conv2 (3x3) + ReLU -> max-pool 2x2 -> grid max-pool 4x4 -> flatten
    -> dense + ReLU -> dense -> softmax

For every stage the script prints the tensor's shape, the layer's parameters and multiply-adds
(``tg.nn.summary``) and draws what the stage computes:

    01_input.png      the photo as the network sees it (resized, centre-cropped), and its 3 channels
    02_conv1.png      the 8 learned colour filters, and their ReLU maps on the photo (edges, colours)
    03_conv2.png      conv2's 16 ReLU maps: combinations of conv1's edges
    04_pool.png       the same 16 maps after 2x2 max-pooling (half the size), and the 4x4 grid maxima
    05_dense.png      the flattened vector as a strip, the dense layer's activations, the logits,
                      and the softmax probabilities as bars

Which weights: random filters would make every picture noise, so the network is trained first, for about
half a minute, on the synthetic Shapes pictures (tg.data.Shapes) at 64x64 -- where it learns real colour
edge and blob detectors.  Convolutions do not care about the image size, and the "grid max-pool" takes
the maximum of each map over a 4x4 grid of regions whatever their size, so the same weights run on the
224x224 photo unchanged.  The filters and maps are therefore meaningful; the softmax is over the 10
shape classes, so for a photo of a person it says which *shape* the picture reminds the network of --
the point is how the numbers flow, not the answer.  The trained weights are saved to --out and reused.
"""

import argparse
import os
import sys
import time

import matplotlib.cbook
import numpy as np
from matplotlib.figure import Figure  # a Figure without pyplot saves to a file on any machine

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph import nn, optim
from tinygraph.data import DataLoader, Shapes, read_image, transforms

MEAN, STD = [0.5] * 3, [0.25] * 3  # the Shapes recipe's normalisation, used for training and for the photo
TRAIN_SIZE = 64  # side of the Shapes pictures the weights are trained on
GRID = 4  # the grid max-pool keeps the largest value of each map in each of GRID x GRID regions


class GridMaxPool(nn.Module):
    """Max over a ``cells x cells`` grid of equal regions: ``(N, C, H, W) -> (N, C, cells, cells)``.

    A max-pool whose window is ``H / cells`` by ``W / cells``, so the flattened vector has the same
    length for a 64x64 training picture and a 224x224 photo (H and W must be multiples of ``cells``).
    """

    def __init__(self, cells: int):
        super().__init__()
        self.cells = cells

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % self.cells or w % self.cells:
            raise ValueError(f"GridMaxPool: maps of {h}x{w} do not split into a {self.cells}x{self.cells} grid")
        return F.max_pool2d(x, (h // self.cells, w // self.cells))


def pipeline_cnn(num_classes: int) -> nn.Sequential:
    """The course's network, with the shapes every stage has for a (1, 3, 224, 224) photo."""
    return nn.Sequential(
        {
            "conv1": nn.Conv2d(3, 8, 5, padding=2),  # (1, 8, 224, 224)  colour edge / blob detectors
            "relu1": nn.ReLU(),
            "conv2": nn.Conv2d(8, 16, 3, padding=1),  # (1, 16, 224, 224) combinations of those
            "relu2": nn.ReLU(),
            "pool": nn.MaxPool2d(2),  # (1, 16, 112, 112)
            "grid": GridMaxPool(GRID),  # (1, 16, 4, 4)
            "flatten": nn.Flatten(),  # (1, 256)
            "dense1": nn.Linear(16 * GRID * GRID, 32),  # (1, 32)
            "relu3": nn.ReLU(),
            "dense2": nn.Linear(32, num_classes),  # (1, 10) logits; softmax turns them into probabilities
        }
    )


def train_or_load(model, args) -> str:
    """Train ``model`` on Shapes (or load the weights a previous run saved); returns how it got them."""
    weights = os.path.join(args.out, "weights.npz")
    if os.path.exists(weights) and not args.retrain:
        model.load_state_dict(tg.load(weights))
        return f"weights loaded from {weights} (trained on Shapes by an earlier run; --retrain to train again)"
    normalize = transforms.Normalize(MEAN, STD)
    train = Shapes(train=True, size=TRAIN_SIZE, n=args.train_images, transform=normalize)
    test = Shapes(train=False, size=TRAIN_SIZE, n=max(args.train_images // 4, 10), transform=normalize)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    print(f"training on {len(train)} Shapes pictures ({TRAIN_SIZE}x{TRAIN_SIZE}) for {args.epochs} epochs ...")
    started = time.perf_counter()
    history = tg.fit(
        model,
        DataLoader(train, batch_size=32, shuffle=True),
        F.cross_entropy,
        optimizer,
        args.epochs,
        val_loader=DataLoader(test, batch_size=500),
        progress=sys.stderr.isatty(),
    )
    tg.save(model.state_dict(), weights)
    accuracy = 100 * history.val_acc[-1]
    return (
        f"weights trained here on Shapes: {args.epochs} epochs on {len(train)} pictures in "
        f"{time.perf_counter() - started:.0f}s, {accuracy:.1f}% on {len(test)} test pictures; saved to {weights}"
    )


def load_photo(path) -> tuple:
    """The photo as ``(3, 224, 224)`` in [0, 1], resized (shorter side 224) and centre-cropped, and its name."""
    if path is None:
        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    try:
        image = read_image(path, mode="RGB")
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"cnn_pipeline.py: {e}")
    print(f"photo: {path}, {tuple(image.shape)} -> resized and centre-cropped to (3, 224, 224)")
    photo = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224)])(image)
    return tg.clamp(photo, 0.0, 1.0), os.path.basename(path)  # clamp: rounding may leave 1.0000001


def plot_input(photo: np.ndarray, name: str, save: str) -> None:
    fig = Figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 4)
    axes[0].imshow(photo.transpose(1, 2, 0))
    axes[0].set_title(f"{name}: (3, 224, 224)")
    for c, (ax, colour) in enumerate(zip(axes[1:], ["Reds", "Greens", "Blues"])):
        shown = ax.imshow(photo[c], cmap=colour, vmin=0, vmax=1)
        ax.set_title(f"channel {c} ({colour[:-1].lower()})")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("input: one 224x224 colour photo = three 224x224 grids of numbers in [0, 1]")
    fig.tight_layout()
    fig.savefig(save, dpi=100)


def plot_vectors(acts: dict, probs: np.ndarray, classes, save: str) -> None:
    """The flattened vector as a strip, dense1's activations, the logits and the softmax bars."""
    fig = Figure(figsize=(11, 9.5))
    axes = fig.subplots(4, 1, gridspec_kw={"height_ratios": [0.7, 1.2, 1.2, 1.6]})
    flat = acts["flatten"][0]
    strip = axes[0].imshow(flat[None, :], aspect="auto", cmap="viridis", vmin=0, interpolation="nearest")
    axes[0].set_yticks([])
    axes[0].set_xlabel(f"flatten: {flat.size} numbers = 16 maps x {GRID}x{GRID} grid maxima, one map after another")
    fig.colorbar(strip, ax=axes[0], fraction=0.03, pad=0.01, label="value (>= 0 after ReLU)")
    hidden = acts["relu3"][0]
    axes[1].bar(np.arange(hidden.size), hidden, color="tab:blue")
    axes[1].set_xlabel(f"dense1 + ReLU: {hidden.size} activations (each a weighted sum of all {flat.size})")
    axes[1].set_ylabel("activation")
    logits = acts["dense2"][0]
    axes[2].bar(classes, logits, color=np.where(logits >= 0, "tab:red", "tab:blue"))
    axes[2].axhline(0, color="black", linewidth=0.8)
    axes[2].set_ylabel("logit")
    axes[2].set_xlabel("dense2: one score (logit) per class; red > 0 > blue")
    axes[3].bar(classes, probs, color="tab:green")
    axes[3].set_ylim(0, 1)
    axes[3].set_ylabel("probability")
    best = int(probs.argmax())
    axes[3].set_xlabel(f"softmax: exp(logit) / sum of exp(logits); they sum to 1 (largest: {classes[best]})")
    fig.suptitle("from maps to a decision: flatten -> dense -> dense -> softmax")
    fig.tight_layout()
    fig.savefig(save, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", nargs="?", help="a PNG or JPEG photo (default: matplotlib's grace_hopper.jpg)")
    parser.add_argument("--train-images", type=int, default=3000, help="Shapes pictures to train on")
    parser.add_argument("--epochs", type=int, default=3, help="passes over them")
    parser.add_argument("--retrain", action="store_true", help="train even if --out holds weights from a run")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the initial weights and shuffling")
    parser.add_argument("--out", default=os.path.join("outputs", "cnn_pipeline"), help="folder for the figures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)

    photo, name = load_photo(args.photo)
    model = pipeline_cnn(len(Shapes.classes))
    print(train_or_load(model, args))
    print("\nthe pipeline on the photo, stage by stage:")
    tg.nn.summary(model, (1, 3, 224, 224))

    x = transforms.Normalize(MEAN, STD)(photo)[None]  # (1, 3, 224, 224), as in training
    stages = ["conv1", "relu1", "conv2", "relu2", "pool", "grid", "flatten", "dense1", "relu3", "dense2"]
    acts = {name: out for name, (_, out) in viz.capture_activations(model, x, stages).items()}
    logits = acts["dense2"][0]
    probs = F.softmax(tg.tensor(logits[None]), dim=1).numpy()[0]
    for stage in stages:
        print(f"  {stage:8s} -> {acts[stage].shape}")
    ranked = np.argsort(-probs)[:3]
    print("softmax (top 3): " + ", ".join(f"{Shapes.classes[k]} {probs[k]:.2f}" for k in ranked))

    path = lambda file: os.path.join(args.out, file)  # noqa: E731
    plot_input(photo.numpy(), name, path("01_input.png"))
    fig = Figure(figsize=(12, 8.5))
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.8, 2.2])
    title = "conv1: 8 learned 5x5 colour filters (each shown as a tiny RGB image)"
    viz.plot_kernels(model.conv1, title=title, ncols=8, ax=top.add_subplot())
    viz.plot_feature_maps(
        model, x, layers="relu1", ncols=4, show_input=True, show_output=False,
        class_names=list(Shapes.classes), ax=bottom.add_subplot(),
    )  # the dense end of the network has its own figure, 05_dense.png
    fig.savefig(path("02_conv1.png"), dpi=100)
    viz.plot_feature_maps(model, x, layers="relu2", ncols=8, show_input=False, show_output=False, save=path("03_conv2.png"))
    viz.plot_feature_maps(model, x, layers=["pool", "grid"], ncols=8, show_input=False, show_output=False, save=path("04_pool.png"))
    plot_vectors(acts, probs, list(Shapes.classes), path("05_dense.png"))
    print(f"saved 01_input.png .. 05_dense.png in {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
