"""tg.gradcheck must pass correct gradients and, more importantly, FAIL wrong ones."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.autograd import Function


class SquareMissingFactorTwo(Function):
    """x^2 with a wrong derivative: x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * x


class MulIgnoringUpstream(Function):
    """a*b whose backward forgets the upstream gradient: right only when that gradient is all ones."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        return b + 0 * grad, a + 0 * grad


class MulWrongSecondInput(Function):
    """a*b with the gradient of b wrong in one element only."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        db = grad * a
        db.reshape(-1)[-1] += 0.01
        return grad * b, db


def leaf(values):
    return tg.tensor(values, dtype=tg.float64, requires_grad=True)


def test_correct_gradients_pass():
    x, w = leaf(np.linspace(-1, 1, 6).reshape(2, 3)), leaf(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    result = tg.gradcheck(lambda a, b: (a @ b).tanh(), x, w)
    assert result and result.ok
    assert result.max_abs_error < 1e-8
    assert "passed" in str(result)


def test_wrong_derivative_fails_and_names_the_worst_mismatch():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(tg.GradcheckError, match=r"FAILED.*input 0.*index \(2,\).*analytic.*numeric"):
        tg.gradcheck(SquareMissingFactorTwo.apply, x)


def test_result_without_raising_reports_the_mismatch():
    x = leaf([1.0, 2.0, 3.0])
    result = tg.gradcheck(SquareMissingFactorTwo.apply, x, raise_exception=False)
    assert not result
    assert result.worst_input == 0 and result.worst_index == (2,)  # |2x - x| is largest at x = 3
    assert result.numeric == pytest.approx(result.analytic * 2, rel=1e-6)
    assert result.max_abs_error > 1


def test_ignoring_the_upstream_gradient_is_caught():
    # With upstream gradient 1 (loss = out.sum()) this backward would look right; gradcheck uses a random one.
    a, b = leaf([0.5, -1.0, 2.0]), leaf([1.5, 0.25, -0.75])
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(MulIgnoringUpstream.apply, a, b)


def test_a_single_wrong_element_of_the_second_input_is_found():
    a, b = leaf([[0.5, -1.0], [2.0, 1.0]]), leaf([[1.5, 0.25], [-0.75, 3.0]])
    result = tg.gradcheck(MulWrongSecondInput.apply, a, b, raise_exception=False)
    assert not result.ok
    assert result.worst_input == 1 and result.worst_index == (1, 1)
    assert result.analytic - result.numeric == pytest.approx(0.01, abs=1e-6)


def test_float32_inputs_are_checked_in_float64_and_left_untouched():
    x = tg.tensor([0.3, -0.7], requires_grad=True)
    before = x.data.copy()
    assert tg.gradcheck(lambda t: t.exp() * t, x, atol=1e-7, rtol=1e-7)
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


def test_tuple_outputs_and_non_tensor_arguments():
    x = leaf([0.5, 1.5])
    assert tg.gradcheck(lambda t, k: (t * k, t.exp()), x, 3.0)


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        tg.gradcheck(lambda t: t * 2, tg.ones(2, dtype=tg.float64))


def test_gradcheck_fails_on_nan_gradients():
    class NanGrad(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(NanGrad.apply, x)
    assert not tg.gradcheck(NanGrad.apply, x, raise_exception=False)
