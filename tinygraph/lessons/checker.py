"""Run a student's lesson file against the references and say, for a student, what is wrong.

For each function of the lesson: the fixed cases, then random cases (hypothesis, a bounded
number of examples, derandomized so every run shows the same case), then ``tg.gradcheck`` for
backward passes.  The first failing case of a function is reported with its shapes and
settings, the first index where the answer differs, expected against got, and a hint when the
answer equals a classic mistake.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .spec import Case, FunctionSpec, Lesson

RANDOM_EXAMPLES = 20  # hypothesis examples per function: enough to find wrong geometry, seconds in pure Python
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../tinygraph


class StudentError(Exception):
    """The student's file could not be loaded."""


@dataclass
class Result:
    """What happened to one function: status 'pass', 'fail', 'todo' (still the stub) or 'missing'."""

    name: str
    status: str
    report: str = ""


# ------------------------------------------------------------------ loading


def lessons_dir() -> Path:
    """``./lessons`` when it exists (a student's working copy), else the one next to the package."""
    here = Path.cwd() / "lessons"
    return here if here.is_dir() else PACKAGE_ROOT.parent / "lessons"


def load_module(path: Path, number: str):
    """Import the student's file as a module named ``lesson_NN``."""
    path = Path(path)
    if not path.is_file():
        raise StudentError(f"lesson {number}: no file at {path}")
    spec = importlib.util.spec_from_file_location(f"lesson_{number}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:
        raise StudentError(f"lesson {number}: importing {path} failed:\n{_student_traceback(path)}") from None
    return module


def is_stub_error(err: BaseException) -> bool:
    return isinstance(err, NotImplementedError) and str(err).startswith("lesson ")


# ------------------------------------------------------------------ describing cases and values


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 6 and value.ndim <= 1:
            return f"array({np.array2string(value, precision=4, separator=', ')})"
        return f"array of shape {value.shape} ({value.dtype})"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def python_function(fn):
    """The Python function behind ``fn`` (a Numba-compiled reference keeps it as ``py_func``)."""
    return getattr(fn, "py_func", fn)


def parameter_names(spec: FunctionSpec) -> list[str]:
    return list(inspect.signature(python_function(spec.reference)).parameters)


def describe_case(spec: FunctionSpec, case: Case) -> str:
    names = parameter_names(spec)
    parts = [f"{names[i] if i < len(names) else f'arg{i}'}={describe(v)}" for i, v in enumerate(case.args)]
    text = f"{spec.name}(" + ", ".join(parts) + ")"
    return text + (f"   [{case.note}]" if case.note else "")


def _fmt(v) -> str:
    v = np.asarray(v)
    if v.dtype.kind == "f":
        return f"{float(v):.6g}"
    return str(v.item() if v.ndim == 0 else v)


def _student_traceback(path=None) -> str:
    """The traceback from the student's own frames down (the checker's frames left out)."""
    _, err, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    mine = [f for f in frames if path is None or Path(f.filename).resolve() == Path(path).resolve()]
    keep = frames[frames.index(mine[0]):] if mine else frames[-1:]
    return "".join(traceback.format_list(keep)) + f"{type(err).__name__}: {err}"


# ------------------------------------------------------------------ comparing


def _as_tuple(value, n):
    if n == 1:
        return (value,)
    return tuple(value) if isinstance(value, (tuple, list)) else None


def difference(spec: FunctionSpec, expected, got) -> str | None:
    """None when ``got`` matches ``expected``; else what differs, in words."""
    n = len(spec.outputs)
    exp, mine = _as_tuple(expected, n), _as_tuple(got, n)
    if mine is None or len(mine) != n:
        return f"expected {n} return values ({', '.join(spec.outputs)}), got {type(got).__name__} {describe(got)}"
    for name, e, g in zip(spec.outputs, exp, mine):
        e = np.asarray(e)
        if g is None:
            return f"{name}: returned None (forgot the return statement?)"
        try:
            g = np.asarray(g, dtype=e.dtype if e.dtype.kind in "iub" else np.float64)
        except (TypeError, ValueError):
            return f"{name}: expected a number or array, got {type(g).__name__}"
        if g.shape != e.shape:
            return f"{name}: expected shape {e.shape}, got shape {g.shape}"
        close = np.isclose(g, e, rtol=spec.rtol, atol=spec.atol, equal_nan=True)
        if not close.all():
            bad = np.argwhere(~close)
            where = tuple(int(i) for i in bad[0])
            label = f"{name}[{', '.join(map(str, where))}]" if where else name
            return (
                f"{label}: expected {_fmt(e[where])}, got {_fmt(g[where])}  "
                f"(values that differ: {len(bad)} of {e.size})"
            )
    return None


def _matches(spec, a, b) -> bool:
    try:
        return difference(spec, a, b) is None
    except Exception:
        return False


def hints_for(spec: FunctionSpec, case: Case, expected, got) -> list[str]:
    """The hints of every classic mistake whose answer the student's equals (and the reference's does not)."""
    hints = []
    for mistake in spec.mistakes:
        try:
            with np.errstate(all="ignore"):
                if mistake.test is not None:
                    if mistake.test(case.args, expected, got) and mistake.hint not in hints:
                        hints.append(mistake.hint)
                    continue
                wrong = mistake.compute(*_copies(case.args))
        except Exception:
            continue
        if wrong is None:
            continue
        compare, e, w, g = spec, expected, wrong, got
        if mistake.only is not None:  # compare only some of the outputs
            keep = [spec.outputs.index(name) for name in mistake.only]
            compare = replace(spec, outputs=tuple(spec.outputs[i] for i in keep))
            try:
                e, w, g = ([v[i] for i in keep] for v in (expected, wrong, got))
            except (TypeError, IndexError):
                continue
            if len(keep) == 1:
                e, w, g = e[0], w[0], g[0]
        if not _matches(compare, e, w) and _matches(compare, w, g) and mistake.hint not in hints:
            hints.append(mistake.hint)
    if not hints and _all_zero(got) and not _all_zero(expected):
        hints.append("every value you return is 0: is the result written into the array you return?")
    return hints


def _all_zero(value) -> bool:
    try:
        parts = value if isinstance(value, (tuple, list)) else (value,)
        return all(np.all(np.asarray(p, dtype=np.float64) == 0) for p in parts)
    except (TypeError, ValueError):
        return False


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


# ------------------------------------------------------------------ running one case


class CaseFailed(Exception):
    def __init__(self, report: str, stub: bool = False):
        super().__init__(report)
        self.report, self.stub = report, stub


def run_case(spec: FunctionSpec, fn, case: Case, path=None) -> None:
    """Raise :class:`CaseFailed` with a student-facing report when ``fn`` gets ``case`` wrong."""
    expected = spec.reference(*_copies(case.args))
    args = _copies(case.args)
    try:
        with np.errstate(all="ignore"):
            got = fn(*args)
    except Exception as err:
        if is_stub_error(err):
            raise CaseFailed(str(err), stub=True) from None
        report = f"case: {describe_case(spec, case)}\nyour code raised:\n{_student_traceback(path)}"
        if isinstance(err, IndexError):
            report += "\nhint: an index ran past the edge of an array: padding is not stored in x, so check " \
                      "0 <= ih < H and 0 <= iw < W before reading, and compare the shapes you allocate with the formula"
        raise CaseFailed(report) from None
    for before, after, name in zip(case.args, args, parameter_names(spec)):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
            raise CaseFailed(
                f"case: {describe_case(spec, case)}\nyour code changed its input {name!r}; "
                "return new arrays and leave the inputs as they were"
            )
    problem = difference(spec, expected, got)
    if problem is None:
        return
    lines = [f"case: {describe_case(spec, case)}", f"first difference: {problem}"]
    lines += [f"hint: {h}" for h in hints_for(spec, case, expected, got)]
    raise CaseFailed("\n".join(lines))


def run_random(spec: FunctionSpec, fn, examples: int, path=None) -> None:
    """Random cases from ``spec.draw``: hypothesis when installed (shrinks a failure), else a seeded RNG."""
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import strategies as st
    except ImportError:
        rng = np.random.default_rng(0)
        for _ in range(examples):
            run_case(spec, fn, spec.draw(lambda lo, hi: int(rng.integers(lo, hi + 1))), path)
        return

    found = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a student can rerun and compare
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )
    @given(st.data())
    def random_cases(data):
        case = spec.draw(lambda lo, hi: data.draw(st.integers(lo, hi)))
        try:
            run_case(spec, fn, case, path)
        except CaseFailed as failure:
            found[:] = [failure]
            raise

    try:
        random_cases()
    except CaseFailed:
        raise found[-1] from None  # the shrunk (last) failure


def run_gradchecks(spec: FunctionSpec, fn, path=None) -> None:
    """``tg.gradcheck`` of the student's backward under the reference forward, in float64."""
    if spec.gradchecks is None:
        return
    from ..autograd import Function
    from ..gradcheck import gradcheck
    from ..tensor import Tensor

    for case in spec.gradchecks(fn):

        class StudentOp(Function):
            op_name = spec.name

            @staticmethod
            def forward(ctx, *arrays, _case=case):
                ctx.save_for_backward(*arrays)
                return _case.forward(*arrays)

            @staticmethod
            def backward(ctx, grad, _case=case):
                return tuple(_case.backward(grad, *ctx.saved_arrays))

        inputs = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in case.inputs]
        try:
            with np.errstate(all="ignore"):
                result = gradcheck(StudentOp.apply, *inputs, raise_exception=False)
        except Exception as err:
            if is_stub_error(err):
                raise CaseFailed(str(err), stub=True) from None
            raise CaseFailed(
                f"gradcheck case: {case.label}\nyour code raised:\n{_student_traceback(path)}"
            ) from None
        if not result.ok:
            where = ", ".join(map(str, result.worst_index))
            raise CaseFailed(
                f"gradcheck case: {case.label}\n"
                f"finite differences disagree with your gradient of input {result.worst_input} at [{where}]: "
                f"yours {result.analytic:.6g}, numeric {result.numeric:.6g} "
                "(numeric = (L(x + eps) - L(x - eps)) / 2 eps for L = sum(v * forward(x)), v random)"
            )


# ------------------------------------------------------------------ a whole function, a whole lesson


def check_function(spec: FunctionSpec, module, examples: int = RANDOM_EXAMPLES, path=None) -> Result:
    fn = getattr(module, spec.name, None)
    if fn is None or not callable(fn):
        return Result(spec.name, "missing", f"no function named {spec.name!r} in the file")
    try:
        for case in spec.fixed():
            run_case(spec, fn, case, path)
        if spec.draw is not None and examples > 0:
            run_random(spec, fn, max(examples, spec.examples or 0), path)
        run_gradchecks(spec, fn, path)
    except CaseFailed as failure:
        return Result(spec.name, "todo" if failure.stub else "fail", failure.report)
    return Result(spec.name, "pass")


def read_after(spec: FunctionSpec) -> str:
    """Where the worked solution of ``spec`` is: the reference's own source, or the spec's pointer."""
    if spec.read_after:
        return spec.read_after
    fn = python_function(spec.reference)
    try:
        source = Path(inspect.getsourcefile(fn)).resolve()
        line = inspect.getsourcelines(fn)[1]
        where = source.relative_to(PACKAGE_ROOT.parent)
    except (TypeError, OSError, ValueError):
        return f"{fn.__module__}.{fn.__name__}"
    return f"{where}:{line} ({fn.__name__})"


def check_lesson(lesson: Lesson, path=None, examples: int = RANDOM_EXAMPLES, out=None) -> bool:
    """Check every function of ``lesson`` in the file at ``path``; print a report; True when all pass."""
    out = out or sys.stdout
    path = Path(path) if path else lessons_dir() / lesson.filename
    print(f"lesson {lesson.number}: {lesson.title}  ({path})", file=out)
    try:
        module = load_module(path, lesson.number)
    except StudentError as err:
        print(str(err), file=out)
        return False
    results = [check_function(spec, module, examples, path) for spec in lesson.functions]
    marks = {"pass": "PASS", "fail": "FAIL", "todo": "TODO", "missing": "MISSING"}
    for spec, result in zip(lesson.functions, results):
        print(f"\n  [{marks[result.status]}] {result.name}", file=out)
        if result.status == "pass":
            print(f"         well done. Now read the library's version: {read_after(spec)}", file=out)
        elif result.status == "todo":
            print(f"         still the stub ({result.report}): write it, then check again", file=out)
        else:
            for line in result.report.splitlines():
                print(f"         {line}", file=out)
    passed = sum(r.status == "pass" for r in results)
    print(f"\n{passed} of {len(results)} functions pass.", file=out)
    return passed == len(results)


def lesson_status(lesson: Lesson, path=None, examples: int = 0) -> str:
    """'pass', 'todo' (nothing written), 'partial' or 'fail', quickly (fixed cases only by default)."""
    path = Path(path) if path else lessons_dir() / lesson.filename
    try:
        module = load_module(path, lesson.number)
    except StudentError:
        return "error"
    statuses = {check_function(spec, module, examples, path).status for spec in lesson.functions}
    if statuses == {"pass"}:
        return "pass"
    if statuses <= {"todo", "missing"}:
        return "todo"
    return "fail" if "fail" in statuses else "partial"
