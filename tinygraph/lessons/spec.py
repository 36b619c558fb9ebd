"""What a lesson is, for the checker: its functions, their cases, and the classic mistakes.

A :class:`FunctionSpec` says how to check one function the student writes:

* ``reference``: the library's implementation (``references.py``), same name and signature;
* ``fixed``: hand-picked :class:`Case` s, tried first (the small, telling ones);
* ``draw``: builds a random case from ``pick(lo, hi) -> int``; the checker drives it with
  hypothesis (so a failure shrinks to a small case) or, without hypothesis, with a seeded RNG;
* ``mistakes``: :class:`Mistake` s, each a wrong implementation a student is likely to write;
  when the student's answer equals one of them (and not the reference), its hint is shown;
* ``gradchecks``: for a backward function, cases handed to ``tg.gradcheck`` with the
  student's backward under the reference forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Case:
    """Positional arguments for one call; ``note`` says what the case is about (e.g. 'ties')."""

    args: tuple
    note: str = ""


@dataclass
class Mistake:
    """A classic mistake and what to do about it.

    ``compute(*args)`` returns what code with this mistake returns (the student's answer is
    compared with it, on the outputs named in ``only``, all by default); or, for mistakes that
    are easier to recognise than to reproduce, ``test(args, expected, got) -> bool``.
    """

    hint: str
    compute: Callable | None = None
    test: Callable | None = None
    only: tuple | None = None


@dataclass
class GradCase:
    """``forward(*inputs) -> array`` (the reference) and ``backward(grad, *inputs) -> one grad per input``."""

    label: str
    inputs: tuple
    forward: Callable
    backward: Callable  # built from the student's function by the spec


@dataclass
class FunctionSpec:
    name: str
    reference: Callable
    fixed: Callable[[], list]
    draw: Callable | None = None
    mistakes: list = field(default_factory=list)
    gradchecks: Callable | None = None  # student_fn -> list[GradCase]
    outputs: tuple = ("out",)  # names of the returned values, for messages
    rtol: float = 1e-5
    atol: float = 1e-6  # a student who accumulates in float32 still passes; real mistakes are O(1)
    read_after: str = ""  # where the worked solution is, when it is not the reference's own source
    examples: int | None = None  # random cases for this function, when it should run more than the default


@dataclass
class Lesson:
    number: str  # "01"
    slug: str  # "conv_forward": the file is lessons/01_conv_forward.py
    title: str
    functions: list
    minutes: int = 30  # a rough time to write it

    @property
    def filename(self) -> str:
        return f"{self.number}_{self.slug}.py"


def rng_from(pick) -> np.random.Generator:
    """A NumPy generator seeded by one drawn int, so array values shrink and replay with the case."""
    return np.random.default_rng(pick(0, 2**16))
