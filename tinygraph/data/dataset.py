"""Datasets: indexable collections of samples, as in ``torch.utils.data``.

A dataset answers ``len(ds)`` and ``ds[i]``.  The classes here also keep their
samples in NumPy arrays and can hand the :class:`~tinygraph.data.DataLoader` a
whole batch at once (``_get_batch(indices)``): one fancy-indexing gather instead
of a Python loop over items, which is what keeps data loading cheap next to a
training step.

* :class:`TensorDataset` -- rows of equally long arrays/Tensors (``X``, ``y``).
* :class:`ImageDataset`  -- images ``(N, C, H, W)`` + integer labels, with a
  transform; the base of ``Digits``, ``MNIST`` and ``FashionMNIST``.
* :class:`Subset`, :func:`random_split` -- views on part of a dataset.
"""

from __future__ import annotations

import operator

import numpy as np

from ..random import default_generator
from ..tensor import Tensor, _to_array

__all__ = ["Dataset", "TensorDataset", "ImageDataset", "Subset", "random_split", "apply_transform"]


class Dataset:
    """Base class: subclasses define ``__getitem__(i)`` (one sample) and ``__len__()``.

    A subclass whose samples live in arrays may also define
    ``_get_batch(indices) -> tuple of arrays`` (each with a leading batch axis);
    the DataLoader then uses it instead of calling ``__getitem__`` per sample.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


def _check_index(index, length: int, name: str) -> int:
    """``index`` as a non-negative int in ``[0, length)``; negative counts from the end."""
    if isinstance(index, Tensor):
        index = index.data.item() if index.data.size == 1 else index
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"{name}: index must be an int, got {type(index).__name__}") from None
    if not -length <= i < length:
        # IndexError (not ValueError): ``for sample in dataset`` relies on it to stop.
        raise IndexError(f"{name}: index {i} is out of range for a dataset of length {length}")
    return i + length if i < 0 else i


def _check_batch_indices(indices, length: int, name: str) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu" or indices.ndim != 1:
        raise TypeError(f"{name}: batch indices must be a 1-D int array, got {indices.dtype} of shape {indices.shape}")
    if indices.size and (indices.min() < -length or indices.max() >= length):
        bad = indices[(indices < -length) | (indices >= length)][0]
        raise IndexError(f"{name}: index {bad} is out of range for a dataset of length {length}")
    return indices


class TensorDataset(Dataset):
    """Samples are rows of equally long Tensors/arrays: ``ds[i] == (X[i], y[i])``.

    Args:
        *tensors: Tensors, NumPy arrays or nested lists, all with the same length
            along their first axis (e.g. ``X: (N, C, H, W)`` and ``y: (N,)``).

    ``ds[i]`` is a tuple of Tensors (one row of each input); the DataLoader
    gathers whole batches with index arrays.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        arrays = []
        for k, t in enumerate(tensors):
            array = t.data if isinstance(t, Tensor) else _to_array(t)
            if array.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {k} is a scalar; each tensor needs a first (sample) axis")
            arrays.append(array)
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) != 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(
                f"TensorDataset: all tensors must have the same length along axis 0 (the samples), got shapes {shapes}"
            )
        self.arrays = tuple(arrays)

    @property
    def tensors(self) -> tuple:
        """The stored data as Tensors (sharing memory)."""
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index) -> tuple:
        i = _check_index(index, len(self), "TensorDataset")
        return tuple(Tensor._wrap(np.asarray(a[i])) for a in self.arrays)

    def _get_batch(self, indices) -> tuple:
        indices = _check_batch_indices(indices, len(self), "TensorDataset")
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self) -> str:
        return f"TensorDataset({', '.join(str(a.shape) for a in self.arrays)})"


def apply_transform(transform, images: np.ndarray) -> np.ndarray:
    """Apply ``transform`` to a batch ``images: (N, C, H, W)``.

    Transforms that declare ``batched = True`` (all of ``tinygraph.data.transforms``)
    see the whole batch in one call; any other callable is applied to each image
    ``(C, H, W)`` in turn and the results are stacked.
    """
    if transform is None:
        return images
    if getattr(transform, "batched", False):
        return _as_array(transform(images))
    return np.stack([_as_array(transform(image)) for image in images]) if len(images) else images


def _as_array(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class ImageDataset(Dataset):
    """Labelled images kept as raw pixel values, converted to float32 on access.

    Args:
        images:    ``(N, C, H, W)`` array of pixel values (e.g. uint8 0..255).
        targets:   ``(N,)`` integer class labels.
        transform: callable applied to each float32 image ``(C, H, W)`` (or, if it
                   has ``batched = True``, to a whole batch ``(N, C, H, W)``).
        pixel_max: the value of a white pixel; images are divided by it, so the
                   transform sees values in ``[0, 1]`` (255 for MNIST, 16 for digits).
        classes:   optional class names, ``classes[label]``.

    ``ds[i]`` is ``(image, label)``: a float32 Tensor ``(C, H, W)`` and an int.
    Attributes ``data`` (raw images) and ``targets`` mirror torchvision's.
    """

    def __init__(self, images, targets, transform=None, pixel_max: float = 1.0, classes=None):
        images = images.data if isinstance(images, Tensor) else np.asarray(images)
        targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
        name = type(self).__name__
        if images.ndim != 4:
            raise ValueError(f"{name}: images must have shape (N, C, H, W), got {images.shape}")
        if targets.ndim != 1 or targets.dtype.kind not in "iu":
            raise ValueError(
                f"{name}: targets must be a 1-D int array of shape (N,), got {targets.dtype} {targets.shape}"
            )
        if images.shape[0] != targets.shape[0]:
            raise ValueError(f"{name}: {images.shape[0]} images but {targets.shape[0]} targets")
        if not pixel_max > 0:
            raise ValueError(f"{name}: pixel_max must be positive, got {pixel_max}")
        if transform is not None and not callable(transform):
            raise TypeError(f"{name}: transform must be callable, got {type(transform).__name__}")
        self.data = images
        self.targets = targets.astype(np.int64, copy=False)
        self.transform = transform
        self.pixel_max = float(pixel_max)
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return self.data.shape[0]

    def _to_float(self, pixels: np.ndarray) -> np.ndarray:
        return pixels.astype(np.float32) / np.float32(self.pixel_max)

    def __getitem__(self, index):
        i = _check_index(index, len(self), type(self).__name__)
        image = self._to_float(self.data[i])
        if self.transform is not None:
            image = self.transform(image)
        image = image if isinstance(image, Tensor) else Tensor._wrap(np.asarray(image))
        return image, int(self.targets[i])

    def _get_batch(self, indices) -> tuple:
        indices = _check_batch_indices(indices, len(self), type(self).__name__)
        images = apply_transform(self.transform, self._to_float(self.data[indices]))
        return images, self.targets[indices]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole dataset as ``(X, y)``: float32 ``(N, C, H, W)`` in [0, 1] (no transform) and int64 ``(N,)``."""
        return self._to_float(self.data), self.targets.copy()

    def __repr__(self) -> str:
        shape = tuple(self.data.shape[1:])
        return f"{type(self).__name__}(n={len(self)}, image shape={shape}, transform={self.transform!r})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        indices = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise ValueError(f"Subset: indices must be a 1-D sequence of ints, got {indices.dtype} {indices.shape}")
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices[(indices < 0) | (indices >= n)][0]
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of length {n}")
        self.dataset = dataset
        self.indices = indices.astype(np.int64)
        if hasattr(dataset, "_get_batch"):
            # Batch from the parent in one gather, so the DataLoader's fast path
            # applies to a Subset exactly when it applies to its parent.
            self._get_batch = self._get_parent_batch

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self), "Subset")])]

    def _get_parent_batch(self, indices) -> tuple:
        indices = _check_batch_indices(indices, len(self), "Subset")
        return self.dataset._get_batch(self.indices[indices])


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1
    (rounded down, the remainder spread one by one over the first parts).  The
    permutation comes from ``generator``, else from ``tg.manual_seed``'s generator.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * f)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} samples")
    order = (generator if generator is not None else default_generator()).permutation(n)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
