"""In-place edits of values a backward pass needs are detected (version counters), as in PyTorch."""

import numpy as np
import pytest

import tinygraph as tg

MODIFIED = "modified by an inplace operation"


def _mul_graph():
    a = tg.tensor([1.0, 2.0, 3.0])
    w = tg.ones(3, requires_grad=True)
    return a, w, (w * a).sum()


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a.__iadd__(10),
        lambda a: a.__isub__(1),
        lambda a: a.__imul__(2),
        lambda a: a.zero_(),
        lambda a: a.copy_(tg.ones(3)),
        lambda a: a.fill_(4.0),
        lambda a: a.clamp_(max=1.5),
        lambda a: a.__setitem__(0, 7.0),
    ],
    ids=["+=", "-=", "*=", "zero_", "copy_", "fill_", "clamp_", "setitem"],
)
def test_editing_a_saved_input_in_place_makes_backward_raise(edit):
    a, w, y = _mul_graph()
    edit(a)
    with pytest.raises(RuntimeError, match=MODIFIED) as err:
        y.backward()
    assert "Mul" in str(err.value) and "version 1" in str(err.value) and "expected version 0" in str(err.value)
    assert w.grad is None  # nothing half-accumulated


def test_editing_a_saved_output_under_no_grad_makes_backward_raise():
    x = tg.ones(3, requires_grad=True)
    y = x.exp()  # Exp saves its output
    with tg.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match=MODIFIED) as err:
        y.sum().backward()
    assert "Exp" in str(err.value) and "output" in str(err.value)


def test_an_optimizer_step_between_forward_and_backward_is_detected():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    x = tg.tensor([3.0, 4.0], requires_grad=True)
    y = (w * x).sum()  # saves w for x's gradient
    w.grad = tg.ones(2)
    tg.optim.SGD([w], lr=0.1).step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_editing_a_tensor_that_was_not_saved_is_fine_and_the_gradient_is_right():
    a, w, y = _mul_graph()  # Mul keeps a (for w's gradient), not w: a is a constant
    with tg.no_grad():
        w += 1
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0, 3.0])


def test_version_counts_and_detach_shares_the_counter():
    x = tg.zeros(3)
    d = x.detach()
    x += 1
    d.zero_()
    x[1] = 2.0
    assert x._version == d._version == 3
    np.testing.assert_array_equal(x.numpy(), [0.0, 2.0, 0.0])


@pytest.mark.parametrize(
    "op",
    [lambda x, w: x @ w.T, lambda x, w: tg.functional.linear(x, w)],
    ids=["matmul", "linear"],
)
def test_matmul_and_linear_keep_only_the_operand_backward_reads(op):
    x = tg.tensor([[1.0, 2.0]])  # a constant input: only W needs a gradient, which reads x, not W
    w = tg.tensor([[3.0, 4.0]], requires_grad=True)
    y = op(x, w).sum()
    with tg.no_grad():
        w *= 2  # as an optimizer step would: W itself was not saved, so no error (as in PyTorch)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1.0, 2.0]])
    y = op(x, w).sum()
    x += 1  # but x was saved for W's gradient
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()
