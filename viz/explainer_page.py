"""``viz.explainer``: one self-contained HTML page that shows how a model turns one image into a prediction.

The page is a single file: HTML, the CSS of ``explainer.css``, the plain JavaScript of
``explainer.js`` and the data, all inline.  It loads nothing (a Content-Security-Policy forbids
every request), so it opens from disk, offline, in any browser, and can be mailed or uploaded.

What the Python side does: run the model once (:mod:`viz.explainer_trace`), then serialise each
column's tensor twice, for two different jobs:

* **for drawing**, every feature map quantised to 8 bits with its own range
  (``value ~= lo + q / 255 * (hi - lo)``), base64-encoded: one byte per pixel, enough for colour;
* **for the numbers**, the exact float32 values, base64-encoded, so that the convolution view's
  dot products, the pooling view's chosen values and every hover read the values tinygraph
  computed.  Exact values are kept while the page stays within ``EXACT_BUDGET`` values; beyond it
  (big images, wide networks) later tensors keep only their 8-bit copy and the page says "~".

Large layers are subsampled for drawing, with a note on the layer: at most ``MAX_MAPS`` maps per
layer and at most ``MAX_SIDE`` pixels per side (every k-th row and column).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np

import tinygraph as tg

from .explainer_trace import FN, layer_params, trace

__all__ = ["explainer", "page_data"]

MAX_MAPS = 32  # maps drawn per layer; the rest are counted in a note
MAX_SIDE = 96  # pixels per side drawn per map; larger maps are drawn every k-th pixel
EXACT_BUDGET = 600_000  # float32 values stored exactly in one page (2.4 MB before base64)
_HERE = Path(__file__).resolve().parent


def _b64(array, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _finite_range(a: np.ndarray) -> tuple[float, float]:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def encode_maps(value: np.ndarray) -> dict:
    """The 8-bit drawing copy of one tensor ``(C, H, W)`` or ``(F,)``.

    Returns ``shape`` (the full shape), ``maps`` (how many are drawn), ``step`` (every step-th
    pixel drawn), ``h``/``w`` (drawn size of each map), ``lo``/``hi`` (each drawn map's range),
    ``range`` (the whole tensor's) and ``q``: base64 of ``maps * h * w`` bytes, map after map,
    row-major.  A vector ``(F,)`` is one map of ``F`` rows and one column.
    """
    shape = list(value.shape)
    maps = value if value.ndim == 3 else value.reshape(1, -1, 1)
    n = min(maps.shape[0], MAX_MAPS)
    step = max(1, math.ceil(max(maps.shape[1], maps.shape[2]) / MAX_SIDE)) if value.ndim == 3 else 1
    drawn = maps[:n, ::step, ::step].astype(np.float64)
    lo = np.array([_finite_range(m)[0] for m in drawn])
    hi = np.array([_finite_range(m)[1] for m in drawn])
    span = np.where(hi > lo, hi - lo, 1.0)[:, None, None]
    q = np.rint((np.nan_to_num(drawn) - lo[:, None, None]) / span * 255).clip(0, 255).astype(np.uint8)
    return {
        "shape": shape,
        "maps": int(n),
        "step": int(step),
        "h": int(drawn.shape[1]),
        "w": int(drawn.shape[2]),
        "lo": lo.tolist(),
        "hi": hi.tolist(),
        "range": list(_finite_range(value)),
        "q": _b64(q, np.uint8),
    }


def _as_image(x, fn: str = FN) -> tg.Tensor:
    """``x: (C, H, W)`` (or a batch of one) as a float32 Tensor ``(1, C, H, W)``."""
    arr = np.asarray(x.detach().numpy() if isinstance(x, tg.Tensor) else x)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"{fn}: x must be one image (C, H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{fn}: x must hold numbers, got dtype {arr.dtype}")
    return tg.tensor(arr[None].astype(np.float32))


def grad_cam_layer(columns):
    """The module Grad-CAM looks at: the last conv, activation, batch norm or block with maps larger than 1x1.

    That is the last convolution stage before the classifier (TinyVGG's last ReLU, a ResNet's last
    block), not a projection shortcut; None when there is no such module.
    """
    kinds = {"conv", "relu", "leaky_relu", "batchnorm", "block_out"}
    for col in reversed(columns):
        name = col.name[: -len(" output")] if col.kind == "block_out" else col.name
        has_maps = col.value.ndim == 3 and col.value.shape[1] * col.value.shape[2] > 1
        is_module = col.module is not None or col.kind == "block_out"  # not a relu() inside a forward
        if col.kind in kinds and has_maps and is_module and ".shortcut" not in name:
            return name
    return None


def _grad_cam(model, x: tg.Tensor, columns, index: int):
    """Class ``index``'s Grad-CAM map ``(H, W)`` and its layer, or ``(None, None)`` without ``tg.explain.grad_cam``."""
    grad_cam = getattr(getattr(tg, "explain", None), "grad_cam", None)
    layer = grad_cam_layer(columns)
    if grad_cam is None or layer is None:
        return None, None
    cam = np.asarray(grad_cam(model, x, layer, target=index))[0]
    return cam.astype(np.float32), layer


def page_data(model, x, classes=None, title=None) -> dict:
    """Everything the page shows, as JSON-ready data (``explainer`` writes it into the HTML).

    ``columns[i]``: ``name``, ``type``, ``kind``, ``source`` (the column this layer read),
    ``block``, ``params`` (weights as base64 float32 where present), ``maps`` (see
    :func:`encode_maps`) and ``exact`` (base64 float32 of the whole tensor, or None).
    """
    xt = _as_image(x)
    tr = trace(model, xt)
    k = tr.logits.size
    if classes is None:
        classes = [str(i) for i in range(k)]
    classes = [str(c) for c in classes]
    if len(classes) != k:
        raise ValueError(f"{FN}: classes has {len(classes)} names but the model outputs {k} logits")
    predicted = int(np.argmax(tr.logits))

    budget = EXACT_BUDGET
    columns = []
    for col in tr.columns:
        exact = None
        if col.value.size <= budget or col.kind == "input":
            exact = _b64(col.value, np.float32)
            budget -= col.value.size
        params = layer_params(col)
        for key in ("weight", "bias"):
            if isinstance(params.get(key), np.ndarray):
                params[key + "_shape"] = list(params[key].shape)
                params[key] = _b64(params[key], np.float32)
        columns.append(
            {
                "name": col.name,
                "type": col.type,
                "kind": col.kind,
                "source": col.source,
                "block": col.block,
                "params": params,
                "maps": encode_maps(col.value),
                "exact": exact,
            }
        )
    cam, cam_layer = _grad_cam(model, xt, tr.columns, predicted)
    return {
        "title": title or f"{type(model).__name__}: how one image becomes a prediction",
        "classes": classes,
        "logits": tr.logits.astype(float).tolist(),
        "logits_b64": _b64(tr.logits, np.float32),
        "predicted": predicted,
        "columns": columns,
        "blocks": [{"name": b.name, "type": b.type, "source": b.source, "columns": b.columns, "skip": b.skip}
                   for b in tr.blocks],
        "gradcam": None if cam is None else {"layer": cam_layer, "maps": encode_maps(cam[None])},
        "limits": {"max_maps": MAX_MAPS, "max_side": MAX_SIDE},
    }


def _inline_json(data) -> str:
    """JSON safe inside ``<script>``: no ``</`` can end the element early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


# Every request (scripts, styles, images, fonts, fetch) is refused; only this page's inline code runs.
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"


def render_html(data: dict) -> str:
    """The whole page: one HTML document with the CSS, the JavaScript and ``data`` inline."""
    css = (_HERE / "explainer.css").read_text(encoding="utf-8")
    js = (_HERE / "explainer.js").read_text(encoding="utf-8")
    title = (data["title"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        f"<title>{title}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        "<noscript>This page draws everything with JavaScript; please enable it.</noscript>\n"
        f"<script type=\"application/json\" id=\"explainer-data\">{_inline_json(data)}</script>\n"
        f"<script>\n{js}\n</script>\n</body>\n</html>\n"
    )


def explainer(model, x, classes=None, save="explainer.html", title=None) -> Path:
    """Write an interactive page that explains ``model``'s prediction for the image ``x``.

    Args:
        model: a ``tg.nn.Module`` that maps ``(1, C, H, W)`` to logits ``(1, K)``, built from
            Conv2d, ReLU/LeakyReLU, Max/Avg/AdaptiveAvgPool2d, BatchNorm2d, Dropout, Flatten,
            Linear, Sequential and residual blocks; other layers appear as labelled boxes.
        x: one image ``(C, H, W)`` (a Tensor or array); 3 channels are shown in colour.
        classes: ``K`` class names for the softmax (default ``"0" ... "K-1"``).
        save: the path of the HTML file (parent folders are created).
        title: the page's heading (default: the model's class name).

    The page: an overview with every layer's maps left to right (lines show which maps feed
    which; a legend and a per-map / per-layer / global colour scale toggle), the predicted class
    and softmax, and, on click, a detail view per layer kind (convolution with its sliding
    window and the numbers, ReLU before/after, pooling windows, batch norm, softmax).  When
    ``tg.explain.grad_cam`` exists the input can be overlaid with the predicted class's
    Grad-CAM map.  The model runs once, in eval mode, without gradients.

    Returns:
        the ``Path`` of the written file.
    """
    html = render_html(page_data(model, x, classes, title))
    path = Path(save)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
