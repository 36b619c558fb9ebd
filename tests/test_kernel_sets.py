"""The kernel-set switch (``tg.use_kernels``, ``tg.set_kernels``, ``TINYGRAPH_KERNELS``) and a student's own kernels."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F
from tinygraph.kernels.cpu.reference import conv as reference_conv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _network_step(seed=0, dtype=np.float32):
    """Every CPU kernel family with a reference twin, forward and backward: outputs and gradients."""
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((3, 2, 9, 9)).astype(dtype), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 2, 3, 3)).astype(dtype), requires_grad=True)
    b = tg.tensor(rng.standard_normal(4).astype(dtype), requires_grad=True)
    gamma = tg.tensor(rng.uniform(0.5, 1.5, 4).astype(dtype), requires_grad=True)
    beta = tg.tensor(rng.standard_normal(4).astype(dtype), requires_grad=True)
    y = F.conv2d(x, w, b, stride=(1, 2), padding=1, dilation=(2, 1))
    y = F.relu(F.batch_norm(y, None, None, gamma, beta, training=True))
    pooled = F.max_pool2d(y, 2, padding=1).sum() + F.avg_pool2d(y, 3, 2, padding=1).sum()
    loss = pooled + (F.adaptive_avg_pool2d(y, (2, 3)) ** 2).sum() + (y * y).mean()
    loss.backward()
    return [t.detach().numpy().copy() for t in (loss, x.grad, w.grad, b.grad, gamma.grad, beta.grad)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_and_fast_kernels_agree_forward_and_backward(dtype):
    fast = _network_step(dtype=dtype)
    with tg.use_kernels("reference"):
        reference = _network_step(dtype=dtype)
    for a, r in zip(fast, reference):
        np.testing.assert_allclose(r, a, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(a).max()))


def test_use_kernels_restores_and_set_kernels_returns_the_previous_setting():
    assert tg.get_kernels() == "fast"
    with tg.use_kernels("reference"):
        assert tg.get_kernels() == "reference"
        with tg.use_kernels("fast"):
            assert tg.get_kernels() == "fast"
        assert tg.get_kernels() == "reference"
    assert tg.get_kernels() == "fast"
    assert tg.set_kernels("reference") == "fast"
    try:
        assert tg.get_kernels() == "reference"
    finally:
        assert tg.set_kernels("fast") == "reference"


@pytest.mark.parametrize("bad", ["slow", "", None, 3])
def test_an_unknown_kernel_set_is_a_value_error_naming_the_choices(bad):
    for setter in (tg.set_kernels, lambda k: tg.use_kernels(k).__enter__()):
        with pytest.raises(ValueError, match="'fast' or 'reference'"):
            setter(bad)
    assert tg.get_kernels() == "fast"


def _import_with(value):
    env = dict(os.environ, TINYGRAPH_KERNELS=value, PYTHONPATH=ROOT)
    code = "import tinygraph as tg; print(tg.get_kernels())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_environment_variable_is_read_at_import():
    done = _import_with("reference")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "reference"
    bad = _import_with("fastest")
    assert bad.returncode != 0
    assert "ValueError" in bad.stderr and "TINYGRAPH_KERNELS" in bad.stderr and "'reference'" in bad.stderr


def _student(**functions):
    module = types.ModuleType("student_kernels")
    for name, function in functions.items():
        function.__module__ = module.__name__
        setattr(module, name, function)
    return module


def _conv_case():
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    return x, w


def test_a_student_module_replaces_what_it_provides_and_the_reference_does_the_rest():
    def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
        return 2 * reference_conv.conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size)

    x, w = _conv_case()
    expected = F.conv2d(x, w, padding=1)
    expected.sum().backward()
    grads = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    with tg.use_kernels(_student(conv2d_forward=conv2d_forward)):
        out = F.conv2d(x, w, padding=1)
        out.sum().backward()
        assert F.relu(tg.tensor([-1.0, 2.0])).numpy().tolist() == [0.0, 2.0]  # other families: the reference
    np.testing.assert_allclose(out.detach().numpy(), 2 * expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), grads[0], rtol=1e-4, atol=1e-5)  # the backward is the reference's
    np.testing.assert_allclose(w.grad.numpy(), grads[1], rtol=1e-4, atol=1e-5)


def test_a_student_result_of_the_wrong_shape_names_the_function_and_its_signature():
    def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
        return np.zeros((1, 1))

    x, w = _conv_case()
    with tg.use_kernels(_student(conv2d_forward=conv2d_forward)):
        wrong_shape = r"student_kernels\.conv2d_forward returned .*shape \(1, 1\).*\(2, 4, 6, 6\)"
        with pytest.raises(ValueError, match=wrong_shape) as err:
            F.conv2d(x, w, padding=1)
    assert "conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size)" in str(err.value)


def test_misnamed_missing_or_badly_shaped_student_functions_are_clear_errors():
    def conv2d_fwd(x, weight, bias, stride, padding, dilation, groups, out_size):
        return None

    with pytest.raises(ValueError, match=r"conv2d_fwd is not a kernel name; did you mean conv2d_forward\(x, weight"):
        tg.use_kernels(_student(conv2d_fwd=conv2d_fwd)).__enter__()

    def relu_forward(x, inplace):
        return x

    with pytest.raises(ValueError, match=r"relu_forward\(x, inplace\) does not take .*expected relu_forward\(x\)"):
        tg.set_kernels(_student(relu_forward=relu_forward))

    with pytest.raises(ValueError, match="(?s)provides none of the kernel functions.*max_pool2d_backward"):
        tg.use_kernels(types.SimpleNamespace(helper=len)).__enter__()
    assert tg.get_kernels() == "fast"


def test_two_outputs_are_checked_one_by_one():
    def max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size):
        out = np.zeros(x.shape[:2] + out_size, x.dtype)
        return out, np.zeros((1,), np.int64)

    with tg.use_kernels(types.SimpleNamespace(max_pool2d_forward=max_pool2d_forward)):
        with pytest.raises(ValueError, match=r"max_pool2d_forward returned result 1 of shape \(1,\)"):
            F.max_pool2d(tg.ones(1, 2, 4, 4), 2)
