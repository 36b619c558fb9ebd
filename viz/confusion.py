"""Classification results: the confusion matrix, and a grid of predictions with their probabilities."""

from __future__ import annotations

import numpy as np

from ._common import figure_and_axes, figure_and_region, finish, grid_shape, hide_ticks, minmax01, to_numpy

_NORMALIZE = (False, True, "true", "pred", "all")


def _labels(y, fn: str, arg: str) -> np.ndarray:
    """Class indices from indices ``(N,)`` or from scores/probabilities ``(N, K)`` (their argmax)."""
    a = to_numpy(y, fn, arg)
    if a.ndim == 2:
        a = a.argmax(axis=1)
    if a.ndim != 1:
        raise ValueError(f"{fn}: {arg} must be class indices (N,) or scores (N, K), got shape {a.shape}")
    if a.size and (not np.all(np.equal(np.mod(a, 1), 0)) or a.min() < 0):
        raise ValueError(f"{fn}: {arg} must hold non-negative integer class indices")
    return a.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts ``M[i, j]`` = number of samples of true class ``i`` predicted as class ``j``.

    ``y_true``: (N,) class indices; ``y_pred``: (N,) indices or (N, K) scores (argmax is
    taken). ``num_classes`` defaults to the largest index seen + 1. Returns ``(K, K)`` int64.
    """
    fn = "confusion_matrix"
    t, p = _labels(y_true, fn, "y_true"), _labels(y_pred, fn, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"{fn}: y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    seen = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    k = seen if num_classes is None else int(num_classes)
    if k < seen:
        raise ValueError(f"{fn}: num_classes={k} but the labels go up to {seen - 1}")
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def plot_confusion_matrix(
    y_true,
    y_pred,
    class_names=None,
    normalize=False,
    cmap: str = "Blues",
    title: str | None = None,
    ax=None,
    save=None,
):
    """The confusion matrix as a heat map with the number written in every cell.

    Picture: a square grid, true class down the rows, predicted class along the columns.
    A good classifier is a dark diagonal on a pale background; a dark off-diagonal cell
    (row "3", column "8") says which classes get mixed up and how often. The title gives
    the accuracy (the diagonal's share of all samples).

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted indices, or (N, K) scores/probabilities (argmax is taken).
        class_names: names for the K classes (default ``0 .. K-1``); fixes K.
        normalize: ``False`` shows counts; ``True`` or ``'true'`` divides each row by its
            sum (recall per class); ``'pred'`` divides each column (precision); ``'all'``
            divides by N. Empty rows/columns stay 0.
        cmap: colormap.
        title: axes title (default: accuracy and N).
        ax: axes to draw into.
        save: path to save the figure to.

    The heat map image (``gid`` ``"confusion"``) holds exactly the matrix shown: counts, or
    the normalized fractions.

    Returns:
        the matplotlib Figure.
    """
    if normalize not in _NORMALIZE:
        raise ValueError(f"plot_confusion_matrix: normalize must be one of {_NORMALIZE}, got {normalize!r}")
    k = None if class_names is None else len(class_names)
    counts = confusion_matrix(y_true, y_pred, num_classes=k)
    k = counts.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    n = int(counts.sum())

    if normalize in (True, "true"):
        shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    elif normalize == "pred":
        shown = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)
    elif normalize == "all":
        shown = counts / max(n, 1)
    else:
        shown = counts

    size = min(14.0, max(4.0, 0.55 * k + 2))
    fig, ax = figure_and_axes(ax, figsize=(size + 1, size))
    im = ax.imshow(shown, cmap=cmap, vmin=0, interpolation="nearest")
    im.set_gid("confusion")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction" if normalize else "count")
    if k <= 30:  # numbers in the cells while they still fit
        top = shown.max() if shown.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalize else str(shown[i, j])
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8 if k <= 12 else 6,
                    color="white" if top and shown[i, j] > top / 2 else "black",
                )
    long_names = max(map(len, names), default=0) > 3
    ax.set_xticks(range(k), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(counts) / n if n else float("nan")
    ax.set_title(title or f"confusion matrix: accuracy {acc:.1%} of {n} samples", fontsize=10)
    return finish(fig, save)


def _softmax_rows(a: np.ndarray) -> np.ndarray:
    z = a - a.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _as_images(images: np.ndarray) -> list:
    """(N, H, W), (N, 1, H, W) or (N, 3, H, W) -> list of displayable (H, W) or (H, W, 3) in [0, 1]."""
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    elif images.ndim != 3:
        raise ValueError(
            f"plot_predictions: images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), got shape {images.shape}"
        )
    return [minmax01(im) for im in images]


def plot_predictions(
    images,
    probs,
    labels,
    class_names=None,
    max_images: int = 16,
    ncols: int = 4,
    top_k: int | None = None,
    title: str | None = None,
    ax=None,
    save=None,
):
    """Test images with the network's guess: each image above a bar chart of its class probabilities.

    Picture: a grid of cells. Each cell shows the image, titled ``"pred: 7 (0.93)"`` over
    ``"true: 7"`` in green when the guess is right and red when it is wrong, and below it a
    small bar chart of the softmax probabilities of the classes, the true class's bar in
    green and a wrong predicted class's bar in red, the rest grey. Confident mistakes
    (a tall red bar) are the interesting ones.

    Args:
        images: (N, H, W), (N, 1, H, W) or (N, 3, H, W); each is scaled to its own min..max.
        probs: (N, K) class probabilities. Rows that are not probability distributions
            (negative entries, or not summing to 1) are taken as logits and go through a
            softmax first.
        labels: (N,) true class indices.
        class_names: names for the K classes (default ``0 .. K-1``).
        max_images: draw at most this many (the first ones).
        ncols: cells per row.
        top_k: draw only the k most probable classes in each bar chart (default: all when
            K <= 20, else 10).
        title: figure title.
        ax: draw the grid in the place of this axes.
        save: path to save the figure to.

    Image panels carry ``gid`` ``"image:<i>"``; the bar-chart axes ``"probs:<i>"``, with one
    bar per shown class whose height is its probability.

    Returns:
        the matplotlib Figure.
    """
    fn = "plot_predictions"
    imgs = to_numpy(images, fn, "images")
    p = to_numpy(probs, fn, "probs").astype(np.float64)
    y = _labels(labels, fn, "labels")
    if p.ndim != 2:
        raise ValueError(f"{fn}: probs must be (N, K), got shape {p.shape}")
    if not (imgs.shape[0] == p.shape[0] == y.shape[0]):
        raise ValueError(f"{fn}: images, probs and labels disagree on N: {imgs.shape[0]}, {p.shape[0]}, {y.shape[0]}")
    k = p.shape[1]
    if y.size and y.max() >= k:
        raise ValueError(f"{fn}: a label is {y.max()} but probs has only {k} classes")
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"{fn}: {len(class_names)} class_names for {k} classes")
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        p = _softmax_rows(p)
    n = min(imgs.shape[0], int(max_images))
    if n == 0:
        raise ValueError(f"{fn}: no images to draw")
    shown_imgs = _as_images(imgs[:n])
    top_k = (k if k <= 20 else 10) if top_k is None else max(1, min(int(top_k), k))

    rows, cols = grid_shape(n, ncols)
    fig, region = figure_and_region(ax, figsize=(2.3 * cols, 3.3 * rows))
    grid = region.add_gridspec(rows, cols, hspace=0.45, wspace=0.35)
    for i in range(n):
        cell = grid[divmod(i, cols)].subgridspec(2, 1, height_ratios=[3, 1.2], hspace=0.08)
        pred, true = int(p[i].argmax()), int(y[i])
        ok = pred == true
        a = region.add_subplot(cell[0])
        a.imshow(
            shown_imgs[i], cmap="gray" if shown_imgs[i].ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
        ).set_gid(f"image:{i}")
        hide_ticks(a)
        a.set_title(
            f"pred: {names[pred]} ({p[i, pred]:.2f})\ntrue: {names[true]}", fontsize=8, color="green" if ok else "red"
        )
        b = region.add_subplot(cell[1])
        classes = np.argsort(-p[i], kind="stable")[:top_k] if top_k < k else np.arange(k)
        colors = ["green" if j == true else ("red" if j == pred else "0.6") for j in classes]
        b.bar(range(len(classes)), p[i, classes], color=colors)
        b.set_gid(f"probs:{i}")
        b.set_ylim(0, 1)
        b.set_xticks(
            range(len(classes)),
            [names[j] for j in classes],
            fontsize=6,
            rotation=90 if max(len(names[j]) for j in classes) > 2 else 0,
        )
        b.tick_params(axis="y", labelsize=6)
    if title:
        region.suptitle(title)
    return finish(fig, save)
