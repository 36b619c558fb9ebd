"""Write interactive explainer pages: how a trained CNN turns one image into a prediction, layer by layer.

    python examples/explainer_page.py                         # train, then pages for a few test images
    python examples/explainer_page.py --weights model.npz     # load trained weights instead of training
    python examples/explainer_page.py --image my_photo.png    # also explain your own picture
    python examples/explainer_page.py --dataset digits        # DigitsCNN on the embedded 8x8 digits

Each page is ONE self-contained HTML file (open it in any browser, offline): every layer's
feature maps left to right, the softmax at the end, and on click the convolution's sliding
window with its numbers, ReLU before/after, pooling windows and softmax's arithmetic.

The default is TinyVGG, CNN Explainer's network, on Shapes (64x64 colour shapes on textured
backgrounds, ``tg.data.Shapes``); ``--dataset digits`` uses DigitsCNN on the embedded 8x8
digits.  Pages are written for ``--count`` test images, the first
misclassified one among them if the model makes any mistake on the test set.  Saved in --out
(default outputs/explainer_page/): ``test_<i>_<label>.html``, ``image.html`` for ``--image``,
and the weights ``model.npz`` after training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph.data import DataLoader, Subset, transforms


# Shapes inputs are centred as train_cnn.py --dataset shapes does (its model.npz works with --weights);
# the digits stay in [0, 1], as train_cnn.py leaves them.
SHAPES_NORMALIZE = transforms.Normalize([0.5] * 3, [0.25] * 3)


def load(dataset: str, limit: int, size: int):
    """``(train set, test set, class names, model, transform applied to every image)``."""
    if dataset == "shapes":
        n = limit or None  # generate only what is used
        train = tg.data.Shapes(train=True, size=size, n=n, transform=SHAPES_NORMALIZE)
        test = tg.data.Shapes(train=False, size=size, n=n, transform=SHAPES_NORMALIZE)
        model = tg.models.TinyVGG(in_channels=3, num_classes=len(train.classes), image_size=size)
        normalize = SHAPES_NORMALIZE
    else:
        train, test = tg.data.Digits(train=True), tg.data.Digits(train=False)
        model = tg.models.DigitsCNN()
        normalize = None
    classes = list(train.classes)
    if limit:
        train = Subset(train, np.arange(min(limit, len(train))))
        test = Subset(test, np.arange(min(limit, len(test))))
    return train, test, classes, model, normalize


def read_picture(path: str, shape: tuple) -> np.ndarray:
    """A PNG or JPEG file as ``shape = (C, H, W)``: colour or grey as the model wants, resized (bilinear)."""
    c, h, w = shape
    try:
        image = tg.data.read_image(path, mode="RGB" if c == 3 else "L")
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"explainer_page.py: {err}")
    return tg.data.transforms.Resize((h, w))(image)


def train(model, train_set, epochs: int):
    loader = DataLoader(train_set, batch_size=32, shuffle=True)
    optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = tg.optim.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    live = sys.stderr.isatty()

    def epoch_line(epoch, history):
        if not live:
            print(f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f}", flush=True)

    tg.fit(
        model, loader, F.cross_entropy, optimizer, epochs, scheduler=scheduler, callbacks=[epoch_line], progress=live
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    parser.add_argument("--weights", help="a model.npz to load instead of training (this script's or train_cnn.py's)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs when no --weights are given")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N train and test images")
    parser.add_argument("--size", type=int, default=64, help="Shapes image size")
    parser.add_argument("--count", type=int, default=3, help="how many test images get a page")
    parser.add_argument("--image", help="a picture file (PNG, JPEG) to explain as well")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "explainer_page"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    tg.manual_seed(args.seed)

    train_set, test_set, classes, model, normalize = load(args.dataset, args.limit, args.size)
    print(f"{args.dataset}: {type(model).__name__}, {len(train_set)} training and {len(test_set)} test images")
    if args.weights:
        model.load_state_dict(tg.load(args.weights))
        print(f"loaded weights from {args.weights}")
    else:
        print(f"training for {args.epochs} epochs (Adam 3e-3, cosine schedule, batch 32)")
        train(model, train_set, args.epochs)
        tg.save(model.state_dict(), os.path.join(args.out, "model.npz"))

    x_test, y_test = next(iter(DataLoader(test_set, batch_size=len(test_set))))
    predicted = tg.predict(model, x_test, output="labels").numpy()
    labels = y_test.numpy()
    wrong = np.flatnonzero(predicted != labels)
    print(f"test accuracy: {100 * np.mean(predicted == labels):.2f}% ({len(wrong)} misclassified of {len(labels)})")
    right = np.flatnonzero(predicted == labels)
    chosen = [int(i) for i in np.concatenate([wrong[:1], right, wrong[1:]])]  # one mistake (if any), then correct ones
    written = []
    for k, i in enumerate(chosen[: args.count]):
        verdict = "correct" if predicted[i] == labels[i] else f"MISCLASSIFIED as {classes[predicted[i]]}"
        name = f"test_{i}_{classes[labels[i]]}.html".replace(" ", "_")
        title = f"{type(model).__name__} on test image {i}: a {classes[labels[i]]} ({verdict})"
        written.append(viz.explainer(model, x_test[i], classes, save=os.path.join(args.out, name), title=title))
        print(f"[{k + 1}/{min(args.count, len(chosen))}] {written[-1]}  ({verdict})", flush=True)
    if args.image:
        x = read_picture(args.image, tuple(x_test.shape[1:]))
        x = normalize(x) if normalize else x
        guess = classes[int(tg.predict(model, x[None], output="labels").numpy()[0])]
        path = viz.explainer(model, x, classes, save=os.path.join(args.out, "image.html"), title=f"{args.image}")
        written.append(path)
        print(f"your image: {path}  (predicted: {guess})")
    sizes = ", ".join(f"{os.path.getsize(p) / 1e6:.2f} MB" for p in written)
    elapsed = time.perf_counter() - started
    print(f"wrote {len(written)} pages ({sizes}) to {os.path.abspath(args.out)} in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
