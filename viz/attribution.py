"""Where the network looks: saliency, Grad-CAM, occlusion and guided-backprop maps over the images.

The maps come from ``tinygraph.explain``; these functions only draw them.  Every picture puts
the input images in the top row and what the method says about each below it, one column per
image.  Colour rule: non-negative maps (saliency, Grad-CAM, probabilities) on a sequential
colormap from 0, signed maps (guided gradients) on a diverging one centred on 0, one shared
scale per figure with a colourbar saying what the colours mean.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ._common import DIVERGING, SEQUENTIAL, figure_and_region, finish, hide_ticks, to_numpy

__all__ = ["plot_saliency", "plot_grad_cam", "plot_occlusion", "plot_guided_backprop"]


# ------------------------------------------------------------------ shared helpers
def check_batch(x, fn: str, arg: str, ndim: int, n: int | None = None) -> np.ndarray:
    a = to_numpy(x, fn, arg)
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {arg} must have {ndim} dims, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{fn}: {arg} holds {a.shape[0]} items but images holds {n}")
    return a


def display_image(img: np.ndarray):
    """``(C, H, W)`` -> what ``imshow`` draws: RGB ``(H, W, 3)`` for 3 channels, ``(H, W)`` otherwise.

    Values already in [0, 1] are shown as they are; other ranges are stretched to [0, 1].
    """
    img = np.asarray(img, dtype=np.float64)
    shown = img.transpose(1, 2, 0) if img.shape[0] == 3 else img[0]
    if shown.min() < 0 or shown.max() > 1:
        lo, hi = shown.min(), shown.max()
        shown = (shown - lo) / (hi - lo) if hi > lo else np.full(shown.shape, 0.5)
    return shown


def show_image(ax, img: np.ndarray, title: str | None = None, gid: str | None = None):
    shown = display_image(img)
    im = ax.imshow(shown, cmap=None if shown.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
    if gid:
        im.set_gid(gid)
    hide_ticks(ax)
    if title:
        ax.set_title(title, fontsize=8)
    return im


def titles_for(titles, n: int, fn: str) -> list:
    if titles is None:
        return [f"image {i}" for i in range(n)]
    titles = [str(t) for t in titles]
    if len(titles) != n:
        raise ValueError(f"{fn}: {len(titles)} titles for {n} images")
    return titles


def image_rows(n_rows: int, n: int, ax, width_per: float = 1.7, row_height: float = 1.8):
    """A grid of ``n_rows x n`` image panels plus a thin colourbar beside the last row (the maps):
    ``(fig, region, axes, cbar_ax)``."""
    fig, region = figure_and_region(ax, figsize=(width_per * n + 1.0, row_height * n_rows + 0.4))
    grid = region.add_gridspec(n_rows, n + 1, width_ratios=[1] * n + [0.08], wspace=0.08, hspace=0.25)
    axes = np.array([[region.add_subplot(grid[r, c]) for c in range(n)] for r in range(n_rows)])
    return fig, region, axes, region.add_subplot(grid[n_rows - 1, n])


# ------------------------------------------------------------------ saliency
def plot_saliency(images, saliency, titles=None, ax=None, save=None):
    """Images above their saliency maps (``tg.explain.saliency``): bright where a pixel moves the score most.

    Picture: row 1 the images; row 2 ``max_c |d logit / d x|`` on a sequential colormap from 0,
    one scale for all images (so a faint map means a weak gradient), with a colourbar.

    Args:
        images: ``(N, C, H, W)`` (or one ``(C, H, W)``).
        saliency: ``(N, H, W)`` non-negative maps.
        titles: one title per image (e.g. ``"cat (p=0.91)"``).
        ax, save: draw in the place of ``ax``; save to this path.

    Map panels carry ``gid`` ``"saliency:<i>"``.
    """
    fn = "plot_saliency"
    imgs = check_batch(images, fn, "images", 4)
    maps = check_batch(saliency, fn, "saliency", 3, len(imgs))
    if maps.min() < 0:
        raise ValueError(f"{fn}: saliency must be non-negative (|gradient|), got a minimum of {maps.min():.3g}")
    fig, region, axes, cax = image_rows(2, len(imgs), ax)
    top = float(maps.max()) or 1.0
    for i, t in enumerate(titles_for(titles, len(imgs), fn)):
        show_image(axes[0, i], imgs[i], t)
        im = axes[1, i].imshow(maps[i], cmap=SEQUENTIAL, vmin=0, vmax=top, interpolation="nearest")
        im.set_gid(f"saliency:{i}")
        hide_ticks(axes[1, i])
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("saliency", fontsize=8)
    region.colorbar(im, cax=cax).set_label("|d logit / d pixel|\n(max over channels)", fontsize=8)
    region.suptitle("Saliency (Simonyan et al. 2014): gradient of the class score", fontsize=10)
    return finish(fig, save)


# ------------------------------------------------------------------ Grad-CAM
def plot_grad_cam(images, cams, titles=None, masks=None, alpha: float = 0.5, ax=None, save=None):
    """Images with their Grad-CAM heat maps (``tg.explain.grad_cam``) laid over them.

    Picture: row 1 the images; row 2 the same images under the heat map (0..1, sequential,
    ``alpha`` opaque) with a colourbar; a white cross marks each map's maximum.  With
    ``masks`` the object's outline is drawn in white too, so one can see whether the maximum
    falls inside the object (the "pointing game").

    Args:
        images: ``(N, C, H, W)``.
        cams: ``(N, H, W)`` in [0, 1].
        titles: one per image.
        masks: optional ``(N, H, W)`` booleans, the object's pixels.
        alpha: opacity of the heat map.

    Heat-map panels carry ``gid`` ``"grad_cam:<i>"``.
    """
    fn = "plot_grad_cam"
    imgs = check_batch(images, fn, "images", 4)
    maps = check_batch(cams, fn, "cams", 3, len(imgs))
    if masks is not None:
        masks = check_batch(masks, fn, "masks", 3, len(imgs)).astype(bool)
    fig, region, axes, cax = image_rows(2, len(imgs), ax)
    for i, t in enumerate(titles_for(titles, len(imgs), fn)):
        show_image(axes[0, i], imgs[i], t)
        show_image(axes[1, i], imgs[i])
        im = axes[1, i].imshow(maps[i], cmap=SEQUENTIAL, vmin=0, vmax=1, alpha=alpha, interpolation="bilinear")
        im.set_gid(f"grad_cam:{i}")
        r, c = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
        axes[1, i].plot(c, r, marker="x", color="white", markersize=8, mew=2)
        if masks is not None:
            axes[1, i].contour(masks[i], levels=[0.5], colors="white", linewidths=1)
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("Grad-CAM", fontsize=8)
    bar = region.colorbar(im, cax=cax)
    bar.solids.set_alpha(1)
    bar.set_label("Grad-CAM\n(1 = most important)", fontsize=8)
    outline = ", white outline = the object" if masks is not None else ""
    region.suptitle(f"Grad-CAM (Selvaraju et al. 2017): x = the map's maximum{outline}", fontsize=10)
    return finish(fig, save)


# ------------------------------------------------------------------ occlusion
def plot_occlusion(images, maps, window: int, stride: int, titles=None, baseline=None, ax=None, save=None):
    """Occlusion maps (``tg.explain.occlusion``): the class probability with a square hidden at each place.

    Picture: row 1 the images, with the occluding square drawn at the top-left position to
    show its size; row 2 the probability map, each cell drawn where the square's centre was
    (so it lines up with the image), on a sequential 0..1 scale with a colourbar.  Dark cells
    are where hiding the image destroyed the prediction: what the model looked at.

    Args:
        images: ``(N, C, H, W)``.
        maps: ``(N, OH, OW)`` probabilities.
        window, stride: the values given to ``occlusion``.
        titles: one per image.
        baseline: optional ``(N,)`` probabilities with nothing hidden, shown in the map titles.

    Map panels carry ``gid`` ``"occlusion:<i>"``.
    """
    fn = "plot_occlusion"
    imgs = check_batch(images, fn, "images", 4)
    probs = check_batch(maps, fn, "maps", 3, len(imgs))
    h, w = imgs.shape[2:]
    oh, ow = probs.shape[1:]
    if (oh - 1) * stride + window > h or (ow - 1) * stride + window > w:
        raise ValueError(f"{fn}: maps of size {(oh, ow)} do not fit images {(h, w)} with window={window}, stride={stride}")
    fig, region, axes, cax = image_rows(2, len(imgs), ax)
    # cell (i, j) is centred on the square's centre: row i*stride + (window-1)/2
    first = (window - 1) / 2
    extent = (first - stride / 2, first + (ow - 0.5) * stride, first + (oh - 0.5) * stride, first - stride / 2)
    for i, t in enumerate(titles_for(titles, len(imgs), fn)):
        show_image(axes[0, i], imgs[i], t)
        axes[0, i].add_patch(Rectangle((-0.5, -0.5), window, window, fill=False, ec="red", lw=1.5))
        im = axes[1, i].imshow(probs[i], cmap=SEQUENTIAL, vmin=0, vmax=1, extent=extent, interpolation="nearest")
        im.set_gid(f"occlusion:{i}")
        axes[1, i].set_xlim(-0.5, w - 0.5)
        axes[1, i].set_ylim(h - 0.5, -0.5)
        hide_ticks(axes[1, i])
        if baseline is not None:
            axes[1, i].set_title(f"nothing hidden: {float(np.asarray(baseline)[i]):.2f}", fontsize=8)
    axes[0, 0].set_ylabel("image (red: square)", fontsize=8)
    axes[1, 0].set_ylabel("p(class), square here", fontsize=8)
    region.colorbar(im, cax=cax).set_label("p(class) with the\nsquare hidden there", fontsize=8)
    region.suptitle(f"Occlusion (Zeiler & Fergus 2014): {window}x{window} square, stride {stride}", fontsize=10)
    return finish(fig, save)


# ------------------------------------------------------------------ guided backprop
def plot_guided_backprop(images, gradients, titles=None, ax=None, save=None):
    """Guided-backprop gradients (``tg.explain.guided_backprop``): the pixels that speak for the class.

    Picture: row 1 the images; for colour images row 2 shows the gradient as a colour image,
    mid-grey = 0 and every channel on the same symmetric scale (a reddish pixel: raising its
    red raises the score); the last row shows the gradient summed over channels on a
    diverging colormap centred on 0 (red: raising the pixel raises the score, blue: lowers
    it), one scale for all images, with a colourbar.

    Args:
        images: ``(N, C, H, W)``.
        gradients: ``(N, C, H, W)``.

    Summed-map panels carry ``gid`` ``"guided:<i>"``.
    """
    fn = "plot_guided_backprop"
    imgs = check_batch(images, fn, "images", 4)
    grads = check_batch(gradients, fn, "gradients", 4, len(imgs))
    if grads.shape[1:] != imgs.shape[1:]:
        raise ValueError(f"{fn}: gradients have shape {grads.shape[1:]} per image, images {imgs.shape[1:]}")
    colour = grads.shape[1] == 3
    rows = 3 if colour else 2
    fig, region, axes, cax = image_rows(rows, len(imgs), ax)
    summed = grads.sum(axis=1)
    limit = float(np.abs(summed).max()) or 1.0
    colour_limit = float(np.abs(grads).max()) or 1.0
    for i, t in enumerate(titles_for(titles, len(imgs), fn)):
        show_image(axes[0, i], imgs[i], t)
        if colour:
            axes[1, i].imshow(np.clip(0.5 + grads[i].transpose(1, 2, 0) / (2 * colour_limit), 0, 1))
            hide_ticks(axes[1, i])
        im = axes[-1, i].imshow(summed[i], cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
        im.set_gid(f"guided:{i}")
        hide_ticks(axes[-1, i])
    axes[0, 0].set_ylabel("image", fontsize=8)
    if colour:
        axes[1, 0].set_ylabel("per channel\n(grey = 0)", fontsize=8)
    axes[-1, 0].set_ylabel("sum over channels", fontsize=8)
    region.colorbar(im, cax=cax).set_label("guided gradient\nof the class score", fontsize=8)
    region.suptitle("Guided backpropagation (Springenberg et al. 2015)", fontsize=10)
    return finish(fig, save)
