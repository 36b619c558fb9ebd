"""Pooling: worked examples, edge cases, argument errors, and (when installed) agreement with PyTorch.

The random-geometry properties (fast == reference == NumPy oracle, gradients) are in
``test_pool_properties.py``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph.functional.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, pool_output_size

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is a benchmark-only extra, never a dependency
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


# ------------------------------------------------------------------ worked examples


def test_output_size_formula_examples():
    # floor((H + 2p - d(k-1) - 1)/s) + 1
    assert pool_output_size(28, 2, 2, 0, 1, False) == 14
    assert pool_output_size(7, 3, 2, 1, 1, False) == 4
    assert pool_output_size(7, 3, 1, 0, 2, False) == 3  # dilated: the kernel spans 5
    # ceil_mode keeps a last partial window...
    assert pool_output_size(6, 3, 2, 0, 1, False) == 2
    assert pool_output_size(6, 3, 2, 0, 1, True) == 3
    # ...unless it would start in the right padding: H=5, k=2, s=2, p=1 rounds up to 4 windows,
    # but the 4th would start at row 5 (= H + p - 1 + 1, the padding), so PyTorch keeps 3
    assert pool_output_size(5, 2, 2, 1, 1, True) == 3


def test_max_pool_2x2_worked_example():
    x = tg.tensor(
        [[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, 0.0, 2.0, 8.0], [9.0, 0.0, 3.0, 1.0]]]],
        requires_grad=True,
    )
    out, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[[4.0, 5.0], [9.0, 8.0]]]])
    np.testing.assert_array_equal(idx.data, [[[[5, 2], [12, 11]]]])  # flat indices ih*4 + iw
    assert idx.dtype == np.int64
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32))
    expected = np.zeros((1, 1, 4, 4), dtype=np.float32)
    expected[0, 0, 1, 1], expected[0, 0, 0, 2], expected[0, 0, 3, 0], expected[0, 0, 2, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(x.grad.data, expected)


def test_overlapping_windows_accumulate_gradient_on_a_shared_winner():
    # 3x3 windows with stride 1 over a 4x4 input whose max (9) sits in all four windows
    data = np.eye(4)[None, None]
    data[0, 0, 1, 1] = 9.0
    x = tg.tensor(data, requires_grad=True)
    out = max_pool2d(x, 3, stride=1)
    out.sum().backward()
    assert out.shape == (1, 1, 2, 2) and (out.data == 9.0).all()
    assert x.grad.data[0, 0, 1, 1] == 4.0 and x.grad.data.sum() == 4.0


def test_avg_pool_ceil_mode_divisor_counts_only_the_padded_input():
    # 4x4 ones, k=3, s=2, p=1, ceil_mode: 3x3 windows.  Window rows are -1..1, 1..3 and 3..5; the
    # last one has row 4 in the padding and row 5 beyond it.  With count_include_pad the divisor
    # counts the padding (row 4) but not what lies past it (row 5), as PyTorch does:
    #   [0,0]: 2x2 real of 3x3 -> 4/9     [0,1]: 2x3 of 3x3 -> 6/9     [0,2]: 2x1 of 3x2 -> 2/6
    #   [1,1]: 3x3 of 3x3 -> 1            [1,2]: 3x1 of 3x2 -> 3/6     [2,2]: 1x1 of 2x2 -> 1/4
    x = tg.ones(1, 1, 4, 4, dtype=tg.float64)
    out = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)
    expected = [[4 / 9, 6 / 9, 2 / 6], [6 / 9, 1, 3 / 6], [2 / 6, 3 / 6, 1 / 4]]
    np.testing.assert_allclose(out.data[0, 0], expected)
    # without count_include_pad every window of ones averages to exactly 1
    out = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(out.data, np.ones((1, 1, 3, 3)))
    # no padding: the last window (rows 4..5 of a 5-row input) divides by 1, not 2
    out = avg_pool2d(tg.ones(1, 1, 5, 5, dtype=tg.float64), 2, ceil_mode=True)
    np.testing.assert_allclose(out.data, np.ones((1, 1, 3, 3)))


def test_avg_pool_divisor_override():
    x = tg.ones(1, 1, 4, 4, dtype=tg.float64)
    np.testing.assert_allclose(avg_pool2d(x, 2, divisor_override=1).data, np.full((1, 1, 2, 2), 4.0))


def test_adaptive_avg_pool_windows_overlap_like_pytorch():
    # H=5 -> 3 outputs: windows [0, 2), [1, 4), [3, 5)
    x = tg.tensor(np.arange(5.0).reshape(1, 1, 5, 1), dtype=tg.float64)
    out = adaptive_avg_pool2d(x, (3, 1))
    np.testing.assert_allclose(out.data[0, 0, :, 0], [0.5, 2.0, 3.5])


def test_adaptive_output_size_none_keeps_input_size():
    x = tg.randn(2, 3, 6, 5)
    assert adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, 6, 2)
    assert adaptive_avg_pool2d(x, (3, None)).shape == (2, 3, 3, 5)
    assert adaptive_avg_pool2d(x, 4).shape == (2, 3, 4, 4)


# ------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_edge_geometries(pool):
    fn = max_pool2d if pool == "max" else avg_pool2d
    x = tg.randn(1, 2, 5, 5, dtype=tg.float64)
    np.testing.assert_allclose(fn(x, 1).data, x.data)  # a 1x1 kernel is the identity
    whole = fn(x, 5)  # kernel equal to the input: one output pixel per plane
    reduce = np.max if pool == "max" else np.mean
    np.testing.assert_allclose(whole.data[..., 0, 0], reduce(x.data, axis=(2, 3)))
    # stride larger than the kernel skips inputs
    np.testing.assert_allclose(fn(x, 1, stride=3).data, x.data[:, :, ::3, ::3])


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d, lambda t, k: adaptive_avg_pool2d(t, k)])
def test_single_image_without_batch_dimension(fn):
    x = tg.randn(3, 6, 6, requires_grad=True)
    out = fn(x, 2)
    batched = fn(tg.tensor(x.data[None]), 2)
    assert out.shape == batched.shape[1:]
    np.testing.assert_array_equal(out.data, batched.data[0])
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_unbatched_return_indices_shape():
    out, idx = max_pool2d(tg.randn(3, 6, 6), 2, return_indices=True)
    assert out.shape == idx.shape == (3, 3, 3)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_dtype_is_kept_through_forward_and_backward(fn, dtype):
    x = tg.randn(2, 2, 4, 4, dtype=dtype, requires_grad=True)
    out = fn(x, 2)
    out.sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype


def test_return_indices_under_no_grad_and_with_grad_agree():
    x = tg.randn(2, 3, 7, 7, requires_grad=True)
    with tg.no_grad():
        out_a, idx_a = max_pool2d(x, 3, 2, 1, return_indices=True)
    out_b, idx_b = max_pool2d(x, 3, 2, 1, return_indices=True)
    assert out_a.grad_fn is None and out_b.grad_fn is not None
    np.testing.assert_array_equal(out_a.data, out_b.data)
    np.testing.assert_array_equal(idx_a.data, idx_b.data)


def test_graph_node_names():
    x = tg.randn(1, 1, 4, 4, requires_grad=True)
    assert max_pool2d(x, 2).grad_fn.name == "max_pool2d"
    assert avg_pool2d(x, 2).grad_fn.name == "avg_pool2d"
    assert adaptive_avg_pool2d(x, 1).grad_fn.name == "adaptive_avg_pool2d"


def test_non_contiguous_input():
    base = tg.randn(4, 4, 2, 3, dtype=tg.float64)
    x = base.permute(2, 3, 0, 1)  # (2, 3, 4, 4), not C-contiguous
    np.testing.assert_allclose(max_pool2d(x, 2).data, max_pool2d(tg.tensor(np.ascontiguousarray(x.data)), 2).data)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: max_pool2d(tg.randn(4, 4), 2), "got a 2-D input of shape (4, 4)"),
        (lambda x: max_pool2d(tg.randn(1, 1, 1, 4, 4), 2), "5-D input"),
        (lambda x: max_pool2d(x, 0), "kernel_size must be positive"),
        (lambda x: max_pool2d(x, 2, stride=0), "stride must be positive"),
        (lambda x: avg_pool2d(x, 2, stride=(1, -1)), "stride must be positive"),
        (lambda x: max_pool2d(x, 2, dilation=0), "dilation must be positive"),
        (lambda x: max_pool2d(x, 3, padding=2), "padding=(2, 2) must be at most half of kernel_size=(3, 3)"),
        (lambda x: avg_pool2d(x, 2, padding=-1), "padding must be non-negative"),
        (lambda x: max_pool2d(x, 7), "input of shape (1, 2, 5, 6)"),
        (lambda x: avg_pool2d(x, (2, 7)), "gives an output of size 2x0"),
        (lambda x: max_pool2d(x, 3, dilation=3), "dilation=(3, 3)"),
        (lambda x: avg_pool2d(x, 2, divisor_override=0), "divisor_override must be None or a non-zero int"),
        (lambda x: adaptive_avg_pool2d(x, 0), "output_size must be positive"),
        (lambda x: adaptive_avg_pool2d(x, (2, -1)), "output_size must be positive"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, message):
    x = tg.randn(1, 2, 5, 6)
    with pytest.raises(ValueError) as info:
        call(x)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: max_pool2d(x, 2.5), "kernel_size must be an int or a pair of ints"),
        (lambda x: max_pool2d(x, (2, 2, 2)), "kernel_size must be an int or a pair of ints"),
        (lambda x: avg_pool2d(x, 2, padding="same"), "padding must be an int or a pair of ints"),
        (lambda x: max_pool2d(tg.tensor(np.ones((1, 1, 4, 4), dtype=np.int64)), 2), "float32 or float64 input"),
        (lambda x: avg_pool2d(tg.tensor(np.ones((1, 1, 4, 4), dtype=np.float16)), 2), "got dtype float16"),
        (lambda x: adaptive_avg_pool2d(x, (1, 2, 3)), "output_size must be an int or a pair"),
    ],
)
def test_bad_types_raise_type_error(call, message):
    x = tg.randn(1, 2, 5, 6)
    with pytest.raises(TypeError) as info:
        call(x)
    assert message in str(info.value)


# ------------------------------------------------------------------ agreement with PyTorch


@st.composite
def torch_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    H = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 10))
    W = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 10))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), k, s, p, d, draw(st.booleans())


@needs_torch
@settings(max_examples=40)
@given(torch_cases(), st.integers(0, 2**31 - 1))
def test_max_pool_matches_torch(case, seed):
    shape, k, s, p, d, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    ref, ref_idx = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    xg = tg.tensor(x, requires_grad=True)
    out, idx = max_pool2d(xg, k, s, p, d, ceil_mode, return_indices=True)
    assert out.shape == tuple(ref.shape)
    real = np.isfinite(ref.detach().numpy())  # windows of padding only: PyTorch's index there points outside
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    np.testing.assert_array_equal(idx.data[real], ref_idx.numpy()[real])
    if real.all():
        g = np.random.default_rng(seed + 1).standard_normal(out.shape)
        ref.backward(torch.tensor(g))
        out.backward(g)
        np.testing.assert_allclose(xg.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@settings(max_examples=40)
@given(torch_cases(), st.integers(0, 2**31 - 1), st.booleans(), st.sampled_from([None, 2, -3]))
def test_avg_pool_matches_torch(case, seed, count_include_pad, divisor_override):
    shape, k, s, p, _, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.avg_pool2d(xt, k, s, p, ceil_mode, count_include_pad, divisor_override)
    xg = tg.tensor(x, requires_grad=True)
    out = avg_pool2d(xg, k, s, p, ceil_mode, count_include_pad, divisor_override)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape)
    ref.backward(torch.tensor(g))
    out.backward(g)
    np.testing.assert_allclose(xg.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@settings(max_examples=30)
@given(
    st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 10), st.integers(1, 10)),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    st.integers(0, 2**31 - 1),
)
def test_adaptive_avg_pool_matches_torch(shape, out_size, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.adaptive_avg_pool2d(xt, out_size)
    xg = tg.tensor(x, requires_grad=True)
    out = adaptive_avg_pool2d(xg, out_size)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape)
    ref.backward(torch.tensor(g))
    out.backward(g)
    np.testing.assert_allclose(xg.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
def test_max_pool_ties_and_nan_match_torch():
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [2.0, 2.0, 2.0, 2.0]]]])
    ref, ref_idx = F.max_pool2d(torch.tensor(x), (2, 4), return_indices=True)
    out, idx = max_pool2d(tg.tensor(x), (2, 4), return_indices=True)
    assert np.isnan(out.data).all() and np.isnan(ref.numpy()).all()
    assert idx.data.item() == ref_idx.item()
    x = np.full((1, 1, 3, 5), 2.0)  # everything ties
    ref, ref_idx = F.max_pool2d(torch.tensor(x), 2, 1, 1, return_indices=True)
    out, idx = max_pool2d(tg.tensor(x), 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx.data, ref_idx.numpy())
