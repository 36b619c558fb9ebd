"""tg.onnx without the onnx package: importing tinygraph works, export says which extra to install."""

import sys

import pytest

import tinygraph as tg


def test_without_the_onnx_package_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError, installed or not
    with pytest.raises(ImportError, match=r'pip install "tinygraph\[onnx\]"'):
        tg.onnx.export(tg.models.LeNet5(), tg.randn(1, 1, 28, 28), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
