"""Image transforms, named as in ``torchvision.transforms``.

Each transform takes one image ``(C, H, W)`` or a batch ``(N, C, H, W)`` (a
NumPy array or a Tensor) and returns the same kind.  On a batch, random
transforms draw independently for every image, so applying a transform to a
batch gives the same distribution as applying it image by image -- but in one
vectorised NumPy call.  That is why they carry ``batched = True``: datasets and
the DataLoader then hand them whole batches.

Random draws come from ``generator`` if one is given, else from the generator
that ``tg.manual_seed`` seeds (looked up at each call, since ``manual_seed``
replaces it), so augmentation is reproducible.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..random import default_generator
from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Lambda"]


def _unwrap(x, name: str) -> tuple[np.ndarray, bool]:
    """``(array, was_tensor)``; checks the image/batch layout."""
    was_tensor = isinstance(x, Tensor)
    array = x.data if was_tensor else np.asarray(x)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected an image (C, H, W) or a batch of images (N, C, H, W), got shape {array.shape}"
        )
    if array.dtype.kind != "f":
        array = array.astype(np.float32)
    return array, was_tensor


def _wrap(array: np.ndarray, was_tensor: bool):
    return Tensor._wrap(array) if was_tensor else array


def _generator(generator) -> np.random.Generator:
    return generator if generator is not None else default_generator()


class Compose:
    """Apply ``transforms`` in order.  Batched when every one of them is."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")
        self.batched = all(getattr(t, "batched", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class Lambda:
    """Wrap a function as a transform; say ``batched=True`` if it handles ``(N, C, H, W)`` too."""

    def __init__(self, fn, batched: bool = False):
        if not callable(fn):
            raise TypeError(f"Lambda: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.batched = batched

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    """A picture as a float32 Tensor ``(C, H, W)`` with values in [0, 1].

    Accepts ``(H, W)`` (grey) or ``(H, W, C)`` arrays, as images are usually
    stored; unsigned-int pixels are divided by their maximum (255 for uint8),
    float pixels are kept as they are.  One image at a time (not batched).
    """

    batched = False

    def __call__(self, picture) -> Tensor:
        array = picture.data if isinstance(picture, Tensor) else np.asarray(picture)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"ToTensor: expected a picture (H, W) or (H, W, C), got shape {array.shape}")
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        if chw.dtype.kind == "u":
            chw = chw.astype(np.float32) / np.float32(np.iinfo(chw.dtype).max)
        elif chw.dtype.kind != "f":
            chw = chw.astype(np.float32)
        return Tensor._wrap(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel ``c``.

    Args:
        mean, std: one number per channel (or one number for all channels).
    """

    batched = True

    def __init__(self, mean, std):
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if mean.ndim != 1 or std.ndim != 1 or mean.shape != std.shape:
            raise ValueError(
                f"Normalize: mean and std need one value per channel, got shapes {mean.shape}, {std.shape}"
            )
        if not np.all(std > 0):
            raise ValueError(f"Normalize: std must be positive, got {std.tolist()}")
        self.mean, self.std = mean, std

    def __call__(self, x):
        array, was_tensor = _unwrap(x, "Normalize")
        channels = array.shape[-3]
        if self.mean.size not in (1, channels):
            raise ValueError(
                f"Normalize: {self.mean.size} mean/std values for an image with {channels} channels "
                f"(shape {array.shape})"
            )
        # Computed in the image's own dtype: float32 stays float32, float64 stays float64.
        mean = self.mean.astype(array.dtype).reshape(-1, 1, 1)
        std = self.std.astype(array.dtype).reshape(-1, 1, 1)
        return _wrap((array - mean) / std, was_tensor)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Pad every side with ``padding`` zeros, then cut out a random ``size`` window.

    Args:
        size:      output ``(h, w)``, or one int for a square.
        padding:   zeros added on each side first (the classic CIFAR/MNIST recipe:
                   ``RandomCrop(28, padding=2)`` shifts the digit by up to 2 pixels).
        generator: a ``np.random.Generator``; default: ``tg.manual_seed``'s.

    Shapes: ``(C, H, W) -> (C, h, w)`` and ``(N, C, H, W) -> (N, C, h, w)``,
    with an independent window for each image of a batch.
    """

    batched = True

    def __init__(self, size, padding: int = 0, generator=None):
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0 for s in size):
            raise ValueError(f"RandomCrop: size must be a positive int or (h, w), got {size}")
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int, got {padding!r}")
        self.size = (int(size[0]), int(size[1]))
        self.padding = int(padding)
        self.generator = generator

    def __call__(self, x):
        array, was_tensor = _unwrap(x, "RandomCrop")
        single = array.ndim == 3
        batch = array[None] if single else array
        n, _, height, width = batch.shape
        p = self.padding
        h, w = self.size
        if h > height + 2 * p or w > width + 2 * p:
            raise ValueError(
                f"RandomCrop: crop size {self.size} is larger than the padded image "
                f"({height + 2 * p}, {width + 2 * p}) (input {array.shape}, padding {p})"
            )
        padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p))) if p else batch
        rng = _generator(self.generator)
        top = rng.integers(0, height + 2 * p - h + 1, size=n)
        left = rng.integers(0, width + 2 * p - w + 1, size=n)
        # windows[i, :, t, s] is the (h, w) window of image i whose top-left corner is (t, s)
        # (a view, nothing copied); pick window (top[i], left[i]) for every image i at once.
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))
        out = windows[np.arange(n), :, top, left]
        return _wrap(out[0] if single else out, was_tensor)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror an image left-right with probability ``p`` (each image of a batch on its own)."""

    batched = True

    def __init__(self, p: float = 0.5, generator=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator = generator

    def __call__(self, x):
        array, was_tensor = _unwrap(x, "RandomHorizontalFlip")
        single = array.ndim == 3
        batch = array[None] if single else array
        flip = _generator(self.generator).random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return _wrap(out[0] if single else out, was_tensor)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


# ------------------------------------------------------------------ resizing and cropping
__all__ += ["Resize", "CenterCrop", "resize_weights"]


def _size_pair(size, name: str) -> tuple[int, int] | int:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        return int(size[0]), int(size[1])
    raise ValueError(f"{name}: size must be a positive int or a pair (h, w) of positive ints, got {size!r}")


def resize_weights(n_in: int, n_out: int, antialias: bool = True) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix that resizes one axis: output pixel ``i`` = ``weights[i] @ input``.

    Pixels are squares: output pixel ``i`` has its centre at input coordinate
    ``(i + 0.5) * scale`` with ``scale = n_in / n_out`` (so corners map to corners).  Each
    input pixel ``j`` (centre ``j + 0.5``) gets the triangle ("tent") weight
    ``max(0, 1 - |j + 0.5 - centre| / width)``, and each row is divided by its sum.
    ``width = 1`` is bilinear interpolation (at the borders the edge pixel is repeated);
    when shrinking with ``antialias``, ``width = scale`` stretches the tent over every input
    pixel the output pixel covers, so no input pixel is skipped (no aliasing), as PIL and
    ``torchvision``'s ``antialias=True`` do.
    """
    scale = n_in / n_out
    width = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(n_out) + 0.5) * scale
    inputs = np.arange(n_in) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(inputs[None, :] - centres[:, None]) / width)
    empty = weights.sum(axis=1) == 0  # only when a centre falls outside every tent: use the nearest pixel
    weights[empty, np.clip(np.floor(centres[empty]).astype(int), 0, n_in - 1)] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


class Resize:
    """Bilinear resize of ``(C, H, W)`` images or ``(N, C, H, W)`` batches, antialiased when shrinking.

    Args:
        size:      ``(h, w)``; or one int: the shorter side becomes ``size`` and the other
                   keeps the aspect ratio (rounded down), as in torchvision.
        antialias: when shrinking, average over every input pixel an output pixel covers
                   (see :func:`resize_weights`); False samples only the nearest 2x2 pixels.

    Computed as two matrix products, ``rows @ image @ cols.T``, in the image's float dtype.
    """

    batched = True

    def __init__(self, size, antialias: bool = True):
        self.size = _size_pair(size, "Resize")
        self.antialias = bool(antialias)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if not isinstance(self.size, int):
            return self.size
        if height <= width:
            return self.size, max(1, int(self.size * width / height))
        return max(1, int(self.size * height / width)), self.size

    def __call__(self, x):
        array, was_tensor = _unwrap(x, "Resize")
        height, width = array.shape[-2:]
        if height == 0 or width == 0:
            raise ValueError(f"Resize: cannot resize an empty image of shape {array.shape}")
        h, w = self.output_size(height, width)
        rows = resize_weights(height, h, self.antialias).astype(array.dtype)
        cols = resize_weights(width, w, self.antialias).astype(array.dtype)
        out = np.einsum("ih,...hw,jw->...ij", rows, array, cols, optimize=True)
        return _wrap(np.ascontiguousarray(out), was_tensor)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, antialias={self.antialias})"


class CenterCrop:
    """Cut the central ``size`` window out of ``(C, H, W)`` images or ``(N, C, H, W)`` batches.

    Args:
        size: ``(h, w)``, or one int for a square.  An odd leftover puts the extra pixel
              at the bottom/right.
    """

    batched = True

    def __init__(self, size):
        size = _size_pair(size, "CenterCrop")
        self.size = (size, size) if isinstance(size, int) else size

    def __call__(self, x):
        array, was_tensor = _unwrap(x, "CenterCrop")
        height, width = array.shape[-2:]
        h, w = self.size
        if h > height or w > width:
            raise ValueError(
                f"CenterCrop: crop size {self.size} is larger than the image ({height}, {width}) "
                f"(input shape {array.shape}); Resize it first"
            )
        top, left = (height - h) // 2, (width - w) // 2
        return _wrap(np.ascontiguousarray(array[..., top : top + h, left : left + w]), was_tensor)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"
