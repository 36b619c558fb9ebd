"""What a class or a channel stands for: synthesised class images and top activating patches."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ._common import figure_and_region, finish, grid_shape, hide_ticks, to_numpy
from .attribution import check_batch, display_image, show_image

__all__ = ["plot_class_visualization", "plot_top_patches"]


def plot_class_visualization(images, class_names=None, histories=None, ax=None, save=None):
    """Images synthesised by gradient ascent on each class's score (``tg.explain.class_visualization``).

    Picture: one panel per class, titled with its name; each image is stretched to its own
    min..max (the values are unbounded unless a clamp was used, and only the pattern matters).
    With ``histories`` a last panel plots each class's logit over the ascent steps (one grey
    line per class): the lines must rise, or the image means nothing.

    Args:
        images: ``(K, C, H, W)``, one per class.
        class_names: K names.
        histories: optional ``(K, steps)`` logits, or a list of K arrays.

    Image panels carry ``gid`` ``"class:<i>"``.
    """
    fn = "plot_class_visualization"
    imgs = check_batch(images, fn, "images", 4)
    names = [str(i) for i in range(len(imgs))] if class_names is None else [str(c) for c in class_names]
    if len(names) != len(imgs):
        raise ValueError(f"{fn}: {len(names)} class_names for {len(imgs)} images")
    panels = len(imgs) + (histories is not None)
    rows, cols = grid_shape(panels, min(panels, 6))
    fig, region = figure_and_region(ax, figsize=(1.9 * cols, 2.0 * rows + 0.4))
    grid = region.add_gridspec(rows, cols, wspace=0.15, hspace=0.35)
    for i, img in enumerate(imgs):
        a = region.add_subplot(grid[divmod(i, cols)])
        lo, hi = img.min(), img.max()
        stretched = (img - lo) / (hi - lo) if hi > lo else np.full(img.shape, 0.5)
        show_image(a, stretched, names[i], gid=f"class:{i}")
    if histories is not None:
        a = region.add_subplot(grid[divmod(len(imgs), cols)])
        for h in histories:
            a.plot(np.asarray(h), lw=0.8, color="0.45")
        a.set_xlabel("step", fontsize=7)
        a.tick_params(labelsize=6)
        a.set_title("its class's logit\n(one line per class)", fontsize=8)
    region.suptitle("Class visualisation: images the network scores highest for each class", fontsize=10)
    return finish(fig, save)


def plot_top_patches(images, patches, title=None, ncols: int = 3, ax=None, save=None):
    """The images that excite one channel most (``tg.explain.top_activating_patches``), patch outlined.

    Picture: one panel per result, strongest first: the whole image, dimmed outside the
    receptive field of the channel's peak position, with that field outlined in yellow;
    the panel title gives the image index and the activation.

    Args:
        images: the ``(N, C, H, W)`` images that were searched.
        patches: the list ``[(image_index, (top, left, height, width), activation), ...]``.
        title: figure title, e.g. ``"features.conv3, channel 5"``.

    Image panels carry ``gid`` ``"patch:<rank>"``.
    """
    fn = "plot_top_patches"
    imgs = check_batch(images, fn, "images", 4)
    if not patches:
        raise ValueError(f"{fn}: patches is empty")
    rows, cols = grid_shape(len(patches), ncols)
    fig, region = figure_and_region(ax, figsize=(2.0 * cols, 2.1 * rows + 0.5))
    grid = region.add_gridspec(rows, cols, wspace=0.1, hspace=0.3)
    for rank, (index, (top, left, height, width), value) in enumerate(patches):
        if not 0 <= index < len(imgs):
            raise ValueError(f"{fn}: patch {rank} names image {index}, but images holds {len(imgs)}")
        a = region.add_subplot(grid[divmod(rank, cols)])
        shown = display_image(imgs[index])
        dim = np.full(shown.shape[:2], 0.35)
        dim[top : top + height, left : left + width] = 1.0
        shown = shown * (dim[..., None] if shown.ndim == 3 else dim)
        im = a.imshow(shown, cmap=None if shown.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
        im.set_gid(f"patch:{rank}")
        a.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, ec="yellow", lw=1.5))
        hide_ticks(a)
        a.set_title(f"#{index}: {value:.3g}", fontsize=8)
    region.suptitle(
        (title + "\n" if title else "") + "top activations; yellow box = receptive field of the peak", fontsize=9
    )
    return finish(fig, save)
