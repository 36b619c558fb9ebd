"""Graph behaviour of the autodiff engine: reuse, accumulation, retain_graph, grad modes, deep chains."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.autograd import Function


def leaf(values, dtype=tg.float64):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


# ------------------------------------------------------------------ accumulation
def test_reused_intermediate_accumulates_both_paths():
    a = leaf([1.0, -2.0, 3.0])
    b = a + a  # b = 2a
    c = b * b  # c = 4a^2  =>  dc/da = 8a
    c.backward(tg.ones(3, dtype=tg.float64))
    np.testing.assert_allclose(a.grad.data, 8 * a.data)


def test_input_used_twice_in_one_op():
    x = leaf([3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [6.0])


def test_diamond_graph():
    x = leaf(2.0)
    y = x.exp()
    z = y * x + y.log()  # z = x e^x + x  =>  dz/dx = e^x + x e^x + 1
    z.backward()
    assert x.grad.item() == pytest.approx(np.exp(2) * 3 + 1)


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3 + 2, 3 + 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3, 3])


def test_leaf_grad_is_a_copy_not_the_upstream_array():
    x = leaf([1.0, 2.0])
    seed = tg.tensor([5.0, 6.0], dtype=tg.float64)
    (x + 0).backward(seed)
    seed.data[:] = 0
    np.testing.assert_allclose(x.grad.data, [5.0, 6.0])


def test_0d_grad_stays_an_array_when_accumulated():
    x = leaf(1.5)
    (x * 2).backward()
    (x * 2).backward()
    assert isinstance(x.grad.data, np.ndarray) and x.grad.item() == 4.0


def test_only_inputs_that_require_grad_get_grads():
    x = leaf([1.0, 2.0])
    c = tg.tensor([3.0, 4.0], dtype=tg.float64)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_broadcast_gradient_is_summed_to_input_shape():
    x = leaf(np.ones((3, 1)))
    y = leaf(np.arange(4.0))
    s = leaf(2.0)
    (x * y * s).backward(tg.ones(3, 4, dtype=tg.float64))
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,) and s.grad.shape == ()
    np.testing.assert_allclose(x.grad.data, np.full((3, 1), 2 * 6.0))
    np.testing.assert_allclose(y.grad.data, np.full(4, 2 * 3.0))
    assert s.grad.item() == pytest.approx(3 * 6.0)


# ------------------------------------------------------------------ retain_graph and errors
def test_second_backward_without_retain_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * 2 * x.data)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_with_explicit_gradient_for_non_scalar_output():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(tg.tensor([1.0, 0.5, -1.0], dtype=tg.float64))
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0, -6.0])
    x2 = leaf([1.0, 2.0])
    (x2 * 3).backward(np.array([1.0, 1.0]))  # a plain array works too
    np.testing.assert_allclose(x2.grad.data, [3.0, 3.0])


def test_non_scalar_backward_without_gradient_is_an_error():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"single-element.*\(2,\)"):
        y.backward()


def test_gradient_of_wrong_shape_is_an_error():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        y.backward(tg.ones(3))


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(3).sum().backward()
    x = leaf([1.0])
    with tg.no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_on_a_leaf_sets_its_own_grad():
    x = leaf([1.0, 2.0])
    x.backward(tg.tensor([3.0, 4.0], dtype=tg.float64))
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


# ------------------------------------------------------------------ grad modes
def test_no_grad_records_nothing_and_enable_grad_nests():
    x = leaf([1.0])
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = x * 2
            with tg.no_grad():
                w = x * 2
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert not w.requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with tg.no_grad():
            raise KeyError("boom")
    assert tg.is_grad_enabled()


def test_set_grad_enabled():
    with tg.set_grad_enabled(False):
        assert not (leaf([1.0]) * 2).requires_grad
    with tg.set_grad_enabled(True):
        assert (leaf([1.0]) * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_values():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    np.testing.assert_allclose(d.data, [3.0, 6.0])
    y = (x * d).sum()  # d is a constant here
    y.backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 6.0])


def test_retain_grad_keeps_grad_of_an_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    other = x * 5  # an intermediate without retain_grad
    (h * h + other).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    assert other.grad is None
    np.testing.assert_allclose(x.grad.data, 2 * h.data * 3 + 5)


def test_requires_grad_propagates_and_leaves_are_marked():
    x = leaf([1.0])
    c = tg.tensor([2.0], dtype=tg.float64)
    assert (x + c).requires_grad and not (x + c).is_leaf
    assert not (c + c).requires_grad and (c + c).is_leaf


# ------------------------------------------------------------------ deep graphs
def test_chain_of_100000_ops_does_not_hit_the_recursion_limit():
    x = leaf([0.0])
    y = x
    for _ in range(100_000):
        y = y + 1.0
    assert y.item() == 100_000.0
    y.backward()
    assert x.grad.item() == 1.0


# ------------------------------------------------------------------ the Function contract
class Scale(Function):
    """Test op: out = a * b with a bookkeeping of what backward was asked for."""

    calls = []

    @staticmethod
    def forward(ctx, a, b, factor=1.0):
        ctx.save_for_backward(a, b)
        ctx.factor = factor
        return a * b * factor

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        Scale.calls.append(ctx.needs_input_grad)
        da = grad * b * ctx.factor if ctx.needs_input_grad[0] else None
        db = grad * a * ctx.factor if ctx.needs_input_grad[1] else None
        return da, db


def test_custom_function_params_needs_input_grad_and_broadcast_reduction():
    Scale.calls.clear()
    a = leaf(np.ones((2, 3)))
    b = tg.tensor(np.arange(3.0))  # a constant, broadcast along rows
    out = Scale.apply(a, b, factor=2.0)
    assert out.grad_fn.name == "Scale" and out.grad_fn.params == {"factor": 2.0}
    out.backward(tg.ones(2, 3, dtype=tg.float64))
    assert Scale.calls == [(True, False)]
    np.testing.assert_allclose(a.grad.data, np.tile(2 * np.arange(3.0), (2, 1)))


def test_non_tensor_inputs_to_apply_become_constants():
    a = leaf([1.0, 2.0])
    out = Scale.apply(a, np.array([3.0, 4.0]))
    out.sum().backward()
    np.testing.assert_allclose(a.grad.data, [3.0, 4.0])


def test_saved_arrays_are_freed_after_backward():
    a = leaf([1.0, 2.0])
    out = Scale.apply(a, a)
    node = out.grad_fn
    assert len(node.saved_arrays) == 2
    out.sum().backward()
    assert node.saved_arrays == ()


def test_backward_casts_gradients_to_the_input_dtype():
    x = leaf([1.0, 2.0], dtype=tg.float32)
    y = x.double() * tg.tensor([1.0, 2.0], dtype=tg.float64)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, [1.0, 2.0])
