"""Tensor.register_hook: gradient hooks that see the whole gradient once and may replace it."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.hooks import RemovableHandle


def leaf(values):
    return tg.tensor(values, dtype=tg.float64, requires_grad=True)


def test_hook_on_an_intermediate_sees_its_gradient_summed_over_every_use():
    x = leaf([1.0, -2.0, 3.0])
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.data.copy()))
    (h * h + h * 3).sum().backward()  # d/dh = 2h + 3, from three uses of h
    assert len(seen) == 1  # once, with the total, not once per use
    np.testing.assert_allclose(seen[0], 2 * h.data + 3)
    np.testing.assert_allclose(x.grad.data, 2 * (2 * h.data + 3))


def test_a_returned_gradient_replaces_it_further_back():
    x = leaf([1.0, -2.0, 3.0])
    h = x * 2
    h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.data, [20.0, 20.0, 20.0])  # d(sum)/dh = 1, times 10, times dh/dx = 2


def test_hooks_run_in_order_and_each_sees_the_previous_result():
    x = leaf([1.0, 2.0])
    h = x + 0
    order = []
    h.register_hook(lambda g: order.append(("first", g.data.copy())) or g + 1)
    h.register_hook(lambda g: order.append(("second", g.data.copy())))
    h.sum().backward()
    assert [name for name, _ in order] == ["first", "second"]
    np.testing.assert_allclose(order[1][1], [2.0, 2.0])
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


def test_leaf_hook_sees_the_total_once_and_changes_what_is_accumulated():
    x = leaf([1.0, -1.0])
    seen = []

    def clip_negative(g):
        seen.append(g.data.copy())
        return np.maximum(g.data, 0)

    x.register_hook(clip_negative)
    (x * 3 - x * 5).sum().backward()  # total -2 per element; per use +3 and -5
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [-2.0, -2.0])
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0])  # a per-use hook would have kept the +3


def test_hook_on_the_root_and_on_a_lone_leaf():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.register_hook(lambda g: g * 2)
    y.backward(tg.ones(2, dtype=tg.float64))
    np.testing.assert_allclose(x.grad.data, [6.0, 6.0])
    z = leaf([4.0])
    z.register_hook(lambda g: g * 7)
    z.backward(tg.ones(1, dtype=tg.float64))
    np.testing.assert_allclose(z.grad.data, [7.0])


def test_retain_grad_keeps_the_gradient_after_the_hooks():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    h.register_hook(lambda g: g * 5)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 5 * 2 * h.data)
    np.testing.assert_allclose(x.grad.data, 5 * 2 * h.data * 2)


def test_removed_hook_is_not_called_and_handle_is_a_context_manager():
    x = leaf([1.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    assert isinstance(handle, RemovableHandle)
    handle.remove()
    (x * 2).sum().backward()
    assert calls == []
    with x.register_hook(lambda g: calls.append(2)):
        (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == [2]
    np.testing.assert_allclose(x.grad.data, [6.0])


def test_hook_not_on_the_path_is_not_called():
    x, w = leaf([1.0]), leaf([2.0])
    calls = []
    w.register_hook(lambda g: calls.append(1))
    (x * 3).sum().backward()
    assert calls == [] and w.grad is None


def test_hook_errors():
    with pytest.raises(RuntimeError, match="register_hook.*does not require grad"):
        tg.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="register_hook: hook must be callable"):
        leaf([1.0]).register_hook(3)
    x = leaf([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: np.zeros(3))
    with pytest.raises(RuntimeError, match=r"hook on a tensor of shape \(2,\) returned a gradient of shape \(3,\)"):
        h.sum().backward()
