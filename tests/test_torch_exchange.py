"""PyTorch and back: twin models exchange weights through a .safetensors file, strict=True, equal outputs.

Each tinygraph model has a ``torch.nn`` twin built with the same attribute names, so the two state
dicts have the same keys (BatchNorm's ``num_batches_tracked`` included).  The README's section
"From tinygraph to PyTorch and back" shows the same twins.
"""

from collections import OrderedDict

import numpy as np
import pytest

import tinygraph as tg

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the PyTorch exchange tests need it)")
st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package is a test extra")
tnn = torch.nn


# ------------------------------------------------------------------ the torch twins
class TorchLeNet5(tnn.Module):
    """Twin of ``tg.models.LeNet5()``."""

    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(OrderedDict(
            conv1=tnn.Conv2d(1, 6, 5, padding=2), relu1=tnn.ReLU(), pool1=tnn.MaxPool2d(2),
            conv2=tnn.Conv2d(6, 16, 5), relu2=tnn.ReLU(), pool2=tnn.MaxPool2d(2),
        ))
        self.classifier = tnn.Sequential(OrderedDict(
            flatten=tnn.Flatten(), fc1=tnn.Linear(400, 120), relu3=tnn.ReLU(),
            fc2=tnn.Linear(120, 84), relu4=tnn.ReLU(), fc3=tnn.Linear(84, 10),
        ))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchDigitsCNN(tnn.Module):
    """Twin of ``tg.models.DigitsCNN(width=8)``: conv-BN-ReLU blocks, dropout, a linear head."""

    def __init__(self, w=8):
        super().__init__()
        layers = []
        for i, (c_in, c_out) in enumerate([(1, w), (w, w), (w, 2 * w)], 1):
            layers += [(f"conv{i}", tnn.Conv2d(c_in, c_out, 3, padding=1, bias=False)),
                       (f"bn{i}", tnn.BatchNorm2d(c_out)), (f"relu{i}", tnn.ReLU())]
            if i >= 2:
                layers.append((f"pool{i - 1}", tnn.MaxPool2d(2)))
        self.features = tnn.Sequential(OrderedDict(layers))
        self.classifier = tnn.Sequential(OrderedDict(
            flatten=tnn.Flatten(), dropout=tnn.Dropout(0.25), fc=tnn.Linear(2 * w * 2 * 2, 10),
        ))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchBasicBlock(tnn.Module):
    """Twin of ``tg.nn.BasicBlock(c_in, c_out, stride)``: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(c_out)
        self.conv2 = tnn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            projection = tnn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.shortcut = tnn.Sequential(projection, tnn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.shortcut is None else self.shortcut(x)))


TWINS = {
    "LeNet5": (tg.models.LeNet5, TorchLeNet5, (3, 1, 28, 28)),
    "DigitsCNN (BatchNorm2d)": (lambda: tg.models.DigitsCNN(width=8), TorchDigitsCNN, (5, 1, 8, 8)),
    "BasicBlock (residual)": (lambda: tg.nn.BasicBlock(4, 8, stride=2), lambda: TorchBasicBlock(4, 8, 2), (2, 4, 9, 9)),
}


def _inputs(shape):
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


def _train_batch_norms(model, shape, to_tensor, no_grad, steps=3):
    """A few training-mode passes, so running statistics and num_batches_tracked are not their defaults."""
    model.train()
    with no_grad():
        for s in range(steps):
            model(to_tensor(_inputs(shape) * (s + 2) + s))
    model.eval()


def _assert_same_outputs(tg_model, torch_model, shape):
    x = _inputs(shape)
    with tg.no_grad():
        ours = tg_model(tg.tensor(x)).numpy()
    with torch.no_grad():
        theirs = torch_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(TWINS))
def test_torch_to_tinygraph(tmp_path, name):
    make_tg, make_torch, shape = TWINS[name]
    torch.manual_seed(0)
    theirs = make_torch()
    _train_batch_norms(theirs, shape, torch.from_numpy, torch.no_grad)
    path = tmp_path / "from_torch.safetensors"
    st_torch.save_file(theirs.state_dict(), str(path))

    ours = make_tg().eval()
    ours.load_state_dict(tg.load(path), strict=True)
    _assert_same_outputs(ours, theirs, shape)
    for key, value in theirs.state_dict().items():  # num_batches_tracked included
        np.testing.assert_array_equal(ours.state_dict()[key].data, value.numpy(), err_msg=key)


@pytest.mark.parametrize("name", list(TWINS))
def test_tinygraph_to_torch(tmp_path, name):
    make_tg, make_torch, shape = TWINS[name]
    tg.manual_seed(0)
    ours = make_tg()
    _train_batch_norms(ours, shape, tg.tensor, tg.no_grad)
    path = tmp_path / "from_tinygraph.safetensors"
    tg.save(ours.state_dict(), path)

    theirs = make_torch().eval()
    theirs.load_state_dict(st_torch.load_file(str(path)), strict=True)
    _assert_same_outputs(ours, theirs, shape)
    tracked = [k for k in theirs.state_dict() if k.endswith("num_batches_tracked")]
    assert bool(tracked) == ("LeNet5" not in name)
    for key in tracked:
        assert theirs.state_dict()[key].item() == 3, key
