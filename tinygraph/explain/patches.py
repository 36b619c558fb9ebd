"""Top activating patches (Zeiler & Fergus 2014): the image regions that excite one channel most.

For every image, find where channel ``c`` of a layer fires most; rank the images by that
peak; for the best ``k``, cut out the position's receptive field (the pixels the activation
can depend on).  Shown side by side, the patches say what the channel detects.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    LayerOutput,
    batches,
    check_images,
    check_model,
    explaining,
    find_layer,
    forward_no_grad,
    host,
    leaf,
)
from .receptive_box import receptive_box

__all__ = ["top_activating_patches"]


def top_activating_patches(model, layer, channel: int, images, k: int = 9, batch_size: int = 256) -> list:
    """The ``k`` images whose peak activation of ``layer``'s ``channel`` is highest, with its receptive field.

    Args:
        model: a ``tg.nn.Module``.
        layer: a submodule of ``model`` returning ``(N, K, h, w)``, or its dotted name.
        channel: which of the K channels.
        images: ``(N, C, H, W)`` Tensor or array to search.
        k: how many patches (at most N; one per image, the image's strongest position).

    Returns:
        a list of ``(image_index, (top, left, height, width), activation)``, strongest first;
        the box is the receptive field of the peak position, clipped to the image, so
        ``images[i, :, top:top+height, left:left+width]`` is the patch.  Ties keep image order.
    """
    fn = "top_activating_patches"
    check_model(model, fn)
    data = check_images(images, fn, "images")
    name, module = find_layer(model, layer, fn)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{fn}: k must be a positive int, got {k!r}")
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
        raise TypeError(f"{fn}: channel must be an int, got {channel!r}")
    peaks, where = np.empty(len(data)), np.empty(len(data), dtype=np.int64)
    with explaining(model):
        # one image run with the graph recorded gives the layer's geometry (the same for every image)
        probe = leaf(data[:1], model)
        with LayerOutput(module, name, fn) as out:
            model(probe)
        probe_map = out.only(want_ndim=4)
        if not 0 <= channel < probe_map.shape[1]:
            raise ValueError(f"{fn}: channel={channel} is out of range: layer {name!r} has {probe_map.shape[1]} channels")
        width = probe_map.shape[3]
        for part in batches(len(data), batch_size):
            with LayerOutput(module, name, fn) as out:
                forward_no_grad(model, data[part])
            acts = host(out.only(want_ndim=4).data)[:, channel].reshape(part.stop - part.start, -1)
            where[part] = acts.argmax(axis=1)  # the first maximum in row-major order
            peaks[part] = acts.max(axis=1)
        order = np.argsort(-peaks, kind="stable")[: min(int(k), len(data))]
        return [
            (int(n), receptive_box(probe_map, probe, divmod(int(where[n]), width), fn), float(peaks[n])) for n in order
        ]
