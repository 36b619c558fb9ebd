"""viz: the pictures hold what they claim to show (image data, bar heights, line data, node counts).

Every expected value here is computed independently of viz (NumPy on the inputs, hand counts).
Pictures that need a working conv2d forward pass are in test_viz_conv.py.
"""

import gc
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _viz_support import _close_figures, images_by_gid  # noqa: E402,F401
from PIL import Image  # noqa: E402

import tinygraph as tg  # noqa: E402
import viz  # noqa: E402
from tinygraph.train import History  # noqa: E402


def lines_by_gid(fig) -> dict:
    return {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines if ln.get_gid()}


def rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------- kernels
def test_rgb_first_layer_one_colour_image_per_filter_each_on_its_own_centred_scale():
    w = rng().standard_normal((8, 3, 5, 5))
    fig = viz.plot_kernels(w, scale="unit")
    images = images_by_gid(fig)
    assert sorted(images) == sorted(f"kernel:{f}" for f in range(8))
    for f in range(8):
        rgb = np.moveaxis(w[f], 0, -1)  # (kH, kW, 3)
        expected = 0.5 + rgb / (2 * np.abs(rgb).max())  # 0 stays mid grey
        np.testing.assert_allclose(np.asarray(images[f"kernel:{f}"].get_array()), expected)


def test_grey_filters_on_a_shared_scale_use_a_diverging_map_centred_on_zero():
    w = rng(1).standard_normal((6, 1, 3, 3))
    fig = viz.plot_kernels(w, normalize="shared")
    images = images_by_gid(fig)
    assert len(images) == 6
    m = np.abs(w).max()
    for f in range(6):
        im = images[f"kernel:{f}"]
        np.testing.assert_allclose(np.asarray(im.get_array()), w[f, 0])
        assert im.get_clim() == pytest.approx((-m, m))
        assert im.get_cmap().name == "RdBu_r"
    assert any(ax.get_ylabel() == "weight" for ax in fig.axes)  # the colorbar


def test_rgb_shared_scale_maps_minus_max_to_0_and_zero_to_grey():
    w = rng(2).standard_normal((4, 3, 3, 3))
    images = images_by_gid(viz.plot_kernels(w, normalize="shared"))
    m = np.abs(w).max()
    for f in range(4):
        np.testing.assert_allclose(
            np.asarray(images[f"kernel:{f}"].get_array()), 0.5 + np.moveaxis(w[f], 0, -1) / (2 * m)
        )


def test_deeper_filters_show_every_input_channel_normalized_per_filter():
    w = rng(3).standard_normal((4, 5, 3, 3))
    images = images_by_gid(viz.plot_kernels(w, normalize="filter"))  # the older name of scale="unit"
    assert len(images) == 4 * 5
    for f in range(4):
        m = np.abs(w[f]).max()
        for c in range(5):
            np.testing.assert_allclose(np.asarray(images[f"kernel:{f}:{c}"].get_array()), w[f, c] / m)


@pytest.mark.parametrize("channel", [2, -1, "mean"])
def test_one_chosen_channel_or_the_mean_per_filter(channel):
    w = rng(4).standard_normal((5, 4, 3, 3))
    images = images_by_gid(viz.plot_kernels(w, channel=channel))
    assert len(images) == 5
    planes = w.mean(axis=1) if channel == "mean" else w[:, channel]
    for f in range(5):
        im = images[f"kernel:{f}"]
        np.testing.assert_allclose(np.asarray(im.get_array()), planes[f])
        assert im.get_clim() == pytest.approx((-np.abs(planes).max(), np.abs(planes).max()))


def test_a_conv_layer_is_accepted_and_max_filters_limits_the_grid():
    conv = tg.nn.Conv2d(1, 10, 5)
    w = conv.weight.detach().numpy()
    images = images_by_gid(viz.plot_kernels(conv, max_filters=4))
    assert sorted(images) == [f"kernel:{f}" for f in range(4)]
    np.testing.assert_allclose(np.asarray(images["kernel:3"].get_array()), w[3, 0], rtol=1e-6)


def test_a_constant_filter_is_zero_not_nan_on_its_own_scale():
    w = np.zeros((2, 1, 3, 3))
    w[1] = rng().standard_normal((1, 3, 3))
    images = images_by_gid(viz.plot_kernels(w, scale="unit"))
    np.testing.assert_array_equal(np.asarray(images["kernel:0"].get_array()), np.zeros((3, 3)))


def test_plot_kernels_rejects_non_conv_input_clearly():
    with pytest.raises(TypeError, match=r"Conv2d.*Linear.*\(3, 4\)"):
        viz.plot_kernels(tg.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="4-D"):
        viz.plot_kernels(np.zeros((3, 3, 3)))
    with pytest.raises(TypeError, match="Conv2d layer or a 4-D weight"):
        viz.plot_kernels("conv1")
    with pytest.raises(ValueError, match="channel=7"):
        viz.plot_kernels(np.zeros((2, 4, 3, 3)), channel=7)
    with pytest.raises(ValueError, match="rgb"):
        viz.plot_kernels(np.zeros((2, 4, 3, 3)), channel="rgb")
    with pytest.raises(ValueError, match="normalize"):
        viz.plot_kernels(np.zeros((2, 1, 3, 3)), normalize="global")


def test_grid_pictures_draw_into_the_callers_axes_and_save_creating_folders(tmp_path):
    fig, axes = plt.subplots(1, 2)
    path = tmp_path / "a" / "b" / "kernels.png"
    out = viz.plot_kernels(rng().standard_normal((3, 1, 3, 3)), ax=axes[1], save=path)
    assert out is fig
    assert axes[1] not in fig.axes  # replaced by the grid
    assert path.exists() and Image.open(path).size[0] > 0
    assert len(images_by_gid(fig)) == 3


# ----------------------------------------------------------------------------------------- curves
def make_history(epochs=4, steps_per_epoch=5, validation=True, seed=0):
    r = rng(seed)
    steps = list(np.linspace(2.0, 0.5, epochs * steps_per_epoch) + 0.1 * r.standard_normal(epochs * steps_per_epoch))
    h = History(
        step_loss=steps, train_loss=list(np.linspace(1.8, 0.6, epochs)), train_acc=list(np.linspace(0.3, 0.9, epochs))
    )
    if validation:
        h.val_loss = list(np.linspace(1.9, 0.8, epochs))
        h.val_acc = list(np.linspace(0.25, 0.85, epochs))
    return h


def test_loss_and_accuracy_per_epoch_are_drawn_as_recorded():
    h = make_history()
    fig = viz.plot_loss_curves(h)
    lines = lines_by_gid(fig)
    assert len(fig.axes) == 2  # loss and accuracy panels
    for field in ("train_loss", "val_loss", "train_acc", "val_acc"):
        np.testing.assert_allclose(lines[f"run 0:{field}"].get_ydata(), getattr(h, field))
        np.testing.assert_allclose(lines[f"run 0:{field}"].get_xdata(), [1, 2, 3, 4])
    assert "run 0:step_loss" not in lines  # per-step loss only when asked


def test_per_step_loss_is_smoothed_with_a_debiased_moving_average_and_aligned_to_epochs():
    h = make_history(epochs=3, steps_per_epoch=4)
    beta = 0.8
    lines = lines_by_gid(viz.plot_loss_curves(h, show_steps=True, smooth=beta))
    v = np.asarray(h.step_loss)
    expected = [
        sum((1 - beta) * beta ** (t - k) * v[k] for k in range(t + 1)) / (1 - beta ** (t + 1)) for t in range(len(v))
    ]
    np.testing.assert_allclose(lines["run 0:step_loss_smooth"].get_ydata(), expected)
    np.testing.assert_allclose(lines["run 0:step_loss"].get_ydata(), v)
    x = lines["run 0:step_loss"].get_xdata()
    assert x[3] == pytest.approx(1.0) and x[-1] == pytest.approx(3.0)  # last step of epoch k at x = k


def test_several_histories_are_overlaid_with_their_labels_and_log_scale():
    fig = viz.plot_loss_curves(
        [make_history(seed=0), make_history(seed=1, validation=False)], labels=["plain", "residual"], log_scale=True
    )
    lines = lines_by_gid(fig)
    assert {"plain:train_loss", "plain:val_loss", "residual:train_loss"} <= set(lines)
    assert "residual:val_loss" not in lines
    assert lines["plain:train_loss"].get_color() != lines["residual:train_loss"].get_color()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "plain: train loss" in legend and "residual: train loss" in legend
    assert fig.axes[0].get_yscale() == "log"


def test_legends_never_cover_a_curve_and_name_the_held_out_set():
    runs = [make_history(seed=i) for i in range(4)]
    fig = viz.plot_loss_curves(runs, labels=["a", "b", "c", "d"], show_steps=True, held_out="test")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = fig.legends + [a.get_legend() for a in fig.axes if a.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axes in fig.axes:
            assert not box.overlaps(axes.get_window_extent(renderer)), "the legend covers a panel"
    texts = " ".join(t.get_text() for lg in legends for t in lg.get_texts())
    assert "a: test loss" in texts and "val" not in texts
    fig2, ax = plt.subplots()
    viz.plot_loss_curves(runs[:2], labels=["x", "y"], ax=ax)
    fig2.canvas.draw()
    r2 = fig2.canvas.get_renderer()
    assert not ax.get_legend().get_window_extent(r2).overlaps(ax.get_window_extent(r2))


def test_asking_for_validation_curves_that_were_never_recorded_is_a_clear_error():
    with pytest.raises(ValueError, match="'residual' has no validation data"):
        viz.plot_loss_curves(
            [make_history(), make_history(validation=False)], labels=["plain", "residual"], validation=True
        )
    lines = lines_by_gid(viz.plot_loss_curves(make_history(), validation=False))
    assert "run 0:val_loss" not in lines and "run 0:train_loss" in lines


def test_loss_curves_accept_a_dict_and_reject_bad_arguments():
    h = make_history().to_dict()
    assert "run 0:train_loss" in lines_by_gid(viz.plot_loss_curves(h))
    with pytest.raises(ValueError, match="2 histories but 1 labels"):
        viz.plot_loss_curves([h, h], labels=["a"])
    with pytest.raises(TypeError, match="History"):
        viz.plot_loss_curves(42)
    with pytest.raises(ValueError, match="smooth"):
        viz.plot_loss_curves(h, smooth=1.0)


def test_all_nan_accuracy_of_a_regression_run_gets_no_panel():
    h = make_history(validation=False)
    h.train_acc = [float("nan")] * len(h.train_loss)
    fig = viz.plot_loss_curves(h)
    assert len(fig.axes) == 1 and "run 0:train_acc" not in lines_by_gid(fig)


def test_loss_curves_into_one_given_axes_draw_the_loss_only():
    fig, ax = plt.subplots()
    assert viz.plot_loss_curves(make_history(), ax=ax) is fig
    assert len(fig.axes) == 1 and {ln.get_gid() for ln in ax.lines} == {"run 0:train_loss", "run 0:val_loss"}


# -------------------------------------------------------------------------------- confusion matrix
Y_TRUE = [0, 1, 2, 2, 1, 0, 0]
Y_PRED = [0, 2, 2, 2, 1, 1, 0]
HAND_COUNTED = np.array(
    [
        [2, 1, 0],  # true 0: two right, one taken for 1
        [0, 1, 1],  # true 1: one right, one taken for 2
        [0, 0, 2],
    ]
)  # true 2: both right


def test_confusion_matrix_matches_a_hand_count_and_sums_to_the_sample_count():
    fig = viz.plot_confusion_matrix(Y_TRUE, Y_PRED, class_names=["cat", "dog", "bird"])
    shown = np.asarray(images_by_gid(fig)["confusion"].get_array())
    np.testing.assert_array_equal(shown, HAND_COUNTED)
    assert shown.sum() == len(Y_TRUE)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in HAND_COUNTED.ravel())
    assert "71.4%" in ax.get_title()  # 5 of 7 on the diagonal


def test_normalized_confusion_rows_are_fractions_and_scores_are_argmaxed():
    scores = np.eye(3)[Y_PRED] * 5 + 0.1  # (N, K) scores whose argmax is Y_PRED
    fig = viz.plot_confusion_matrix(tg.tensor(Y_TRUE), scores, normalize=True)
    shown = np.asarray(images_by_gid(fig)["confusion"].get_array())
    np.testing.assert_allclose(shown, HAND_COUNTED / HAND_COUNTED.sum(axis=1, keepdims=True))
    empty_row = np.asarray(
        images_by_gid(viz.plot_confusion_matrix([0, 0], [0, 1], class_names="abc", normalize="true"))[
            "confusion"
        ].get_array()
    )
    np.testing.assert_array_equal(empty_row[2], [0, 0, 0])  # a class never seen: zeros, not NaN


def test_confusion_matrix_counts_random_labels_like_a_python_loop():
    t, p = rng(5).integers(0, 6, 200), rng(6).integers(0, 6, 200)
    expected = np.zeros((6, 6), int)
    for a, b in zip(t, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(viz.confusion_matrix(t, p), expected)


def test_confusion_matrix_rejects_mismatched_or_bad_labels():
    with pytest.raises(ValueError, match="7 samples but y_pred has 6"):
        viz.plot_confusion_matrix(Y_TRUE, Y_PRED[:6])
    with pytest.raises(ValueError, match="num_classes=2"):
        viz.confusion_matrix(Y_TRUE, Y_PRED, num_classes=2)
    with pytest.raises(ValueError, match="non-negative integer"):
        viz.confusion_matrix([0.5, 1], [0, 1])
    with pytest.raises(ValueError, match="normalize"):
        viz.plot_confusion_matrix(Y_TRUE, Y_PRED, normalize="rows")


# -------------------------------------------------------------------------------------- predictions
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_predictions_grid_shows_each_image_with_its_probabilities_and_verdict():
    images = rng(7).random((5, 1, 8, 8))
    probs = softmax(rng(8).standard_normal((5, 4)))
    labels = np.array([0, 1, 2, 3, 0])
    names = ["zero", "one", "two", "three"]
    fig = viz.plot_predictions(images, probs, labels, class_names=names)
    imgs = images_by_gid(fig)
    assert sorted(imgs) == [f"image:{i}" for i in range(5)]
    bar_axes = {ax.get_gid(): ax for ax in fig.findobj(lambda a: hasattr(a, "patches") and a.get_gid())}
    for i in range(5):
        im = images[i, 0]
        np.testing.assert_allclose(np.asarray(imgs[f"image:{i}"].get_array()), (im - im.min()) / (im.max() - im.min()))
        np.testing.assert_allclose([b.get_height() for b in bar_axes[f"probs:{i}"].patches], probs[i])
        pred = int(np.argmax(probs[i]))
        title = imgs[f"image:{i}"].axes.title
        assert f"pred: {names[pred]}" in title.get_text() and f"true: {names[labels[i]]}" in title.get_text()
        assert title.get_color() == ("green" if pred == labels[i] else "red")


def test_predictions_turn_logits_into_softmax_and_can_show_only_the_top_k():
    logits = rng(9).standard_normal((3, 6)) * 3
    fig = viz.plot_predictions(rng(10).random((3, 3, 5, 5)), tg.tensor(logits), [1, 2, 3], top_k=2)
    bar_axes = {ax.get_gid(): ax for ax in fig.findobj(lambda a: hasattr(a, "patches") and a.get_gid())}
    p = softmax(logits)
    for i in range(3):
        np.testing.assert_allclose([b.get_height() for b in bar_axes[f"probs:{i}"].patches], np.sort(p[i])[::-1][:2])
    assert np.asarray(images_by_gid(fig)["image:0"].get_array()).shape == (5, 5, 3)  # colour images stay colour


def test_predictions_reject_inconsistent_inputs():
    with pytest.raises(ValueError, match="disagree on N"):
        viz.plot_predictions(np.zeros((3, 8, 8)), np.full((2, 4), 0.25), [0, 1])
    with pytest.raises(ValueError, match="only 4 classes"):
        viz.plot_predictions(np.zeros((2, 8, 8)), np.full((2, 4), 0.25), [0, 4])
    with pytest.raises(ValueError, match="images must be"):
        viz.plot_predictions(np.zeros((2, 5, 8, 8)), np.full((2, 4), 0.25), [0, 1])


# ------------------------------------------------------------------------------------------- graph
def mlp_loss():
    tg.manual_seed(0)
    x = tg.randn(4, 8)
    y = tg.tensor([0, 1, 2, 1])
    w1 = tg.randn(8, 16, requires_grad=True)
    b1 = tg.zeros(16, requires_grad=True)
    w2 = tg.randn(16, 3, requires_grad=True)
    h = (x @ w1 + b1).relu()
    loss = tg.functional.cross_entropy(h @ w2 + h.sum(1, keepdim=True) * 2, y)
    return loss, (x, w1, b1, w2)


def boxes(fig, prefix):
    return {t.get_gid(): t for t in fig.axes[0].texts if (t.get_gid() or "").startswith(prefix)}


def test_graph_figure_has_one_box_per_op_and_arrows_pointing_down():
    loss, _ = mlp_loss()
    g = tg.graph(loss)
    fig = viz.plot_graph(loss)
    ops = boxes(fig, "op:")
    assert sorted(ops) == sorted(f"op:{n.id}" for n in g.ops())
    drawn = {**ops, **boxes(fig, "tensor:")}
    arrows = [a for a in fig.axes[0].texts if (a.get_gid() or "").startswith("edge:")]
    assert arrows
    for a in arrows:
        src, dst = a.get_gid()[5:].split("->")
        y_src = drawn[_gid(src, drawn)].get_position()[1]
        y_dst = drawn[_gid(dst, drawn)].get_position()[1]
        assert y_src > y_dst  # inputs on top, the loss at the bottom


def _gid(node_id, drawn):
    return f"op:{node_id}" if f"op:{node_id}" in drawn else f"tensor:{node_id}"


def test_graph_layers_are_longest_paths_and_parameters_fold_into_their_op():
    x = tg.randn(3, 4, requires_grad=True)
    a = x.relu()
    b = a.exp().log()  # a longer path to the product than a itself
    z = (a * b).sum()
    fig = viz.plot_graph(z, collapse_params=False)
    ops = boxes(fig, "op:")
    g = tg.graph(z)
    label_of = {f"op:{n.id}": n.label for n in g.ops()}
    y = {label_of[k]: t.get_position()[1] for k, t in ops.items()}
    assert y["Mul"] == y["Log"] - 1 and y["Log"] == y["Exp"] - 1 and y["Exp"] == y["ReLU"] - 1

    loss, (_, w1, *_rest) = mlp_loss()
    folded = viz.plot_graph(loss)
    texts = [t.get_text() for t in boxes(folded, "op:").values()]
    assert sum("param (8, 16)" in t for t in texts) == 1  # w1 is a line in its MatMul box
    assert not any("(8, 16)" in t.get_text() for t in boxes(folded, "tensor:").values())
    unfolded = viz.plot_graph(loss, collapse_params=False)
    assert any("(8, 16)" in t.get_text() for t in boxes(unfolded, "tensor:").values())


def test_graph_names_the_target_leaf_one_naming_style_and_the_softmax_inside_cross_entropy():
    loss, _ = mlp_loss()
    fig = viz.plot_graph(loss)
    texts = {gid: t.get_text() for gid, t in {**boxes(fig, "op:"), **boxes(fig, "tensor:")}.items()}
    assert sum(t.startswith("target (one-hot)\n(4, 3)") for t in texts.values()) == 1  # y as one-hot rows
    assert not any(t.startswith("constant") for t in texts.values())
    firsts = [texts[f"op:{n.id}"].split("\n")[0] for n in tg.graph(loss).ops()]
    assert "cross_entropy (log_softmax + nll)" in firsts
    assert all(re.fullmatch(r"[a-z0-9_]+( \(.*\))?", f) for f in firsts), firsts  # snake_case only
    assert {"matmul", "relu", "add", "mul", "sum", "div"} <= set(firsts)


def test_graph_draws_batch_norm_buffers_dashed_not_as_inputs():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3), tg.nn.BatchNorm2d(2), tg.nn.Flatten(), tg.nn.Linear(72, 3))
    loss = tg.functional.cross_entropy(model(tg.randn(2, 1, 8, 8)), tg.tensor([0, 2]))
    fig = viz.plot_graph(loss, names=model)
    tensors = boxes(fig, "tensor:")
    running = [t for t in tensors.values() if "running_" in t.get_text()]
    assert len(running) == 2
    for t in running:
        assert t.get_bbox_patch().get_linestyle() == "--" and "buffer" in t.get_text()
    data = [t for t in tensors.values() if t.get_text().startswith("input")]
    assert data and all(t.get_bbox_patch().get_linestyle() in ("-", "solid") for t in data)
    ids = {gid.split(":")[1] for gid, t in tensors.items() if "running_" in t.get_text()}
    edges = [a for a in fig.axes[0].texts if (a.get_gid() or "").startswith("edge:")]
    dashed = [a for a in edges if a.get_gid()[5:].split("->")[0] in ids]
    assert len(dashed) == 2 and all(a.arrow_patch.get_linestyle() == "--" for a in dashed)


def test_graph_shows_gradient_norms_after_backward():
    loss, (_, w1, _, w2) = mlp_loss()
    before = " ".join(t.get_text() for t in viz.plot_graph(loss).axes[0].texts)
    assert "|grad|" not in before
    loss.backward()
    after = " ".join(t.get_text() for t in viz.plot_graph(loss).axes[0].texts)
    for w in (w1, w2):
        assert f"|grad|={np.sqrt((w.grad.numpy() ** 2).sum()):.3g}" in after
    assert "|grad|" not in " ".join(t.get_text() for t in viz.plot_graph(loss, show_grad_norms=False).axes[0].texts)


def test_graph_max_nodes_keeps_the_layers_nearest_the_output():
    x = tg.randn(2, requires_grad=True)
    y = x
    for _ in range(30):
        y = y.tanh()
    fig = viz.plot_graph(y.sum(), max_nodes=10)
    drawn = [t for t in fig.axes[0].texts if t.get_gid() and not t.get_gid().startswith("edge:")]
    assert len(drawn) <= 10
    more = [t for t in drawn if t.get_gid() == "more"]
    assert len(more) == 1 and "more nodes" in more[0].get_text()
    assert "showing the last" in fig.axes[0].get_title()


def test_graph_text_is_the_tree_or_one_line_per_layer():
    loss, _ = mlp_loss()
    assert viz.graph_text(loss) == str(tg.graph(loss))
    lines = viz.graph_text(loss, layered=True).splitlines()
    assert lines[0].startswith("layer 0:") and "output" in lines[-1]
    for n in tg.graph(loss).ops():
        assert any(viz.graph.op_name(n.label) in line for line in lines)
    with pytest.raises(TypeError, match="plot_graph: expected a Tensor"):
        viz.plot_graph([1, 2])


# ----------------------------------------------------------------------------------- gradient flow
def deep_mlp(depth=6, width=8):
    tg.manual_seed(1)
    layers = []
    for _ in range(depth):
        layers += [tg.nn.Linear(width, width), tg.nn.Sigmoid()]
    return tg.nn.Sequential(*layers)


def test_gradient_flow_plots_mean_and_max_abs_grad_of_each_weight():
    model = deep_mlp()
    with pytest.raises(ValueError, match="backward"):
        viz.plot_gradient_flow(model)
    model(tg.randn(5, 8)).sum().backward()
    fig = viz.plot_gradient_flow(model)
    lines = lines_by_gid(fig)
    weights = [(n, p) for n, p in model.named_parameters() if n.endswith("weight")]
    np.testing.assert_allclose(
        lines[":mean"].get_ydata(), [np.abs(p.grad.numpy()).mean() for _, p in weights], rtol=1e-6
    )
    np.testing.assert_allclose(lines[":max"].get_ydata(), [np.abs(p.grad.numpy()).max() for _, p in weights], rtol=1e-6)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [n for n, _ in weights]
    assert len(viz.gradient_stats(model, include_bias=True)) == 2 * len(weights)


def test_gradient_flow_overlays_several_models():
    plain, other = deep_mlp(6), deep_mlp(3)
    for m in (plain, other):
        m(tg.randn(5, 8)).sum().backward()
    lines = lines_by_gid(viz.plot_gradient_flow({"plain": plain, "short": other}))
    assert len(lines["plain:mean"].get_ydata()) == 6 and len(lines["short:mean"].get_ydata()) == 3
    with pytest.raises(TypeError, match="named_parameters"):
        viz.plot_gradient_flow([1, 2, 3])


def test_gradient_flow_depth_axis_of_several_models_has_whole_number_ticks():
    short, shorter = deep_mlp(3), deep_mlp(2)  # depths 0..2: the default locator would tick 0.25, 0.5, ...
    for m in (short, shorter):
        m(tg.randn(5, 8)).sum().backward()
    fig = viz.plot_gradient_flow({"short": short, "shorter": shorter})
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks)


# --------------------------------------------------------------------------------------- animation
def reference_conv(x, k, s, p, d):
    """Slide a zero-stuffed (dilated) kernel over the padded input: a different route to the same numbers."""
    kd = np.zeros((d * (k.shape[0] - 1) + 1, d * (k.shape[1] - 1) + 1))
    kd[::d, ::d] = k
    xp = np.pad(x, p)
    h = (xp.shape[0] - kd.shape[0]) // s + 1
    w = (xp.shape[1] - kd.shape[1]) // s + 1
    return np.array(
        [
            [np.sum(kd * xp[i * s : i * s + kd.shape[0], j * s : j * s + kd.shape[1]]) for j in range(w)]
            for i in range(h)
        ]
    )


# An animation that is never saved or shown warns when collected; here only its data is inspected.
@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
@pytest.mark.parametrize("s,p,d", [(1, 0, 1), (2, 1, 1), (1, 1, 2), (3, 2, 1), (2, 0, 2)])
def test_animation_has_one_frame_per_output_position_with_the_right_values(s, p, d):
    x = rng(11).integers(-3, 4, (7, 6)).astype(float)
    k = rng(12).integers(-2, 3, (3, 2)).astype(float)
    anim = viz.animate_convolution(x, k, stride=s, padding=p, dilation=d)
    expected = reference_conv(x, k, s, p, d)
    h_out = (7 + 2 * p - d * 2 - 1) // s + 1
    w_out = (6 + 2 * p - d * 1 - 1) // s + 1
    assert expected.shape == (h_out, w_out)
    assert len(list(anim.new_frame_seq())) == h_out * w_out
    np.testing.assert_allclose(anim.steps.output, expected)
    assert [(st.row, st.col) for st in anim.steps.steps] == [(i, j) for i in range(h_out) for j in range(w_out)]
    first = anim.steps.steps[0]
    window = matplotlib.colors.to_rgb(viz.conv_arithmetic.WINDOW_COLOR)  # green: not a colour of the kernel's map
    taps = [pt for pt in anim.figure.axes[0].patches if pt.get_edgecolor()[:3] == pytest.approx(window)]
    assert sorted((pt.get_y() + 0.5, pt.get_x() + 0.5) for pt in taps) == sorted(first.taps)  # frame 0's footprint


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
def test_animation_gif_has_the_documented_frame_count(tmp_path):
    x = np.arange(25.0).reshape(5, 5)
    path = tmp_path / "gifs" / "conv.gif"
    viz.animate_convolution(x, np.ones((3, 3)), stride=2, padding=1, save=path, final_frame=True)
    assert Image.open(path).n_frames == 3 * 3 + 1  # 9 output positions, plus the finished output


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
def test_animation_rejects_bad_geometry():
    with pytest.raises(ValueError, match="larger than the padded input"):
        viz.animate_convolution(np.zeros((3, 3)), np.ones((3, 3)), dilation=2)
    with pytest.raises(ValueError, match="same C"):
        viz.animate_convolution(np.zeros((2, 5, 5)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="stride"):
        viz.animate_convolution(np.zeros((5, 5)), np.ones((3, 3)), stride=0)


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
def test_animation_of_several_channels_shows_each_channels_products_and_their_sum_plus_bias():
    r = rng(13)
    x = r.integers(-2, 3, (3, 5, 5)).astype(np.float32)
    k = r.integers(-2, 3, (3, 3, 3)).astype(np.float32)
    anim = viz.animate_convolution(x, k, padding=1, bias=0.5)
    expected = tg.functional.conv2d(tg.tensor(x[None]), tg.tensor(k[None]), tg.tensor([0.5]), padding=1).numpy()[0, 0]
    np.testing.assert_allclose(anim.steps.output, expected, rtol=1e-5, atol=1e-5)
    anim._func(7)  # output pixel (1, 2)
    texts = [t.get_text() for t in anim.figure.findobj(matplotlib.text.Text)]
    total = [t for t in texts if t.startswith("out[1, 2] = ") and "bias 0.5" in t]
    assert total and float(total[0].rsplit("= ", 1)[1]) == pytest.approx(expected[1, 2], abs=1e-3)
    assert sum(t.startswith("channel ") for t in texts) == 3  # one row per input channel
    sizes = [t.get_fontsize() for t in anim.figure.findobj(matplotlib.text.Text) if t.get_text()]
    assert min(sizes) >= 9  # readable at the saved size
    assert "input 5x5, padded to 7x7" in " ".join(texts)
    no_pad = viz.animate_convolution(np.zeros((7, 7)), np.ones((3, 3)), dilation=2)
    assert any(t.get_text() == "input 7x7, no padding" for t in no_pad.figure.findobj(matplotlib.text.Text))
    del anim, no_pad  # collected here, where the warning filter applies, not in a later test
    gc.collect()


# ---------------------------------------------------------------------------------------- headless
def test_viz_works_without_a_display_and_picks_agg(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(viz.__file__).parent.parent), env.get("PYTHONPATH", "")])
    code = (
        "import numpy as np, viz, matplotlib; "
        f"viz.plot_confusion_matrix([0, 1], [1, 1], save={str(tmp_path / 'cm.png')!r}); "
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().lower() == "agg"
    assert (tmp_path / "cm.png").exists()


def test_gradient_flow_of_several_models_names_every_point_including_the_last_linear_layer():
    def net():
        tg.manual_seed(2)
        return tg.nn.Sequential(
            tg.nn.Conv2d(1, 2, 3, padding=1), tg.nn.ReLU(), tg.nn.Conv2d(2, 2, 3, padding=1), tg.nn.Flatten(),
            tg.nn.Linear(2 * 5 * 5, 3),
        )  # fmt: skip

    models = {"a": net(), "b": net()}
    for m in models.values():
        m(tg.randn(2, 1, 5, 5)).sum().backward()
    fig = viz.plot_gradient_flow(models)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["conv 1", "conv 2", "linear"]  # 3 points, 3 names: the last one is the classifier
    assert len(lines_by_gid(fig)["a:mean"].get_ydata()) == 3
