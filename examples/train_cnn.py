"""Train a convolutional network on handwritten digits (or colour pictures), test it on unseen ones, look inside it.

    python examples/train_cnn.py                      # DigitsCNN on the embedded 8x8 digits (~99%, well under a minute)
    python examples/train_cnn.py --epochs 3 --out /tmp/run
    python examples/train_cnn.py --kernels reference  # the same training on the textbook loops (kernels/cpu/reference)
    python examples/train_cnn.py --dataset shapes     # TinyVGG on 64x64 colour Shapes, generated offline
    python examples/train_cnn.py --dataset cifar10 --data-dir data --download        # TinyVGG on CIFAR-10 32x32
    python examples/train_cnn.py --dataset mnist --data-dir data --download          # LeNet-5 on MNIST 28x28
    python examples/train_cnn.py --dataset fashion-mnist --data-dir data --download  # LeNet-5 on Fashion-MNIST

The whole path of a CNN course in one script: images -> conv + ReLU -> pooling -> flatten ->
dense -> softmax -> cross-entropy -> backpropagation -> Adam -> predictions on the test set.

Prints the model's layer table, one line per epoch (a live progress line when the output is a
terminal), the test accuracy and the wall time. Saves to --out (default outputs/train_cnn/):

    loss_curves.png       train/test loss and accuracy per epoch, and the per-step loss (held-out set: test)
    kernels.png           the first convolution layer's learned 3x3 (or 5x5) filters
    feature_maps.png      one test image through the network: maps before/after each ReLU, pooling, softmax
    confusion_matrix.png  true class against predicted class on the whole test set
    predictions.png       test images with the softmax probabilities; mistakes first
    graph.png             the autodiff graph of one training step on 4 training images, with gradient norms
    model.npz             the trained weights: model.load_state_dict(tg.load("model.npz"))
"""

import argparse
import os
import sys
import time

import numpy as np

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph import nn, optim
from tinygraph.data import CIFAR10, MNIST, DataLoader, Digits, FashionMNIST, Shapes, Subset, transforms

# Per dataset: the model, its recipe, and how inputs are normalised.
#   digits: tg.models.DIGITS_RECIPE (Adam 3e-3, batch 32, cosine schedule over 10 epochs); pixels stay in [0, 1].
#   MNIST / Fashion-MNIST: LeNet-5 with Adam 1e-3, batch 64, cosine schedule; inputs standardised with the
#   training set's mean and std, as torchvision's MNIST examples do.
#   shapes: TinyVGG on train_size Shapes pictures (the test split is 2,000 others), Adam 3e-3, batch 32, cosine
#   schedule; inputs centred on 0.5 with std 0.25 (the pictures' colours are uniform at random).  Pictures cost
#   nothing to make, so the recipe sees many of them a few times rather than a few many times: TinyVGG's linear
#   layer, which sees every position separately, overfits a smaller set.
#   CIFAR-10: TinyVGG at 32x32, Adam 1e-3, batch 64, cosine schedule; inputs standardised per channel with the
#   training set's means and stds.
RECIPES = {
    "digits": dict(tg.models.DIGITS_RECIPE),
    "mnist": {"batch_size": 64, "lr": 1e-3, "epochs": 10, "mean": 0.1307, "std": 0.3081},
    "fashion-mnist": {"batch_size": 64, "lr": 1e-3, "epochs": 10, "mean": 0.2860, "std": 0.3530},
    "shapes": {"batch_size": 32, "lr": 3e-3, "epochs": 3, "train_size": 15_000, "mean": [0.5] * 3, "std": [0.25] * 3},
    "cifar10": {
        "batch_size": 64,
        "lr": 1e-3,
        "epochs": 10,
        "mean": [0.4914, 0.4822, 0.4465],
        "std": [0.2470, 0.2435, 0.2616],
    },
}


def load_data(args):
    """``(train set, test set, class names, model)`` for ``args.dataset``."""
    recipe = RECIPES[args.dataset]
    if args.dataset == "digits":
        train, test = Digits(train=True), Digits(train=False)
        model = tg.models.DigitsCNN()
    elif args.dataset == "shapes":
        normalize = transforms.Normalize(recipe["mean"], recipe["std"])
        n_train = args.limit or recipe["train_size"]
        train = Shapes(train=True, n=n_train, transform=normalize)
        test = Shapes(train=False, n=args.limit or None, transform=normalize)
        model = tg.models.TinyVGG()
    elif args.dataset == "cifar10":
        normalize = transforms.Normalize(recipe["mean"], recipe["std"])
        try:
            train = CIFAR10(args.data_dir, train=True, download=args.download, transform=normalize)
            test = CIFAR10(args.data_dir, train=False, download=args.download, transform=normalize)
        except (FileNotFoundError, tg.data.DownloadError) as e:
            sys.exit(f"train_cnn.py: {e}")
        model = tg.models.TinyVGG(image_size=32)
    else:
        normalize = transforms.Normalize(recipe["mean"], recipe["std"])
        cls = MNIST if args.dataset == "mnist" else FashionMNIST
        try:
            train = cls(args.data_dir, train=True, download=args.download, transform=normalize)
            test = cls(args.data_dir, train=False, download=args.download, transform=normalize)
        except (FileNotFoundError, tg.data.DownloadError) as e:
            sys.exit(f"train_cnn.py: {e}")
        model = tg.models.LeNet5()
    classes = train.classes
    if args.limit:  # the first N of each split: for quick looks and smoke tests
        train = Subset(train, np.arange(min(args.limit, len(train))))
        test = Subset(test, np.arange(min(args.limit, len(test))))
    return train, test, classes, model


def feature_map_layers(model) -> list:
    """The stages of ``model.features`` worth looking at: each activation with the map just before it
    (conv or batch-norm output, signed), so ReLU's clipping shows, and the pooling stages."""
    names, chosen = [name for name, _ in model.features.named_modules() if name], []
    modules = dict(model.features.named_modules())
    for i, name in enumerate(names):
        if isinstance(modules[name], (nn.ReLU, nn.Tanh)):
            chosen += ([names[i - 1]] if i else []) + [name]  # before the activation, then after it
        elif isinstance(modules[name], (nn.MaxPool2d, nn.AvgPool2d)):
            chosen.append(name)
    return [f"features.{name}" for name in chosen]


def first_conv(model):
    """The first Conv2d of ``model.features`` (``conv1`` in DigitsCNN and LeNet-5, ``conv1_1`` in TinyVGG)."""
    return next(m for m in model.features.modules() if isinstance(m, nn.Conv2d))


def displayable(images: np.ndarray, recipe: dict) -> np.ndarray:
    """Undo the recipe's Normalize, so pictures show their own colours: ``x * std + mean`` per channel."""
    if "mean" not in recipe:
        return images
    mean = np.asarray(recipe["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(recipe["std"], dtype=np.float32).reshape(-1, 1, 1)
    return images * std + mean


def mistakes_first(predicted, labels, count: int) -> np.ndarray:
    """Indices of up to ``count`` test images: the misclassified ones first, then correct ones."""
    wrong = np.flatnonzero(predicted != labels)
    right = np.flatnonzero(predicted == labels)
    return np.concatenate([wrong, right])[:count]


def plot_training_step(model, x, y, path) -> None:
    """Record one training step on a few images, backpropagate, and draw its graph with gradient norms."""
    model.train()
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    title = f"one training step on {x.shape[0]} training images"
    viz.plot_graph(loss, names=model, max_nodes=40, title=title, save=path)
    model.zero_grad()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(RECIPES), default="digits", help="what to train on")
    parser.add_argument("--data-dir", default="data", help="folder for MNIST / Fashion-MNIST / CIFAR-10 files")
    parser.add_argument("--download", action="store_true", help="fetch MNIST / Fashion-MNIST / CIFAR-10 if missing")
    parser.add_argument("--epochs", type=int, help="passes over the training set (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, help="images per step (default: the recipe's)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default: the recipe's)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N train and test images")
    parser.add_argument("--seed", type=int, default=0, help="random seed (initial weights, shuffling, dropout)")
    parser.add_argument("--device", default="cpu", help="'cpu', or 'cuda' with an NVIDIA GPU and tinygraph[cuda]")
    parser.add_argument("--out", help="folder for the figures and the model (default: outputs/train_cnn)")
    parser.add_argument(
        "--kernels",
        choices=("fast", "reference"),
        default="fast",
        help="CPU kernels: the fast ones, or the textbook loops of tinygraph/kernels/cpu/reference",
    )
    args = parser.parse_args()
    tg.set_kernels(args.kernels)
    recipe = RECIPES[args.dataset]
    epochs = recipe["epochs"] if args.epochs is None else args.epochs
    batch_size = args.batch_size or recipe["batch_size"]
    lr = args.lr or recipe["lr"]
    out = args.out or os.path.join("outputs", "train_cnn")
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()

    tg.manual_seed(args.seed)
    train_set, test_set, classes, model = load_data(args)
    image_shape = tuple(train_set[0][0].shape)
    print(f"{args.dataset}: {len(train_set)} training and {len(test_set)} test images of shape {image_shape}")
    tg.nn.summary(model, (1, *image_shape))

    try:
        model.to(args.device)  # parameters move in place; tg.fit moves each batch to the same device
    except RuntimeError as err:
        parser.error(str(err))
    # The recipe: Adam with a cosine learning-rate schedule, shuffled mini-batches, cross-entropy.
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=500)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    live = sys.stderr.isatty()  # the live progress line on a terminal; one printed line per epoch otherwise

    def epoch_line(epoch, history):
        if not live:
            print(
                f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f}  "
                f"test loss {history.val_loss[-1]:.4f}  test acc {100 * history.val_acc[-1]:.1f}%  "
                f"{history.epoch_time[-1]:.1f}s",
                flush=True,
            )

    print(f"training {type(model).__name__} for {epochs} epochs: Adam(lr={lr:g}), batch {batch_size}, cosine schedule")
    history = tg.fit(
        model,
        train_loader,
        F.cross_entropy,
        optimizer,
        epochs,
        val_loader=test_loader,
        scheduler=scheduler,
        callbacks=[epoch_line],
        progress=live,
    )
    train_time = sum(history.epoch_time)
    model.to("cpu")  # the pictures and the saved weights are made from host arrays

    # Inference on unseen data: the test set, in eval mode (dropout off, batch norm on running statistics).
    x_test, y_test = next(iter(DataLoader(test_set, batch_size=len(test_set))))
    probs = tg.predict(model, x_test).numpy()
    labels = y_test.numpy()
    predicted = probs.argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    print(f"test accuracy: {100 * accuracy:.2f}% ({int((predicted == labels).sum())}/{len(labels)})")
    print(f"training took {train_time:.1f}s ({len(train_set) * epochs / max(train_time, 1e-9):,.0f} images/s)")

    saved = []

    def path(name):
        saved.append(name)
        return os.path.join(out, name)

    tg.save(model.state_dict(), path("model.npz"))
    viz.plot_loss_curves(
        history, show_steps=True, title=f"{type(model).__name__} on {args.dataset}", held_out="test",
        save=path("loss_curves.png"),
    )  # fmt: skip
    viz.plot_kernels(first_conv(model), save=path("kernels.png"))
    viz.plot_feature_maps(
        model, x_test[:1], layers=feature_map_layers(model), max_channels=8, label=int(labels[0]),
        class_names=classes, save=path("feature_maps.png"),
    )  # fmt: skip
    viz.plot_confusion_matrix(labels, probs, class_names=classes, save=path("confusion_matrix.png"))
    shown = mistakes_first(predicted, labels, 12)
    n_wrong = int(min((predicted != labels).sum(), 12))
    viz.plot_predictions(
        displayable(x_test.numpy()[shown], recipe),
        probs[shown],
        labels[shown],
        class_names=classes,
        ncols=6,
        top_k=3,
        title=f"{n_wrong} mistakes first, then correct test images",
        save=path("predictions.png"),
    )
    x_train, y_train = next(iter(DataLoader(train_set, batch_size=4)))  # a training step sees training images
    plot_training_step(model, x_train, y_train, path("graph.png"))  # last: it changes BN running stats

    print(f"saved {', '.join(saved)}")
    print(f"everything is in {os.path.abspath(out)}  (total {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
