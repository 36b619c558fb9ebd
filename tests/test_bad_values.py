"""Bad values are rejected where they are given, with a message naming the op and the argument."""

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda x: x.reshape(2.9, 6), "reshape"),
        (lambda x: x.reshape((2.0, 6)), "reshape"),
        (lambda x: x.view(3.7, -1), "view"),
        (lambda x: x.reshape(None), "reshape"),
    ],
)
def test_shapes_must_be_ints_not_truncated(call, op):
    with pytest.raises(TypeError, match=f"^{op}: shape must be a sequence of ints"):
        call(tg.ones(3, 4))


def test_a_0d_integer_tensor_is_a_valid_size():
    assert tg.ones(3, 4).reshape(tg.tensor(2), -1).shape == (2, 6)


@pytest.mark.parametrize(
    "data, error, words",
    [
        (np.array([object(), object()]), TypeError, "dtype object"),
        (["a", "b"], TypeError, "dtype <U1"),
        ([[1, 2], [3]], ValueError, "ragged list"),
        ([tg.ones(2), tg.ones(3)], ValueError, "shapes (2,), (3,)"),
        ([tg.ones(2), tg.ones(2)], ValueError, "only one-element tensors"),
        ([1, None], TypeError, "NoneType"),
    ],
)
def test_tensor_of_bad_data_says_what_it_got(data, error, words):
    with pytest.raises(error, match="^tensor: ") as err:
        tg.tensor(data)
    assert words in str(err.value)


def test_a_list_of_one_element_tensors_is_accepted_as_in_pytorch():
    t = tg.tensor([tg.tensor(1.5), tg.tensor(2.5), tg.tensor([3.0])])
    assert t.dtype == tg.float32 and t.shape == (3,)
    np.testing.assert_array_equal(t.numpy(), [1.5, 2.5, 3.0])
    np.testing.assert_array_equal(tg.tensor([[tg.tensor(1), 2]]).numpy(), [[1, 2]])


@pytest.mark.parametrize("op", [tg.cat, tg.stack])
def test_cat_and_stack_of_plain_lists_name_the_op(op):
    with pytest.raises(TypeError, match=f"^{op.__name__}: expected a list of Tensors, but element 0 is a list"):
        op([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match=f"^{op.__name__}: expected a list or tuple of Tensors, got Tensor"):
        op(tg.ones(2))


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: tg.tensor([1.0], dtype="foo"), "tensor"),
        (lambda: tg.zeros(2, dtype="foo"), "zeros"),
        (lambda: tg.ones(2).type("foo"), "type"),
        (lambda: tg.ones(2, dtype=object), "ones"),
    ],
)
def test_unknown_dtypes_name_the_op(call, op):
    with pytest.raises(TypeError, match=f"^{op}: dtype must be a bool, integer or floating dtype"):
        call()


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: tg.optim.SGD(p, lr="0.1"), "SGD: lr must be a number, got '0.1'"),
        (lambda p: tg.optim.SGD(p, lr=0.1, momentum=None), "SGD: momentum must be a number"),
        (lambda p: tg.optim.Adam(p, lr="1e-3"), "Adam: lr must be a number"),
        (lambda p: tg.optim.Adam(p, betas=(0.9, "0.999")), "Adam: betas[1] must be a number"),
        (lambda p: tg.optim.SGD([{"params": p, "lr": "0.1"}], lr=0.1), "SGD: lr must be a number"),
    ],
)
def test_optimizer_hyperparameters_must_be_numbers(make, words):
    with pytest.raises(TypeError) as err:
        make([tg.ones(2, requires_grad=True)])
    assert str(err.value).startswith(words)


def test_batch_norm_without_running_stats_in_eval_mode_raises_as_pytorch():
    with pytest.raises(RuntimeError, match="batch_norm: running_mean must be defined in evaluation mode"):
        F.batch_norm(tg.randn(4, 3), None, None, training=False)
