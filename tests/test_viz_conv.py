"""viz pictures that run convolutional networks: feature maps, receptive fields, a LeNet graph.

The receptive-field expectations come from the geometry (a 3x3 kernel sees a 3x3 block, two
of them a 5x5 block, a dilation-2 one a 3x3 lattice with holes), not from viz's output.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _viz_support import _close_figures, images_by_gid  # noqa: E402,F401

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
import viz  # noqa: E402
from tinygraph import nn  # noqa: E402


# ------------------------------------------------------------------------------------ feature maps
def small_cnn():
    tg.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 20, 3), nn.Flatten(), nn.Linear(80, 2)
    )


def test_feature_maps_show_every_channel_of_each_4d_layer_as_computed_by_the_layers():
    model = small_cnn()
    x = tg.randn(1, 8, 8)
    fig = viz.plot_feature_maps(model, x, max_channels=16)
    images = {k: v for k, v in images_by_gid(fig).items() if not k.startswith("head:")}

    expected, h = {}, x.reshape(1, 1, 8, 8)  # the same layers called one by one, without hooks
    for name, layer in list(model.named_children())[:4]:
        h = layer(h)
        expected[name] = h.detach().numpy()[0]
    # input + 3 + 3 + 3 + 16 (conv "3" has 20 channels, capped at 16); Flatten/Linear are not 4-D
    assert len(images) == 1 + 3 + 3 + 3 + 16
    for name, act in expected.items():
        for c in range(min(act.shape[0], 16)):
            np.testing.assert_allclose(np.asarray(images[f"{name}:{c}"].get_array()), act[c], rtol=1e-5, atol=1e-6)
    titles = [sf._suptitle.get_text() for sf in fig.subfigs]
    assert titles[0].startswith("input: (1, 8, 8)")
    assert "0 (Conv2d): (3, 8, 8)" in titles
    assert "3 (Conv2d): (20, 2, 2), first 16 channels" in titles


def band_images(fig, layer) -> list:
    return [im for gid, im in images_by_gid(fig).items() if gid.split(":")[0] == layer]


def test_feature_maps_share_one_centred_scale_per_layer_and_explain_it_with_colourbars():
    model = small_cnn()
    x = tg.randn(1, 8, 8)
    fig = viz.plot_feature_maps(model, x)
    conv = band_images(fig, "0")  # before ReLU: signed
    data = np.stack([np.asarray(im.get_array()) for im in conv])
    m = np.abs(data).max()
    assert data.min() < 0
    for im in conv:
        assert im.get_clim() == pytest.approx((-m, m)) and im.get_cmap().name == "RdBu_r"
    relu = band_images(fig, "1")  # after ReLU: non-negative, sequential from 0, one scale
    top = max(np.asarray(im.get_array()).max() for im in relu)
    for im in relu:
        assert im.get_clim() == pytest.approx((0, top)) and im.get_cmap().name != "RdBu_r"
    n_bars = sum(1 for a in fig.findobj(plt.Axes) if (a.get_gid() or "").startswith("colorbar"))
    assert n_bars == len(fig.subfigs) - 1  # every band with colours, the input included; the bars band has axes labels

    unit = viz.plot_feature_maps(model, x, scale="unit")
    for im in band_images(unit, "1"):
        assert im.get_clim()[1] == pytest.approx(max(np.asarray(im.get_array()).max(), 0) or 1.0)
    glob = viz.plot_feature_maps(model, x, scale="global")
    clims = {im.get_clim() for layer in ("0", "1", "2", "3") for im in band_images(glob, layer)}
    assert len(clims) == 1
    with pytest.raises(ValueError, match="scale must be one of"):
        viz.plot_feature_maps(model, x, scale="panel")


def test_feature_maps_show_all_channels_the_input_labels_and_the_softmax_at_the_end():
    model = small_cnn()
    x = tg.randn(1, 8, 8)
    fig = viz.plot_feature_maps(model, x, channels="all", label=1, class_names=["cat", "dog"])
    assert len(band_images(fig, "3")) == 20
    assert len(band_images(viz.plot_feature_maps(model, x, channels=5), "3")) == 5
    model.eval()
    logits = model(x.reshape(1, 1, 8, 8)).detach().numpy()[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    probs = [a for a in fig.findobj(plt.Axes) if a.get_gid() == "head:probabilities"][0]
    heights = [b.get_height() for b in probs.patches]
    np.testing.assert_allclose(heights, p, rtol=1e-5)
    assert sum(heights) == pytest.approx(1.0)
    flat = np.asarray(images_by_gid(fig)["head:4"].get_array())  # the flattened vector, as a strip
    np.testing.assert_allclose(flat.ravel(), model[:5](x.reshape(1, 1, 8, 8)).detach().numpy().ravel(), rtol=1e-5)
    title = fig.subfigs[0]._suptitle.get_text()
    assert "true: dog" in title and f"predicted: {['cat', 'dog'][int(p.argmax())]}" in title


def test_feature_maps_use_one_forward_pass_and_remove_their_hooks():
    model = small_cnn()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(1))
    fig = viz.plot_feature_maps(model, tg.randn(2, 1, 8, 8), layers=["1", "3"], show_input=False, show_output=False)
    assert len(calls) == 1
    assert all(not m._forward_hooks for name, m in model.named_modules() if name)
    assert sorted({gid.split(":")[0] for gid in images_by_gid(fig)}) == ["1", "3"]


def test_feature_maps_reject_unknown_layers_and_non_modules():
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['conv9'\].*'0'"):
        viz.plot_feature_maps(small_cnn(), tg.randn(1, 8, 8), layers=["conv9"])
    with pytest.raises(TypeError, match="tg.nn.Module"):
        viz.plot_feature_maps(lambda x: x, tg.randn(1, 8, 8))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        viz.plot_feature_maps(small_cnn(), tg.randn(8, 8))


# -------------------------------------------------------------------------------- receptive field
def conv(k=3, dilation=1, stride=1):
    return nn.Conv2d(1, 1, k, stride=stride, dilation=dilation, bias=False)


def block(top, left, size, step=1):
    mask = np.zeros((11, 11), dtype=bool)
    mask[top : top + size : step, left : left + size : step] = True
    return mask


@pytest.mark.parametrize(
    "layers, expected",
    [
        ([conv()], block(4, 4, 3)),  # one 3x3: a 3x3 block around the centre
        ([conv(), conv()], block(3, 3, 5)),  # two 3x3: a 5x5 block
        ([conv(dilation=2)], block(3, 3, 5, step=2)),  # dilation 2: a 3x3 lattice spread over 5x5
        ([conv(stride=2), conv()], block(2, 2, 7)),  # stride 2 first: outputs 1..3 of it see inputs 2..8
    ],
)
def test_receptive_field_comes_from_the_networks_gradients(layers, expected):
    tg.manual_seed(0)
    for layer in layers:
        layer.reset_parameters()
    rf = viz.receptive_field(layers, (1, 11, 11))
    np.testing.assert_array_equal(rf > 0, expected)
    assert all(layer.weight.grad is None and layer.weight.requires_grad for layer in layers)  # untouched


def test_receptive_field_figure_compares_standard_and_dilated_side_by_side():
    tg.manual_seed(0)
    stacks = {"3x3": [conv()], "3x3, 3x3": [conv(), conv()], "3x3 dilated 2": [conv(dilation=2)]}
    fig = viz.plot_receptive_field(stacks, (1, 11, 11))
    images = images_by_gid(fig)
    expected = {"3x3": block(4, 4, 3), "3x3, 3x3": block(3, 3, 5), "3x3 dilated 2": block(3, 3, 5, step=2)}
    for title, mask in expected.items():
        shown = np.asarray(images[f"rf:{title}"].get_array())
        np.testing.assert_array_equal(shown > 0, mask)
        assert shown.max() == pytest.approx(1.0)
    titles = sorted(ax.get_title() for ax in fig.findobj(plt.Axes) if ax.get_title())
    assert titles == [
        "3x3 dilated 2:\n5x5 (9 px), 9 parameters",
        "3x3, 3x3:\n5x5 (25 px), 18 parameters",
        "3x3:\n3x3 (9 px), 9 parameters",
    ]  # fmt: skip
    legend = " ".join(t.get_text() for lg in fig.legends for t in lg.get_texts())
    assert "in the receptive field" in legend and "outside" in legend  # every colour explained
    assert all(set(np.unique(np.ma.filled(images[f"rf:{t}"].get_array(), 0))) <= {0.0, 1.0} for t in expected)


def test_receptive_field_of_a_module_at_a_chosen_position_and_clear_errors():
    tg.manual_seed(0)
    model = nn.Sequential(conv(), conv())
    rf = viz.receptive_field(model, (1, 9, 9), output_position=(0, 0))
    np.testing.assert_array_equal(rf > 0, np.pad(np.ones((5, 5), bool), ((0, 4), (0, 4))))
    with pytest.raises(ValueError, match="outside the output"):
        viz.receptive_field(model, (1, 9, 9), output_position=(5, 0))
    with pytest.raises(ValueError, match="4-D"):
        viz.receptive_field(nn.Sequential(conv(), nn.Flatten()), (1, 9, 9))
    with pytest.raises(ValueError, match="input_shape"):
        viz.receptive_field(model, (9, 9))


def test_field_extent_is_exported_from_viz():
    import sys

    assert "field_extent" in viz.__all__
    assert viz.field_extent is sys.modules["viz.receptive_field"].field_extent
    rf = np.zeros((7, 9))
    rf[2:5, 1:3] = 1.0  # a 3x2 box
    rf[6, 8] = 0.5  # one more pixel widens the bounding box to rows 2..6, cols 1..8
    assert viz.field_extent(rf) == (5, 8, 7)
    assert viz.field_extent(np.zeros((3, 3))) == (0, 0, 0)


# ------------------------------------------------------------------------------- graph of a LeNet
def test_lenet_graph_has_one_box_per_op_and_folds_its_parameters():
    tg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    loss = F.cross_entropy(model(tg.randn(2, 1, 28, 28)), tg.tensor([3, 7]))
    loss.backward()
    g = tg.graph(loss)
    fig = viz.plot_graph(loss, names=model)  # the default max_nodes fits a LeNet
    ax = fig.axes[0]
    ops = [t for t in ax.texts if (t.get_gid() or "").startswith("op:")]
    assert len(ops) == len(g.ops())
    labels = " ".join(t.get_text() for t in ops)
    for name, p in model.named_parameters():  # every parameter is a line of its op's box, with |grad|
        assert f"{name} {'(' + ', '.join(map(str, p.shape)) + (',)' if p.ndim == 1 else ')')}" in labels
    tensors = [t for t in ax.texts if (t.get_gid() or "").startswith("tensor:")]
    assert [t.get_text() for t in tensors if t.get_text().startswith("output")] == ["output\n()"]


def digits_cnn_step():
    """One DigitsCNN training step on 4 images of 1x8x8: (model, loss after backward)."""
    tg.manual_seed(0)
    model = tg.models.DigitsCNN()
    loss = F.cross_entropy(model(tg.randn(4, 1, 8, 8)), tg.tensor([0, 1, 2, 3]))
    loss.backward()
    return model, loss


def test_graph_names_batch_norm_buffers_and_the_one_hot_target():
    model, loss = digits_cnn_step()
    tensors = [t.get_text() for t in viz.plot_graph(loss, names=model).axes[0].texts
               if (t.get_gid() or "").startswith("tensor:")]  # fmt: skip
    for name, b in model.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            shape = "(" + ", ".join(map(str, b.shape)) + (",)" if b.ndim == 1 else ")")
            assert f"{name}\n{shape}\nbuffer (updated, not read)" in tensors  # training mode: updated
    # the image batch is the graph's input; cross_entropy's one-hot target (4, 10) is labelled so
    assert [t for t in tensors if t.startswith("input")] == ["input\n(4, 1, 8, 8)"]
    assert "target (one-hot)\n(4, 10)" in tensors


def test_graph_boxes_in_a_layer_do_not_overlap_and_nothing_is_clipped():
    model, loss = digits_cnn_step()
    fig = viz.plot_graph(loss, names=model)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    drawn = [t for t in fig.axes[0].texts if (t.get_gid() or "").split(":")[0] in ("op", "tensor", "more")]
    rows = {}
    for t in drawn:  # the drawn box of each node (text plus padding), in pixels
        box = t.get_bbox_patch().get_window_extent(renderer)
        rows.setdefault(round(t.get_position()[1], 6), []).append((box, t.get_text()))
        whole = fig.bbox
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1, t.get_text()
    assert max(len(r) for r in rows.values()) >= 3  # running_mean, running_var and conv2d share a layer
    for row in rows.values():
        row.sort(key=lambda r: r[0].x0)
        for (left, a), (right, b) in zip(row, row[1:]):
            assert left.x1 < right.x0, f"{a!r} overlaps {b!r}"


# ------------------------------------------------------------------------------------ train/eval
def test_pictures_of_a_training_model_run_in_eval_mode_and_leave_it_as_it_was():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2))
    model[1].running_mean.data[:] = [0.5, -0.5]  # so eval-mode (running) and batch statistics differ
    before = model[1].running_mean.numpy().copy()
    x = tg.randn(1, 9, 9)
    images = images_by_gid(viz.plot_feature_maps(model, x, layers="1"))
    assert model.training and model[1].training
    np.testing.assert_array_equal(model[1].running_mean.numpy(), before)  # not updated by the picture
    model.eval()
    expected = model(x.reshape(1, 1, 9, 9)).detach().numpy()[0]
    model.train()
    np.testing.assert_allclose(np.asarray(images["1:0"].get_array()), expected[0], rtol=1e-5, atol=1e-6)
    # with batch statistics every output pixel would depend on the whole image; in eval mode: 3x3
    rf = viz.receptive_field(model, (1, 9, 9))
    np.testing.assert_array_equal(rf > 0, np.pad(np.ones((3, 3), bool), 3))
    assert model.training


def test_feature_maps_show_a_colour_input_in_its_own_colours():
    tg.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    x = tg.rand(3, 6, 6)  # already in [0, 1]: drawn as it is, not rescaled
    fig = viz.plot_feature_maps(model, x, label=2)
    shown = np.asarray(images_by_gid(fig)["input"].get_array())
    np.testing.assert_allclose(shown, x.numpy().transpose(1, 2, 0), rtol=1e-6)
    assert "true: 2" in fig.subfigs[0]._suptitle.get_text()
