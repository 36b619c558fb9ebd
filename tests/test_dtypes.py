"""Dtypes as PyTorch: integer results leave the graph; one promotion function owns the rules."""

import numpy as np
import pytest

import tinygraph as tg


# ------------------------------------------------------------ integer results leave the graph
def test_integer_and_bool_results_do_not_require_grad():
    x = tg.tensor([1.5, 2.7, -1.2], requires_grad=True)
    for result in (x.long(), x.type(tg.int32), x.argmax(), x > 0, x == x, x.max(0).indices):
        assert not result.requires_grad and result.grad_fn is None


def test_gradient_through_long_float_is_zero_as_in_pytorch():
    x = tg.tensor([1.5, 2.7, -1.2], requires_grad=True)
    (x.long().float() * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, -1.0])  # d/dx (c * x) with c = trunc(x) constant


def test_backward_from_an_integer_result_raises():
    x = tg.tensor([1.5, 2.7], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.long().sum().backward()
