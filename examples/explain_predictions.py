"""Train a small CNN, then ask it what it looks at: every "visualizing and understanding" method.

    python examples/explain_predictions.py                     # TinyVGG on 64x64 Shapes (colour, with masks)
    python examples/explain_predictions.py --weights outputs/explain_predictions/model.npz   # no training
    python examples/explain_predictions.py --padding 1         # TinyVGG with 'same' convolutions
    python examples/explain_predictions.py --dataset digits    # DigitsCNN on the embedded 8x8 digits
    python examples/explain_predictions.py --epochs 1 --train 500 --out /tmp/explain

It trains with train_cnn.py's recipe (Adam, cosine schedule; for Shapes 15,000 images, 3 epochs,
inputs centred on 0.5 with std 0.25, done by the model's first layer so that the explanations
speak about [0, 1] pixels) and saves the weights as model.npz. After training, for a few test
images it saves (to --out, default outputs/explain_predictions/):

    saliency.png            |d score / d pixel|, max over channels (Simonyan et al. 2014)
    grad_cam.png            Grad-CAM heat maps over the images (Selvaraju et al. 2017), object outlined:
                            at the last convolution's output (before its ReLU), each cell placed at its
                            receptive field's centre (align="receptive_field")
    occlusion.png           the class probability with a square hidden at each place (Zeiler & Fergus 2014)
    guided_backprop.png     guided backpropagation (Springenberg et al. 2015)
    adversarial.png         FGSM adversarial examples (Goodfellow et al. 2015)
    class_visualization.png an image synthesised for every class by gradient ascent
    top_patches.png         the test images that excite one channel of the last conv layer most
    embedding.png           t-SNE map of the last feature layer over test images, with thumbnails

and prints two measured facts over the test set: Grad-CAM's pointing game (how often the
map's maximum falls on the object: the shape's mask for Shapes, the ink for digits; over all
test images and over those classified correctly, at the last conv block's ReLU and convolution
and at the first block) and the accuracy against FGSM's eps.
"""

import argparse
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

import tinygraph as tg
import tinygraph.functional as F
import viz
from tinygraph import explain, nn, optim
from tinygraph.data import DataLoader, Digits, TensorDataset
from train_cnn import RECIPES  # the same recipes as train_cnn.py (batch, lr, normalisation); examples/ is on sys.path


class Standardize(nn.Module):
    """``(x - mean) / std`` per channel, inside the model: the explanations then speak about the
    [0, 1] pixels a person sees (and FGSM's clamp to [0, 1] is the real image range)."""

    def __init__(self, mean, std, channels: int):
        super().__init__()
        self.register_buffer("mean", tg.tensor(np.broadcast_to(np.float32(mean), (channels,)).reshape(1, -1, 1, 1)))
        self.register_buffer("std", tg.tensor(np.broadcast_to(np.float32(std), (channels,)).reshape(1, -1, 1, 1)))

    def forward(self, x):
        return (x - self.mean) / self.std


def load(args):
    """``(x_train, y_train, x_test, y_test, masks_test, classes, net, cam_layer)``; images in [0, 1]."""
    if args.dataset == "shapes":
        if not hasattr(tg.data, "Shapes") or not hasattr(tg.models, "TinyVGG"):
            sys.exit("explain_predictions.py: this tinygraph has no Shapes dataset / TinyVGG yet; use --dataset digits")
        train = tg.data.Shapes(train=True, size=args.size, n=args.train)
        test = tg.data.Shapes(train=False, size=args.size, n=args.test, return_masks=True)
        x, y = train.arrays()
        xt, yt = test.arrays()
        model = tg.models.TinyVGG(in_channels=3, num_classes=len(train.classes), hidden=args.hidden, image_size=args.size,
                                  padding=args.padding)
        return x, y, xt, yt, test.masks, train.classes, model, "features.relu2_2"  # the last ReLU: 26x26 at 64 (32x32 padded)
    x, y = Digits(train=True).arrays()
    xt, yt = Digits(train=False).arrays()
    x, y, xt, yt = x[: args.train], y[: args.train], xt[: args.test], yt[: args.test]
    masks = xt[:, 0] > 0.5  # no object masks for digits: the ink stands in for the object
    return x, y, xt, yt, masks, Digits.classes, tg.models.DigitsCNN(), "features.relu3"


def grow(masks: np.ndarray, radius: int) -> np.ndarray:
    """The masks widened by ``radius`` pixels (a disc), for the pointing game's tolerance."""
    out = masks.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                shifted = np.roll(masks, (dy, dx), axis=(1, 2))
                if dy > 0:  # np.roll wraps around: blank what came in from the other side
                    shifted[:, :dy] = False
                elif dy < 0:
                    shifted[:, dy:] = False
                if dx > 0:
                    shifted[:, :, :dx] = False
                elif dx < 0:
                    shifted[:, :, dx:] = False
                out |= shifted
    return out


def cam_peaks(model, x, labels, layer, align, batch_size=100) -> np.ndarray:
    """``(N,)`` flat index (row * W + column) of each image's Grad-CAM maximum for its true class."""
    peaks = [explain.grad_cam(model, x[i : i + batch_size], layer, labels[i : i + batch_size], align=align)
             for i in range(0, len(x), batch_size)]
    return np.concatenate([cams.reshape(len(cams), -1).argmax(axis=1) for cams in peaks])


def pointing_game(peaks: np.ndarray, masks: np.ndarray) -> float:
    """Share of images whose map maximum ``peaks`` (flat indices) lies on the object ``masks`` (N, H, W)."""
    return float(masks.reshape(len(masks), -1)[np.arange(len(masks)), peaks].mean()) if len(masks) else float("nan")


def layer_before(model, name: str) -> str:
    """The dotted name of the module just before ``name`` in its Sequential: a ReLU's convolution
    (or batch norm), whose signed output Grad-CAM can weigh too."""
    names = [n for n, _ in model.named_modules() if n.rsplit(".", 1)[0] == name.rsplit(".", 1)[0] and n != name.rsplit(".", 1)[0]]
    return names[names.index(name) - 1]


def accuracy(model, x, y) -> float:
    return float((tg.predict(model, x, output="labels").numpy() == y).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    parser.add_argument("--size", type=int, default=64, help="Shapes image side (default 64)")
    parser.add_argument("--hidden", type=int, default=10, help="TinyVGG channels (default 10)")
    parser.add_argument("--padding", type=int, choices=(0, 1), default=0,
                        help="TinyVGG's convolutions: 0 = unpadded (CNN Explainer's, default), 1 = 'same'")
    parser.add_argument("--train", type=int, help="training images (default: the recipe's, 15000 for Shapes; all digits)")
    parser.add_argument("--test", type=int, default=2000, help="test images (default 2000, all of Shapes' test split)")
    parser.add_argument("--epochs", type=int, help="passes over the training set (default: the recipe's, 3 for Shapes)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default: train_cnn.py's recipe)")
    parser.add_argument("--weights", help="load this model.npz (saved by an earlier run with the same settings) "
                                          "instead of training")
    parser.add_argument("--show", type=int, default=5, help="test images drawn in each picture (default 5)")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02, 0.05])
    parser.add_argument("--vis-steps", type=int, default=150, help="class visualisation ascent steps")
    parser.add_argument("--tsne-points", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/explain_predictions")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tg.manual_seed(args.seed)
    started = time.perf_counter()

    recipe = RECIPES[args.dataset]
    args.train = args.train or recipe.get("train_size")  # None: every digit
    args.epochs = recipe["epochs"] if args.epochs is None else args.epochs
    x, y, xt, yt, masks, classes, net, last_relu = load(args)
    standardize = Standardize(recipe.get("mean", 0.0), recipe.get("std", 1.0), channels=x.shape[1])
    model = nn.Sequential(OrderedDict([("standardize", standardize), ("net", net)]))
    cam_layer = "net." + last_relu
    print(f"{args.dataset}: {len(x)} training and {len(xt)} test images of shape {x.shape[1:]}; {type(net).__name__}")
    if args.weights:
        model.load_state_dict(tg.load(args.weights))
        print(f"weights loaded from {args.weights}")
    else:
        lr, batch_size = args.lr or recipe["lr"], recipe["batch_size"]
        print(f"training for {args.epochs} epochs: Adam(lr={lr:g}), batch {batch_size}, cosine schedule (train_cnn.py's recipe)")
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=args.seed)
        optimizer = optim.Adam(model.parameters(), lr=lr)
        scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
        tg.fit(model, loader, F.cross_entropy, optimizer, args.epochs, scheduler=scheduler, progress=sys.stderr.isatty(),
               callbacks=[lambda epoch, h: print(f"epoch {epoch + 1}/{args.epochs}: train loss {h.train_loss[-1]:.3f}, "
                                                 f"train accuracy {100 * h.train_acc[-1]:.1f}%", flush=True)])
        tg.save(model.state_dict(), out / "model.npz")
        print(f"weights saved to {out / 'model.npz'} (reuse them with --weights)")
    predicted = tg.predict(model, xt, output="labels").numpy()
    correct = predicted == yt
    print(f"test accuracy: {100 * correct.mean():.1f}% ({time.perf_counter() - started:.0f} s so far)")

    # ---- pictures for the first few test images
    shown, labels, names = xt[: args.show], yt[: args.show], list(classes)
    probs = tg.predict(model, shown).numpy()
    titles = [f"{names[t]}: p={p[t]:.2f}" for t, p in zip(labels, probs)]
    viz.plot_saliency(shown, explain.saliency(model, shown, labels), titles, save=out / "saliency.png")
    # the last convolution's output (before its ReLU): of the layers measured below, its maximum lands on the object most
    cam_conv = layer_before(model, cam_layer)
    cams = explain.grad_cam(model, shown, cam_conv, labels, align="receptive_field")
    figure = viz.plot_grad_cam(shown, cams, titles, masks=masks[: args.show])
    figure.suptitle(f"Grad-CAM at {cam_conv} (true class); white cross: the map's maximum")
    figure.savefig(out / "grad_cam.png", bbox_inches="tight")
    window = max(2, x.shape[-1] // 6)
    occ = explain.occlusion(model, shown, labels, window=window, stride=max(1, window // 2))
    viz.plot_occlusion(shown, occ, window, max(1, window // 2), titles, baseline=probs[np.arange(len(labels)), labels],
                       save=out / "occlusion.png")
    viz.plot_guided_backprop(shown, explain.guided_backprop(model, shown, labels), titles,
                             save=out / "guided_backprop.png")
    positive = sorted(e for e in args.eps if e > 0) or [0.02]
    eps_shown = positive[len(positive) // 2]  # a middle eps: small enough to be hard to see
    adv = explain.fgsm(model, shown[:3], labels[:3], eps_shown, clamp=(0, 1))
    viz.plot_adversarial(shown[:3], adv, probs[:3], tg.predict(model, adv).numpy(), names, save=out / "adversarial.png")

    synthesised = [explain.class_visualization(model, c, x.shape[1:], steps=args.vis_steps, lr=0.05, clamp=(0, 1),
                                               jitter=max(1, x.shape[-1] // 16), seed=args.seed)
                   for c in range(len(names))]
    viz.plot_class_visualization(np.stack([s.image for s in synthesised]), names,
                                 histories=[s.history for s in synthesised], save=out / "class_visualization.png")

    # the channel whose peak response differs most between test images: a selective detector
    acts = viz.capture_activations(model, tg.tensor(xt[:200]), [cam_layer])[cam_layer][1]
    channel = int(acts.max(axis=(2, 3)).std(axis=0).argmax())
    patches = explain.top_activating_patches(model, cam_layer, channel, xt, k=9)
    viz.plot_top_patches(xt, patches, title=f"{cam_layer}, channel {channel}", save=out / "top_patches.png")

    n_points = min(args.tsne_points, len(xt))
    feats = explain.features(model, "net.classifier.flatten", xt[:n_points])
    points = explain.tsne(explain.pca(feats, k=min(50, feats.shape[1])), perplexity=min(30, n_points // 4),
                          steps=400, seed=args.seed)
    viz.plot_embedding(points, yt[:n_points], xt[:n_points], names, save=out / "embedding.png")
    near = explain.nearest_neighbors(feats, 0, 5)
    print(f"nearest neighbours of test image 0 ({names[yt[0]]}) in feature space: "
          + ", ".join(f"{i} ({names[yt[i]]})" for i in near))

    # ---- two measured facts over the test set
    what = "the shape's mask" if args.dataset == "shapes" else "the ink (pixels > 0.5)"
    tolerance = max(1, round(15 * x.shape[-1] / 224))
    print(f"Grad-CAM pointing game over {len(xt)} test images (true class): the map's maximum on {what}, and")
    print(f"within {tolerance} px of it (Zhang et al.'s 15 px at 224x224, scaled); all images, then the "
          f"{int(correct.sum())} classified correctly")
    first_block = cam_layer.replace("relu2_2", "relu1_2") if args.dataset == "shapes" else "net.features.relu2"
    rows = [(cam_layer, "receptive_field"), (layer_before(model, cam_layer), "receptive_field"),
            (cam_layer, "stretch"), (first_block, "receptive_field")]
    grown = grow(masks, tolerance)
    for layer, align in rows:
        peaks = cam_peaks(model, xt, yt, layer, align)
        scores = [pointing_game(peaks[keep], m[keep]) for keep in (slice(None), correct) for m in (masks, grown)]
        print(f"  {layer:<22} align={align:<16} all: on {100 * scores[0]:5.1f}%, within {tolerance} px "
              f"{100 * scores[1]:5.1f}%   correct: on {100 * scores[2]:5.1f}%, within {tolerance} px {100 * scores[3]:5.1f}%")
    print("FGSM (clamped to [0, 1]): accuracy on the test set")
    for eps in args.eps:
        adv = np.concatenate([explain.fgsm(model, xt[i : i + 250], yt[i : i + 250], eps, clamp=(0, 1)).numpy()
                              for i in range(0, len(xt), 250)])
        print(f"  eps = {eps:<6g} accuracy {100 * accuracy(model, adv, yt):5.1f}%")
    print(f"pictures saved in {out.resolve()} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
