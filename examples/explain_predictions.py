"""Train a small CNN, then ask it what it looks at: every "visualizing and understanding" method.

    python examples/explain_predictions.py                     # TinyVGG on Shapes (colour, with masks)
    python examples/explain_predictions.py --dataset digits    # DigitsCNN on the embedded 8x8 digits
    python examples/explain_predictions.py --epochs 1 --train 500 --out /tmp/explain

After training, for a few test images it saves (to --out, default outputs/explain_predictions/):

    saliency.png            |d score / d pixel|, max over channels (Simonyan et al. 2014)
    grad_cam.png            Grad-CAM heat maps over the images (Selvaraju et al. 2017), object outlined;
                            each cell placed at its receptive field's centre (align="receptive_field")
    occlusion.png           the class probability with a square hidden at each place (Zeiler & Fergus 2014)
    guided_backprop.png     guided backpropagation (Springenberg et al. 2015)
    adversarial.png         FGSM adversarial examples (Goodfellow et al. 2015)
    class_visualization.png an image synthesised for every class by gradient ascent
    top_patches.png         the test images that excite one channel of the last conv layer most
    embedding.png           t-SNE map of the last feature layer over test images, with thumbnails

and prints two measured facts over the test set: Grad-CAM's pointing game (how often the
map's maximum falls on the object: the shape's mask for Shapes, the ink for digits) and the
accuracy against FGSM's eps.
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


class Standardize(nn.Module):
    """``(x - mean) / std`` per channel, inside the model: the explanations then speak about the
    [0, 1] pixels a person sees (and FGSM's clamp to [0, 1] is the real image range)."""

    def __init__(self, images: np.ndarray):
        super().__init__()
        self.register_buffer("mean", tg.tensor(images.mean(axis=(0, 2, 3), keepdims=True)))
        self.register_buffer("std", tg.tensor(images.std(axis=(0, 2, 3), keepdims=True) + 1e-6))

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
        model = tg.models.TinyVGG(in_channels=3, num_classes=len(train.classes), hidden=args.hidden, image_size=args.size)
        return x, y, xt, yt, test.masks, train.classes, model, "features.relu2_2"  # the last ReLU, 10x10 at 32
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


def pointing_game(model, x, labels, masks, layer, align, tolerance=0, batch_size=100) -> float:
    """Share of images whose Grad-CAM maximum (for the true class) lies on the object, or within
    ``tolerance`` pixels of it (Zhang et al. 2016 allow 15 pixels on 224x224 images)."""
    masks = grow(masks, tolerance) if tolerance else masks
    hits = 0
    for i in range(0, len(x), batch_size):
        cams = explain.grad_cam(model, x[i : i + batch_size], layer, labels[i : i + batch_size], align=align)
        peaks = cams.reshape(len(cams), -1).argmax(axis=1)
        hits += int(masks[i : i + batch_size].reshape(len(cams), -1)[np.arange(len(cams)), peaks].sum())
    return hits / len(x)


def accuracy(model, x, y) -> float:
    return float((tg.predict(model, x, output="labels").numpy() == y).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    parser.add_argument("--size", type=int, default=32, help="Shapes image side (default 32)")
    parser.add_argument("--hidden", type=int, default=16, help="TinyVGG channels (default 16)")
    parser.add_argument("--train", type=int, default=4000, help="training images (default 4000)")
    parser.add_argument("--test", type=int, default=500, help="test images (default 500)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
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

    x, y, xt, yt, masks, classes, net, last_relu = load(args)
    model = nn.Sequential(OrderedDict([("standardize", Standardize(x)), ("net", net)]))
    cam_layer = "net." + last_relu
    print(f"{args.dataset}: {len(x)} training and {len(xt)} test images of shape {x.shape[1:]}; {type(net).__name__}")
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=args.seed)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    tg.fit(model, loader, F.cross_entropy, optimizer, args.epochs, scheduler=scheduler, progress=sys.stderr.isatty(),
           callbacks=[lambda epoch, h: print(f"epoch {epoch + 1}/{args.epochs}: train loss {h.train_loss[-1]:.3f}, "
                                             f"train accuracy {100 * h.train_acc[-1]:.1f}%", flush=True)])
    print(f"test accuracy: {100 * accuracy(model, xt, yt):.1f}% ({time.perf_counter() - started:.0f} s so far)")

    # ---- pictures for the first few test images
    shown, labels, names = xt[: args.show], yt[: args.show], list(classes)
    probs = tg.predict(model, shown).numpy()
    titles = [f"{names[t]}: p={p[t]:.2f}" for t, p in zip(labels, probs)]
    viz.plot_saliency(shown, explain.saliency(model, shown, labels), titles, save=out / "saliency.png")
    cams = explain.grad_cam(model, shown, cam_layer, labels, align="receptive_field")
    viz.plot_grad_cam(shown, cams, titles, masks=masks[: args.show], save=out / "grad_cam.png")
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
    print(f"Grad-CAM pointing game over {len(xt)} test images (true class): the map's maximum on {what},")
    print(f"and within {tolerance} px of it (Zhang et al.'s 15 px at 224x224, scaled)")
    first_block = cam_layer.replace("relu2_2", "relu1_2") if args.dataset == "shapes" else "net.features.relu2"
    for layer, align in ((cam_layer, "receptive_field"), (cam_layer, "stretch"), (first_block, "receptive_field")):
        on = pointing_game(model, xt, yt, masks, layer, align)
        near = pointing_game(model, xt, yt, masks, layer, align, tolerance)
        print(f"  {layer:<22} align={align:<16} on: {100 * on:5.1f}%   within {tolerance} px: {100 * near:5.1f}%")
    print("FGSM (clamped to [0, 1]): accuracy on the test set")
    for eps in args.eps:
        adv = np.concatenate([explain.fgsm(model, xt[i : i + 250], yt[i : i + 250], eps, clamp=(0, 1)).numpy()
                              for i in range(0, len(xt), 250)])
        print(f"  eps = {eps:<6g} accuracy {100 * accuracy(model, adv, yt):5.1f}%")
    print(f"pictures saved in {out.resolve()} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
