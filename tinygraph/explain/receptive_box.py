"""The receptive field of one feature-map position, traced through the recorded graph.

The graph is data: every node knows its op, its parameters and its inputs.  Walking back
from a feature map to the image, each spatial op maps a range of output rows to the range of
input rows it reads (the same for columns):

    conv2d / pooling:   rows a..b  <-  a*stride - pad  ..  b*stride - pad + dilation*(kernel-1),
                        less the taps that fall in the padding
    adaptive avg pool:  row i      <-  floor(i*H/OH) .. ceil((i+1)*H/OH) - 1
    pad:                rows a..b  <-  a - before .. b - before
    same-size ops (ReLU, batch norm, add, ...): unchanged; a broadcast axis of size 1 reads row 0

Where paths join (a residual block) the ranges are merged.  The result is the geometric
receptive field: every pixel the position *could* depend on, whatever the ReLUs did.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import _topological_order
from ..functional.conv import Conv2d
from ..functional.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ..ops.shape import ConstantPad

__all__ = ["receptive_box"]


def _window(lo: int, hi: int, kernel: int, stride: int, pad: int, dilation: int, size: int, clip: bool):
    """First and last input row that output rows ``lo..hi`` read, leaving out the padding.

    Row ``o`` reads ``o*stride - pad + dilation*t`` for taps ``t = 0..kernel-1``; taps that land
    in the padding read nothing (with dilation, the last real row read may be before the edge).
    """
    taps = np.arange(lo, hi + 1)[:, None] * stride - pad + dilation * np.arange(kernel)[None, :]
    real = taps[(taps >= 0) & (taps < size)] if clip else taps
    return (int(real.min()), int(real.max())) if real.size else None


def _through(node, box, parent, fn: str, clip: bool = True):
    """The ``((row_lo, row_hi), (col_lo, col_hi))`` of ``parent`` that ``box`` of the node's output reads,
    or None when it reads only padding."""
    p, sizes = node.params, parent.shape[-2:]
    if isinstance(node, (Conv2d, MaxPool2d, AvgPool2d)):
        if parent is not node.inputs[0]:  # a computed weight or bias: not part of the image's field
            return None
        kernel = node.inputs[1].shape[2:] if isinstance(node, Conv2d) else p["kernel_size"]
        dilation = p.get("dilation", (1, 1))
        rows, cols = (
            _window(*box[a], kernel[a], p["stride"][a], p["padding"][a], dilation[a], sizes[a], clip) for a in range(2)
        )
        return None if rows is None or cols is None else (rows, cols)
    if isinstance(node, AdaptiveAvgPool2d):
        outs = p["out_size"]
        return tuple(
            (box[a][0] * sizes[a] // outs[a], math.ceil((box[a][1] + 1) * sizes[a] / outs[a]) - 1) for a in range(2)
        )
    if isinstance(node, ConstantPad):
        before = [w[0] for w in p["widths"][-2:]]
        shifted = [(box[a][0] - before[a], box[a][1] - before[a]) for a in range(2)]
        if clip:
            shifted = [(max(lo, 0), min(hi, sizes[a] - 1)) for a, (lo, hi) in enumerate(shifted)]
        return None if any(lo > hi for lo, hi in shifted) else tuple(shifted)
    out_shape, in_shape = node.output_shape, parent.shape
    if parent.ndim == len(out_shape) >= 2:
        result = []
        for a in (-2, -1):
            if in_shape[a] == out_shape[a]:
                result.append(box[a])
            elif in_shape[a] == 1:  # broadcast along this axis
                result.append((0, 0))
            else:
                break
        else:
            return tuple(result)
    raise ValueError(
        f"{fn}: cannot trace the receptive field back through op {node.name} "
        f"(input shape {tuple(in_shape)}, output shape {tuple(out_shape)}); only convolutions, pooling, "
        "padding and ops that keep the spatial size are understood"
    )


def receptive_box(feature_map, image, position: tuple, fn: str = "receptive_box", clip: bool = True) -> tuple:
    """``(top, left, height, width)`` of the pixels of ``image`` that ``feature_map[..., i, j]`` reads.

    ``feature_map`` must have been computed from the leaf tensor ``image: (N, C, H, W)`` with
    graph recording on (``image.requires_grad``).  The box is clipped to the image: taps that
    fall in a layer's padding read nothing.  ``clip=False`` gives the unclipped geometric window
    instead (it may start before the image), whose centre is where the cell "sits" on the image.
    """
    i, j = position
    boxes = {}  # id(node) or id(leaf) -> ((row_lo, row_hi), (col_lo, col_hi))
    if feature_map._ctx is None:
        if feature_map is not image:
            raise ValueError(f"{fn}: the feature map was not computed from the image")
        rows, cols = (i, i), (j, j)
    else:
        boxes[id(feature_map._ctx)] = ((i, i), (j, j))
        for node in _topological_order(feature_map):
            box = boxes.pop(id(node), None)
            if box is None:
                continue
            for parent, needs in zip(node.inputs, node.needs_input_grad):
                if not needs or (parent._ctx is None and parent is not image):  # weights, biases, ...
                    continue
                through = _through(node, box, parent, fn, clip)
                if through is None:
                    continue
                r, c = through
                key = id(parent) if parent._ctx is None else id(parent._ctx)
                if key in boxes:  # two paths meet: take the hull
                    (r0, r1), (c0, c1) = boxes[key]
                    r, c = (min(r[0], r0), max(r[1], r1)), (min(c[0], c0), max(c[1], c1))
                boxes[key] = (r, c)
        if id(image) not in boxes:
            raise ValueError(f"{fn}: position {position} of the feature map reads no pixel of the image")
        rows, cols = boxes[id(image)]
    h, w = image.shape[-2:]
    top, bottom = (max(rows[0], 0), min(rows[1], h - 1)) if clip else rows
    left, right = (max(cols[0], 0), min(cols[1], w - 1)) if clip else cols
    return int(top), int(left), int(bottom - top + 1), int(right - left + 1)
