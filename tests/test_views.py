"""Views share memory and the version counter with their base, as in PyTorch."""

import numpy as np
import pytest

import tinygraph as tg

MODIFIED = "modified by an inplace operation"


@pytest.mark.parametrize(
    "make_view, edit, expected",
    [
        (lambda x: x[1:3], lambda v: v.__iadd__(10), [0, 11, 12, 3, 4, 5]),
        (lambda x: x[4], lambda v: v.fill_(-1), [0, 1, 2, 3, -1, 5]),
        (lambda x: x.view(2, 3), lambda v: v.__setitem__((1, 0), 9), [0, 1, 2, 9, 4, 5]),
        (lambda x: x.reshape(3, 2).T, lambda v: v.__imul__(2), [0, 2, 4, 6, 8, 10]),
        (lambda x: x.unsqueeze(0).squeeze(0), lambda v: v.zero_(), [0, 0, 0, 0, 0, 0]),
        (lambda x: x.reshape(2, 3).permute(1, 0)[0], lambda v: v.copy_(tg.tensor([7.0, 8.0])), [7, 1, 2, 8, 4, 5]),
        (lambda x: x.detach()[::2], lambda v: v.clamp_(max=1), [0, 1, 1, 3, 1, 5]),
    ],
    ids=["slice", "int", "view", "transpose", "squeeze", "permute-index", "detach-step"],
)
def test_in_place_edits_through_a_view_change_the_base(make_view, edit, expected):
    x = tg.arange(6).float()
    view = make_view(x)
    edit(view)
    np.testing.assert_array_equal(x.numpy(), expected)
    assert x._version == view._version == 1  # one counter for the base and its views


def test_the_augmented_assignment_idiom_changes_the_base():
    x = tg.zeros(4)
    x[1:3] += 5
    np.testing.assert_array_equal(x.numpy(), [0, 5, 5, 0])


def test_advanced_indexing_gives_a_copy_as_in_pytorch():
    x = tg.arange(4).float()
    copy = x[[0, 2]]
    copy += 100
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2, 3])
    assert x._version == 0


def test_editing_the_base_invalidates_a_graph_that_saved_a_view():
    a = tg.tensor([1.0, 2.0, 3.0, 4.0])
    w = tg.ones(2, requires_grad=True)
    y = (w * a[1:3]).sum()  # Mul saved the view a[1:3] for w's gradient
    a[2] = 0.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_editing_a_view_invalidates_a_graph_that_saved_the_base():
    a = tg.tensor([1.0, 2.0, 3.0])
    w = tg.ones(3, requires_grad=True)
    y = (w * a).sum()
    v = a[0:1]
    v += 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_gradients_flow_through_views_of_a_tensor_edited_before_the_forward_pass():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with tg.no_grad():
        x[0:2] += 1  # an edit through a view of a leaf, before any graph is built
    (x[1:] * x[1:]).sum().backward()
    np.testing.assert_array_equal(x.detach().numpy(), [2, 3, 3])
    np.testing.assert_array_equal(x.grad.numpy(), [0, 6, 6])  # d/dx of sum(x[1:]^2) = 2 x on x[1:]


def test_an_expanded_tensor_cannot_be_edited_in_place():
    e = tg.ones(3, 1).expand(3, 4)
    with pytest.raises(RuntimeError, match="read-only.*expand\\(\\).*clone\\(\\)"):
        e += 1


def test_view_of_a_non_contiguous_tensor_raises_as_pytorch():
    x = tg.ones(3, 4)
    with pytest.raises(RuntimeError, match="view: .*not laid out contiguously.*use .reshape"):
        x.T.view(12)
    assert x.T.reshape(12).shape == (12,)
    assert x.T.contiguous().view(12).shape == (12,)
    assert x.T.view(4, 1, 3).shape == (4, 1, 3)  # splitting a dim needs no copy: allowed, as in PyTorch
