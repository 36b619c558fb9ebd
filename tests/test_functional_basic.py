"""Activations, (log-)softmax, losses and linear: values against references written here, from the
formulas (NumPy loops or ``math``), gradients against finite differences; losses also against
PyTorch when it is installed (skipped otherwise)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygraph as tg
import tinygraph.functional as F

GRAD_TOL = dict(atol=1e-6, rtol=1e-6)  # float64 central differences are accurate to ~1e-9 here

values = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
away_from_zero = st.floats(0.05, 3.0) | st.floats(-3.0, -0.05)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
REDUCTIONS = ["mean", "sum", "none"]


def arrays(shape, elements=values):
    return hnp.arrays(np.float64, shape, elements=elements)


def leaf(array):
    return tg.tensor(array, dtype=tg.float64, requires_grad=True)


def check_grad(fn, *inputs):
    """gradcheck ``fn``; arrays become float64 leaves, anything else is passed as is."""
    assert tg.gradcheck(fn, *(leaf(x) if isinstance(x, np.ndarray) else x for x in inputs), **GRAD_TOL)


def assert_close(out, expected, rtol=1e-10, atol=1e-12):
    expected = np.asarray(expected, dtype=np.float64)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ activations
def gelu_reference(x):
    return np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.reshape(-1)]).reshape(x.shape)


ACTIVATIONS = {
    # name: (tinygraph function, reference from the formula, allowed inputs)
    "relu": (F.relu, lambda x: np.where(x > 0, x, 0.0), away_from_zero),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), away_from_zero),
    "leaky_relu(0.2)": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), away_from_zero),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), values),
    "tanh": (F.tanh, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)), values),
    "gelu": (F.gelu, gelu_reference, values),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(data=st.data())
def test_activation_values_and_gradients(name, data):
    fn, reference, domain = ACTIVATIONS[name]
    x = data.draw(arrays(data.draw(shapes), domain))
    assert_close(fn(tg.tensor(x)), reference(x))
    check_grad(fn, x)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_methods_and_top_level_functions_agree(name):
    x = tg.tensor([-1.5, 0.5, 2.0])
    expected = getattr(F, name)(x).data
    np.testing.assert_array_equal(getattr(x, name)().data, expected)
    np.testing.assert_array_equal(getattr(tg, name)(x).data, expected)


def test_relu_gradient_at_zero_is_zero():
    x = leaf([-1.0, 0.0, 1.0])
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])


@given(
    x=hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
                 elements=st.floats(-3, 3, width=32) | st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf])),
    transpose=st.booleans(),
)
def test_relu_kernels_match_numpy_on_any_values_and_layout(x, transpose):
    """The compiled ReLU loops against NumPy's formula, NaN and infinities included, on strided views too."""
    from tinygraph.kernels.cpu.activation import relu_backward, relu_forward

    x = x.T if transpose else x  # a non-contiguous view when ndim > 1
    out = relu_forward(x)
    expected = np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0.0))
    np.testing.assert_array_equal(out, expected.astype(x.dtype))
    assert out.dtype == x.dtype and out.shape == x.shape
    grad = np.arange(x.size, dtype=x.dtype).reshape(x.shape) + 1
    expected_grad = np.where(out <= 0, 0, grad)  # NaN passes the gradient, as in PyTorch
    np.testing.assert_array_equal(relu_backward(grad, out), expected_grad.astype(x.dtype))


def test_relu_of_float16_falls_back_to_numpy():
    x = tg.tensor([-1.0, 0.5, 2.0], dtype=tg.float16, requires_grad=True)
    y = F.relu(x)
    y.sum().backward()
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.data, [0.0, 0.5, 2.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0])


def test_sigmoid_and_tanh_saturate_without_overflow():
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # overflow or nan would raise
        s = F.sigmoid(tg.tensor([-1000.0, 0.0, 1000.0], dtype=tg.float64))
        t = F.tanh(tg.tensor([-1000.0, 1000.0]))
    np.testing.assert_array_equal(s.data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(t.data, [-1.0, 1.0])


def test_activations_keep_float32():
    x = tg.randn(3, 4)
    for fn, _, _ in ACTIVATIONS.values():
        assert fn(x).dtype == np.float32


# ------------------------------------------------------------------ softmax
def softmax_reference(x, axis):
    e = np.exp(x)  # small inputs: the unshifted textbook formula is exact enough
    return e / e.sum(axis=axis, keepdims=True)


@given(data=st.data())
def test_softmax_and_log_softmax(data):
    x = data.draw(arrays(nonscalar_shapes))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    expected = softmax_reference(x, dim)
    assert_close(F.softmax(tg.tensor(x), dim), expected)
    assert_close(tg.tensor(x).softmax(dim), expected)
    assert_close(tg.softmax(tg.tensor(x), dim), expected)
    assert_close(F.log_softmax(tg.tensor(x), dim), np.log(expected))
    assert_close(tg.tensor(x).log_softmax(dim), np.log(expected))
    check_grad(lambda t: F.softmax(t, dim), x)
    check_grad(lambda t: F.log_softmax(t, dim), x)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_softmax_of_huge_logits_is_finite(dtype):
    logits = tg.tensor([[1e4, 1e4 - 1.0, 0.0], [-1e4, 0.0, 1e4]], dtype=dtype, requires_grad=True)
    p = F.softmax(logits, dim=1)
    log_p = F.log_softmax(logits, dim=1)
    assert np.isfinite(p.data).all() and np.isfinite(log_p.data).all()
    # the shift by the row max makes these exactly the softmax of small numbers
    np.testing.assert_allclose(p.data[0], softmax_reference(np.array([1.0, 0.0, -1e4]), 0), rtol=1e-6)
    np.testing.assert_allclose(log_p.data[0, :2], np.log(softmax_reference(np.array([1.0, 0.0]), 0)), rtol=1e-5)
    (p.sum() + log_p[:, :2].sum()).backward()
    assert np.isfinite(logits.grad.data).all()


def test_cross_entropy_of_huge_logits_is_finite():
    logits = tg.tensor([[1e4, 0.0], [0.0, 1e4]], requires_grad=True)
    loss = F.cross_entropy(logits, tg.tensor([1, 1]))  # row 0 is confidently wrong: loss 1e4 / 2
    assert loss.item() == pytest.approx(5e3, rel=1e-6)
    loss.backward()
    assert np.isfinite(logits.grad.data).all()


# ------------------------------------------------------------------ cross-entropy and nll
def cross_entropy_reference(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Loop over positions of ``logits: (N, C, d...)`` and integer ``target: (N, d...)``, from the definition:
    loss = (1 - eps) * w[y] * (-log p_y) + eps / C * sum_c w[c] * (-log p_c);  mean divides by sum of w[y]."""
    num_classes = logits.shape[1]
    w = np.ones(num_classes) if weight is None else weight
    losses = np.zeros(target.shape)
    total_weight = 0.0
    for pos in np.ndindex(*target.shape):
        y = target[pos]
        if y == ignore_index:
            continue
        z = logits[(pos[0], slice(None)) + pos[1:]]
        log_p = z - math.log(sum(math.exp(v) for v in z))
        smooth = -sum(w[c] * log_p[c] for c in range(num_classes)) / num_classes
        losses[pos] = (1 - label_smoothing) * w[y] * -log_p[y] + label_smoothing * smooth
        total_weight += w[y]
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / total_weight


@st.composite
def classification_problem(draw, ignore=True):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    logits = draw(arrays((n, c) + extra))
    label = st.integers(0, c - 1)
    if ignore:
        label = label | st.just(-100)
    target = draw(hnp.arrays(np.int64, (n,) + extra, elements=label))
    target.reshape(-1)[0] = draw(st.integers(0, c - 1))  # at least one counted target, so 'mean' is defined
    weight = draw(st.none() | arrays((c,), st.floats(0.5, 2.0)))
    return logits, target, weight


@given(
    problem=classification_problem(),
    reduction=st.sampled_from(REDUCTIONS),
    label_smoothing=st.just(0.0) | st.floats(0.0, 0.5),
)
def test_cross_entropy_with_class_indices(problem, reduction, label_smoothing):
    logits, target, weight = problem
    kwargs = dict(
        weight=None if weight is None else tg.tensor(weight), reduction=reduction, label_smoothing=label_smoothing
    )
    out = F.cross_entropy(tg.tensor(logits), tg.tensor(target), **kwargs)
    assert_close(out, cross_entropy_reference(logits, target, weight, -100, reduction, label_smoothing))
    check_grad(lambda z: F.cross_entropy(z, tg.tensor(target), **kwargs), logits)


def test_cross_entropy_ignore_index_can_be_a_class():
    logits = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 1.0]])
    target = np.array([0, 2, 1])
    out = F.cross_entropy(tg.tensor(logits), tg.tensor(target), ignore_index=2)
    assert_close(out, cross_entropy_reference(logits, target, ignore_index=2))
    z = leaf(logits)
    F.cross_entropy(z, tg.tensor(target), ignore_index=2).backward()
    np.testing.assert_array_equal(z.grad.data[1], 0.0)  # the ignored row gets no gradient


def soft_cross_entropy_reference(logits, probs, weight=None, reduction="mean", label_smoothing=0.0):
    num_classes = logits.shape[1]
    w = np.ones(num_classes) if weight is None else weight
    shape = (1, num_classes) + (1,) * (logits.ndim - 2)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    q = probs * (1 - label_smoothing) + label_smoothing / num_classes
    losses = -(w.reshape(shape) * q * log_p).sum(axis=1)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


@given(
    problem=classification_problem(ignore=False),
    reduction=st.sampled_from(REDUCTIONS),
    label_smoothing=st.just(0.0) | st.floats(0.0, 0.5),
    data=st.data(),
)
def test_cross_entropy_with_class_probabilities(problem, reduction, label_smoothing, data):
    logits, _, weight = problem
    raw = data.draw(arrays(logits.shape, st.floats(0.0, 1.0)))
    probs = (raw + 0.01) / (raw + 0.01).sum(axis=1, keepdims=True)
    kwargs = dict(
        weight=None if weight is None else tg.tensor(weight), reduction=reduction, label_smoothing=label_smoothing
    )
    out = F.cross_entropy(tg.tensor(logits), tg.tensor(probs), **kwargs)
    assert_close(out, soft_cross_entropy_reference(logits, probs, weight, reduction, label_smoothing))
    check_grad(lambda z: F.cross_entropy(z, tg.tensor(probs), **kwargs), logits)


def nll_reference(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    w = np.ones(log_probs.shape[1]) if weight is None else weight
    losses, total = np.zeros(target.shape), 0.0
    for pos in np.ndindex(*target.shape):
        y = target[pos]
        if y != ignore_index:
            losses[pos] = -w[y] * log_probs[(pos[0], y) + pos[1:]]
            total += w[y]
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / total


@given(problem=classification_problem(), reduction=st.sampled_from(REDUCTIONS))
def test_nll_loss(problem, reduction):
    log_probs, target, weight = problem
    kwargs = dict(weight=None if weight is None else tg.tensor(weight), reduction=reduction)
    out = F.nll_loss(tg.tensor(log_probs), tg.tensor(target), **kwargs)
    assert_close(out, nll_reference(log_probs, target, weight, -100, reduction))
    check_grad(lambda z: F.nll_loss(z, tg.tensor(target), **kwargs), log_probs)


@given(problem=classification_problem(ignore=False))
def test_cross_entropy_is_log_softmax_then_nll(problem):
    logits, target, weight = problem
    w = None if weight is None else tg.tensor(weight)
    direct = F.cross_entropy(tg.tensor(logits), tg.tensor(target), weight=w)
    composed = F.nll_loss(F.log_softmax(tg.tensor(logits), dim=1), tg.tensor(target), weight=w)
    np.testing.assert_allclose(direct.data, composed.data, rtol=1e-12)


def test_cross_entropy_float32_gives_float32():
    loss = F.cross_entropy(tg.randn(4, 3, requires_grad=True), tg.tensor([0, 1, 2, 0]))
    assert loss.dtype == np.float32 and loss.shape == ()


# ------------------------------------------------------------------ mse
@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS))
def test_mse_loss(data, reduction):
    shape = data.draw(shapes)
    a, b = data.draw(arrays(shape)), data.draw(arrays(shape))
    squared = (a - b) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}[reduction]
    assert_close(F.mse_loss(tg.tensor(a), tg.tensor(b), reduction=reduction), expected)
    check_grad(lambda p, q: F.mse_loss(p, q, reduction=reduction), a, b)


# ------------------------------------------------------------------ linear
@given(data=st.data(), with_bias=st.booleans())
def test_linear(data, with_bias):
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    x, w = data.draw(arrays(batch + (n_in,))), data.draw(arrays((n_out, n_in)))
    b = data.draw(arrays((n_out,))) if with_bias else None
    expected = np.einsum("...i,oi->...o", x, w) + (b if with_bias else 0.0)
    if with_bias:
        assert_close(F.linear(tg.tensor(x), tg.tensor(w), tg.tensor(b)), expected)
        check_grad(F.linear, x, w, b)
    else:
        assert_close(F.linear(tg.tensor(x), tg.tensor(w)), expected)
        check_grad(F.linear, x, w)


def test_linear_float32():
    out = F.linear(tg.randn(5, 3), tg.randn(2, 3, requires_grad=True), tg.zeros(2, requires_grad=True))
    assert out.dtype == np.float32 and out.shape == (5, 2)


# ------------------------------------------------------------------ against PyTorch, when installed
@given(
    problem=classification_problem(),
    reduction=st.sampled_from(REDUCTIONS),
    label_smoothing=st.just(0.0) | st.floats(0.0, 0.5),
)
def test_cross_entropy_matches_torch(problem, reduction, label_smoothing):
    torch = pytest.importorskip("torch")
    logits, target, weight = problem
    z = leaf(logits)
    ours = F.cross_entropy(
        z,
        tg.tensor(target),
        weight=None if weight is None else tg.tensor(weight),
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    tz = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(
        tz,
        torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight),
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(tg.tensor(upstream))
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(z.grad.data, tz.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(
    problem=classification_problem(ignore=False),
    reduction=st.sampled_from(REDUCTIONS),
    label_smoothing=st.just(0.0) | st.floats(0.0, 0.5),
    data=st.data(),
)
def test_soft_target_cross_entropy_matches_torch(problem, reduction, label_smoothing, data):
    torch = pytest.importorskip("torch")
    logits, _, weight = problem
    raw = data.draw(arrays(logits.shape, st.floats(0.0, 1.0))) + 0.01
    probs = raw / raw.sum(axis=1, keepdims=True)
    ours = F.cross_entropy(
        tg.tensor(logits),
        tg.tensor(probs),
        weight=None if weight is None else tg.tensor(weight),
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    theirs = torch.nn.functional.cross_entropy(
        torch.tensor(logits),
        torch.tensor(probs),
        weight=None if weight is None else torch.tensor(weight),
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)


@given(problem=classification_problem(), reduction=st.sampled_from(REDUCTIONS))
def test_nll_loss_matches_torch(problem, reduction):
    torch = pytest.importorskip("torch")
    log_probs, target, weight = problem
    ours = F.nll_loss(
        tg.tensor(log_probs),
        tg.tensor(target),
        weight=None if weight is None else tg.tensor(weight),
        reduction=reduction,
    )
    theirs = torch.nn.functional.nll_loss(
        torch.tensor(log_probs),
        torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight),
        reduction=reduction,
    )
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)
