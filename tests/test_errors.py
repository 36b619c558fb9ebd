"""Bad input gets a clear ValueError/TypeError/IndexError/RuntimeError that names the op, the
argument and the shapes, raised before any NumPy internals see it."""

import re

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F


def raises(exception, *fragments):
    """``pytest.raises`` whose message must contain every fragment, literally (shapes have parentheses)."""
    return pytest.raises(exception, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


# ------------------------------------------------------------------ arithmetic and matmul
def test_elementwise_shapes_that_do_not_broadcast():
    with raises(ValueError, "Add", "(2, 3)", "(4,)"):
        tg.ones(2, 3) + tg.ones(4)
    with raises(ValueError, "Mul", "(2, 3)", "(3, 2)"):
        tg.ones(2, 3) * tg.ones(3, 2)


def test_matmul_inner_dimensions():
    with raises(ValueError, "matmul", "(3, 4) @ (5, 6)"):
        tg.ones(3, 4) @ tg.ones(5, 6)
    with raises(ValueError, "matmul", "(3,) @ (4,)"):
        tg.ones(3) @ tg.ones(4)


def test_matmul_batch_dimensions():
    with raises(ValueError, "matmul", "batch", "(2, 3, 4) @ (5, 4, 2)"):
        tg.ones(2, 3, 4) @ tg.ones(5, 4, 2)


def test_matmul_of_a_0d_tensor():
    with raises(ValueError, "matmul", "at least 1 dimension"):
        tg.tensor(2.0) @ tg.ones(3)


def test_clamp_arguments():
    with raises(ValueError, "clamp", "min", "max"):
        tg.ones(2).clamp(1.0, 0.0)
    with raises(ValueError, "clamp", "at least one"):
        tg.ones(2).clamp()


def test_only_float_tensors_go_into_activations():
    with raises(TypeError, "relu", "int64"):
        F.relu(tg.tensor([1, 2]))
    with raises(TypeError, "softmax", "int64"):
        F.softmax(tg.tensor([1, 2]))


def test_tensor_from_unsupported_data():
    with raises(TypeError, "tensor", "str"):
        tg.tensor("abc")


# ------------------------------------------------------------------ reductions
def test_reduction_dim_out_of_range():
    with raises(IndexError, "sum", "dim 2", "2 dimensions"):
        tg.ones(2, 3).sum(dim=2)
    with raises(IndexError, "mean", "dim -3"):
        tg.ones(2, 3).mean(dim=(0, -3))
    with raises(IndexError, "argmax", "dim 5"):
        tg.ones(2, 3).argmax(dim=5)


def test_reduction_dim_named_twice():
    with raises(ValueError, "sum", "same dimension twice"):
        tg.ones(2, 3).sum(dim=(1, -1))


def test_reduction_dim_of_wrong_type():
    with raises(TypeError, "sum", "dim must be an int", "float"):
        tg.ones(2, 3).sum(dim=1.0)


def test_var_without_degrees_of_freedom():
    with raises(ValueError, "var", "correction=1"):
        tg.ones(1, 3).var(dim=0)


# ------------------------------------------------------------------ shapes
def test_reshape_to_the_wrong_size():
    with raises(ValueError, "reshape", "(2, 3)", "6 values", "(4, 2)"):
        tg.ones(2, 3).reshape(4, 2)
    with raises(ValueError, "reshape", "(2, 3)", "(4, -1)"):
        tg.ones(2, 3).reshape(4, -1)
    with raises(ValueError, "reshape", "at most one -1"):
        tg.ones(2, 3).reshape(-1, -1)


def test_permute_with_invalid_dims():
    with raises(ValueError, "permute", "(0, 1)", "(2, 3, 4)"):
        tg.ones(2, 3, 4).permute(0, 1)
    with raises(ValueError, "permute", "(0, 0, 1)", "permutation"):
        tg.ones(2, 3, 4).permute(0, 0, 1)
    with raises(IndexError, "permute", "dim 3"):
        tg.ones(2, 3, 4).permute(0, 1, 3)


def test_transpose_squeeze_unsqueeze_flatten_dims_out_of_range():
    with raises(IndexError, "transpose", "dim 2"):
        tg.ones(2, 3).transpose(0, 2)
    with raises(IndexError, "squeeze", "dim 3"):
        tg.ones(2, 1).squeeze(3)
    with raises(IndexError, "unsqueeze", "dim 4"):
        tg.ones(2, 1).unsqueeze(4)
    with raises(ValueError, "flatten", "start_dim"):
        tg.ones(2, 3, 4).flatten(2, 1)


def test_expand_to_an_incompatible_shape():
    with raises(ValueError, "expand", "(2, 3)", "(2, 4)"):
        tg.ones(2, 3).expand(2, 4)
    with raises(ValueError, "expand", "fewer dims"):
        tg.ones(2, 3).expand(3)
    with raises(ValueError, "expand", "(-1, 3)", "(3,)"):
        tg.ones(3).expand(-1, 3)


def test_cat_and_stack_shape_mismatch():
    with raises(ValueError, "cat", "tensor 1", "(3, 4)", "(2, 3)", "dim 0"):
        tg.cat([tg.ones(2, 3), tg.ones(3, 4)])
    with raises(ValueError, "cat", "non-empty"):
        tg.cat([])
    with raises(ValueError, "stack", "tensor 1", "(2, 4)", "(2, 3)"):
        tg.stack([tg.ones(2, 3), tg.ones(2, 4)])
    with raises(ValueError, "cat", "zero-dimensional"):
        tg.cat([tg.tensor(1.0), tg.tensor(2.0)])
    with raises(IndexError, "cat", "dim 2"):
        tg.cat([tg.ones(2, 3), tg.ones(2, 3)], dim=2)


def test_pad_arguments():
    with raises(ValueError, "pad", "even number", "(1, 2, 3)"):
        F.pad(tg.ones(2, 3), (1, 2, 3))
    with raises(ValueError, "pad", "negative"):
        F.pad(tg.ones(2, 3), (-1, 1))
    with raises(ValueError, "pad", "mode"):
        F.pad(tg.ones(2, 3), (1, 1), mode="reflect")


def test_indexing_out_of_range():
    with raises(IndexError, "getitem", "(2, 3)"):
        tg.ones(2, 3)[5]
    with raises(IndexError, "getitem", "(2, 3)"):
        tg.ones(2, 3)[[0, 7]]
    with raises(IndexError, "getitem", "floats"):
        tg.ones(2, 3)[np.array([0.0, 1.0])]


# ------------------------------------------------------------------ losses and linear
def test_cross_entropy_target_shape_mismatch():
    with raises(ValueError, "cross_entropy", "target", "(3,)", "(4, 5)", "(4,)"):
        F.cross_entropy(tg.randn(4, 5), tg.tensor([0, 1, 2]))
    with raises(ValueError, "cross_entropy", "(2, 2)", "(2, 5, 3)", "expected", "(2, 3)"):
        F.cross_entropy(tg.randn(2, 5, 3), tg.zeros(2, 2, dtype=tg.int64))


def test_cross_entropy_class_out_of_range():
    with raises(ValueError, "cross_entropy", "class 5", "0..4", "5 classes"):
        F.cross_entropy(tg.randn(2, 5), tg.tensor([1, 5]))
    with raises(ValueError, "cross_entropy", "class -1"):
        F.cross_entropy(tg.randn(2, 5), tg.tensor([-1, 0]))


def test_cross_entropy_other_arguments():
    with raises(TypeError, "cross_entropy", "floating-point", "int64"):
        F.cross_entropy(tg.tensor([[1, 2]]), tg.tensor([0]))
    with raises(ValueError, "cross_entropy", "reduction", "'average'"):
        F.cross_entropy(tg.randn(2, 3), tg.tensor([0, 1]), reduction="average")
    with raises(ValueError, "cross_entropy", "label_smoothing", "1.5"):
        F.cross_entropy(tg.randn(2, 3), tg.tensor([0, 1]), label_smoothing=1.5)
    with raises(ValueError, "cross_entropy", "weight", "(3,)", "(2,)"):
        F.cross_entropy(tg.randn(2, 3), tg.tensor([0, 1]), weight=tg.ones(2))
    with raises(ValueError, "cross_entropy", "probability target", "(2, 4)", "(2, 3)"):
        F.cross_entropy(tg.randn(2, 3), tg.rand(2, 4))
    with raises(ValueError, "cross_entropy", "input", "(3,)"):
        F.cross_entropy(tg.randn(3), tg.tensor([0, 1, 2]))


def test_nll_loss_mismatch():
    with raises(ValueError, "nll_loss", "target", "(3,)", "(2, 4)"):
        F.nll_loss(tg.randn(2, 4), tg.tensor([0, 1, 2]))
    with raises(ValueError, "nll_loss", "class 4"):
        F.nll_loss(tg.randn(2, 4), tg.tensor([0, 4]))
    with raises(TypeError, "nll_loss", "integers", "float32"):
        F.nll_loss(tg.randn(2, 4), tg.tensor([0.0, 1.0]))


def test_mse_loss_shape_mismatch():
    with raises(ValueError, "mse_loss", "(4, 1)", "(4,)"):
        F.mse_loss(tg.ones(4, 1), tg.ones(4))
    with raises(ValueError, "mse_loss", "reduction"):
        F.mse_loss(tg.ones(4), tg.ones(4), reduction="avg")


def test_linear_feature_mismatch():
    with raises(ValueError, "linear", "(8, 3)", "3 features", "(4, 5)", "expects 5"):
        F.linear(tg.ones(8, 3), tg.ones(4, 5))
    with raises(ValueError, "linear", "bias", "(4,)", "(5,)"):
        F.linear(tg.ones(8, 5), tg.ones(4, 5), tg.ones(5))
    with raises(ValueError, "linear", "weight", "2-D", "(5,)"):
        F.linear(tg.ones(8, 5), tg.ones(5))
    with raises(TypeError, "linear", "float64", "float32"):
        F.linear(tg.ones(8, 5, dtype=tg.float64), tg.ones(4, 5))


# ------------------------------------------------------------------ autograd misuse
def test_inplace_update_of_a_leaf_that_requires_grad():
    w = tg.ones(3, requires_grad=True)
    with raises(RuntimeError, "+=", "in-place", "requires grad", "no_grad"):
        w += 1
    with raises(RuntimeError, "mul_", "in-place"):
        w.mul_(2.0)
    with raises(RuntimeError, "copy_", "in-place"):
        w.copy_(tg.zeros(3))
    np.testing.assert_array_equal(w.data, [1.0, 1.0, 1.0])  # nothing was changed


def test_requires_grad_on_integers():
    with raises(RuntimeError, "floating-point", "int64"):
        tg.tensor([1, 2]).requires_grad_()
