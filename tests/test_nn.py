"""tinygraph.nn: Module registration, state dicts, hooks, modes, layers, containers, summary."""

import copy

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn
from tinygraph.serialization import load, save

F = tg.functional


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(5, 3)
        self.scale = nn.Parameter(tg.ones(3))
        self.register_buffer("calls", tg.zeros(1))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)
        self.not_a_param = tg.ones(2)  # a plain Tensor attribute: not registered

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


# ------------------------------------------------------------------ registration
def test_attribute_assignment_registers_parameters_buffers_and_children():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(m.children()) == [m.fc1, m.act, m.fc2]
    assert [n for n, _ in m.named_buffers()] == ["calls", "scratch"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) == (4 * 5 + 5) + (5 * 3 + 3) + 3


def test_shared_parameter_listed_once_and_reassignment_replaces():
    m = TwoLayer()
    m.fc3 = m.fc1  # the same module under two names
    assert len(list(m.parameters())) == 5
    m.fc2 = nn.Linear(5, 7)
    assert m.fc2.out_features == 7 and m._modules["fc2"] is m.fc2
    del m.fc3
    assert "fc3" not in m._modules and not hasattr(m, "fc3")
    m.scale = None  # a registered parameter can be cleared, as in PyTorch
    assert "scale" not in dict(m.named_parameters())


def test_assigning_a_plain_tensor_to_a_parameter_name_is_a_type_error():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = tg.ones(2, 2)


def test_forgetting_super_init_gives_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(tg.ones(1))


def test_parameter_shares_memory_and_deepcopy_copies():
    a = np.ones(3, dtype=np.float32)
    p = nn.Parameter(a)
    assert p.data is a and p.requires_grad
    m = nn.Linear(3, 2)
    m2 = copy.deepcopy(m)
    assert isinstance(m2.weight, nn.Parameter) and m2.weight.data is not m.weight.data
    np.testing.assert_array_equal(m2.weight.data, m.weight.data)
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))


# ------------------------------------------------------------------ state dict
def test_state_dict_names_params_and_persistent_buffers_in_order():
    m = TwoLayer()
    assert list(m.state_dict()) == ["scale", "calls", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    bn = nn.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def test_state_dict_round_trip_through_a_checkpoint_file(tmp_path):
    tg.manual_seed(0)
    src = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    src(tg.randn(8, 4))  # moves BN's running statistics away from their initial values
    save(src.state_dict(), tmp_path / "m.npz")
    dst = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    weight_array = dst[0].weight.data
    result = dst.load_state_dict(load(tmp_path / "m.npz"))
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a.data, b.data)
    assert int(dst[1].num_batches_tracked.item()) == 1
    assert dst[0].weight.data is weight_array  # loaded in place: an optimizer holding it still works


def test_load_state_dict_strict_errors_name_the_keys_and_shapes():
    m = nn.Linear(3, 2)
    state = m.state_dict()
    before = m.weight.data.copy()

    missing = {"weight": tg.zeros(2, 3)}
    with pytest.raises(ValueError, match="missing key\\(s\\): 'bias'"):
        m.load_state_dict(missing)
    unexpected = dict(state, extra=tg.zeros(1))
    with pytest.raises(ValueError, match="unexpected key\\(s\\): 'extra'"):
        m.load_state_dict(unexpected)
    wrong = {"weight": tg.zeros(3, 3), "bias": tg.zeros(2)}
    with pytest.raises(ValueError, match=r"'weight'.*\(3, 3\).*\(2, 3\)"):
        m.load_state_dict(wrong)
    np.testing.assert_array_equal(m.weight.data, before)  # nothing was copied by the failed loads

    result = m.load_state_dict(dict(missing, extra=tg.zeros(1)), strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(m.weight.data, 0)
    with pytest.raises(ValueError, match="size mismatch"):  # shapes are checked even when not strict
        m.load_state_dict(wrong, strict=False)


# ------------------------------------------------------------------- hooks
def test_forward_hook_sees_inputs_and_output_and_can_be_removed():
    m = TwoLayer()
    seen = []
    handle = m.fc1.register_forward_hook(lambda mod, inputs, out: seen.append((mod, inputs[0].shape, out.shape)))
    x = tg.randn(6, 4)
    m(x)
    assert seen == [(m.fc1, (6, 4), (6, 5))]
    handle.remove()
    m(x)
    assert len(seen) == 1


def test_forward_hook_can_replace_output_and_pre_hook_the_input():
    m = nn.Linear(2, 2)
    x = tg.randn(3, 2)
    with m.register_forward_hook(lambda mod, inputs, out: out * 0):
        np.testing.assert_array_equal(m(x).data, 0)
    assert np.any(m(x).data != 0)  # the context manager removed the hook
    expected = m(x * 2).data
    with m.register_forward_pre_hook(lambda mod, inputs: (inputs[0] * 2,)):
        np.testing.assert_allclose(m(x).data, expected, rtol=1e-6)


# ------------------------------------------------------------------- modes
def test_train_eval_propagate_and_change_dropout_and_batchnorm():
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Dropout(0.5))
    x = tg.randn(16, 6)
    assert all(mod.training for mod in m.modules())
    m.eval()
    assert not any(mod.training for mod in m.modules())
    y1, y2 = m(x).data, m(x).data
    np.testing.assert_array_equal(y1, y2)  # deterministic: no dropout, running statistics
    # eval-mode BN with fresh running stats (mean 0, var 1) is y = x / sqrt(1 + eps)
    lin = m[0](x).data
    np.testing.assert_allclose(y1, lin / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert int(m[1].num_batches_tracked.item()) == 0

    m.train()
    y3 = m(x).data
    assert np.mean(y3 == 0) > 0.25  # dropout zeroed about half
    kept = y3 != 0
    lin = m[0](x).data
    normalised = (lin - lin.mean(0)) / np.sqrt(lin.var(0) + 1e-5)
    np.testing.assert_allclose(y3[kept], 2 * normalised[kept], rtol=1e-4, atol=1e-5)  # batch stats, x1/(1-p)
    assert int(m[1].num_batches_tracked.item()) == 1


def test_batchnorm_running_statistics_follow_pytorch_update():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 3 + 1
    bn(tg.tensor(x))
    m = 4 * 5 * 5
    mean = x.mean(axis=(0, 2, 3))
    unbiased = x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.running_mean.data, 0.8 * 0 + 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.8 * 1 + 0.2 * unbiased, rtol=1e-5)


def test_batchnorm_momentum_none_is_a_cumulative_average():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((5, 2)).astype(np.float32) + i for i in range(3)]
    for b in batches:
        bn(tg.tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-5)


def test_batchnorm_checks_its_input():
    with pytest.raises(ValueError, match="BatchNorm2d.*4D"):
        nn.BatchNorm2d(3)(tg.randn(2, 3))
    with pytest.raises(ValueError, match="num_features=4"):
        nn.BatchNorm1d(4)(tg.randn(2, 3))


def test_zero_grad_and_requires_grad():
    m = TwoLayer()
    m(tg.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.fc1.requires_grad_(False)
    m(tg.randn(2, 4)).sum().backward()
    assert m.fc1.weight.grad is None and m.fc2.weight.grad is not None


def test_to_dtype_keeps_parameter_objects_and_cuda_is_a_clear_error():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    w = m[0].weight
    assert m.to(tg.float64) is m
    assert m[0].weight is w and w.dtype == np.float64 and m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert m.to("cpu") is m
    with pytest.raises(RuntimeError, match="cuda.*cpu"):
        m.to("cuda")


def test_repr_is_pytorch_like():
    m = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 2, bias=False),
        nn.BatchNorm1d(2),
        nn.Dropout(0.25),
    )
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Linear(in_features=16, out_features=2, bias=False)\n"
        "  (5): BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (6): Dropout(p=0.25)\n"
        ")"
    )
    assert repr(nn.Sequential(nn.Sequential(nn.Tanh()))) == "Sequential(\n  (0): Sequential(\n    (0): Tanh()\n  )\n)"


# ------------------------------------------------------------------- containers
def test_sequential_indexing_len_iteration_and_slicing():
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and list(s) == layers and s[0] is layers[0] and s[-1] is layers[2]
    tail = s[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    x = tg.randn(5, 3)
    np.testing.assert_array_equal(s(x).data, layers[2](layers[1](layers[0](x))).data)
    with pytest.raises(IndexError, match="out of range"):
        s[3]
    del s[1]
    assert [n for n, _ in s.named_children()] == ["0", "1"] and s[1] is layers[2]
    s.append(nn.Sigmoid())
    assert len(s) == 3
    with pytest.raises(TypeError, match="argument 0"):
        nn.Sequential(lambda x: x)


def test_named_sequential_and_module_list():
    from collections import OrderedDict

    s = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(s.state_dict()) == ["fc.weight", "fc.bias"] and s.fc is s[0]
    assert [n for n, _ in s[1:].named_children()] == ["act"]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Linear(2, 1))
    ml.insert(0, nn.Identity())
    assert len(ml) == 5 and isinstance(ml[0], nn.Identity) and ml[4].out_features == 1
    assert isinstance(ml[1:3], nn.ModuleList) and list(ml[1:3]) == [ml[1], ml[2]]
    assert len(list(ml.parameters())) == 8
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2", "3", "4"]


# ------------------------------------------------------------------- layers
def test_linear_layer_matches_numpy_and_gradchecks():
    tg.manual_seed(3)
    lin = nn.Linear(4, 3, dtype=tg.float64)
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(lin(tg.tensor(x)).data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-12)
    xt = tg.tensor(x, requires_grad=True)
    assert tg.gradcheck(lambda a, w, b: F.linear(a, w, b), xt, lin.weight, lin.bias)


def _check_module_gradients(model, x, eps=1e-6):
    """Central finite differences on every parameter entry of a float64 model, against backward."""
    v = np.random.default_rng(0).standard_normal(model(x).shape)

    def objective():
        return float((model(x).data * v).sum())

    model.zero_grad()
    (model(x) * tg.tensor(v)).sum().backward()
    for name, p in model.named_parameters():
        flat = p.data.reshape(-1)
        numeric = np.empty_like(flat)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = objective()
            flat[j] = original - eps
            minus = objective()
            flat[j] = original
            numeric[j] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(p.grad.data.reshape(-1), numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_small_mlp_gradients_match_finite_differences():
    tg.manual_seed(4)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.BatchNorm1d(2)
    ).double()
    _check_module_gradients(model, tg.randn(5, 3, dtype=tg.float64))


def test_activation_layers_match_functional():
    x = tg.randn(3, 4)
    for layer, fn in [
        (nn.ReLU(), F.relu),
        (nn.Sigmoid(), F.sigmoid),
        (nn.Tanh(), F.tanh),
        (nn.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
        (nn.Softmax(dim=1), lambda t: F.softmax(t, 1)),
    ]:
        np.testing.assert_array_equal(layer(x).data, fn(x).data)
    np.testing.assert_array_equal(nn.Identity()(x).data, x.data)
    assert nn.Flatten()(tg.randn(2, 3, 4, 5)).shape == (2, 60)


def test_layer_argument_errors_are_clear():
    with pytest.raises(ValueError, match="groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(TypeError, match="kernel_size"):
        nn.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    same = nn.Conv2d(2, 3, 4, dilation=2, padding="same")  # an even kernel: PyTorch pads one more at the end
    assert same(tg.randn(1, 2, 7, 9)).shape == (1, 3, 7, 9) and "padding=same" in repr(same)
    with pytest.raises(ValueError, match="padding must be"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)


# ------------------------------------------------------------------- summary
def test_summary_counts_parameters_and_multiply_adds_of_linear_layers(capsys):
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.BatchNorm1d(20), nn.Linear(20, 5))
    model.train()
    result = nn.summary(model, (3, 10))
    printed = capsys.readouterr().out
    independent = (10 * 20 + 20) + 2 * 20 + (20 * 5 + 5)
    assert f"Total params: {independent:,}" in printed
    assert result.total_params == independent
    assert result.trainable_params == independent
    assert [s.macs for s in result.layers] == [3 * 10 * 20, 0, 0, 3 * 20 * 5]
    assert result.total_macs == 3 * 10 * 20 + 3 * 20 * 5
    assert [s.output_shape for s in result.layers] == [(3, 20), (3, 20), (3, 20), (3, 5)]
    assert model.training and int(model[2].num_batches_tracked.item()) == 0  # mode restored, BN untouched
    assert all(not mod._forward_hooks for mod in model.modules())  # hooks removed


def test_dropout2d_drops_whole_channels_in_training_only():
    tg.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    x = tg.ones(4, 8, 3, 3)
    y = layer(x).data
    planes = y.reshape(32, 9)
    assert set(np.unique(planes)) <= {0.0, 2.0}
    assert all(len(np.unique(row)) == 1 for row in planes)  # each feature map all dropped or all kept
    assert 0 < np.mean(planes[:, 0] == 0) < 1
    np.testing.assert_array_equal(layer.eval()(x).data, x.data)
