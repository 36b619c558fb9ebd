"""viz detail views and the colour-scale rule: the pictures hold the right numbers on honest scales.

Expected values come from tinygraph's ops (conv2d, max_pool2d) or NumPy on the inputs, never from
viz itself: the conv arithmetic's printed sum is compared with ``conv2d``'s output at that pixel,
the softmax numbers with a NumPy softmax, the pooling gradient with the window's argmax.
"""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _viz_support import _close_figures, images_by_gid  # noqa: E402,F401
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
import viz  # noqa: E402


def texts_by_gid(fig) -> dict:
    return {t.get_gid(): t for t in fig.findobj(matplotlib.text.Text) if t.get_gid()}


def colorbar_axes(fig) -> list:
    return [a for a in fig.findobj(plt.Axes) if (a.get_gid() or "").startswith("colorbar")]


# ----------------------------------------------------------------------------------------- kernels
def test_kernels_default_to_one_diverging_scale_centred_on_zero_with_a_colorbar():
    w = np.random.default_rng(1).standard_normal((6, 1, 3, 3))
    w[0] *= 10  # one strong filter: on a shared scale the others look weaker, as they are
    fig = viz.plot_kernels(w)
    images = images_by_gid(fig)
    m = np.abs(w).max()
    for f in range(6):
        im = images[f"kernel:{f}"]
        np.testing.assert_allclose(np.asarray(im.get_array()), w[f, 0])
        vmin, vmax = im.get_clim()
        assert vmin == -vmax == pytest.approx(-m)
        assert im.get_cmap().name == "RdBu_r"
    assert len(colorbar_axes(fig)) == 1


def test_kernels_unit_scale_divides_each_filter_by_its_own_max_and_stays_centred():
    w = np.random.default_rng(2).standard_normal((4, 1, 3, 3))
    images = images_by_gid(viz.plot_kernels(w, scale="unit"))
    for f in range(4):
        im = images[f"kernel:{f}"]
        np.testing.assert_allclose(np.asarray(im.get_array()), w[f, 0] / np.abs(w[f, 0]).max())
        assert im.get_clim() == (-1.0, 1.0)


def test_three_channel_filters_are_colour_images_on_one_shared_scale_by_default():
    w = np.random.default_rng(3).standard_normal((5, 3, 3, 3))
    fig = viz.plot_kernels(w)
    images = images_by_gid(fig)
    m = np.abs(w).max()
    for f in range(5):
        shown = np.asarray(images[f"kernel:{f}"].get_array())
        assert shown.shape == (3, 3, 3)  # RGB
        np.testing.assert_allclose(shown, 0.5 + np.moveaxis(w[f], 0, -1) / (2 * m))  # 0 -> grey
    assert len(colorbar_axes(fig)) == 1  # says what m is
    with pytest.raises(ValueError, match="scale must be one of"):
        viz.plot_kernels(w, scale="filter")


# ----------------------------------------------------------------------------------- conv arithmetic
def printed_result(fig) -> float:
    text = texts_by_gid(fig)["conv:sum"].get_text()
    return float(re.search(r"= ([-\d.e+]+)(?: \(|$)", text).group(1))


@settings(max_examples=8, deadline=None)
@given(
    c_in=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 1),
    seed=st.integers(0, 1000),
)
def test_conv_arithmetic_prints_the_sum_that_conv2d_computes(c_in, stride, padding, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-3, 4, (1, c_in, 5, 5)).astype(np.float32)
    w = r.integers(-2, 3, (2, c_in, 3, 3)).astype(np.float32)
    b = r.integers(-2, 3, 2).astype(np.float32)
    out = F.conv2d(tg.tensor(x), tg.tensor(w), tg.tensor(b), stride=stride, padding=padding).numpy()[0]
    o, i, j = 1, out.shape[1] - 1, out.shape[2] // 2
    fig = viz.plot_conv_arithmetic(x, w, b, (o, i, j), stride=stride, padding=padding)
    assert printed_result(fig) == pytest.approx(out[o, i, j], abs=1e-4)
    texts = texts_by_gid(fig)
    window = x[0, :, :, :]
    padded = np.pad(window, ((0, 0), (padding, padding), (padding, padding)))
    for c in range(c_in):  # every product shown is window x kernel at that tap
        patch = padded[c, i * stride : i * stride + 3, j * stride : j * stride + 3]
        shown = [[float(texts[f"conv:product:{c}:{u}:{v}"].get_text()) for v in range(3)] for u in range(3)]
        np.testing.assert_allclose(shown, patch * w[o, c], atol=1e-6)
        assert float(texts[f"conv:channel_sum:{c}"].get_text().split("=")[1]) == pytest.approx((patch * w[o, c]).sum())
    assert len(colorbar_axes(fig)) == 3  # input values, weights, products


def test_conv_arithmetic_rejects_mismatched_shapes_and_indices():
    x = np.zeros((2, 5, 5))
    with pytest.raises(ValueError, match=r"C_in = 2"):
        viz.plot_conv_arithmetic(x, np.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="outside the output"):
        viz.plot_conv_arithmetic(x, np.zeros((1, 2, 3, 3)), out_index=(0, 3, 0))
    with pytest.raises(ValueError, match="bias must have shape"):
        viz.plot_conv_arithmetic(x, np.zeros((1, 2, 3, 3)), bias=[1.0, 2.0])


# -------------------------------------------------------------------------------------------- relu
def test_relu_view_shows_signed_before_and_clipped_after_on_matching_scales():
    z = np.random.default_rng(4).standard_normal((5, 5))
    fig = viz.plot_relu(z, np.maximum(z, 0))
    images = images_by_gid(fig)
    before, after = images["relu:before"], images["relu:after"]
    m = np.abs(z).max()
    assert before.get_clim() == pytest.approx((-m, m)) and before.get_cmap().name == "RdBu_r"
    assert after.get_clim() == pytest.approx((0, m)) and after.get_cmap().name != "RdBu_r"
    np.testing.assert_allclose(np.asarray(after.get_array()), np.maximum(z, 0))
    assert {"colorbar:before", "colorbar:after"} <= {a.get_gid() for a in colorbar_axes(fig)}
    with pytest.raises(ValueError, match="not max"):
        viz.plot_relu(z, np.abs(z))


# ----------------------------------------------------------------------------------------- pooling
def test_pooling_view_marks_the_window_maximum_and_sends_the_gradient_only_there():
    x = np.random.default_rng(5).permutation(36).reshape(6, 6).astype(np.float32)  # no ties
    fig = viz.plot_pooling(x, 2, out_index=(1, 2))
    images = images_by_gid(fig)
    window = x[2:4, 4:6]
    np.testing.assert_allclose(np.asarray(images["pool:output"].get_array())[1, 2], window.max())
    expected = np.zeros_like(x)
    r, c = np.unravel_index(window.argmax(), window.shape)
    expected[2 + r, 4 + c] = 1.0
    np.testing.assert_array_equal(np.asarray(images["pool:grad"].get_array()), expected)
    assert len(colorbar_axes(fig)) == 3


# ----------------------------------------------------------------------------------------- softmax
def test_softmax_view_numbers_are_the_softmax_and_sum_to_one():
    logits = np.array([2.0, -1.0, 0.5, 3.0, 0.0])
    fig = viz.plot_softmax(logits, ["a", "b", "c", "d", "e"])
    texts = texts_by_gid(fig)
    probs = np.array([float(texts[f"softmax:prob:{k}"].get_text()) for k in range(5)])
    e = np.exp(logits)
    np.testing.assert_allclose(probs, e / e.sum(), atol=5e-4)  # printed with 3 decimals
    assert probs.sum() == pytest.approx(1.0, abs=3e-3)
    assert "sum = 1.000" in " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
    with pytest.raises(ValueError, match="3 logits but 2 class names"):
        viz.plot_softmax([1.0, 2.0, 3.0], ["a", "b"])


# -------------------------------------------------------------------------------- maps to scale
def test_maps_to_scale_draw_panels_in_the_ratio_of_their_sizes_on_one_centred_scale():
    r = np.random.default_rng(6)
    maps = {"16x16": r.standard_normal((16, 16)), "8x8": r.standard_normal((8, 8)), "17x9": r.standard_normal((17, 9))}
    fig = viz.plot_maps_to_scale(maps, caption="zero padding draws false edges at the border")
    images = images_by_gid(fig)
    sizes = {}
    for name, a in maps.items():
        bbox = images[f"map:{name}"].axes.get_position()
        sizes[name] = (bbox.height * fig.get_figheight(), bbox.width * fig.get_figwidth())
    for name, a in maps.items():  # inches per pixel is the same in every panel
        assert sizes[name][0] / a.shape[0] == pytest.approx(sizes["8x8"][0] / 8)
        assert sizes[name][1] / a.shape[1] == pytest.approx(sizes["8x8"][1] / 8)
    m = max(np.abs(a).max() for a in maps.values())
    assert all(im.get_clim() == pytest.approx((-m, m)) for im in images.values())
    assert len(colorbar_axes(fig)) == 1 and "false edges" in texts_by_gid(fig)["caption"].get_text()
