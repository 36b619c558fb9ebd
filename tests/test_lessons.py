"""The lesson checker (``python -m tinygraph.lessons``): the library's own functions pass every
lesson, and planted student mistakes fail with the hint that names them.

Each planted mistake is written the way a student would write it (loops or NumPy), into a file
that the checker loads exactly as it loads a student's lesson file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tinygraph.lessons import LESSONS, check_lesson, find, references
from tinygraph.lessons.checker import lessons_dir

ROOT = Path(__file__).resolve().parents[1]


def _check(tmp_path, number, source, examples=10):
    """Write ``source`` as lesson ``number``'s file and check it: (passed, printed report)."""
    lesson = find(number)
    path = tmp_path / lesson.filename
    path.write_text(textwrap.dedent(source))
    out = io.StringIO()
    return check_lesson(lesson, path, examples=examples, out=out), out.getvalue()


def _reference_source(lesson, but=()):
    """A lesson file that imports the library's reference for every function except ``but``."""
    names = [spec.name for spec in lesson.functions if spec.name not in but]
    return "".join(f"from tinygraph.lessons.references import {name}\n" for name in names)


@pytest.mark.parametrize("number", list(LESSONS))
def test_the_references_pass_every_lesson(tmp_path, number):
    passed, report = _check(tmp_path, number, _reference_source(find(number)))
    assert passed, report
    assert "FAIL" not in report and "read the library's version" in report


@pytest.mark.parametrize("number", list(LESSONS))
def test_the_stubs_are_reported_as_todo_and_hold_no_solution(number):
    lesson = find(number)
    path = lessons_dir() / lesson.filename
    out = io.StringIO()
    assert not check_lesson(lesson, path, examples=0, out=out)
    report = out.getvalue()
    assert report.count("[TODO]") == len(lesson.functions), report
    text = path.read_text()
    for spec in lesson.functions:
        assert f'NotImplementedError("lesson {number}: implement {spec.name}")' in text
    assert "tinygraph.lessons.references" not in text and "_reference" not in text.split('"""')[-1]


CONV_LOOPS = """
import numpy as np

def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    OH, OW = out_size
    out = np.zeros((N, C_out, OH, OW))
    for n in range(N):
        for co in range(C_out):
            g = co // (C_out // groups)
            for oh in range(OH):
                for ow in range(OW):
                    total = BIAS
                    for ci in range(C_in_g):
                        for i in range(kH):
                            for j in range(kW):
                                ih = oh * stride[0] - PAD_H + i * dilation[0]
                                iw = ow * stride[1] - PAD_W + j * dilation[1]
                                if 0 <= ih < H and 0 <= iw < W:
                                    total += weight[co, ci, TAP_I, TAP_J] * x[n, g * C_in_g + ci, ih, iw]
                    out[n, co, oh, ow] = total
    return out
"""


def _conv(bias="0.0 if bias is None else bias[co]", pad_h="padding[0]", pad_w="padding[1]", tap_i="i", tap_j="j"):
    return (CONV_LOOPS.replace("BIAS", bias).replace("PAD_H", pad_h).replace("PAD_W", pad_w)
            .replace("TAP_I", tap_i).replace("TAP_J", tap_j))


def test_a_correct_student_convolution_passes(tmp_path):
    passed, report = _check(tmp_path, "01", _conv())
    assert passed, report


PLANTED = {
    "flipped kernel": ("01", _conv(tap_i="kH - 1 - i", tap_j="kW - 1 - j"), "kernel flipped"),
    "off-by-one padding": ("01", _conv(pad_h="(padding[0] + 1)", pad_w="(padding[1] + 1)"), "one row/column off"),
    "padding on one side": ("01", _conv(pad_h="0", pad_w="0"), "padding is on both sides"),
    "missing bias": ("01", _conv(bias="0.0"), "missing the bias"),
    "padding counted once": ("02", _reference_source(find("02"), but=["conv_output_size"]) + """
def conv_output_size(size, kernel_size, stride, padding, dilation):
    return (size + padding - dilation * (kernel_size - 1) - 1) // stride + 1
""", "padding goes on BOTH sides"),
    "flipped kernel in the input gradient": ("03", _reference_source(find("03"), but=["conv2d_backward_input"]) + """
from tinygraph.lessons.references import conv2d_backward_input as _right

def conv2d_backward_input(grad_out, weight, *geometry):
    return _right(grad_out, weight[:, :, ::-1, ::-1].copy(), *geometry)
""", "kernel flipped"),
    "relu derivative 1 at 0": ("04", _reference_source(find("04"), but=["relu_backward"]) + """
def relu_backward(grad, out):
    return grad * (out >= 0)
""", "pass the gradient only where out > 0"),
    "max pool backward overwrites": ("04", _reference_source(find("04"), but=["max_pool2d_backward"]) + """
import numpy as np

def max_pool2d_backward(grad_out, argmax, in_size):
    N, C = grad_out.shape[:2]
    grad_x = np.zeros((N, C, in_size[0] * in_size[1]))
    for n in range(N):
        for c in range(C):
            grad_x[n, c, argmax[n, c].ravel()] = grad_out[n, c].ravel()
    return grad_x.reshape(N, C, *in_size)
""", "do not overwrite"),
    "max pool reading padding through negative indices": ("04", _reference_source(
        find("04"), but=["max_pool2d_forward"]) + """
import numpy as np

def max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size):
    N, C, H, W = x.shape
    out = np.zeros((N, C) + tuple(out_size))
    argmax = np.zeros((N, C) + tuple(out_size), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(out_size[0]):
                for ow in range(out_size[1]):
                    best = -np.inf
                    for i in range(kernel_size[0]):
                        for j in range(kernel_size[1]):
                            ih = oh * stride[0] - padding[0] + i * dilation[0]
                            iw = ow * stride[1] - padding[1] + j * dilation[1]
                            if x[n, c, ih, iw] > best:  # no bounds check: x[-1] is the last row
                                best, argmax[n, c, oh, ow] = x[n, c, ih, iw], ih * W + iw
                    out[n, c, oh, ow] = best
    return out, argmax
""", "negative index wraps around"),
    "biased variance in the batch statistics": ("07", _reference_source(find("07"), but=["batch_norm_stats"]) + """
def batch_norm_stats(x):
    return x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)
""", "BIASED variance"),
    "biased running variance": ("07", _reference_source(find("07"), but=["update_running_stats"]) + """
def update_running_stats(running_mean, running_var, mean, var, m, momentum):
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
""", "unbiased"),
    "unstable softmax": ("06", _reference_source(find("06"), but=["softmax"]) + """
import numpy as np

def softmax(logits):
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)
""", "subtract each row's max"),
    "dropout without rescaling": ("08", _reference_source(find("08"), but=["dropout_forward"]) + """
import numpy as np

def dropout_forward(x, p, u, training=True):
    if not training:
        return x.copy(), np.ones_like(x)
    mask = (u >= p).astype(x.dtype)
    return x * mask, mask
""", "scales the survivors by 1 / (1 - p)"),
    "SGD momentum in the wrong order": ("09", _reference_source(find("09"), but=["sgd_momentum_step"]) + """
import numpy as np

def sgd_momentum_step(param, grad, velocity, lr, momentum):
    if velocity is None:
        velocity = np.zeros_like(param)
    new_param = param - lr * velocity
    return new_param, momentum * velocity + grad
""", "FIRST update the velocity"),
    "residual gradient without the skip path": ("10", _reference_source(find("10"), but=["residual_backward"]) + """
import numpy as np

def residual_backward(grad_out, x, weight1, weight2):
    a = x @ weight1
    h = np.maximum(a, 0)
    grad_a = (grad_out @ weight2.T) * (a > 0)
    return grad_a @ weight1.T, x.T @ grad_a, h.T @ grad_out
""", "survives depth"),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_mistake_fails_with_its_hint(tmp_path, name):
    number, source, hint = PLANTED[name]
    passed, report = _check(tmp_path, number, source)
    assert not passed, report
    assert "[FAIL]" in report and "first difference" in report and "case:" in report, report
    assert "hint: " in report and hint in report, report


def test_a_wrong_backward_that_matches_the_reference_cases_is_still_caught_by_gradcheck(tmp_path):
    # Right on every compared case (it IS the reference there), wrong under finite differences:
    # the gradient check is a second, independent judge.
    source = _reference_source(find("04"), but=["relu_backward"]) + """
import numpy as np
from tinygraph.lessons.references import relu_backward as _right

def relu_backward(grad, out):
    result = _right(grad, out)
    if out.ndim == 3:  # only the gradcheck case has this shape
        result = result * 2
    return result
"""
    passed, report = _check(tmp_path, "04", source, examples=0)
    assert not passed
    assert "gradcheck case" in report and "finite differences disagree" in report, report


def test_errors_in_student_code_are_reported_with_their_line(tmp_path):
    passed, report = _check(tmp_path, "02", """
def conv_output_size(size, kernel_size, stride, padding, dilation):
    return size + undefined_name

def same_padding(kernel_size, dilation):
    return (0, 0, 0)
""")
    assert not passed
    assert "NameError" in report and "undefined_name" in report
    assert "expected 2 return values (before, after)" in report


def test_changing_an_input_in_place_is_reported(tmp_path):
    passed, report = _check(tmp_path, "04", _reference_source(find("04"), but=["relu_forward"]) + """
def relu_forward(x):
    x[x < 0] = 0
    return x
""")
    assert not passed and "changed its input 'x'" in report


def test_every_lesson_function_has_a_reference_of_the_same_signature():
    import inspect

    for lesson in LESSONS.values():
        module = {}
        exec((lessons_dir() / lesson.filename).read_text(), module)
        for spec in lesson.functions:
            assert spec.reference is getattr(references, spec.name)
            stub = inspect.signature(module[spec.name])
            ref = inspect.signature(getattr(spec.reference, "py_func", spec.reference))
            assert list(stub.parameters) == list(ref.parameters), (lesson.number, spec.name)


def test_command_line_list_check_and_exit_status(tmp_path, capsys):
    from tinygraph.lessons.__main__ import main

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "01" in listing and "10" in listing and "not started" in listing
    assert main(["check", "02"]) == 1  # the stubs
    good = tmp_path / "mine.py"
    good.write_text(_reference_source(find("02")))
    assert main(["check", "2", str(good)]) == 0
    assert "2 of 2 functions pass" in capsys.readouterr().out
    assert main(["check", "99"]) == 2
    # and once as a student runs it, through python -m, where the exit status is what the shell sees
    result = subprocess.run([sys.executable, "-m", "tinygraph.lessons", "check", "02", str(good)],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr

def test_a_mistake_only_random_cases_reach_is_found_and_shrunk(tmp_path):
    # The fixed cases never have size >= 29 with stride 2; hypothesis finds one and shrinks it
    # to the smallest such case, which is what the student sees.
    passed, report = _check(tmp_path, "02", """
from tinygraph.lessons.references import same_padding, conv_output_size as _right

def conv_output_size(size, kernel_size, stride, padding, dilation):
    return _right(size, kernel_size, stride, padding, dilation) + (size >= 29 and stride == 2)
""", examples=20)
    assert not passed
    assert "conv_output_size(size=29, kernel_size=1, stride=2, padding=0, dilation=1)" in report, report


def test_pytest_does_not_collect_the_lesson_stubs():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "lessons"],
                            capture_output=True, text=True, cwd=ROOT)
    assert "no tests collected" in result.stdout + result.stderr, result.stdout + result.stderr


def test_without_hypothesis_the_random_cases_come_from_a_seeded_generator(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis now raises ImportError
    passed, report = _check(tmp_path, "02", """
from tinygraph.lessons.references import same_padding, conv_output_size as _right

def conv_output_size(size, kernel_size, stride, padding, dilation):
    return _right(size, kernel_size, stride, padding, dilation) + (size >= 29)
""")
    assert not passed and "conv_output_size(size=" in report, report


def test_train_plugs_a_student_convolution_into_the_digits_cnn(tmp_path, capsys, monkeypatch):
    from tinygraph.lessons import train as train_module

    calls = []
    compiled = train_module._compiled

    def counting(name, fn):  # count the calls that reach the student's (compiled) function
        inner = compiled(name, fn)
        return lambda *args: calls.append(name) or inner(*args)

    monkeypatch.setattr(train_module, "_compiled", counting)
    path = tmp_path / "01_conv_forward.py"
    path.write_text(_conv())
    assert train_module.train(find("01"), path, epochs=1, limit=64) == 0
    out = capsys.readouterr().out
    assert "with your conv2d_forward" in out and "test accuracy" in out, out
    assert calls and set(calls) == {"conv2d_forward"}  # the network really ran the student's loops


def test_train_says_when_a_lesson_has_no_kernels(capsys):
    from tinygraph.lessons.train import train

    assert train(find("06")) == 2
    assert "no kernels to plug in" in capsys.readouterr().out
    assert train(find("01")) == 1  # the stub: nothing of the student's to plug in yet
    assert "none of your functions pass" in capsys.readouterr().out
