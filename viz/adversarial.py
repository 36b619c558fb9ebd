"""An adversarial example (``tg.explain.fgsm``): the image, the tiny change, and the wrong answer."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._common import DIVERGING, figure_and_region, finish, hide_ticks
from .attribution import check_batch, show_image

__all__ = ["plot_adversarial"]


def _softmax_if_logits(p: np.ndarray) -> np.ndarray:
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        e = np.exp(p - p.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return p


def plot_adversarial(images, adversarial, probs, adversarial_probs, class_names=None, ax=None, save=None):
    """One row per image: the clean image, the perturbation ``x_adv - x`` magnified, the adversarial
    image, and the two predictions' probabilities.

    Picture: panel 1 the image titled with its prediction and probability; panel 2 the
    perturbation on a diverging colormap centred on 0 and stretched to its own size (so a
    change of 0.01 is drawn in full colour: the picture magnifies it; red: pixel made brighter,
    blue: darker, white: unchanged; summed over channels for colour images), with a colourbar
    in the perturbation's true units; panel 3 the adversarial image titled with its prediction; panel 4
    bars of both probability vectors over the classes (grey clean, red adversarial), so the
    flip from one class to another can be read off.

    Args:
        images, adversarial: ``(N, C, H, W)``.
        probs, adversarial_probs: ``(N, K)`` probabilities (logits are put through a softmax).
        class_names: K names.

    The perturbation panels carry ``gid`` ``"perturbation:<i>"``.
    """
    fn = "plot_adversarial"
    x = check_batch(images, fn, "images", 4)
    xa = check_batch(adversarial, fn, "adversarial", 4, len(x))
    p = _softmax_if_logits(check_batch(probs, fn, "probs", 2, len(x)).astype(np.float64))
    pa = _softmax_if_logits(check_batch(adversarial_probs, fn, "adversarial_probs", 2, len(x)).astype(np.float64))
    if xa.shape != x.shape:
        raise ValueError(f"{fn}: adversarial has shape {xa.shape}, images {x.shape}")
    k = p.shape[1]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{fn}: {len(names)} class_names for {k} classes")
    delta = (xa - x).sum(axis=1)
    limit = float(np.abs(xa - x).max())
    delta_limit = float(np.abs(delta).max()) or 1.0

    fig, region = figure_and_region(ax, figsize=(11.5, 2.1 * len(x) + 0.5))
    # image | perturbation | its colourbar | room for the bar's labels | adversarial | gap | probabilities
    grid = region.add_gridspec(len(x), 7, width_ratios=[1, 1, 0.06, 0.45, 1, 0.3, 1.9], wspace=0.1, hspace=0.45)
    for i in range(len(x)):
        a, b = int(p[i].argmax()), int(pa[i].argmax())
        show_image(region.add_subplot(grid[i, 0]), x[i], f"clean: {names[a]} ({p[i, a]:.2f})")
        pert = region.add_subplot(grid[i, 1])
        im = pert.imshow(delta[i], cmap=DIVERGING, vmin=-delta_limit, vmax=delta_limit, interpolation="nearest")
        im.set_gid(f"perturbation:{i}")
        hide_ticks(pert)
        pert.set_title(f"perturbation (largest {limit:.3g})", fontsize=8)
        bar = region.colorbar(im, cax=region.add_subplot(grid[i, 2]))
        bar.ax.tick_params(labelsize=7)
        bar.locator = MaxNLocator(4, symmetric=True)
        bar.update_ticks()
        bar.set_label("x_adv - x\n(sum of channels)" if x.shape[1] > 1 else "x_adv - x", fontsize=7)
        wrong = "red" if a != b else "black"
        show_image(region.add_subplot(grid[i, 4]), xa[i], None)
        region.axes[-1].set_title(f"adversarial: {names[b]} ({pa[i, b]:.2f})", fontsize=8, color=wrong)
        bars = region.add_subplot(grid[i, 6])
        pos = np.arange(k)
        bars.bar(pos - 0.2, p[i], width=0.4, color="0.6", label="clean")
        bars.bar(pos + 0.2, pa[i], width=0.4, color="tab:red", label="adversarial")
        bars.set_ylim(0, 1)
        bars.set_xticks(pos)
        bars.set_xticklabels(names, rotation=60, fontsize=7, ha="right")
        bars.tick_params(axis="y", labelsize=7)
        bars.set_ylabel("probability", fontsize=7)
        if i == 0:
            bars.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    region.suptitle("Adversarial example (FGSM, Goodfellow et al. 2015): a small change, a different answer", fontsize=10)
    return finish(fig, save)
