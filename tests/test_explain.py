"""tinygraph.explain: every method against an independent computation on small models."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph import explain
from tinygraph import nn

F = tg.functional


def small_cnn(seed=0, dtype=tg.float64, in_channels=2, classes=3):
    """conv 3x3 pad 1 -> ReLU -> max-pool 2 -> conv 3x3 -> ReLU -> flatten -> linear, on 6x6 images."""
    tg.manual_seed(seed)
    model = nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, 4, 3, padding=1)),
                ("relu1", nn.ReLU()),
                ("pool", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(4, 5, 3, padding=1)),
                ("bn", nn.BatchNorm2d(5)),
                ("relu2", nn.ReLU()),
                ("flatten", nn.Flatten()),
                ("drop", nn.Dropout(0.5)),
                ("fc", nn.Linear(5 * 3 * 3, classes)),
            ]
        )
    )
    model.bn.running_mean.data[...] = np.linspace(-0.2, 0.2, 5)
    model.bn.running_var.data[...] = np.linspace(0.5, 1.5, 5)
    return model.to(dtype)


def images(n=3, c=2, h=6, w=6, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


def logits_of(model, x):
    model.eval()
    with tg.no_grad():
        return model(tg.tensor(x)).data


# ------------------------------------------------------------------ saliency
def test_saliency_matches_central_finite_differences_in_float64():
    model, x = small_cnn(), images(n=2)
    target = np.array([0, 2])
    got = explain.saliency(model, x, target)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for n in range(len(x)):  # every pixel nudged up and down, all copies in one batch
        steps = np.eye(x[n].size).reshape(-1, *x[n].shape) * eps
        up, down = logits_of(model, x[n] + steps), logits_of(model, x[n] - steps)
        numeric[n] = ((up[:, target[n]] - down[:, target[n]]) / (2 * eps)).reshape(x[n].shape)
    np.testing.assert_allclose(got, np.abs(numeric).max(axis=1), atol=1e-6)
    assert got.shape == (2, 6, 6)


def test_target_none_is_the_predicted_class_and_an_int_is_broadcast():
    model, x = small_cnn(), images()
    predicted = logits_of(model, x).argmax(axis=1)
    np.testing.assert_array_equal(explain.saliency(model, x), explain.saliency(model, x, predicted))
    np.testing.assert_array_equal(explain.saliency(model, x, 1), explain.saliency(model, x, np.array([1, 1, 1])))


def test_model_mode_restored_and_no_gradient_left_on_parameters():
    model, x = small_cnn(), images()
    model.train()
    model.bn.eval()  # a submodule deliberately in its own mode
    model.fc.weight.grad = tg.tensor(np.full(model.fc.weight.shape, 7.0))  # a gradient from "training"
    explain.saliency(model, x)
    explain.grad_cam(model, x, "relu2")
    explain.guided_backprop(model, x)
    explain.fgsm(model, x, 0, 0.1)
    explain.occlusion(model, x, window=2, stride=2)
    explain.top_activating_patches(model, "relu2", 0, x, k=2)
    explain.class_visualization(model, 0, (2, 6, 6), steps=3)
    explain.features(model, "flatten", x)
    assert model.training and model.conv1.training and not model.bn.training
    np.testing.assert_array_equal(model.fc.weight.grad.data, 7.0)
    assert all(p.grad is None for name, p in model.named_parameters() if name != "fc.weight")
    assert all(p.requires_grad for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------ Grad-CAM
def bilinear_by_hand(m, out_h, out_w):
    """Per output pixel: the four neighbours around its centre, mapped back into the small map."""
    h, w = m.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y = min(max((i + 0.5) * h / out_h - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / out_w - 0.5, 0), w - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = y - y0, x - x0
            top = (1 - fx) * m[y0, x0] + fx * m[y0, x1]
            bottom = (1 - fx) * m[y1, x0] + fx * m[y1, x1]
            out[i, j] = (1 - fy) * top + fy * bottom
    return out


def test_upsample_bilinear_on_a_hand_worked_case():
    # 2 -> 4 pixels: output centres map to -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    a, b = 2.0, 6.0
    row = explain.upsample_bilinear(np.array([[[a, b]]]), (1, 4))[0, 0]
    np.testing.assert_allclose(row, [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b])
    m = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(explain.upsample_bilinear(m[None], (7, 5))[0], bilinear_by_hand(m, 7, 5))


def cam_by_hand(model, x, layer, target):
    """``ReLU(sum_k alpha_k A_k)`` at the layer's resolution, from a forward hook and retain_grad."""
    model.eval()
    seen = {}
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.__setitem__("A", out))
    logits = model(tg.tensor(x, requires_grad=True))
    handle.remove()
    seen["A"].retain_grad()
    sum(logits[n, int(t)] for n, t in enumerate(target)).backward()
    A, dA = seen["A"].data, seen["A"].grad.data
    cams = []
    for n in range(len(x)):
        alpha = [dA[n, k].mean() for k in range(A.shape[1])]
        cams.append(np.maximum(sum(alpha[k] * A[n, k] for k in range(A.shape[1])), 0))
    return cams


def test_grad_cam_matches_a_hand_computation_with_a_forward_hook_and_retain_grad():
    model, x = small_cnn(), images()
    target = np.array([2, 0, 1])
    got = explain.grad_cam(model, x, model.relu2, target)
    for n, cam in enumerate(cam_by_hand(model, x, model.relu2, target)):
        big = bilinear_by_hand(cam, 6, 6)
        expected = big / big.max() if big.max() > 0 else big
        np.testing.assert_allclose(got[n], expected, atol=1e-12)
    assert got.min() >= 0 and got.max() <= 1


def test_grad_cam_aligned_to_receptive_fields_of_a_network_without_padding():
    tg.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 2)
    ).to(tg.float64)
    x, target = images(n=2, c=1, h=12, w=12, seed=3), np.array([0, 1])
    got = explain.grad_cam(model, x, model[4], target, align="receptive_field")
    # 12 -> conv 10 -> pool 5 -> conv 3: output cell i reads pooled i..i+2 = image rows 2i..2i+7, centre 2i + 3.5
    centres = np.array([3.5, 5.5, 7.5])
    for n, cam in enumerate(cam_by_hand(model, x, model[4], target)):
        rows = np.array([np.interp(np.arange(12), centres, cam[:, j]) for j in range(3)]).T  # (12, 3)
        big = np.array([np.interp(np.arange(12), centres, rows[i]) for i in range(12)])  # (12, 12)
        expected = big / big.max() if big.max() > 0 else big
        np.testing.assert_allclose(got[n], expected, atol=1e-12)
    stretched = explain.grad_cam(model, x, model[4], target)
    assert not np.allclose(stretched, got)  # stretching puts the cells elsewhere


def test_grad_cam_by_name_equals_by_module_and_an_all_zero_map_stays_zero():
    model, x = small_cnn(), images()
    np.testing.assert_array_equal(explain.grad_cam(model, x, "relu2"), explain.grad_cam(model, x, model.relu2))
    model.fc.weight.data[...] = 0  # the logits no longer depend on the layer: alpha = 0
    np.testing.assert_array_equal(explain.grad_cam(model, x, "relu2"), 0)


# ----------------------------------------------------------------- occlusion
@settings(max_examples=6)
@given(window=st.integers(1, 6), stride=st.integers(1, 4), fill=st.sampled_from([0.0, 0.5]))
def test_occlusion_matches_a_plain_loop_over_positions(window, stride, fill):
    model, x = small_cnn(dtype=tg.float64), images(n=2)
    target = np.array([1, 2])
    got = explain.occlusion(model, x, target, window=window, stride=stride, fill=fill, batch_size=5)
    oh = (6 - window) // stride + 1
    assert got.shape == (2, oh, oh)
    for n in range(2):
        for i in range(oh):
            for j in range(oh):
                covered = x[n : n + 1].copy()
                covered[:, :, i * stride : i * stride + window, j * stride : j * stride + window] = fill
                z = logits_of(model, covered)[0]
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                assert got[n, i, j] == pytest.approx(p[target[n]], abs=1e-12)


# ---------------------------------------------- a model that looks at one region
class LooksAtOneRegion(nn.Module):
    """Logits from rows 2..4 and columns 3..5 of the image only."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(x[:, :, 2:5, 3:6].reshape(x.shape[0], -1))


def test_saliency_and_occlusion_are_zero_outside_the_region_the_target_depends_on():
    tg.manual_seed(0)
    model, x = LooksAtOneRegion().to(tg.float64), images()
    inside = np.zeros((6, 6), dtype=bool)
    inside[2:5, 3:6] = True
    sal = explain.saliency(model, x)
    assert np.all(sal[:, ~inside] == 0) and np.all(sal[:, inside] > 0)
    occ = explain.occlusion(model, x, window=2, stride=1)
    z = logits_of(model, x)
    baseline = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))[np.arange(3), z.argmax(axis=1)]
    for i in range(5):
        for j in range(5):
            overlaps = inside[i : i + 2, j : j + 2].any()
            change = occ[:, i, j] - baseline
            if not overlaps:
                np.testing.assert_allclose(change, 0, atol=1e-12)
            else:
                assert np.abs(change).max() > 1e-6
    gb = explain.guided_backprop(model, x)  # no ReLU at all: the plain gradient
    assert np.all(gb[:, :, ~inside] == 0)


# ----------------------------------------------------------- guided backprop
class TwoLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(2 * 3 * 3, 6)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.flatten(x))))


def test_guided_backprop_matches_a_hand_written_chain_on_a_two_layer_net():
    tg.manual_seed(3)
    model, x = TwoLayerNet().to(tg.float64), images(n=4, h=3, w=3, seed=5)
    target = np.array([0, 1, 2, 3])
    got = explain.guided_backprop(model, x, target)
    W1, b1, W2 = model.fc1.weight.data, model.fc1.bias.data, model.fc2.weight.data
    changed = 0.0
    for n in range(4):
        h = W1 @ x[n].ravel() + b1  # pre-activation
        grad_a = W2[target[n]]  # d logit / d relu output
        guided_h = np.maximum(grad_a, 0) * (h > 0)  # positive gradient AND positive input
        expected = (W1.T @ guided_h).reshape(2, 3, 3)
        np.testing.assert_allclose(got[n], expected, atol=1e-12)
        plain = (W1.T @ (grad_a * (h > 0))).reshape(2, 3, 3)
        changed = max(changed, np.abs(expected - plain).max())
    assert changed > 1e-3  # the guidance made a difference (the test could tell the two apart)
    plain_saliency = explain.saliency(model, x, target)
    assert not np.allclose(np.abs(got).max(axis=1), plain_saliency)


def test_guided_backprop_refuses_a_relu_outside_nn_relu():
    class FunctionalRelu(TwoLayerNet):
        def forward(self, x):
            return self.fc2(self.fc1(self.flatten(x)).relu())

    with pytest.raises(ValueError, match="guided_backprop: the model applies relu outside tg.nn.ReLU"):
        explain.guided_backprop(FunctionalRelu().to(tg.float64), images(h=3, w=3))


# ---------------------------------------------------------------------- FGSM
def test_fgsm_matches_the_formula_on_a_linear_model():
    tg.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4)).to(tg.float64)
    x, y = images(n=5, h=3, w=3, seed=2), np.array([0, 1, 2, 3, 0])
    W, b = model[1].weight.data, model[1].bias.data
    z = x.reshape(5, -1) @ W.T + b
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    grad = ((softmax - np.eye(4)[y]) @ W).reshape(x.shape)  # d cross_entropy / d x
    adv = explain.fgsm(model, x, y, eps=0.1)
    assert isinstance(adv, tg.Tensor) and not adv.requires_grad
    np.testing.assert_allclose(adv.data, x + 0.1 * np.sign(grad), atol=1e-12)
    clamped = explain.fgsm(model, x, y, eps=0.3, clamp=(-0.5, 0.5))
    np.testing.assert_allclose(clamped.data, np.clip(x + 0.3 * np.sign(grad), -0.5, 0.5), atol=1e-12)
    np.testing.assert_array_equal(explain.fgsm(model, x, y, eps=0).data, x)
    # the step raises the loss of every image
    za = adv.data.reshape(5, -1) @ W.T + b
    loss = lambda z: -(z[np.arange(5), y] - np.log(np.exp(z).sum(axis=1)))  # noqa: E731
    assert np.all(loss(za) > loss(z))


# ------------------------------------------------------- class visualization
def test_class_visualization_raises_the_target_logit():
    model = small_cnn()
    image, history = explain.class_visualization(model, 1, (2, 6, 6), steps=30, lr=0.1, jitter=0, blur_every=0)
    assert image.shape == (2, 6, 6) and history.shape == (30,)
    assert np.all(np.diff(history) > 0)  # plain ascent (small L2 only): up at every step
    assert history[-1] > history[0] + 0.5
    # with jitter and blur the climb wobbles (a 6x6 image shifted by a pixel is a different image) but still climbs
    result = explain.class_visualization(model, 1, (2, 6, 6), steps=40, lr=0.2, jitter=1, blur_every=10, seed=0)
    assert result.history[-10:].mean() > result.history[0] + 0.2
    again = explain.class_visualization(model, 1, (2, 6, 6), steps=40, lr=0.2, jitter=1, blur_every=10, seed=0)
    np.testing.assert_array_equal(again.image, result.image)  # seeded: reproducible
    clamped = explain.class_visualization(model, 1, (2, 6, 6), steps=5, clamp=(0, 1))
    assert clamped.image.min() >= 0 and clamped.image.max() <= 1


def test_gaussian_blur_keeps_a_constant_and_spreads_a_point_symmetrically():
    flat = np.full((1, 5, 5), 3.0)
    np.testing.assert_allclose(explain.gaussian_blur(flat, 1.0), flat)
    point = np.zeros((1, 9, 9))
    point[0, 4, 4] = 1
    blurred = explain.gaussian_blur(point, 1.0)[0]
    assert blurred.sum() == pytest.approx(1.0) and blurred.argmax() == 40
    np.testing.assert_allclose(blurred, blurred.T)
    np.testing.assert_allclose(blurred[4, 3] / blurred[4, 4], np.exp(-0.5), rtol=1e-2)


# ----------------------------------------------------------------- top patches
def test_top_activating_patches_match_brute_force():
    model, x = small_cnn(), images(n=7, seed=4)
    channel, k = 3, 4
    got = explain.top_activating_patches(model, "conv2", channel, x, k=k, batch_size=3)
    model.eval()
    best = []
    for n in range(len(x)):
        seen = {}
        h = model.conv2.register_forward_hook(lambda m, i, out: seen.__setitem__("a", out.data))
        with tg.no_grad():
            model(tg.tensor(x[n : n + 1]))
        h.remove()
        a = seen["a"][0, channel]
        top_value, position = -np.inf, None
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                if a[i, j] > top_value:
                    top_value, position = a[i, j], (i, j)
        best.append((top_value, n, position))
    best.sort(key=lambda t: -t[0])
    assert [g[0] for g in got] == [n for _, n, _ in best[:k]]
    for (n, box, value), (top_value, _, (i, j)) in zip(got, best):
        assert value == pytest.approx(top_value)
        # conv2 3x3 pad 1 reads pooled rows i-1..i+1 = image rows 2i-2..2i+3, conv1 (3x3 pad 1) widens by 1
        rows = (max(2 * i - 3, 0), min(2 * i + 4, 5))
        cols = (max(2 * j - 3, 0), min(2 * j + 4, 5))
        assert box == (rows[0], cols[0], rows[1] - rows[0] + 1, cols[1] - cols[0] + 1)


def test_receptive_box_matches_the_gradient_support_of_a_linear_network():
    # no ReLU, average pooling: every pixel in the geometric field gets a non-zero gradient
    tg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3, stride=2, dilation=2, padding=2),
        nn.Conv2d(2, 2, 2),
    ).to(tg.float64)
    x = tg.tensor(images(n=1, c=1, h=14, w=14), requires_grad=True)
    out = model(x)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            xi = tg.tensor(x.data, requires_grad=True)
            seed = np.zeros(out.shape)
            seed[0, :, i, j] = 1
            model(xi).backward(seed)
            rows, cols = np.nonzero(np.abs(xi.grad.data[0, 0]) > 0)
            top, left, height, width = explain.receptive_box(out, x, (i, j))
            assert (top, left) == (rows.min(), cols.min())
            assert (top + height - 1, left + width - 1) == (rows.max(), cols.max())


# -------------------------------------------------------------- embeddings
def test_pca_matches_numpy_svd():
    x = np.random.default_rng(0).standard_normal((40, 6)) @ np.diag([5, 3, 1, 0.5, 0.2, 0.1])
    got = explain.pca(x, k=3)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = u[:, :3] * s[:3]
    signs = np.sign((got * expected).sum(axis=0))  # each component is defined up to sign
    np.testing.assert_allclose(got, expected * signs, atol=1e-10)
    np.testing.assert_allclose(got.var(axis=0, ddof=1), s[:3] ** 2 / 39)


def blobs(per=15, dims=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, dims)) * 10
    x = np.concatenate([c + rng.standard_normal((per, dims)) for c in centres])
    return x, np.repeat(np.arange(3), per)


def test_tsne_kl_decreases_and_separated_blobs_stay_separated():
    x, labels = blobs()
    y, kl = explain.tsne(x, perplexity=10, steps=300, seed=0, return_kl=True)
    assert y.shape == (45, 2) and kl.shape == (300,)
    # during early exaggeration (steps 0..74) the map fits 12 P, not P, so KL(P || Q) may rise there;
    # once the momentum has settled on the true objective it falls
    after = kl[100:]
    assert kl[-1] < 0.5 * kl[0]
    assert np.all(np.diff(after[::20]) < 0) and np.mean(np.diff(after) > 0) < 0.05
    centres = np.array([y[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(y[labels == c] - centres[c], axis=1).max() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread  # every blob is farther from the others than its own radius
    for i in range(len(y)):  # and every point's nearest map neighbour is from its own blob
        assert labels[explain.nearest_neighbors(y, i, 1)[0]] == labels[i]


def test_nearest_neighbors_against_sorting_distances():
    x = np.random.default_rng(2).standard_normal((12, 4))
    d = np.linalg.norm(x - x[5], axis=1)
    expected = [i for i in np.argsort(d) if i != 5][:3]
    np.testing.assert_array_equal(explain.nearest_neighbors(x, 5, 3), expected)


def test_features_flattens_a_layer_and_collects_labels_from_a_loader():
    model, x = small_cnn(), images(n=5)
    y = np.arange(5)
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=2)
    feats, labels = explain.features(model, "relu2", loader, return_labels=True)
    model.eval()
    seen = {}
    with model.relu2.register_forward_hook(lambda m, i, out: seen.__setitem__("a", out.data)), tg.no_grad():
        model(tg.tensor(x))
    np.testing.assert_allclose(feats, seen["a"].reshape(5, -1))
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_allclose(explain.features(model, "relu2", x, batch_size=2), feats)


# ---------------------------------------------------------------- bad input
def test_bad_input_errors_name_the_argument():
    model, x = small_cnn(), images()
    with pytest.raises(ValueError, match=r"grad_cam: layer 'nope' is not in the model.*'conv1'"):
        explain.grad_cam(model, x, "nope")
    with pytest.raises(ValueError, match="grad_cam: layer Conv2d module is not in the model"):
        explain.grad_cam(model, x, nn.Conv2d(2, 2, 3))
    with pytest.raises(ValueError, match="grad_cam: align must be"):
        explain.grad_cam(model, x, "relu2", align="fit")
    with pytest.raises(ValueError, match="grad_cam: layer 'fc' returns shape"):
        explain.grad_cam(model, x, "fc")
    with pytest.raises(ValueError, match=r"saliency: target 3 is out of range for a model with 3 classes"):
        explain.saliency(model, x, 3)
    with pytest.raises(ValueError, match=r"saliency: target has shape \(2,\), expected \(3,\)"):
        explain.saliency(model, x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"saliency: x must be a batch of images \(N, C, H, W\), got shape \(2, 6, 6\)"):
        explain.saliency(model, x[0])
    with pytest.raises(ValueError, match="occlusion: window=7 is larger than the images"):
        explain.occlusion(model, x, window=7)
    with pytest.raises(ValueError, match="fgsm: eps must be >= 0"):
        explain.fgsm(model, x, 0, eps=-0.1)
    with pytest.raises(ValueError, match="top_activating_patches: channel=5 is out of range"):
        explain.top_activating_patches(model, "conv2", 5, x)
    with pytest.raises(TypeError, match="saliency: model must be a tg.nn.Module"):
        explain.saliency(lambda t: t, x)
    with pytest.raises(ValueError, match=r"tsne: perplexity must be in \[1, N\)"):
        explain.tsne(np.zeros((5, 2)), perplexity=30)
    with pytest.raises(ValueError, match="nearest_neighbors: query_index"):
        explain.nearest_neighbors(np.zeros((5, 2)), 5, 1)


def test_receptive_field_alignment_equals_stretching_for_a_same_padded_network():
    # every conv pads to "same" and the pool halves: cell i of the 3x3 map sits at image 2i + 0.5 on a 6x6
    # image, exactly where the half-pixel resize puts it, although the border cells' fields are clipped
    model, x = small_cnn(), images()
    np.testing.assert_allclose(
        explain.grad_cam(model, x, "relu2", align="receptive_field"), explain.grad_cam(model, x, "relu2"), atol=1e-12
    )
