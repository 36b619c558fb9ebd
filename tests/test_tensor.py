"""Tensor basics: construction, dtype rules, factories, seeding, attributes, leaving the graph."""

import types

import numpy as np
import pytest

import tinygraph as tg


# ------------------------------------------------------------------ dtypes
def test_python_floats_become_float32_and_ints_int64():
    assert tg.tensor(1.5).dtype == np.float32
    assert tg.tensor([[1.0, 2.0]]).dtype == np.float32
    assert tg.tensor(3).dtype == np.int64
    assert tg.tensor([1, 2, 3]).dtype == np.int64
    assert tg.tensor([True, False]).dtype == np.bool_


def test_numpy_arrays_keep_their_dtype_unless_one_is_given():
    assert tg.tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert tg.tensor(np.zeros(3, dtype=np.int32)).dtype == np.int32
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor(np.ones(2), dtype=tg.float32).dtype == np.float32


def test_explicit_float64_keeps_every_digit_of_python_floats():
    assert tg.tensor(0.1, dtype=tg.float64).item() == 0.1
    assert tg.tensor([0.1, 1 / 3], dtype=tg.float64).tolist() == [0.1, 1 / 3]


def test_tensor_copies_its_data():
    source = np.zeros(3, dtype=np.float32)
    t = tg.tensor(source)
    source[0] = 5
    assert t.data[0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_through_ops_and_gradients(dtype):
    x = tg.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), dtype=dtype, requires_grad=True)
    w = tg.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), dtype=dtype, requires_grad=True)
    outputs = [
        x + 1,
        2 * x,
        x / 3,
        x**2,
        -x,
        x.exp(),
        x.log(),
        x.sqrt(),
        x.abs(),
        x.clamp(0.7, 1.5),
        x.sum(0),
        x.mean(),
        x.var(1),
        x.amax(),
        x @ w,
        x.reshape(3, 2),
        x.T,
        x[0],
        x.relu(),
        x.sigmoid(),
        x.tanh(),
        x.softmax(-1),
        tg.cat([x, x]),
        tg.functional.gelu(x),
    ]
    for out in outputs:
        assert out.dtype == dtype, out.grad_fn
    (x @ w).sum().backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_scalar_operand_keeps_the_tensor_dtype():
    x = tg.ones(3)
    assert (x + 1).dtype == np.float32
    assert (x * 2.5).dtype == np.float32
    assert (1.0 - x).dtype == np.float32
    assert (2**x).dtype == np.float32


def test_results_are_numpy_arrays_even_for_0d():
    # NumPy returns scalars (np.float32) from ops on 0-d arrays; a Tensor must still hold an array
    a, b = tg.tensor(2.0), tg.tensor(3.0)
    for out in (a * b, a + b, a.exp(), -a, a.sum()):
        assert isinstance(out.data, np.ndarray), type(out.data)
    product = a * b
    product.zero_()
    assert product.item() == 0.0


def test_set_default_dtype():
    try:
        tg.set_default_dtype(tg.float64)
        assert tg.tensor(1.0).dtype == np.float64
        assert tg.zeros(2).dtype == np.float64
    finally:
        tg.set_default_dtype(tg.float32)
    assert tg.tensor(1.0).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        tg.set_default_dtype(tg.int64)


def test_only_float_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating-point"):
        tg.tensor([1, 2], requires_grad=True)


def test_type_conversions():
    x = tg.tensor([1.5, -2.5])
    assert x.double().dtype == np.float64
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.to(tg.float64).dtype == np.float64
    assert x.to("cpu") is x
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


# ------------------------------------------------------------------ factories
@pytest.mark.parametrize(
    "factory, expected",
    [
        (lambda: tg.zeros(2, 3), np.zeros((2, 3))),
        (lambda: tg.zeros((2, 3)), np.zeros((2, 3))),
        (lambda: tg.ones(4), np.ones(4)),
        (lambda: tg.full((2, 2), 7.5), np.full((2, 2), 7.5)),
        (lambda: tg.eye(3), np.eye(3)),
        (lambda: tg.eye(2, 3), np.eye(2, 3)),
        (lambda: tg.arange(5.0), np.arange(5.0)),
        (lambda: tg.arange(1, 2, 0.25), np.arange(1, 2, 0.25)),
        (lambda: tg.zeros_like(tg.ones(2, 5)), np.zeros((2, 5))),
        (lambda: tg.ones_like(tg.zeros(3, 1)), np.ones((3, 1))),
    ],
)
def test_float_factories_are_float32_with_the_right_values(factory, expected):
    t = factory()
    assert t.dtype == np.float32
    assert t.shape == expected.shape
    np.testing.assert_array_equal(t.data, expected)
    assert t.is_leaf and not t.requires_grad


def test_factory_dtype_and_requires_grad_arguments():
    assert tg.arange(4).dtype == np.int64
    assert tg.arange(4).tolist() == [0, 1, 2, 3]
    assert tg.zeros(2, dtype=tg.float64).dtype == np.float64
    assert tg.ones_like(tg.zeros(2, dtype=tg.float64)).dtype == np.float64
    assert tg.zeros_like(tg.zeros(2), dtype=tg.float64).dtype == np.float64
    assert tg.eye(2, dtype=tg.float64).dtype == np.float64
    w = tg.randn(3, 2, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_randn_and_rand_shapes_and_ranges():
    tg.manual_seed(1)
    r = tg.rand(1000)
    assert r.dtype == np.float32 and r.shape == (1000,)
    assert 0.0 <= r.data.min() and r.data.max() < 1.0
    n = tg.randn(100, 50)
    assert n.shape == (100, 50)
    # 5000 standard normals: mean within 0.1, std within 0.1 of 1 (6 standard errors, never flaky)
    assert abs(n.data.mean()) < 0.1 and abs(n.data.std() - 1) < 0.1


def test_manual_seed_makes_random_tensors_reproducible():
    tg.manual_seed(123)
    first = (tg.randn(3, 4).data, tg.rand(5).data)
    tg.manual_seed(123)
    second = (tg.randn(3, 4).data, tg.rand(5).data)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    tg.manual_seed(124)
    assert not np.array_equal(tg.randn(3, 4).data, first[0])


def test_factories_reject_bad_sizes():
    with pytest.raises(ValueError, match="zeros"):
        tg.zeros(2, -1)
    with pytest.raises(ValueError, match="ones"):
        tg.ones(2.5)
    with pytest.raises(TypeError, match="seed"):
        tg.manual_seed(1.5)


# ------------------------------------------------------------------ attributes
def test_shape_ndim_dtype_size():
    t = tg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24
    assert len(t) == 2
    assert t.device == "cpu"
    with pytest.raises(IndexError, match="size"):
        t.size(3)


def test_item_and_numpy():
    assert tg.tensor(2.5).item() == 2.5
    assert isinstance(tg.tensor([7]).item(), int)
    with pytest.raises(ValueError, match=r"item\(\).*\(2,\)"):
        tg.tensor([1.0, 2.0]).item()
    t = tg.tensor([1.0, 2.0])
    array = t.numpy()
    assert isinstance(array, np.ndarray)
    array[0] = 9  # numpy() shares memory, as in PyTorch
    assert t.data[0] == 9
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        w.numpy()
    np.testing.assert_array_equal(w.detach().numpy(), [1, 1])


def test_repr_mentions_grad_fn_and_requires_grad():
    w = tg.ones(2, requires_grad=True)
    assert "requires_grad=True" in repr(w)
    assert "grad_fn=<Mul>" in repr(w * 2)
    assert "float64" in repr(tg.zeros(1, dtype=tg.float64))


def test_comparisons_give_bool_tensors_without_grad():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = tg.tensor([3.0, 2.0, 1.0])
    cases = {
        (x < y): [True, False, False],
        (x <= y): [True, True, False],
        (x > y): [False, False, True],
        (x >= y): [False, True, True],
        (x == y): [False, True, False],
        (x != y): [True, False, True],
        (x > 1.5): [False, True, True],
    }
    for result, expected in cases.items():
        assert result.dtype == np.bool_
        assert not result.requires_grad and result.grad_fn is None
        assert result.tolist() == expected


def test_bool_of_multi_element_tensor_is_an_error():
    assert bool(tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.tensor([1.0, 2.0]))


def test_inplace_updates_need_no_grad_for_leaves_requiring_grad():
    w = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place.*no_grad"):
        w += 1
    with pytest.raises(RuntimeError, match="in-place"):
        w.add_(1.0)
    with tg.no_grad():
        w -= 0.5
        w.mul_(4.0)
        w.add_(tg.ones(3), alpha=-1.0)
    np.testing.assert_array_equal(w.data, [1.0, 1.0, 1.0])
    assert w.grad_fn is None and w.requires_grad
    plain = tg.zeros(2)
    plain += 2  # no grad involved: allowed anywhere
    plain.fill_(3.0)
    assert plain.tolist() == [3.0, 3.0]


# ------------------------------------------------------------------ dtype promotion across categories
# PyTorch's rule (torch.result_type): a float and an integer/bool operand give the float's dtype;
# int / int gives the default float dtype.  NumPy would give float64 in all of these.
PROMOTIONS = [
    ("float32 + int64", lambda f, i: f + i, np.float32),
    ("int64 + float32", lambda f, i: i + f, np.float32),
    ("float32 * int64", lambda f, i: f * i, np.float32),
    ("int64 - float32", lambda f, i: i - f, np.float32),
    ("int64 / float32", lambda f, i: i / f, np.float32),
    ("float32 / int64", lambda f, i: f / i, np.float32),
    ("int64 / int64", lambda f, i: i / i, np.float32),
    ("int64 / 2", lambda f, i: i / 2, np.float32),
    ("2 / int64", lambda f, i: 2 / i, np.float32),
    ("int64 * 2.5", lambda f, i: i * 2.5, np.float32),
    ("2.5 - int64", lambda f, i: 2.5 - i, np.float32),
    ("int64 + 1", lambda f, i: i + 1, np.int64),
    ("float64 + int64", lambda f, i: f.double() + i, np.float64),
    ("float32 + float64", lambda f, i: f + f.double(), np.float64),
    ("float32 + bool", lambda f, i: f + (i > 1), np.float32),
    ("maximum(int64, float32)", lambda f, i: tg.maximum(i, f), np.float32),
]


@pytest.mark.parametrize("name, op, dtype", PROMOTIONS, ids=[p[0] for p in PROMOTIONS])
def test_mixed_dtypes_promote_as_pytorch(name, op, dtype):
    f, i = tg.tensor([1.5, -2.0, 4.0]), tg.tensor([1, 2, 3])
    out = op(f, i)
    assert out.dtype == dtype, name
    # the values are NumPy's float64 arithmetic, rounded to the result dtype
    expected = op(tg.tensor(f.data.astype(np.float64)), tg.tensor(i.data.astype(np.float64))).data
    np.testing.assert_allclose(out.data, expected.astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("name, op, dtype", PROMOTIONS, ids=[p[0] for p in PROMOTIONS])
def test_mixed_dtype_promotion_matches_torch(name, op, dtype):
    torch = pytest.importorskip("torch")
    # the same expression with torch tensors (and torch.maximum where it says tg.maximum)
    torch_op = types.FunctionType(op.__code__, dict(op.__globals__, tg=types.SimpleNamespace(maximum=torch.maximum)))
    result = torch_op(torch.tensor([1.5, -2.0, 4.0]), torch.tensor([1, 2, 3]))
    assert str(result.dtype) == f"torch.{np.dtype(dtype).name}", name


def test_float_gradient_through_a_mixed_dtype_product():
    w = tg.tensor([1.5, -2.0], requires_grad=True)
    counts = tg.tensor([3, 4])
    (w * counts).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])
