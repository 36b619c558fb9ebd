"""A 2-D map of a layer's features (``tg.explain.pca`` / ``tsne``), coloured by class, with thumbnails."""

from __future__ import annotations

import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from ._common import figure_and_axes, finish, to_numpy
from .attribution import display_image

__all__ = ["plot_embedding"]


def plot_embedding(points, labels, images=None, class_names=None, thumbnails: int = 40, title=None, seed: int = 0,
                   ax=None, save=None):
    """Points of a 2-D embedding coloured by class, some drawn as their images.

    Picture: a scatter plot, one dot per image, coloured by its class (legend); ``thumbnails``
    of the images, chosen at random (``seed``) and framed in their class's colour, sit at
    their points, so one can see what a cluster holds and which images land in the wrong one.

    Args:
        points: ``(N, 2)`` from ``pca`` or ``tsne``.
        labels: ``(N,)`` class indices.
        images: optional ``(N, C, H, W)`` for the thumbnails.
        class_names: names for the classes.
        thumbnails: how many thumbnails (0: none).

    The scatter collection carries ``gid`` ``"embedding"``.
    """
    fn = "plot_embedding"
    pts = to_numpy(points, fn, "points").astype(np.float64)
    y = to_numpy(labels, fn, "labels").astype(np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{fn}: points must be (N, 2), got shape {pts.shape}")
    if y.shape != (len(pts),):
        raise ValueError(f"{fn}: labels must be ({len(pts)},), got shape {y.shape}")
    k = int(y.max()) + 1 if class_names is None else len(class_names)
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    colours = [f"C{i % 10}" for i in range(k)] if k <= 10 else [_hsv_colour(i, k) for i in range(k)]
    fig, ax = figure_and_axes(ax, figsize=(7.5, 6.5))
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=[colours[c] for c in y], s=12, alpha=0.7, linewidths=0)
    sc.set_gid("embedding")
    for c in range(k):
        ax.scatter([], [], color=colours[c], s=25, label=names[c])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="class")
    if images is not None and thumbnails:
        imgs = to_numpy(images, fn, "images")
        if len(imgs) != len(pts):
            raise ValueError(f"{fn}: {len(imgs)} images for {len(pts)} points")
        chosen = np.random.default_rng(seed).choice(len(pts), size=min(int(thumbnails), len(pts)), replace=False)
        zoom = 24 / max(imgs.shape[2:])  # about 24 screen pixels per thumbnail
        for i in chosen:
            shown = display_image(imgs[i])
            box = OffsetImage(shown, zoom=zoom, cmap=None if shown.ndim == 3 else "gray")
            box.get_children()[0].set_clim(0, 1)
            ab = AnnotationBbox(box, pts[i], frameon=True, pad=0.1, bboxprops={"edgecolor": colours[y[i]], "lw": 1.5})
            ax.add_artist(ab)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "Feature embedding (nearby points: images the network sees as alike)", fontsize=10)
    return finish(fig, save)


def _hsv_colour(i: int, k: int):
    """Colour i of k evenly spaced hues, for more classes than the 10-colour cycle has."""
    from matplotlib import colormaps

    return colormaps["hsv"](i / k)
