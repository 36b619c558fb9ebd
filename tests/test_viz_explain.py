"""viz pictures of tinygraph.explain: they hold the maps they are given, on the agreed colour scales."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _viz_support import _close_figures, images_by_gid  # noqa: E402,F401
from matplotlib.image import AxesImage  # noqa: E402

import viz  # noqa: E402


def has_colorbar(fig) -> bool:
    return any(getattr(im, "colorbar", None) is not None for im in fig.findobj(AxesImage))


rng = np.random.default_rng(0)
X = rng.random((3, 3, 12, 12))


def test_saliency_shares_one_sequential_scale_from_zero():
    maps = rng.random((3, 12, 12)) * [[[1.0]], [[2.0]], [[4.0]]]
    fig = viz.plot_saliency(X, maps, titles=["a", "b", "c"])
    ims = images_by_gid(fig)
    for i in range(3):
        np.testing.assert_array_equal(ims[f"saliency:{i}"].get_array(), maps[i])
        assert ims[f"saliency:{i}"].get_clim() == (0, maps.max())
    assert has_colorbar(fig)
    with pytest.raises(ValueError, match="plot_saliency: saliency must be non-negative"):
        viz.plot_saliency(X, -maps)


def test_grad_cam_overlay_on_0_to_1_and_marks_the_maximum():
    cams = rng.random((3, 12, 12))
    masks = np.zeros((3, 12, 12), dtype=bool)
    masks[:, 3:8, 3:8] = True
    fig = viz.plot_grad_cam(X, cams, masks=masks)
    ims = images_by_gid(fig)
    for i in range(3):
        assert ims[f"grad_cam:{i}"].get_clim() == (0, 1)
        np.testing.assert_array_equal(ims[f"grad_cam:{i}"].get_array(), cams[i])
        marker = ims[f"grad_cam:{i}"].axes.lines[0]
        r, c = np.unravel_index(cams[i].argmax(), (12, 12))
        assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (c, r)
    assert has_colorbar(fig)
    with pytest.raises(ValueError, match="plot_grad_cam: cams holds 2 items but images holds 3"):
        viz.plot_grad_cam(X, cams[:2])


def test_occlusion_cells_line_up_with_the_window_centres():
    window, stride = 4, 2
    maps = rng.random((3, 5, 5))
    fig = viz.plot_occlusion(X, maps, window, stride, baseline=[0.9, 0.8, 0.7])
    im = images_by_gid(fig)["occlusion:0"]
    left, right, bottom, top = im.get_extent()
    # first cell centred on the first window's centre (pixel 1.5), last on the last one's (8 + 1.5)
    assert (left + right) / 2 == pytest.approx((1.5 + 9.5) / 2)
    assert left + stride / 2 == pytest.approx(1.5) and right - stride / 2 == pytest.approx(9.5)
    assert im.get_clim() == (0, 1) and has_colorbar(fig)
    with pytest.raises(ValueError, match="plot_occlusion: maps of size"):
        viz.plot_occlusion(X, rng.random((3, 9, 9)), window, stride)


def test_guided_backprop_is_diverging_and_centred():
    grads = rng.standard_normal((3, 3, 12, 12))
    fig = viz.plot_guided_backprop(X, grads)
    ims = images_by_gid(fig)
    lo, hi = ims["guided:0"].get_clim()
    assert lo == -hi == -np.abs(grads.sum(axis=1)).max()
    assert ims["guided:0"].get_cmap().name == "RdBu_r"
    np.testing.assert_allclose(ims["guided:1"].get_array(), grads[1].sum(axis=0))


def test_adversarial_perturbation_is_diverging_centred_with_colourbars():
    x = X[:2]
    xa = np.clip(x + 0.03 * np.sign(rng.standard_normal(x.shape)), 0, 1)
    p = np.eye(3)[[0, 1]] * 0.85 + 0.05
    pa = np.eye(3)[[2, 2]] * 0.85 + 0.05
    fig = viz.plot_adversarial(x, xa, p, pa, ["a", "b", "c"])
    im = images_by_gid(fig)["perturbation:0"]
    lo, hi = im.get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs((xa - x).sum(axis=1)).max())
    titles = [ax.get_title() for ax in fig.axes]
    assert "clean: a (0.90)" in titles and "adversarial: c (0.90)" in titles
    assert has_colorbar(fig)


def test_class_visualization_top_patches_and_embedding():
    fig = viz.plot_class_visualization(X, ["x", "y", "z"], histories=[np.arange(5)] * 3)
    assert set(images_by_gid(fig)) == {"class:0", "class:1", "class:2"}
    patches = [(2, (1, 2, 5, 6), 3.0), (0, (0, 0, 4, 4), 1.0)]
    fig = viz.plot_top_patches(X, patches, title="conv, channel 0")
    shown = images_by_gid(fig)["patch:0"].get_array()
    np.testing.assert_allclose(shown[1:6, 2:8], X[2].transpose(1, 2, 0)[1:6, 2:8])  # the patch is undimmed
    np.testing.assert_allclose(shown[0, 0], 0.35 * X[2][:, 0, 0])  # outside is dimmed
    with pytest.raises(ValueError, match="plot_top_patches: patch 0 names image 7"):
        viz.plot_top_patches(X, [(7, (0, 0, 1, 1), 1.0)])
    points = rng.standard_normal((3, 2))
    fig = viz.plot_embedding(points, [0, 1, 1], X, ["p", "q"], thumbnails=2)
    scatter = [c for c in fig.axes[0].collections if c.get_gid() == "embedding"][0]
    np.testing.assert_allclose(scatter.get_offsets(), points)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["p", "q"]
