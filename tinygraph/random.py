"""One seeded random generator for everything random in tinygraph.

``tg.manual_seed(s)`` makes initialisation, ``randn``/``rand``, dropout masks and
DataLoader shuffling reproducible, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that ``manual_seed`` last seeded."""
    return _generator


def get_rng_state() -> dict:
    """The generator's state, a JSON-able dict (saved in checkpoints so a resumed run repeats itself)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator.bit_generator.state = state
