"""Numerical edge cases that must match PyTorch instead of giving NaN."""

import math

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F


def test_cross_entropy_with_a_masked_class_is_finite():
    z = tg.tensor([[1.0, -math.inf, 2.0]], requires_grad=True)
    loss = F.cross_entropy(z, tg.tensor([0]))
    # by hand: -log(e^1 / (e^1 + e^2)) = log(1 + e); d/dz = softmax - onehot = (-e/(1+e), 0, e/(1+e))
    assert loss.item() == pytest.approx(math.log(1 + math.e), rel=1e-6)
    loss.backward()
    p = math.e / (1 + math.e)
    np.testing.assert_allclose(z.grad.numpy(), [[-p, 0.0, p]], rtol=1e-6)


def test_std_of_a_constant_row_has_gradient_zero():
    x = tg.tensor([[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]], dtype=tg.float64, requires_grad=True)
    x.std(dim=1).sum().backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])
    # second row by hand: d std / dx_i = (x_i - mean) / ((n - 1) std)
    row = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(g[1], (row - row.mean()) / (2 * row.std(ddof=1)))


def test_std_gradient_agrees_with_finite_differences():
    x = tg.randn(3, 4, dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda t: t.std(dim=1, keepdim=True), x)
    assert tg.gradcheck(lambda t: t.std(correction=0), x)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.float16])
def test_relu_passes_the_gradient_at_nan_as_pytorch(dtype):
    # PyTorch's threshold_backward zeroes the gradient only where relu(x) <= 0; NaN <= 0 is false
    x = tg.tensor([math.nan, 1.0, -1.0, 0.0], dtype=dtype, requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0, 0.0])
