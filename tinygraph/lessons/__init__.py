"""Lessons: write the pieces of a CNN yourself, have them checked, then train with them.

The exercises live in the top-level ``lessons/`` folder (``lessons/01_conv_forward.py`` ...),
one concept each, as stubs to fill in.  This package checks them::

    python -m tinygraph.lessons list              # the lessons, and which of yours pass
    python -m tinygraph.lessons check 01          # check lessons/01_conv_forward.py (or give a path)
    python -m tinygraph.lessons train 01          # train the digits CNN with your kernels plugged in

Each function is held to the library's own implementation (``references.py``) on fixed cases
and on random ones (hypothesis), backward passes also to finite differences (``tg.gradcheck``).
"""

from .catalog import KERNEL_NAMES, LESSONS, find
from .checker import check_lesson, lesson_status, lessons_dir

__all__ = ["KERNEL_NAMES", "LESSONS", "check_lesson", "find", "lesson_status", "lessons_dir"]
