"""The embedded dataset: 1,797 handwritten digits, 8x8 pixels, shipped inside tinygraph.

Source: "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository, by E. Alpaydin and C. Kaynak (1998), licensed CC BY 4.0 (this is the
copy scikit-learn distributes).  32x32 bitmaps were counted in 4x4 blocks, so
each pixel is a count 0..16; tinygraph divides by 16 to get values in [0, 1].

The train/test split is fixed and stratified: within each class, in file order,
every 5th image (the 5th, 10th, ...) is a test image.  So about 20% of every
class is held out, and the split never depends on ``tg.manual_seed``.

::

    train = Digits(train=True)                # 1,442 samples: (float32 (1, 8, 8), int label)
    test = Digits(train=False)                # 355 samples
    X, y = load_digits(train=True)            # whole split at once: (1442, 1, 8, 8) float32, (1442,) int64
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
from importlib import resources

import numpy as np

from .dataset import ImageDataset

__all__ = ["Digits", "load_digits", "DIGITS_SHA256"]

DIGITS_FILE = "files/digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
TEST_EVERY = 5  # every 5th image of each class is a test image
PIXEL_MAX = 16  # pixels are counts of ink in a 4x4 block: 0..16


@functools.lru_cache(maxsize=1)
def _read_all() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images as uint8 counts ``(N, 1, 8, 8)`` and labels int64 ``(N,)`` (read-only, cached)."""
    raw = resources.files("tinygraph.data").joinpath(DIGITS_FILE).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise ValueError(
            f"digits: the packaged file tinygraph/data/{DIGITS_FILE} is damaged: sha256 {digest}, "
            f"expected {DIGITS_SHA256}; reinstall tinygraph"
        )
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"digits: expected rows of 64 pixels and a label, got a table of shape {table.shape}")
    images, labels = table[:, :64], table[:, 64]
    images = images.astype(np.uint8).reshape(-1, 1, 8, 8)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def split_indices(labels: np.ndarray, train: bool) -> np.ndarray:
    """Sorted indices of the train (or test) part of the fixed stratified split."""
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)  # this class, in file order
        test[members[TEST_EVERY - 1 :: TEST_EVERY]] = True
    return np.flatnonzero(~test if train else test)


class Digits(ImageDataset):
    """The UCI handwritten digits (8x8, 10 classes), train or test part of the fixed split.

    Args:
        train:     the training part (True) or the held-out test part (False).
        transform: applied to each float32 image ``(1, 8, 8)`` in [0, 1]; a
                   ``tinygraph.data.transforms`` transform gets whole batches.

    ``ds[i]`` is ``(image, label)``: a float32 Tensor ``(1, 8, 8)`` and an int in 0..9.
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, transform=None):
        images, labels = _read_all()
        keep = split_indices(labels, bool(train))
        super().__init__(images[keep], labels[keep], transform=transform, pixel_max=PIXEL_MAX, classes=self.classes)
        self.train = bool(train)


def load_digits(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The whole train (or test) split as arrays: ``X`` float32 ``(N, 1, 8, 8)`` in [0, 1], ``y`` int64 ``(N,)``.

    Wrap them as you like: ``TensorDataset(X, y)``, ``tg.tensor(X)``.
    """
    return Digits(train=train).arrays()
