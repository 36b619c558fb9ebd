"""Property tests for every core op: values agree with NumPy, gradients with finite differences.

Each property draws random shapes and values with hypothesis, compares the forward result with
the same expression evaluated by NumPy, and runs ``tg.gradcheck`` (float64 central differences
against backpropagation with a random upstream gradient).  Values are drawn away from kinks
(|x| at 0, max/min ties, clamp bounds) and from the edges of each function's domain, so the
finite differences are valid there.
"""

import math
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygraph as tg

# Central differences with eps=1e-6 in float64 are accurate to ~1e-9 on these small inputs,
# so a 1e-6 tolerance still catches any real mistake in a backward formula.
GRAD_TOL = dict(atol=1e-6, rtol=1e-6)

values = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
positive = st.floats(0.25, 3.0)
away_from_zero = st.floats(0.25, 2.0) | st.floats(-2.0, -0.25)
# Two grids 0.1 apart: a value from one never ties with (or sits on) a value from the other.
on_grid = st.integers(-10, 10).map(lambda k: 0.2 * k)
off_grid = st.integers(-10, 9).map(lambda k: 0.2 * k + 0.1)

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def arrays(shape, elements=values):
    return hnp.arrays(np.float64, shape, elements=elements)


def leaf(array):
    return tg.tensor(array, dtype=tg.float64, requires_grad=True)


def check_grad(fn, *arrays_in):
    """gradcheck ``fn`` at float64 leaves made from ``arrays_in``."""
    assert tg.gradcheck(fn, *(leaf(a) for a in arrays_in), **GRAD_TOL)


def assert_matches(out, expected):
    expected = np.asarray(expected)
    assert isinstance(out, tg.Tensor)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


def grads_have_input_shapes(fn, *arrays_in):
    """Backpropagate a ones upstream gradient and check each leaf's grad has the leaf's shape."""
    leaves = [leaf(a) for a in arrays_in]
    out = fn(*leaves)
    out.backward(tg.ones(*out.shape, dtype=tg.float64))
    for x, a in zip(leaves, arrays_in):
        assert x.grad is not None and x.grad.shape == np.shape(a)


@st.composite
def distinct_array(draw, shape_strategy=nonscalar_shapes):
    """An array whose values are all different (no ties for max/min/argmax), at least 0.25 apart."""
    shape = draw(shape_strategy)
    n = int(np.prod(shape))
    perm = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    return ((perm - n / 2) * 0.25).reshape(shape)


# ------------------------------------------------------------------ binary arithmetic
BINARY_OPS = {
    "add": (operator.add, values, values),
    "sub": (operator.sub, values, values),
    "mul": (operator.mul, values, values),
    "truediv": (operator.truediv, values, away_from_zero),
    "pow": (operator.pow, positive, values),
}


@pytest.mark.parametrize("name", BINARY_OPS)
@given(data=st.data())
def test_binary_op_broadcasts_like_numpy(name, data):
    op, left, right = BINARY_OPS[name]
    shape_pair = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    a = data.draw(arrays(shape_pair.input_shapes[0], left))
    b = data.draw(arrays(shape_pair.input_shapes[1], right))
    assert_matches(op(tg.tensor(a), tg.tensor(b)), op(a, b))  # NumPy evaluates the same expression
    check_grad(op, a, b)
    grads_have_input_shapes(op, a, b)


# expression, allowed values of x, allowed values of the scalar s
SCALAR_EXPRESSIONS = {
    "x + s": (lambda x, s: x + s, values, values),
    "s + x": (lambda x, s: s + x, values, values),
    "x - s": (lambda x, s: x - s, values, values),
    "s - x": (lambda x, s: s - x, values, values),
    "x * s": (lambda x, s: x * s, values, values),
    "s * x": (lambda x, s: s * x, values, values),
    "x / s": (lambda x, s: x / s, values, away_from_zero),
    "s / x": (lambda x, s: s / x, away_from_zero, values),
    "x ** s": (lambda x, s: x**s, positive, values),
    "s ** x": (lambda x, s: s**x, values, positive),
    "-x": (lambda x, s: -x, values, values),
}


@pytest.mark.parametrize("expression", SCALAR_EXPRESSIONS)
@given(data=st.data())
def test_tensor_and_python_scalar_on_either_side(expression, data):
    fn, x_values, s_values = SCALAR_EXPRESSIONS[expression]
    x = data.draw(arrays(data.draw(shapes), x_values))
    s = data.draw(s_values)
    assert_matches(fn(tg.tensor(x), s), fn(x, s))
    check_grad(lambda t: fn(t, s), x)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2])
@given(x=arrays(shapes, away_from_zero))
def test_integer_power_of_signed_base(exponent, x):
    assert_matches(tg.tensor(x) ** exponent, x**exponent)
    check_grad(lambda t: t**exponent, x)


def test_power_of_zero_exponent_has_zero_gradient_everywhere():
    x = leaf([0.0, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


def test_fractional_power_of_integer_tensor_is_float():
    out = tg.tensor([1, 4, 9]) ** 0.5
    assert out.dtype.kind == "f"
    np.testing.assert_allclose(out.data, [1.0, 2.0, 3.0])
    assert (tg.tensor([1, 2, 3]) ** 2).tolist() == [1, 4, 9]


def test_numpy_array_on_the_left_defers_to_the_tensor():
    x = leaf([1.0, 2.0])
    out = np.array([3.0, 4.0]) * x
    assert isinstance(out, tg.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


# ------------------------------------------------------------------ unary math
UNARY = {
    "exp": (np.exp, values),
    "log": (np.log, positive),
    "sqrt": (np.sqrt, positive),
    "abs": (np.abs, away_from_zero),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_math_matches_numpy(name, data):
    reference, domain = UNARY[name]
    x = data.draw(arrays(data.draw(shapes), domain))
    method = operator.methodcaller(name)
    assert_matches(method(tg.tensor(x)), reference(x))
    assert_matches(getattr(tg, name)(tg.tensor(x)), reference(x))  # tg.exp(x) == x.exp()
    check_grad(method, x)


def test_abs_gradient_at_zero_is_zero():
    x = leaf([-1.0, 0.0, 2.0])
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("name, reference", [("maximum", np.maximum), ("minimum", np.minimum)])
@given(data=st.data())
def test_maximum_minimum_broadcast(name, reference, data):
    shape_pair = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    a = data.draw(arrays(shape_pair.input_shapes[0], on_grid))
    b = data.draw(arrays(shape_pair.input_shapes[1], off_grid))  # never equal to a value of a
    assert_matches(getattr(tg, name)(tg.tensor(a), tg.tensor(b)), reference(a, b))
    check_grad(lambda p, q: getattr(p, name)(q), a, b)
    grads_have_input_shapes(lambda p, q: getattr(p, name)(q), a, b)
    scalar = data.draw(off_grid)
    assert_matches(getattr(tg.tensor(a), name)(scalar), reference(a, scalar))


def test_maximum_ties_split_the_gradient():
    a, b = leaf([1.0, 2.0]), leaf([1.0, 3.0])
    a.maximum(b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0])


@given(data=st.data())
def test_clamp(data):
    x = data.draw(arrays(data.draw(shapes), off_grid))  # never on a bound
    low = data.draw(st.none() | on_grid)
    high = data.draw(st.none() | on_grid)
    if low is None and high is None:
        low = 0.0
    if low is not None and high is not None and low > high:
        low, high = high, low
    expected = x
    if low is not None:
        expected = np.where(expected < low, low, expected)
    if high is not None:
        expected = np.where(expected > high, high, expected)
    assert_matches(tg.tensor(x).clamp(low, high), expected)
    assert_matches(tg.clamp(tg.tensor(x), low, high), expected)
    check_grad(lambda t: t.clamp(low, high), x)


def test_clamp_passes_the_gradient_at_the_bounds_themselves():
    x = leaf([-1.0, 0.0, 0.5, 1.0, 2.0])
    x.clamp(0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])  # as PyTorch: min <= x <= max


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne])
@given(data=st.data())
def test_comparisons_broadcast_and_record_no_graph(op, data):
    shape_pair = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    small_ints = st.integers(-2, 2).map(float)  # equal values are common
    a = data.draw(arrays(shape_pair.input_shapes[0], small_ints))
    b = data.draw(arrays(shape_pair.input_shapes[1], small_ints))
    out = op(leaf(a), tg.tensor(b))
    assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.data, op(a, b))
    np.testing.assert_array_equal(op(tg.tensor(a), 0.0).data, op(a, 0.0))


# ------------------------------------------------------------------ reductions
@st.composite
def dims_for(draw, ndim, allow_tuple=True):
    """None, an int (possibly negative) or, if allowed, a tuple of distinct dims."""
    options = [st.none(), st.integers(-ndim, ndim - 1)]
    if allow_tuple:
        options.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return draw(st.one_of(*options))


REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "amax": np.max,
    "amin": np.min,
}


@pytest.mark.parametrize("name", REDUCTIONS)
@given(data=st.data())
def test_reductions_over_dims_with_keepdim(name, data):
    x = data.draw(distinct_array())  # distinct values: max/min have a unique winner
    dim = data.draw(dims_for(x.ndim))
    keepdim = data.draw(st.booleans())
    reduce = operator.methodcaller(name, dim, keepdim)
    assert_matches(reduce(tg.tensor(x)), REDUCTIONS[name](x, axis=dim, keepdims=keepdim))
    check_grad(reduce, x)


@pytest.mark.parametrize("name, values_ref, index_ref", [("max", np.max, np.argmax), ("min", np.min, np.argmin)])
@given(data=st.data())
def test_max_min_return_values_and_indices_along_a_dim(name, values_ref, index_ref, data):
    x = data.draw(distinct_array())
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    keepdim = data.draw(st.booleans())
    result = getattr(tg.tensor(x), name)(dim, keepdim=keepdim)
    assert_matches(result.values, values_ref(x, axis=dim, keepdims=keepdim))
    assert result.indices.dtype == np.int64
    np.testing.assert_array_equal(result.indices.data, index_ref(x, axis=dim, keepdims=keepdim))
    assert_matches(getattr(tg.tensor(x), name)(), values_ref(x))  # no dim: the overall extremum
    check_grad(lambda t: getattr(t, name)(dim, keepdim=keepdim).values, x)


@given(data=st.data())
def test_argmax_argmin(data):
    x = data.draw(distinct_array())
    dim = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1))
    keepdim = data.draw(st.booleans()) if dim is not None else False
    for name in ("argmax", "argmin"):
        out = getattr(tg.tensor(x), name)(dim, keepdim=keepdim)
        expected = getattr(np, name)(x, axis=dim, keepdims=keepdim)
        assert out.dtype == np.int64 and not out.requires_grad
        np.testing.assert_array_equal(out.data, expected)
        assert out.shape == np.shape(expected)


def test_tied_maxima_share_the_gradient():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    x.amax(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


@given(data=st.data())
def test_var_matches_numpy_with_and_without_bessel_correction(data):
    x = data.draw(arrays(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4)))
    dim = data.draw(dims_for(x.ndim))
    keepdim = data.draw(st.booleans())
    unbiased = data.draw(st.booleans())
    expected = np.var(x, axis=dim, keepdims=keepdim, ddof=1 if unbiased else 0)
    assert_matches(tg.tensor(x).var(dim, keepdim=keepdim, unbiased=unbiased), expected)
    check_grad(lambda t: t.var(dim, keepdim=keepdim, unbiased=unbiased), x)
    std = np.std(x, axis=dim, keepdims=keepdim, ddof=1 if unbiased else 0)
    assert_matches(tg.tensor(x).std(dim, keepdim=keepdim, unbiased=unbiased), std)


@given(x=arrays(st.just(())))
def test_reductions_of_a_0d_tensor(x):
    for name in ("sum", "mean", "amax", "amin"):
        assert_matches(getattr(tg.tensor(x), name)(), x)
        check_grad(operator.methodcaller(name), x)


# ------------------------------------------------------------------ matmul
@st.composite
def matmul_operands(draw):
    """Shapes for ``a @ b``: batched with broadcasting batch dims, either side possibly 1-D."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    a_shape = (k,) if draw(st.booleans()) else batch_a + (n, k)
    b_shape = (k,) if draw(st.booleans()) else batch_b + (k, m)
    return draw(arrays(a_shape)), draw(arrays(b_shape))


@given(operands=matmul_operands())
def test_matmul_like_numpy(operands):
    a, b = operands
    expected = np.matmul(a, b)
    assert_matches(tg.tensor(a) @ tg.tensor(b), expected)
    assert_matches(tg.matmul(tg.tensor(a), tg.tensor(b)), expected)
    check_grad(operator.matmul, a, b)
    grads_have_input_shapes(operator.matmul, a, b)


def test_matmul_with_numpy_operand():
    a = leaf(np.eye(2))
    out = a @ np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(out.data, [[1.0, 2.0], [3.0, 4.0]])


# ------------------------------------------------------------------ shapes
@st.composite
def reshape_target(draw, size):
    """A shape with ``size`` elements (up to 4 dims), sometimes with one -1."""
    dims, remaining = [], size
    while remaining > 1 and len(dims) < 3:
        d = draw(st.sampled_from([d for d in range(1, remaining + 1) if remaining % d == 0]))
        dims.append(d)
        remaining //= d
    dims.append(remaining)
    dims = draw(st.permutations(dims))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@given(data=st.data())
def test_reshape_and_view(data):
    x = data.draw(arrays(data.draw(shapes)))
    target = data.draw(reshape_target(x.size))
    expected = x.reshape(target)
    assert_matches(tg.tensor(x).reshape(target), expected)
    assert_matches(tg.tensor(x).reshape(*target), expected)
    assert_matches(tg.tensor(x).view(target), expected)
    assert_matches(tg.reshape(tg.tensor(x), target), expected)
    check_grad(lambda t: t.reshape(target) * 1.0, x)  # "* 1.0": a non-leaf output even if no reshape happened


@given(data=st.data())
def test_flatten(data):
    x = data.draw(arrays(nonscalar_shapes))
    start = data.draw(st.integers(0, x.ndim - 1))
    end = data.draw(st.integers(start, x.ndim - 1))
    expected_shape = x.shape[:start] + (int(np.prod(x.shape[start : end + 1])),) + x.shape[end + 1 :]
    assert_matches(tg.tensor(x).flatten(start, end), x.reshape(expected_shape))
    assert_matches(tg.tensor(x).flatten(start - x.ndim, end - x.ndim), x.reshape(expected_shape))
    assert_matches(tg.flatten(tg.tensor(x)), x.reshape(-1))
    check_grad(lambda t: t.flatten(start, end) * 1.0, x)


@given(data=st.data())
def test_squeeze_and_unsqueeze(data):
    x = data.draw(arrays(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2)))  # many size-1 dims
    assert_matches(tg.tensor(x).squeeze(), np.squeeze(x))
    if x.ndim:
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        # PyTorch semantics: squeezing a dim whose size is not 1 leaves the tensor as it is
        expected = np.squeeze(x, axis=dim) if x.shape[dim] == 1 else x
        assert_matches(tg.tensor(x).squeeze(dim), expected)
        check_grad(lambda t: t.squeeze(dim) * 1.0, x)
    new = data.draw(st.integers(-x.ndim - 1, x.ndim))
    assert_matches(tg.tensor(x).unsqueeze(new), np.expand_dims(x, new))
    check_grad(lambda t: t.unsqueeze(new), x)


@given(data=st.data())
def test_permute_and_transpose(data):
    x = data.draw(arrays(nonscalar_shapes))
    dims = data.draw(st.permutations(range(x.ndim)))
    assert_matches(tg.tensor(x).permute(*dims), np.transpose(x, dims))
    assert_matches(tg.tensor(x).permute(dims), np.transpose(x, dims))
    assert_matches(tg.permute(tg.tensor(x), dims), np.transpose(x, dims))
    check_grad(lambda t: t.permute(*dims), x)
    d0 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d1 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert_matches(tg.tensor(x).transpose(d0, d1), np.swapaxes(x, d0, d1))
    assert_matches(tg.tensor(x).T, x.T)
    check_grad(lambda t: t.transpose(d0, d1), x)


@given(data=st.data())
def test_expand(data):
    x = data.draw(arrays(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=2)))
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
    kept = [data.draw(st.integers(1, 3)) if n == 1 else data.draw(st.sampled_from([n, -1])) for n in x.shape]
    target = tuple(lead) + tuple(kept)
    expected_shape = tuple(lead) + tuple(n if t == -1 else t for n, t in zip(x.shape, kept))
    assert_matches(tg.tensor(x).expand(*target), np.broadcast_to(x, expected_shape))
    check_grad(lambda t: t.expand(target), x)
    grads_have_input_shapes(lambda t: t.expand(target), x)


# ------------------------------------------------------------------ indexing
@given(data=st.data())
def test_basic_indexing_ints_slices_none_ellipsis(data):
    x = data.draw(arrays(nonscalar_shapes))
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    assert_matches(tg.tensor(x)[index], x[index])
    check_grad(lambda t: t[index] * 1.0, x)


@given(data=st.data())
def test_integer_array_indexing_accumulates_repeated_indices(data):
    x = data.draw(arrays(nonscalar_shapes))
    index = data.draw(hnp.integer_array_indices(x.shape, result_shape=hnp.array_shapes(max_dims=2, max_side=5)))
    assert_matches(tg.tensor(x)[index], x[index])
    check_grad(lambda t: t[index], x)
    # the gradient of x[index] counts how often each element was picked
    t = leaf(x)
    t[index].backward(tg.ones(*x[index].shape, dtype=tg.float64))
    counts = np.zeros(x.shape)
    np.add.at(counts, index, 1.0)
    np.testing.assert_array_equal(t.grad.data, counts)


@given(data=st.data())
def test_integer_list_on_first_dim_mixed_with_slices(data):
    x = data.draw(arrays(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4)))
    rows = data.draw(st.lists(st.integers(-x.shape[0], x.shape[0] - 1), min_size=1, max_size=6))
    assert_matches(tg.tensor(x)[rows, 1:], x[rows, 1:])
    assert_matches(tg.tensor(x)[tg.tensor(rows)], x[rows])
    check_grad(lambda t: t[rows, 1:], x)


def test_repeated_index_gradient_by_hand():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


def test_boolean_mask_indexing():
    x = leaf([[1.0, -2.0], [-3.0, 4.0]])
    picked = x[x.detach() > 0]
    np.testing.assert_array_equal(picked.data, [1.0, 4.0])
    (picked * tg.tensor([2.0, 3.0], dtype=tg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0, 0.0], [0.0, 3.0]])


# ------------------------------------------------------------------ cat / stack / pad / where
@given(data=st.data())
def test_cat(data):
    base = data.draw(nonscalar_shapes)
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = []
    for n in sizes:
        shape = list(base)
        shape[dim] = n
        parts.append(data.draw(arrays(tuple(shape))))
    assert_matches(tg.cat([tg.tensor(p) for p in parts], dim=dim), np.concatenate(parts, axis=dim))
    check_grad(lambda *ts: tg.cat(ts, dim=dim), *parts)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes)
    count = data.draw(st.integers(1, 3))
    parts = [data.draw(arrays(shape)) for _ in range(count)]
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_matches(tg.stack([tg.tensor(p) for p in parts], dim=dim), np.stack(parts, axis=dim))
    check_grad(lambda *ts: tg.stack(ts, dim=dim), *parts)


@given(data=st.data())
def test_constant_pad_last_dims_first(data):
    x = data.draw(arrays(nonscalar_shapes))
    padded_dims = data.draw(st.integers(1, x.ndim))
    widths = data.draw(st.lists(st.integers(0, 2), min_size=2 * padded_dims, max_size=2 * padded_dims))
    value = data.draw(values)
    # PyTorch's order: (last_before, last_after, second_last_before, ...); NumPy wants one pair per dim
    numpy_widths = [(0, 0)] * x.ndim
    for i in range(padded_dims):
        numpy_widths[x.ndim - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    expected = np.pad(x, numpy_widths, constant_values=value)
    assert_matches(tg.pad(tg.tensor(x), tuple(widths), value=value), expected)
    assert_matches(tg.functional.pad(tg.tensor(x), tuple(widths), value=value), expected)
    check_grad(lambda t: tg.pad(t, tuple(widths), value=value), x)


@given(data=st.data())
def test_where(data):
    shape = data.draw(shapes)
    cond = data.draw(hnp.arrays(np.bool_, shape))
    a, b = data.draw(arrays(shape)), data.draw(arrays(shape))
    assert_matches(tg.where(tg.tensor(cond), tg.tensor(a), tg.tensor(b)), np.where(cond, a, b))
    check_grad(lambda p, q: tg.where(cond, p, q), a, b)


# ------------------------------------------------------------------ a composite, against math by hand
@given(x=st.floats(0.5, 2.0), y=st.floats(-2.0, 2.0))
def test_composite_expression_against_hand_derivatives(x, y):
    a, b = leaf(x), leaf(y)
    f = (a * b + b.exp()) / a.sqrt() - (a**2).log()
    f.backward()
    expected = (x * y + math.exp(y)) / math.sqrt(x) - math.log(x * x)
    assert f.item() == pytest.approx(expected, rel=1e-12)
    # df/dx = y / sqrt(x) - (x y + e^y) / (2 x^1.5) - 2/x ;  df/dy = (x + e^y) / sqrt(x)
    assert a.grad.item() == pytest.approx(y / math.sqrt(x) - (x * y + math.exp(y)) / (2 * x**1.5) - 2 / x, rel=1e-9)
    assert b.grad.item() == pytest.approx((x + math.exp(y)) / math.sqrt(x), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    x=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.sampled_from([0.0, 1.0, 2.0])
    ),
    data=st.data(),
    keepdim=st.booleans(),
    largest=st.booleans(),
)
def test_max_min_along_dim_send_the_gradient_to_the_returned_index(x, data, keepdim, largest):
    """``x.max(dim)``: ties are frequent here (three values); the gradient goes to ``indices`` only, as PyTorch."""
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = tg.tensor(x, requires_grad=True)
    values, indices = t.max(dim, keepdim) if largest else t.min(dim, keepdim)
    pick = np.argmax if largest else np.argmin
    expected_index = pick(x, axis=dim, keepdims=True)
    np.testing.assert_array_equal(indices.data, expected_index if keepdim else np.squeeze(expected_index, dim))
    np.testing.assert_array_equal(values.data, np.take_along_axis(x, expected_index, dim).reshape(values.shape))
    upstream = np.random.default_rng(0).standard_normal(values.shape)
    values.backward(tg.tensor(upstream))
    expected_grad = np.zeros_like(x)  # a one-hot scatter, written as a loop over the reduced positions
    flat_index = np.moveaxis(expected_index, dim, -1)[..., 0]
    flat_up = np.moveaxis(upstream.reshape(expected_index.shape), dim, -1)[..., 0]
    moved = np.moveaxis(expected_grad, dim, -1)  # a view: writing into it writes expected_grad
    for pos in np.ndindex(flat_index.shape):
        moved[pos + (flat_index[pos],)] = flat_up[pos]
    np.testing.assert_array_equal(t.grad.data, expected_grad)
