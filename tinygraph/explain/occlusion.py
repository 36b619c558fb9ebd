"""Occlusion sensitivity (Zeiler & Fergus 2014): hide one square of the image, see how the score drops.

No gradients: slide a ``window x window`` square of a constant ``fill`` over the image with
step ``stride`` and, for every position, ask the model for the target class's probability.
Where covering the image makes the probability fall, the model was looking.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ._common import batches, check_images, check_logits, check_model, explaining, forward_no_grad, host, resolve_target

__all__ = ["occlusion"]


def _positive_int(value, fn: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: {arg} must be a positive int, got {value!r}")
    return int(value)


def occlusion(model, x, target=None, window: int = 8, stride: int = 4, fill: float = 0.0, batch_size: int = 256):
    """The target's softmax probability with a square of ``fill`` over each position.

    Args:
        model: a ``tg.nn.Module`` returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)``.
        target: int, ``(N,)`` ints, or None for each image's predicted class (on the whole image).
        window: side of the square, in pixels (covers every channel).
        stride: step between positions.
        fill: the value the square is filled with (0 = black for images in [0, 1]).
        batch_size: occluded copies per forward pass (the copies of all images are batched together).

    Returns:
        ``(N, OH, OW)`` probabilities, ``OH = (H - window) // stride + 1`` (same for W):
        entry ``[n, i, j]`` is ``p(target_n | x[n] with rows i*stride ..+window and columns
        j*stride ..+window set to fill)``.
    """
    fn = "occlusion"
    check_model(model, fn)
    data = check_images(x, fn)
    window, stride = _positive_int(window, fn, "window"), _positive_int(stride, fn, "stride")
    batch_size = _positive_int(batch_size, fn, "batch_size")
    n, c, h, w = data.shape
    if window > h or window > w:
        raise ValueError(f"{fn}: window={window} is larger than the images, x of shape {tuple(data.shape)}")
    oh, ow = (h - window) // stride + 1, (w - window) // stride + 1
    # every (image, top, left) to try, image-major so the result reshapes to (N, OH, OW)
    image_index = np.repeat(np.arange(n), oh * ow)
    tops = np.tile(np.repeat(np.arange(oh) * stride, ow), n)
    lefts = np.tile(np.tile(np.arange(ow) * stride, oh), n)

    with explaining(model):
        logits = forward_no_grad(model, data)
        check_logits(logits, fn, n)
        chosen = resolve_target(target, logits, fn)
        probs = np.empty(n * oh * ow)
        for part in batches(len(image_index), batch_size):
            copies = data[image_index[part]].copy()
            for k, (top, left) in enumerate(zip(tops[part], lefts[part])):
                copies[k, :, top : top + window, left : left + window] = fill
            p = host(F.softmax(forward_no_grad(model, copies), dim=1).data)
            probs[part] = p[np.arange(len(copies)), chosen[image_index[part]]]
    return probs.reshape(n, oh, ow)
