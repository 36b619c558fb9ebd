"""tinygraph.nn.init: fans, gains, the distributions' scales, PyTorch's default layer init."""

import math

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn
from tinygraph.nn import init

try:
    import torch
except ImportError:  # torch is only a benchmark/reference dependency
    torch = None


@pytest.mark.parametrize(
    "shape, fan_in, fan_out",
    [((7, 3), 3, 7), ((8, 4, 3, 5), 4 * 15, 8 * 15), ((6, 1, 5, 5), 25, 150)],
)
def test_fans_are_channels_times_receptive_field(shape, fan_in, fan_out):
    assert init._calculate_fan_in_and_fan_out(tg.zeros(*shape)) == (fan_in, fan_out)
    if torch is not None:
        assert torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape)) == (fan_in, fan_out)


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(tg.zeros(5))


def test_gains():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")
    if torch is not None:
        for name, param in [("relu", None), ("tanh", None), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
            assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def _sample_std(fn, shape=(400, 50, 3, 3), **kwargs):
    tg.manual_seed(0)
    t = fn(tg.zeros(*shape), **kwargs)
    return t.data, float(t.data.std())


@pytest.mark.parametrize("mode, fan", [("fan_in", 50 * 9), ("fan_out", 400 * 9)])
def test_kaiming_scales(mode, fan):
    values, std = _sample_std(init.kaiming_normal_, mode=mode, nonlinearity="relu")
    assert std == pytest.approx(math.sqrt(2 / fan), rel=0.02)
    values, std = _sample_std(init.kaiming_uniform_, mode=mode, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_xavier_scales():
    fan_in, fan_out = 50 * 9, 400 * 9
    _, std = _sample_std(init.xavier_normal_, gain=2.0)
    assert std == pytest.approx(2.0 * math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    values, _ = _sample_std(init.xavier_uniform_)
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound


def test_default_layer_init_is_pytorchs_uniform_one_over_sqrt_fan_in():
    tg.manual_seed(1)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    for p in (conv.weight, conv.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.99 * bound
    assert conv.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    lin = nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert lin.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert lin.weight.dtype == np.float32


def test_constant_fills_keep_the_array_and_dtype():
    t = tg.zeros(2, 3, dtype=tg.float64)
    array = t.data
    assert init.ones_(t) is t and t.data is array and np.all(array == 1)
    init.constant_(t, 2.5)
    assert np.all(array == 2.5) and array.dtype == np.float64
    init.zeros_(t)
    assert np.all(array == 0)
    init.uniform_(t, -1, -0.5)
    assert np.all((array >= -1) & (array < -0.5))
    init.normal_(t, mean=10, std=0.01)
    assert np.all(np.abs(array - 10) < 1)


def test_initialisation_is_reproducible_with_manual_seed():
    tg.manual_seed(7)
    a = nn.Linear(5, 5).weight.data.copy()
    tg.manual_seed(7)
    b = nn.Linear(5, 5).weight.data.copy()
    tg.manual_seed(8)
    c = nn.Linear(5, 5).weight.data.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
