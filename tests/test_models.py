"""tinygraph.models and the residual block: shapes at every stage, parameter counts and multiply-adds
computed by hand, receptive fields by backpropagation, overfitting a tiny batch, residual wiring."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import models, nn, optim
from tinygraph.nn import init

F = tg.functional


def _stage_shapes(model, x, names):
    shapes = {}
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda m, i, out, n=n: shapes.__setitem__(n, out.shape)) for n in names]
    with tg.no_grad():
        out = model(x)
    for h in handles:
        h.remove()
    return out.shape, shapes


# ------------------------------------------------------------------- shapes
def test_lenet5_shapes_and_parameter_count():
    model = models.LeNet5()
    out, shapes = _stage_shapes(
        model,
        tg.randn(2, 1, 28, 28),
        [
            "features.conv1",
            "features.pool1",
            "features.conv2",
            "features.pool2",
            "classifier.flatten",
            "classifier.fc1",
            "classifier.fc2",
        ],
    )
    assert out == (2, 10)
    assert shapes == {
        "features.conv1": (2, 6, 28, 28),
        "features.pool1": (2, 6, 14, 14),
        "features.conv2": (2, 16, 10, 10),
        "features.pool2": (2, 16, 5, 5),
        "classifier.flatten": (2, 400),
        "classifier.fc1": (2, 120),
        "classifier.fc2": (2, 84),
    }
    by_hand = (6 * 1 * 5 * 5 + 6) + (16 * 6 * 5 * 5 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == by_hand == 61706
    classic = models.LeNet5(classic=True)
    assert isinstance(classic.features.relu1, nn.Tanh) and isinstance(classic.features.pool1, nn.AvgPool2d)
    assert classic(tg.randn(1, 1, 28, 28)).shape == (1, 10)


def test_digits_cnn_shapes():
    out, shapes = _stage_shapes(
        models.DigitsCNN(),
        tg.randn(3, 1, 8, 8),
        ["features.conv2", "features.pool1", "features.pool2", "classifier.flatten"],
    )
    assert out == (3, 10)
    assert shapes == {
        "features.conv2": (3, 32, 8, 8),
        "features.pool1": (3, 32, 4, 4),
        "features.pool2": (3, 64, 2, 2),
        "classifier.flatten": (3, 256),
    }


@pytest.mark.parametrize("in_channels, size, final", [(1, 28, 7), (3, 32, 8)])
def test_small_resnet_shapes(in_channels, size, final):
    model = models.SmallResNet(in_channels=in_channels)
    out, shapes = _stage_shapes(model, tg.randn(2, in_channels, size, size), ["stem", "stage1", "stage2", "stage3"])
    assert out == (2, 10)
    assert shapes == {
        "stem": (2, 16, size, size),
        "stage1": (2, 16, size, size),
        "stage2": (2, 32, -(-size // 2), -(-size // 2)),
        "stage3": (2, 64, final, final),
    }


def test_dilated_cnn_shapes_and_receptive_field_by_backpropagation():
    model = models.DilatedCNN(channels=4, dilations=(1, 2, 4)).double().eval()
    assert model(tg.randn(2, 1, 20, 20, dtype=tg.float64)).shape == (2, 10)
    # Positive weights and input keep every ReLU open, so the gradient of one output pixel is non-zero
    # exactly on the input pixels it depends on.
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            init.constant_(m.weight, 0.1)
    x = tg.ones(1, 1, 32, 32, dtype=tg.float64, requires_grad=True)
    features = model.features(x)
    assert features.shape == (1, 4, 32, 32)  # padding = dilation keeps the size
    features[0, 0, 16, 16].backward()
    rows, cols = np.nonzero(x.grad.data[0, 0])
    side = 1 + 2 * (1 + 2 + 4)
    assert model.receptive_field == side == 15
    assert rows.max() - rows.min() + 1 == side and cols.max() - cols.min() + 1 == side


# ------------------------------------------------------------------- summary
def test_summary_of_lenet5_matches_hand_counts():
    model = models.LeNet5()
    result = nn.summary(model, (1, 1, 28, 28), verbose=False)
    assert result.total_params == sum(p.data.size for p in model.parameters())
    macs = {s.name: s.macs for s in result.layers}
    assert macs["features.conv1"] == 28 * 28 * 6 * (1 * 5 * 5)
    assert macs["features.conv2"] == 10 * 10 * 16 * (6 * 5 * 5)
    assert macs["classifier.fc1"] == 400 * 120
    assert result.total_macs == 117600 + 240000 + 48000 + 120 * 84 + 84 * 10
    assert [s.name for s in result.layers][:3] == ["features.conv1", "features.relu1", "features.pool1"]
    assert "features.conv2 (Conv2d)" in str(result) and "(1, 16, 10, 10)" in str(result)


def test_summary_conv_macs_with_groups_stride_and_batch():
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2)
    result = nn.summary(conv, (2, 4, 6, 6), verbose=False)
    assert result.layers[0].output_shape == (2, 8, 3, 3)
    assert result.total_macs == 2 * (3 * 3) * 8 * (4 // 2) * 3 * 3
    assert result.total_params == 8 * 2 * 3 * 3 + 8


# ------------------------------------------------------------------- residual block
def test_basic_block_shortcut_choice_and_wiring():
    same = nn.BasicBlock(4, 4)
    assert same.shortcut is None
    down = nn.BasicBlock(4, 8, stride=2)
    assert isinstance(down.shortcut[0], nn.Conv2d) and down.shortcut[0].kernel_size == (1, 1)
    assert down.shortcut[0].stride == (2, 2) and isinstance(down.shortcut[1], nn.BatchNorm2d)
    plain = nn.BasicBlock(4, 8, stride=2, skip=False)
    assert plain.shortcut is None and "skip=False" in repr(plain)

    x = tg.randn(2, 4, 6, 6)
    for block in (same, down, plain):
        block.eval()
        with tg.no_grad():
            residual = block.bn2(block.conv2(block.bn1(block.conv1(x)).relu()))
            if block is same:
                expected = (residual + x).relu()
            elif block is down:
                expected = (residual + block.shortcut(x)).relu()
            else:
                expected = residual.relu()
            np.testing.assert_allclose(block(x).data, expected.data, rtol=1e-6)
    assert down(x).shape == (2, 8, 3, 3)


def test_plain_resnet_has_no_projection_parameters():
    residual = sum(p.numel() for p in models.SmallResNet().parameters())
    plain = sum(p.numel() for p in models.SmallResNet(skip=False).parameters())
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two 1x1 convs (no bias) + their BN
    assert residual - plain == projections


def test_basic_block_gradients_match_finite_differences():
    tg.manual_seed(0)
    block = nn.BasicBlock(2, 3, stride=2).double()
    x = tg.randn(2, 2, 4, 4, dtype=tg.float64)
    v = np.random.default_rng(1).standard_normal(block(x).shape)
    block.zero_grad()
    (block(x) * tg.tensor(v)).sum().backward()
    eps = 1e-6
    for name, p in block.named_parameters():
        flat = p.data.reshape(-1)
        for j in range(0, flat.size, max(1, flat.size // 6)):  # a sample of entries of every parameter
            original = flat[j]
            flat[j] = original + eps
            plus = float((block(x).data * v).sum())
            flat[j] = original - eps
            minus = float((block(x).data * v).sum())
            flat[j] = original
            assert p.grad.data.reshape(-1)[j] == pytest.approx((plus - minus) / (2 * eps), rel=1e-4, abs=1e-6), name


# ------------------------------------------------------------------- learning
def test_small_cnn_overfits_a_tiny_batch():
    tg.manual_seed(0)
    from tinygraph.data import load_digits

    x, y = load_digits(train=True)
    x, y = tg.tensor(x[:16]), tg.tensor(y[:16])
    model = models.DigitsCNN(width=8, dropout=0.0)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-2
    model.eval()
    assert np.all(model(x).data.argmax(1) == y.data)


@pytest.mark.slow
def test_digits_cnn_recipe_reaches_98_percent():
    from tinygraph.data import DataLoader, Digits
    from tinygraph.train import fit

    recipe = models.DIGITS_RECIPE
    tg.manual_seed(0)
    model = models.DigitsCNN()
    opt = optim.Adam(model.parameters(), lr=recipe["lr"])
    history = fit(
        model,
        DataLoader(Digits(train=True), batch_size=recipe["batch_size"], shuffle=True),
        F.cross_entropy,
        opt,
        recipe["epochs"],
        val_loader=DataLoader(Digits(train=False), batch_size=256),
        scheduler=optim.CosineAnnealingLR(opt, T_max=recipe["epochs"]),
    )
    assert history.val_acc[-1] >= 0.98


@pytest.mark.parametrize("size, final", [(64, 13), (32, 5)])
def test_tiny_vgg_shapes_and_parameter_count(size, final):
    model = models.TinyVGG(image_size=size)
    names = ["features.conv1_1", "features.conv1_2", "features.pool1", "features.conv2_1", "features.conv2_2"]
    out, shapes = _stage_shapes(model, tg.randn(2, 3, size, size), names + ["features.pool2", "classifier.flatten"])
    # every 3x3 convolution without padding trims one pixel per side; each pool halves (rounding down)
    s1 = size - 2
    s2 = s1 - 2
    s3 = s2 // 2
    assert shapes == {
        "features.conv1_1": (2, 10, s1, s1),
        "features.conv1_2": (2, 10, s2, s2),
        "features.pool1": (2, 10, s3, s3),
        "features.conv2_1": (2, 10, s3 - 2, s3 - 2),
        "features.conv2_2": (2, 10, s3 - 4, s3 - 4),
        "features.pool2": (2, 10, final, final),
        "classifier.flatten": (2, 10 * final * final),
    }
    assert out == (2, 10)
    by_hand = (10 * 3 * 9 + 10) + 3 * (10 * 10 * 9 + 10) + (10 * final * final * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == by_hand


@pytest.mark.parametrize("size, final", [(64, 16), (30, 7)])
def test_tiny_vgg_same_padding_keeps_sides_until_each_pool(size, final):
    model = models.TinyVGG(image_size=size, padding=1)
    names = ["features.conv1_2", "features.pool1", "features.conv2_2", "features.pool2"]
    out, shapes = _stage_shapes(model, tg.randn(2, 3, size, size), names)
    assert shapes == {
        "features.conv1_2": (2, 10, size, size),
        "features.pool1": (2, 10, size // 2, size // 2),
        "features.conv2_2": (2, 10, size // 2, size // 2),
        "features.pool2": (2, 10, final, final),
    }
    assert out == (2, 10) and model.final_size == final
    with pytest.raises(ValueError, match=r"TinyVGG: padding must be 0 .* or 1"):
        models.TinyVGG(padding=2)
    with pytest.raises(ValueError, match=r"TinyVGG: image_size must be an int >= 4"):
        models.TinyVGG(image_size=3, padding=1)


def test_tiny_vgg_arguments():
    model = models.TinyVGG(in_channels=1, num_classes=4, hidden=6, image_size=28)
    assert model(tg.randn(1, 1, 28, 28)).shape == (1, 4)
    assert model.features.conv2_2.out_channels == 6
    # He initialisation (no batch norm to rescue a shrinking signal): std sqrt(2 / fan_in), zero bias
    weight = models.TinyVGG().features.conv2_2.weight.detach().numpy()
    assert abs(weight.std() / np.sqrt(2 / (10 * 3 * 3)) - 1) < 0.15
    assert not models.TinyVGG().features.conv1_1.bias.detach().numpy().any()
    with pytest.raises(ValueError, match=r"TinyVGG: image_size must be an int >= 14"):
        models.TinyVGG(image_size=12)
    with pytest.raises(ValueError, match="TinyVGG: hidden must be a positive int"):
        models.TinyVGG(hidden=0)
