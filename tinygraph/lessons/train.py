"""``python -m tinygraph.lessons train NN``: the digits CNN trained with the student's own kernels.

The lesson's kernel functions that pass the checker are handed to ``tg.use_kernels``; what
the student has not written (or has not got right yet) falls back to the reference.  Each
function is compiled with Numba when it can be (plain loops over NumPy arrays compile, as
the reference loops do); otherwise it runs as Python, which is slow, so ``--limit`` helps.
"""

from __future__ import annotations

import time
import types

from .catalog import KERNEL_NAMES, LESSONS
from .checker import StudentError, check_function, lessons_dir, load_module


def _like_input(result, args):
    """Float arrays shaped like the input (same rank) get the input's dtype, as the reference kernels return.

    A student's ``np.zeros(shape)`` is float64; the network runs in float32.  Per-channel
    results (batch-norm statistics and parameter gradients) stay as they are, as in the reference.
    """
    import numpy as np

    first = next((a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), None)
    if first is None:
        return result

    def fix(a):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim == first.ndim and a.dtype != first.dtype:
            return a.astype(first.dtype)
        return a

    return tuple(fix(a) for a in result) if isinstance(result, tuple) else fix(result)


def _compiled(name, fn):
    """``fn`` compiled by Numba on its first call, or ``fn`` itself when Numba cannot type it."""
    try:
        from numba import njit
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover - numba is a dependency
        return fn
    if hasattr(fn, "py_func"):  # already compiled (the library's reference standing in for a student)
        return fn
    jitted, state = njit(fn), {"fn": None}

    def call(*args):
        if state["fn"] is None:
            try:
                result = jitted(*args)
                state["fn"] = jitted
                return _like_input(result, args)
            except NumbaError as err:
                first = str(err).strip().splitlines()[0]
                print(f"  note: Numba cannot compile your {name} ({first}); it runs as plain Python (slow)")
                state["fn"] = fn
        return _like_input(state["fn"](*args), args)

    call.__name__ = name
    return call


def _kernel_lessons() -> list[str]:
    return [n for n, lesson in LESSONS.items() if any(spec.name in KERNEL_NAMES for spec in lesson.functions)]


def student_kernels(lesson, module) -> tuple[types.SimpleNamespace, list, list]:
    """The student's kernel functions that pass the checker, and the names that fall back (with why)."""
    mine, fallback = {}, []
    for spec in lesson.functions:
        if spec.name not in KERNEL_NAMES:
            continue
        result = check_function(spec, module, examples=0)
        if result.status == "pass":
            mine[spec.name] = _compiled(spec.name, getattr(module, spec.name))
        else:
            fallback.append((spec.name, {"todo": "not written yet", "missing": "not in the file"}.get(
                result.status, "does not pass the checker yet")))
    return types.SimpleNamespace(**mine), sorted(mine), fallback


def train(lesson, path=None, epochs: int = 3, limit: int = 0, seed: int = 0) -> int:
    """Train ``tg.models.DigitsCNN`` on the digits with the lesson's passing kernels; the exit status (0 ok)."""
    import numpy as np

    import tinygraph as tg
    import tinygraph.functional as F
    from tinygraph.data import DataLoader, Digits, Subset

    if not any(spec.name in KERNEL_NAMES for spec in lesson.functions):
        print(f"lesson {lesson.number} ({lesson.title}) has no kernels to plug in: its functions are checked, "
              f"not swapped into the engine. Lessons with kernels: {', '.join(_kernel_lessons())}.")
        return 2
    path = path or lessons_dir() / lesson.filename
    try:
        module = load_module(path, lesson.number)
    except StudentError as err:
        print(err)
        return 1
    kernels, mine, fallback = student_kernels(lesson, module)
    if not mine:
        print(f"lesson {lesson.number}: none of your functions pass the checker yet, so there is nothing of yours "
              f"to train with; run 'python -m tinygraph.lessons check {lesson.number}' first")
        return 1
    print(f"lesson {lesson.number}: training the digits CNN with your {', '.join(mine)}")
    for name, why in fallback:
        print(f"  {name}: the library's reference ({why})")

    tg.manual_seed(seed)
    train_set, test_set = Digits(train=True), Digits(train=False)
    if limit:
        train_set = Subset(train_set, np.arange(min(limit, len(train_set))))
        test_set = Subset(test_set, np.arange(min(limit, len(test_set))))
    model = tg.models.DigitsCNN()
    recipe = tg.models.DIGITS_RECIPE
    optimizer = tg.optim.Adam(model.parameters(), lr=recipe["lr"])
    loader = DataLoader(train_set, batch_size=recipe["batch_size"], shuffle=True)
    test_loader = DataLoader(test_set, batch_size=500)

    def epoch_line(epoch, history):
        print(f"  epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f}  "
              f"test accuracy {100 * history.val_acc[-1]:.1f}%  {history.epoch_time[-1]:.1f} s", flush=True)

    started = time.perf_counter()
    with tg.use_kernels(kernels):
        history = tg.fit(model, loader, F.cross_entropy, optimizer, epochs, val_loader=test_loader,
                         callbacks=[epoch_line], progress=False)
    accuracy = history.val_acc[-1] if history.val_acc else float("nan")
    print(f"test accuracy {100 * accuracy:.1f}% on {len(test_set)} images after {epochs} epochs, "
          f"{time.perf_counter() - started:.1f} s, with your {', '.join(mine)}")
    return 0


