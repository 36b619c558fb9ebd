"""Datasets, the DataLoader and image transforms (``tg.data``), as in ``torch.utils.data``.

::

    from tinygraph.data import DataLoader, Digits, transforms as T
    train = Digits(train=True, transform=T.RandomCrop(8, padding=1))
    for images, labels in DataLoader(train, batch_size=64, shuffle=True):
        ...   # images: float32 Tensor (64, 1, 8, 8), labels: int64 Tensor (64,)

Datasets: :class:`Digits` (embedded, offline, instant), :class:`MNIST` and
:class:`FashionMNIST` (IDX files from disk or downloaded), :class:`CIFAR10` (its binary
files, from disk or downloaded), :class:`Shapes` (synthetic
colour pictures of 10 shapes, generated offline in seconds), and the building
blocks :class:`TensorDataset`, :class:`ImageDataset`, :class:`Subset`.
:func:`read_image` reads a PNG or JPEG file into a ``(C, H, W)`` float32 Tensor.
"""

from . import transforms
from .cifar import CIFAR10, read_cifar_batch
from .dataset import Dataset, ImageDataset, Subset, TensorDataset, random_split
from .digits import Digits, load_digits
from .images import read_image
from .loader import DataLoader, default_collate
from .mnist import MNIST, DownloadError, FashionMNIST, read_idx
from .shapes import Shapes

__all__ = [
    "Dataset",
    "TensorDataset",
    "ImageDataset",
    "Subset",
    "random_split",
    "DataLoader",
    "default_collate",
    "transforms",
    "Digits",
    "load_digits",
    "MNIST",
    "FashionMNIST",
    "read_idx",
    "DownloadError",
    "Shapes",
    "CIFAR10",
    "read_cifar_batch",
    "read_image",
]
