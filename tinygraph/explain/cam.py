"""Grad-CAM (Selvaraju et al. 2017): where in the image a convolutional layer found the class.

A late conv layer's output ``A: (N, K, h, w)`` still has a spatial layout, and each channel
``A_k`` is a detector for some part.  The gradient of the target's logit says how much the
score wants each channel: averaged over the positions it gives one weight per channel,

    alpha_k = mean over (i, j) of d logit_target / d A_k[i, j]
    cam     = ReLU( sum_k alpha_k * A_k )                       (h, w)

The ReLU keeps the places that *raise* the score.  The ``(h, w)`` map is upsampled bilinearly
to the image's ``(H, W)`` and divided by its maximum, so 1 is the most important place.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    LayerOutput,
    check_images,
    check_logits,
    check_model,
    explaining,
    find_layer,
    host,
    leaf,
    one_hot,
    resolve_target,
)
from .receptive_box import receptive_box

__all__ = ["grad_cam", "upsample_bilinear"]


def _interpolation_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` matrix of 1-D linear interpolation with half-pixel centres.

    Output pixel ``o`` sits at input coordinate ``(o + 0.5) * n_in / n_out - 0.5`` (clamped to
    the first and last input pixel), as ``align_corners=False`` in PyTorch's ``interpolate``.
    """
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), lo), 1 - frac)
    np.add.at(weights, (np.arange(n_out), hi), frac)
    return weights


def upsample_bilinear(maps: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resize of ``maps: (N, h, w)`` to ``(N, H, W)`` (half-pixel centres, edges clamped)."""
    maps = np.asarray(maps, dtype=np.float64)
    rows = _interpolation_weights(maps.shape[1], size[0])  # (H, h)
    cols = _interpolation_weights(maps.shape[2], size[1])  # (W, w)
    return np.einsum("Hh,nhw,Ww->nHW", rows, maps, cols)


def _centres_of_cells(activation, xt, axis: int) -> np.ndarray:
    """Image coordinate of the receptive-field centre of every cell along ``axis`` (0: rows, 1: columns).

    The centres of the unclipped geometric fields are evenly spaced (one total stride apart); they
    are measured on two cells and extended to every cell.
    """
    n = activation.shape[2 + axis]
    if n == 1:
        return np.array([(xt.shape[2 + axis] - 1) / 2])

    def centre(i):
        box = receptive_box(activation, xt, (i, 0) if axis == 0 else (0, i), "grad_cam", clip=False)
        start, size = box[axis], box[2 + axis]
        return start + (size - 1) / 2

    middle = (n - 1) // 2
    step = centre(middle + 1) - centre(middle)
    return centre(middle) + step * (np.arange(n) - middle)


def _interpolation_at(centres: np.ndarray, n_out: int) -> np.ndarray:
    """``(n_out, len(centres))`` linear interpolation from values at ``centres`` to pixels 0..n_out-1
    (constant beyond the first and last centre)."""
    eye = np.eye(len(centres))
    return np.stack([np.interp(np.arange(n_out), centres, eye[i]) for i in range(len(centres))], axis=1)


def grad_cam(model, x, layer, target=None, align: str = "stretch") -> np.ndarray:
    """Grad-CAM heat maps: which regions of each image the target class's score comes from.

    Args:
        model: a ``tg.nn.Module`` returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)``.
        layer: a submodule of ``model`` returning ``(N, K, h, w)`` (usually the last conv block's
            ReLU), or its dotted name from ``model.named_modules()``.
        target: int, ``(N,)`` ints, or None for each image's predicted class.
        align: how the ``(h, w)`` map is laid on the image.  ``"stretch"`` (the paper's, and
            common libraries'): resize it to ``(H, W)`` with half-pixel centres.  ``"receptive_field"``:
            put each cell at the centre of its receptive field (traced through the recorded graph)
            and interpolate between those centres.  They agree for "same"-padded networks; for a
            network without padding (TinyVGG) the map covers only the middle of the image and
            stretching it shifts border cells outwards by several pixels.

    Returns:
        ``(N, H, W)`` in [0, 1]: ``ReLU(sum_k alpha_k A_k)`` upsampled to the image and divided
        by its maximum; a map that is zero everywhere (no channel raises the score) stays zero.
    """
    fn = "grad_cam"
    if align not in ("stretch", "receptive_field"):
        raise ValueError(f"{fn}: align must be 'stretch' or 'receptive_field', got {align!r}")
    check_model(model, fn)
    data = check_images(x, fn)
    name, module = find_layer(model, layer, fn)
    captured = {}

    def keep_gradient(grad):
        captured["grad"] = host(grad.data).copy()

    with explaining(model), LayerOutput(module, name, fn) as out:
        xt = leaf(data, model)
        logits = model(xt)
        check_logits(logits, fn, data.shape[0])
        activation = out.only(want_ndim=4)
        chosen = resolve_target(target, logits, fn)
        with activation.register_hook(keep_gradient):
            logits.backward(one_hot(chosen, logits))
    a = host(activation.data).astype(np.float64)  # (N, K, h, w)
    grad = captured.get("grad", np.zeros(a.shape))  # no path from the layer to the logits: all zero
    alpha = grad.mean(axis=(2, 3))  # (N, K)
    cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, a), 0)
    if align == "stretch":
        cam = upsample_bilinear(cam, data.shape[2:])
    else:
        rows = _interpolation_at(_centres_of_cells(activation, xt, 0), data.shape[2])
        cols = _interpolation_at(_centres_of_cells(activation, xt, 1), data.shape[3])
        cam = np.einsum("Hh,nhw,Ww->nHW", rows, cam, cols)
    top = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, top, out=np.zeros_like(cam), where=top > 0)
