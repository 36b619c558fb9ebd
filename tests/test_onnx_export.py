"""tg.onnx.export: checked by onnx.checker, run by ONNX Runtime, held to tinygraph's own eval outputs."""

import inspect
from collections import OrderedDict

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn

onnx = pytest.importorskip("onnx", reason="the onnx package is an optional extra (tinygraph[onnx])")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra")

# one input shape per model in tg.models; a new model there must be added here
MODEL_INPUTS = {
    "LeNet5": (1, 28, 28),
    "DigitsCNN": (1, 8, 8),
    "SmallResNet": (1, 12, 12),
    "DilatedCNN": (1, 10, 10),
    "TinyVGG": (3, 64, 64),
}


def _shake_batch_norms(model, shape):
    """Training-mode passes so BatchNorm's running statistics are far from 0 and 1."""
    rng = np.random.default_rng(3)
    model.train()
    with tg.no_grad():
        for _ in range(2):
            model(tg.tensor(rng.standard_normal((4,) + shape).astype(np.float32) * 3 + 1))
    model.eval()


def _check_against_runtime(model, shape, tmp_path, batch=3, **kwargs):
    """Export with a batch of 2, run ONNX Runtime on a batch of ``batch``: the batch dim is dynamic."""
    path = tmp_path / "model.onnx"
    mode = model.training
    proto = tg.onnx.export(model, tg.randn(2, *shape), path, **kwargs)
    assert model.training == mode, "export restores the model's mode"
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    model.eval()
    with tg.no_grad():
        want = model(tg.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    return proto


def test_every_model_in_tg_models(tmp_path):
    models = {name for name, obj in vars(tg.models).items()
              if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ == tg.models.__name__}
    assert models == set(MODEL_INPUTS), "give every model in tg.models an input shape here"
    for name, shape in MODEL_INPUTS.items():
        tg.manual_seed(0)
        model = getattr(tg.models, name)()
        _shake_batch_norms(model, shape)
        proto = _check_against_runtime(model, shape, tmp_path)
        initializers = {t.name for t in proto.graph.initializer}
        assert set(model.state_dict()) - {k for k in model.state_dict() if k.endswith("num_batches_tracked")} \
            <= initializers, name  # parameters and running stats keep their state-dict names


def test_classic_lenet_tanh_and_average_pooling(tmp_path):
    proto = _check_against_runtime(tg.models.LeNet5(classic=True), (1, 28, 28), tmp_path)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Tanh", "AveragePool", "Gemm", "Conv", "Reshape"} <= ops
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


class _Zoo(nn.Module):
    """Every layer the exporter translates, with the awkward arguments."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict(
            strided=nn.Conv2d(2, 4, 3, stride=2, padding=1),
            leaky=nn.LeakyReLU(0.2),
            grouped=nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, bias=False),
            bn=nn.BatchNorm2d(8),
            gelu=nn.GELU(),
            same=nn.Conv2d(8, 8, 4, padding="same", groups=8),  # even kernel: uneven 'same' padding
            sigmoid=nn.Sigmoid(),
            avg=nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            tanh=nn.Tanh(),
            maxpool=nn.MaxPool2d(2, stride=1, padding=1, dilation=2),
            adaptive=nn.AdaptiveAvgPool2d(2),
            drop=nn.Dropout(0.5),
            flatten=nn.Flatten(),
        ))
        self.fc = nn.Linear(32, 6)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        h = self.body(x)
        scale = (h * h).mean(dim=1, keepdim=True) + 1.0  # elementwise ops and a reduction off the batch dim
        return self.softmax(self.fc(h / scale) - 0.5)


def test_every_translated_layer(tmp_path):
    tg.manual_seed(1)
    model = _Zoo()
    _shake_batch_norms(model, (2, 13, 15))
    model.train()
    proto = _check_against_runtime(model, (2, 13, 15), tmp_path, batch=5)  # exported from training mode
    ops = [n.op_type for n in proto.graph.node]
    for op in ("Conv", "LeakyRelu", "BatchNormalization", "Erf", "Sigmoid", "AveragePool", "Tanh", "MaxPool",
               "Gemm", "Softmax", "ReduceMean", "Div", "Sub"):
        assert op in ops, op
    assert "Dropout" not in ops  # the identity in eval mode
    names = {n.name for n in proto.graph.node}
    assert {"body.strided", "body.grouped", "fc", "softmax"} <= names  # named after the modules


def test_older_opset_and_linear_on_sequences(tmp_path):
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.LogSoftmax(dim=-1))
    proto = _check_against_runtime(model, (4, 5), tmp_path, opset=13)  # (N, L, features): MatMul, not Gemm
    assert proto.opset_import[0].version == 13
    assert "MatMul" in {n.op_type for n in proto.graph.node}


class _Head(nn.Module):
    def forward(self, x):
        return x[:, :2]  # indexing has no translation


def test_an_unsupported_op_names_the_op_and_its_module(tmp_path):
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3), head=_Head()))
    with pytest.raises(tg.onnx.ExportError, match=r"'GetItem' \(from module 'head' \(_Head\)\)"):
        tg.onnx.export(model, tg.randn(1, 1, 5, 5), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_a_reshape_of_the_batch_dim_needs_a_fixed_batch(tmp_path):
    class Fold(nn.Module):
        def forward(self, x):
            return x.reshape(-1, 3).relu()

    with pytest.raises(tg.onnx.ExportError, match="changes dim 0, the batch dim"):
        tg.onnx.export(Fold(), tg.randn(2, 6), tmp_path / "m.onnx")
    tg.onnx.export(Fold(), tg.randn(2, 6), tmp_path / "m.onnx", dynamic_batch=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.arange(-6, 6, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(session.run(None, {"input": x})[0], np.maximum(x.reshape(-1, 3), 0))


def test_batch_statistics_cannot_be_exported(tmp_path):
    model = nn.BatchNorm2d(3, track_running_stats=False)
    with pytest.raises(tg.onnx.ExportError, match="batch statistics"):
        tg.onnx.export(model, tg.randn(2, 3, 4, 4), tmp_path / "m.onnx")


def test_several_outputs_one_of_them_the_input(tmp_path):
    class Two(nn.Module):
        def forward(self, x):
            return x.relu() * 2.0, x

    proto = tg.onnx.export(Two(), tg.randn(2, 3), tmp_path / "m.onnx")
    assert [o.name for o in proto.graph.output] == ["output0", "output1"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    doubled, same = session.run(None, {"input": x})
    np.testing.assert_array_equal(doubled, np.maximum(x, 0) * 2)
    np.testing.assert_array_equal(same, x)


@pytest.mark.parametrize("pool", [
    nn.MaxPool2d(3, stride=2, ceil_mode=True),
    nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    nn.AvgPool2d(3, stride=2, ceil_mode=True, count_include_pad=False),
    nn.AvgPool2d(2, stride=2, padding=1),
])
def test_pooling_output_sizes(tmp_path, pool):
    _check_against_runtime(pool, (2, 8, 9), tmp_path)  # 8 and 9 rows: partial last windows either way
