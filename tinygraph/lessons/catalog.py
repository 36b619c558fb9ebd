"""The course: every lesson, in order."""

from __future__ import annotations

from .cases_conv import LESSON_01, LESSON_02, LESSON_03
from .cases_loss import LESSON_06
from .cases_norm import LESSON_07, LESSON_08
from .cases_optim import LESSON_09, LESSON_10
from .cases_pool import LESSON_04, LESSON_05
from .references import KERNEL_NAMES  # noqa: F401  (re-exported)

LESSONS = {lesson.number: lesson for lesson in (
    LESSON_01, LESSON_02, LESSON_03, LESSON_04, LESSON_05, LESSON_06, LESSON_07, LESSON_08, LESSON_09, LESSON_10
)}


def find(number: str):
    """The lesson ``'01'`` (``'1'`` works too); KeyError listing the lessons otherwise."""
    key = str(number).zfill(2)
    if key not in LESSONS:
        raise KeyError(f"no lesson {number!r}; the lessons are {', '.join(LESSONS)}")
    return LESSONS[key]
