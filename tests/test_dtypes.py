"""Dtypes as PyTorch: integer results leave the graph; one promotion function owns the rules."""

import numpy as np
import pytest

import tinygraph as tg


# ------------------------------------------------------------ integer results leave the graph
def test_integer_and_bool_results_do_not_require_grad():
    x = tg.tensor([1.5, 2.7, -1.2], requires_grad=True)
    for result in (x.long(), x.int(), x.bool(), x.argmax(), x > 0, x == x, x.max(0).indices):
        assert not result.requires_grad and result.grad_fn is None


def test_gradient_through_long_float_is_zero_as_in_pytorch():
    x = tg.tensor([1.5, 2.7, -1.2], requires_grad=True)
    (x.long().float() * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, -1.0])  # d/dx (c * x) with c = trunc(x) constant


def test_backward_from_an_integer_result_raises():
    x = tg.tensor([1.5, 2.7], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.long().sum().backward()


# ------------------------------------------------------------ one promotion function, PyTorch's table
def _t(dtype, zero_dim=False):
    return tg.tensor(1 if zero_dim else [1], dtype=dtype)


# The examples of "Type promotion" in PyTorch's docs (docs/source/tensor_attributes.rst), then the
# rules they state applied to Python floats and zero-dim tensors: (operands, result dtype).
PROMOTION_TABLE = [
    ((5, 5), tg.int64),
    ((_t(tg.int32), 5), tg.int32),  # 5 is not of a higher category than the int tensor
    ((_t(tg.int32), _t(tg.int64, zero_dim=True)), tg.int32),
    ((_t(tg.int64), _t(tg.int32)), tg.int64),
    ((_t(tg.bool_), _t(tg.int64)), tg.int64),
    ((_t(tg.bool_), _t(tg.uint8)), tg.uint8),
    ((_t(tg.float32), _t(tg.float64)), tg.float64),
    ((_t(tg.bool_), _t(tg.int32)), tg.int32),
    ((_t(tg.int64), _t(tg.float32)), tg.float32),  # long + float needs only to hold the float
    ((_t(tg.int32), 2.5), tg.float32),  # a Python float counts as the default dtype
    ((_t(tg.float32), _t(tg.float64, zero_dim=True)), tg.float32),  # 0-d does not widen within a category
    ((_t(tg.int64), _t(tg.float64, zero_dim=True)), tg.float64),  # ... but does lift the category
    ((_t(tg.int64, zero_dim=True), 2.5), tg.float32),
    ((_t(tg.bool_), True), tg.bool_),
    ((_t(tg.bool_), 5), tg.int64),
    ((_t(tg.uint8), _t(np.int8)), np.int16),
    ((_t(np.float16), _t(tg.int64)), np.float16),
]


@pytest.mark.parametrize("operands, expected", PROMOTION_TABLE)
def test_result_type_follows_pytorchs_table(operands, expected):
    assert tg.dtypes.result_type(*operands) == expected


@pytest.mark.parametrize("operands, expected", [row for row in PROMOTION_TABLE if isinstance(row[0][0], tg.Tensor)])
def test_addition_uses_the_promotion_function(operands, expected):
    a, b = operands
    assert (a + b).dtype == expected
    assert (a * b).dtype == expected


@pytest.mark.parametrize("operands, expected", PROMOTION_TABLE)
def test_the_table_agrees_with_torch(operands, expected):
    torch = pytest.importorskip("torch")

    def to_torch(x):
        return torch.from_numpy(np.array(x.numpy())) if isinstance(x, tg.Tensor) else x

    a, b = (to_torch(x) for x in operands)
    assert str(torch.result_type(a, b)).replace("torch.", "") == str(np.dtype(expected))


def test_cat_stack_where_of_float32_and_int64_give_float32():
    f, i = tg.tensor([1.5, 2.5]), tg.tensor([1, 2])
    assert tg.cat([f, i]).dtype == tg.float32
    assert tg.stack([f, i]).dtype == tg.float32
    assert tg.where(f > 2, f, i).dtype == tg.float32
    np.testing.assert_array_equal(tg.where(f > 2, f, i).numpy(), [1.0, 2.5])
    assert tg.where(f > 2, f, 0).dtype == tg.float32


def test_matmul_of_different_dtypes_raises():
    a = tg.ones(2, 2)
    with pytest.raises(RuntimeError, match="matmul: expected both operands to have the same dtype"):
        a @ tg.ones(2, 2, dtype=tg.float64)
    with pytest.raises(RuntimeError, match="int64 @ float32"):
        tg.ones(2, 2, dtype=tg.int64) @ a


def test_floating_ops_of_integers_give_the_default_float_dtype():
    i = tg.tensor([1, 4, 9])
    for result in (i.exp(), i.sqrt(), i.log(), i / 2, i**0.5, i.sigmoid(), i.tanh()):
        assert result.dtype == tg.float32
    np.testing.assert_allclose(i.sqrt().numpy(), [1.0, 2.0, 3.0])


def test_mean_var_std_of_integers_raise():
    i = tg.tensor([1, 2, 3])
    for op in ("mean", "var", "std"):
        with pytest.raises(RuntimeError, match=f"{op}\\(\\): could not infer the output dtype"):
            getattr(i, op)()
