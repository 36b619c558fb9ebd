"""DataLoader: iterate over a dataset in (shuffled) mini-batches of Tensors.

::

    loader = DataLoader(Digits(train=True), batch_size=64, shuffle=True, seed=0)
    for images, labels in loader:      # images: float32 (64, 1, 8, 8), labels: int64 (64,)
        ...

Shuffling is reproducible: with ``seed=`` the loader owns a private generator
(epoch k gets the k-th permutation it draws); without it, permutations come
from the generator that ``tg.manual_seed`` seeds.  ``state_dict()`` saves the
private generator so a resumed run draws the same permutations.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..random import default_generator
from ..tensor import Tensor, get_default_dtype

__all__ = ["DataLoader", "default_collate"]


def default_collate(samples: list):
    """Stack a list of samples into one batch, structure preserved.

    Tensors and arrays are stacked along a new first axis; ints become an int64
    Tensor, floats one of the default float dtype, bools a bool Tensor; tuples,
    lists and dicts are collated field by field; strings stay a list.
    """
    first = samples[0]
    if isinstance(first, (Tensor, np.ndarray)):
        arrays = [s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: cannot stack samples of different shapes {sorted(shapes)}")
        return Tensor._wrap(np.stack(arrays))
    if isinstance(first, (bool, np.bool_)):
        return Tensor._wrap(np.array(samples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor._wrap(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor._wrap(np.array(samples, dtype=get_default_dtype()))
    if isinstance(first, str):
        return list(samples)
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if len({len(s) for s in samples}) != 1:
            raise ValueError("default_collate: samples have different numbers of fields")
        return tuple(default_collate(list(field)) for field in zip(*samples))
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(first).__name__}")


class DataLoader:
    """Mini-batches of a dataset, as Tensors.

    Args:
        dataset:    anything with ``len()`` and ``[i]``; a dataset with a
                    ``_get_batch`` method (TensorDataset, ImageDataset, Digits,
                    MNIST, and Subsets of them) is gathered a batch at a time.
        batch_size: samples per batch (>= 1).
        shuffle:    draw a new random order at the start of every epoch.
        drop_last:  skip the last batch if it has fewer than ``batch_size`` samples.
        seed:       seed of a private shuffling generator; None: use ``tg.manual_seed``'s.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`);
                    giving one turns the batch fast path off.

    Yields:
        For image datasets ``(images, labels)``: float32 ``(B, C, H, W)`` and int64
        ``(B,)`` Tensors; in general, the collated structure of the samples.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        collate_fn=None,
    ):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must support len() and indexing, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"DataLoader: seed must be an int or None, got {type(seed).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.collate_fn = collate_fn
        self._generator = np.random.default_rng(seed) if seed is not None else None

    @property
    def generator(self) -> np.random.Generator:
        """The generator that shuffles: the private one, or ``tg.manual_seed``'s."""
        return self._generator if self._generator is not None else default_generator()

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        # The order is drawn now, when the epoch starts, not lazily at the first batch.
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order: np.ndarray):
        batch = self.batch_size
        stop = len(self) * batch
        fast = self.collate_fn is None and hasattr(self.dataset, "_get_batch")
        for start in range(0, stop, batch):
            indices = order[start : start + batch]
            if fast:
                yield tuple(Tensor._wrap(np.ascontiguousarray(a)) for a in self.dataset._get_batch(indices))
            else:
                samples = [self.dataset[int(i)] for i in indices]
                yield (self.collate_fn or default_collate)(samples)

    def state_dict(self) -> dict:
        """The private generator's state (None when shuffling uses ``tg.manual_seed``'s, which
        ``tinygraph.random.get_rng_state()`` covers)."""
        return {"generator": self._generator.bit_generator.state if self._generator is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or "generator" not in state:
            raise ValueError("DataLoader.load_state_dict: expected a dict with a 'generator' entry")
        if state["generator"] is None:
            return
        if self._generator is None:
            raise ValueError(
                "DataLoader.load_state_dict: the state has a private generator but this loader has no "
                "seed; create it with seed=..."
            )
        self._generator.bit_generator.state = state["generator"]

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed})"
        )
