"""Smoke tests: every script in examples/ runs with tiny settings and writes what it promises.

Each example runs as its own process (``python examples/<name>.py ...``), as a user would run
it, into a temporary folder.  Beyond "exit code 0 and the files exist" the tests check what
can be checked cheaply: the PNGs are PNGs, the saved model loads and scores what the script
printed, the measured receptive fields equal the formula, and each GIF has one frame per
output pixel (plus the final frame).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygraph as tg

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


def run_example(name: str, *args, cwd=None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``examples/<name>.py args`` in a fresh interpreter; headless; returns the finished process."""
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *map(str, args)],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def assert_pngs(folder: Path, names) -> None:
    for name in names:
        path = folder / name
        assert path.is_file(), f"{path} was not written; the folder has {sorted(p.name for p in folder.iterdir())}"
        assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"


def test_every_example_has_a_smoke_test():
    tested = {
        "train_cnn",
        "residual_vs_plain",
        "dilation_receptive_field",
        "batchnorm_dropout",
        "convolution_animation",
        "sobel_edges",
        "autodiff_tour",
        "explainer_page",
        "cnn_pipeline",
        "explain_predictions",
        "detail_views",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_train_cnn_digits(tmp_path):
    proc = run_example("train_cnn", "--epochs", 1, "--limit", 128, "--out", tmp_path)
    assert_pngs(
        tmp_path,
        ["loss_curves.png", "kernels.png", "feature_maps.png", "confusion_matrix.png", "predictions.png", "graph.png"],
    )
    # The saved weights load into a fresh DigitsCNN and score exactly the accuracy the script printed.
    printed = re.search(r"test accuracy: ([\d.]+)% \((\d+)/(\d+)\)", proc.stdout)
    assert printed, proc.stdout
    model = tg.models.DigitsCNN()
    model.load_state_dict(tg.load(tmp_path / "model.npz"))
    x, y = tg.data.load_digits(train=False)
    labels = tg.predict(model, x[:128], output="labels").numpy()
    assert int(printed.group(3)) == 128
    assert int((labels == y[:128]).sum()) == int(printed.group(2))
    assert str(tmp_path) in proc.stdout  # it says where everything is


def test_train_cnn_on_the_reference_kernels_scores_like_the_fast_ones(tmp_path):
    scores = []
    for kernels in ("fast", "reference"):
        out = tmp_path / kernels
        proc = run_example("train_cnn", "--epochs", 1, "--limit", 96, "--kernels", kernels, "--out", out)
        scores.append(float(re.search(r"test accuracy: ([\d.]+)%", proc.stdout).group(1)))
    assert abs(scores[0] - scores[1]) <= 1.1  # the same training, float32 rounding apart: one image at most


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file: magic (0, 0, type 0x08 = uint8, ndim), big-endian dims, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_train_cnn_mnist_files_from_data_dir(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 48), ("t10k", 16)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    out = tmp_path / "out"
    proc = run_example("train_cnn", "--dataset", "mnist", "--data-dir", tmp_path / "data", "--epochs", 1, "--out", out)
    assert "48 training and 16 test images of shape (1, 28, 28)" in proc.stdout
    assert "LeNet5" in proc.stdout
    assert_pngs(out, ["kernels.png", "feature_maps.png"])
    model = tg.models.LeNet5()
    model.load_state_dict(tg.load(out / "model.npz"))


def test_train_cnn_missing_files_is_a_message_not_a_traceback(tmp_path):
    proc = run_example(
        "train_cnn", "--dataset", "fashion-mnist", "--data-dir", tmp_path, "--out", tmp_path, check=False
    )
    assert proc.returncode != 0
    assert "train-images-idx3-ubyte" in proc.stderr and "Traceback" not in proc.stderr


def test_residual_vs_plain(tmp_path):
    proc = run_example("residual_vs_plain", "--epochs", 1, "--limit", 64, "--blocks", 2, "--out", tmp_path)
    assert_pngs(tmp_path, ["gradient_flow.png", "loss_curves.png"])
    assert re.search(r"plain\s+[\d.]+\s+[\d.]+%", proc.stdout) and re.search(
        r"residual\s+[\d.]+\s+[\d.]+%", proc.stdout
    )


def test_dilation_receptive_field_measured_equals_formula(tmp_path):
    proc = run_example("dilation_receptive_field", "--layers", 3, "--size", 17, "--out", tmp_path)
    assert_pngs(tmp_path, ["receptive_fields.png", "growth.png"])
    # rows "depth  HxW  pixels  FxF": measured field beside the formula's
    rows = re.findall(r"(\d+)\s+(\d+)x(\d+)\s+(\d+)\s+(\d+)x(\d+)$", proc.stdout, flags=re.M)
    assert len(rows) == 4 * 3, proc.stdout  # 4 stacks x 3 depths
    for _depth, h, w, _pixels, f1, f2 in rows:
        assert h == w == f1 == f2, proc.stdout
    assert "differs" not in proc.stdout
    # Dilations 1, 2, 4 reach 15x15 after three layers; dilation 2 everywhere leaves holes (49 of 13x13 pixels).
    assert re.search(r"dilation 1, 2, 4\s+1\s+3x3.*?\n\s+2\s+7x7.*?\n\s+3\s+15x15\s+225", proc.stdout)
    assert re.search(r"\s3\s+13x13\s+49\s+13x13", proc.stdout)


def test_batchnorm_dropout(tmp_path):
    proc = run_example("batchnorm_dropout", "--epochs", 1, "--limit", 64, "--out", tmp_path)
    assert_pngs(tmp_path, ["loss_curves.png", "accuracy.png"])
    for variant in ("plain", "batch norm", "dropout", "batch norm + dropout"):
        assert re.search(rf"^\s*{re.escape(variant)}\s+[\d.]+\s+[\d.]+\s+-?[\d.]+\s+[\d.]+%", proc.stdout, re.M)


def test_convolution_animation_one_frame_per_output_pixel(tmp_path):
    from PIL import Image  # Pillow: matplotlib's own dependency, and the GIF writer

    run_example("convolution_animation", "--size", 4, "--dpi", 30, "--out", tmp_path)
    # 4x4 input (6x6 with dilation), 3x3 kernel: outputs 2x2, 4x4, 2x2, 2x2, 2x2, plus one finished frame each.
    expected = {"conv_stride1_pad0": 4, "conv_stride1_pad1": 16, "conv_stride2_pad1": 4, "conv_dilation2": 4,
                "conv_3channels": 4}  # fmt: skip
    for name, pixels in expected.items():
        with Image.open(tmp_path / f"{name}.gif") as gif:
            assert gif.n_frames == pixels + 1, name


def test_sobel_edges(tmp_path):
    proc = run_example("sobel_edges", "--downsample", 8, "--out", tmp_path)
    assert_pngs(tmp_path, ["sobel_kernels.png", "sobel_edges.png", "stride_padding.png"])
    assert "stride=2 padding=1" in proc.stdout


def test_detail_views(tmp_path):
    run_example("detail_views", "--epochs", 0, "--out", tmp_path)
    assert_pngs(tmp_path, ["conv_arithmetic.png", "relu.png", "pooling.png", "softmax.png"])


def test_autodiff_tour(tmp_path):
    proc = run_example("autodiff_tour", "--out", tmp_path)
    assert "gradcheck" in proc.stdout
    assert_pngs(tmp_path, ["graph.png"])


def test_explainer_page_writes_pages_for_test_images_and_a_picture(tmp_path):
    import matplotlib.image

    picture = tmp_path / "picture.png"
    matplotlib.image.imsave(picture, np.random.default_rng(0).random((12, 20, 3)))
    proc = run_example(
        "explainer_page", "--epochs", 1, "--limit", 64, "--size", 32, "--count", 2,
        "--image", picture, "--out", tmp_path,
    )  # fmt: skip
    pages = sorted(p.name for p in tmp_path.glob("*.html"))
    assert len(pages) == 3 and "image.html" in pages, proc.stdout
    assert (tmp_path / "model.npz").is_file()
    html = (tmp_path / "image.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'id="explainer-data"' in html
    # the misclassified test image comes first when there is one
    wrong = re.search(r"(\d+) misclassified", proc.stdout)
    assert wrong, proc.stdout
    if int(wrong.group(1)):
        assert "MISCLASSIFIED" in proc.stdout.split("[1/2]")[1].splitlines()[0]
    # --weights: no training, the same model's accuracy
    again = run_example(
        "explainer_page", "--weights", tmp_path / "model.npz", "--limit", 64, "--size", 32, "--count", 1,
        "--out", tmp_path / "again",
    )  # fmt: skip
    assert "loaded weights" in again.stdout and "training for" not in again.stdout
    assert re.search(r"test accuracy: .*", again.stdout).group() == re.search(r"test accuracy: .*", proc.stdout).group()


def test_train_cnn_shapes(tmp_path):
    proc = run_example("train_cnn", "--dataset", "shapes", "--limit", 40, "--epochs", 1, "--out", tmp_path)
    assert "40 training and 40 test images of shape (3, 64, 64)" in proc.stdout and "TinyVGG" in proc.stdout
    assert_pngs(tmp_path, ["kernels.png", "feature_maps.png", "confusion_matrix.png", "predictions.png"])
    model = tg.models.TinyVGG()
    model.load_state_dict(tg.load(tmp_path / "model.npz"))


def test_train_cnn_cifar10_files_from_data_dir(tmp_path):
    folder = tmp_path / "data" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", 6) for i in range(1, 6)] + [("test_batch.bin", 8)]:
        records = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(f"class{k}" for k in range(10)) + "\n")
    out = tmp_path / "out"
    data = tmp_path / "data"
    proc = run_example("train_cnn", "--dataset", "cifar10", "--data-dir", data, "--epochs", 1, "--out", out)
    assert "30 training and 8 test images of shape (3, 32, 32)" in proc.stdout
    assert_pngs(out, ["kernels.png", "predictions.png"])
    tg.models.TinyVGG(image_size=32).load_state_dict(tg.load(out / "model.npz"))


def test_cnn_pipeline_trains_then_reuses_its_weights(tmp_path):
    proc = run_example("cnn_pipeline", "--train-images", 40, "--epochs", 1, "--out", tmp_path)
    names = ["01_input.png", "02_conv1.png", "03_conv2.png", "04_pool.png", "05_dense.png"]
    assert_pngs(tmp_path, names)
    assert "weights trained here on Shapes" in proc.stdout and "grace_hopper.jpg" in proc.stdout
    for stage, shape in [("conv1", "(1, 8, 224, 224)"), ("pool", "(1, 16, 112, 112)"), ("flatten", "(1, 256)")]:
        assert re.search(rf"^\s*{stage}\s+-> {re.escape(shape)}", proc.stdout, re.M), proc.stdout
    again = run_example("cnn_pipeline", "--out", tmp_path)
    assert "weights loaded from" in again.stdout


def test_explain_predictions(tmp_path):
    proc = run_example(
        "explain_predictions", "--dataset", "digits", "--epochs", 1, "--train", 200, "--test", 40, "--show", 2,
        "--vis-steps", 3, "--tsne-points", 30, "--eps", 0, 0.1, "--out", tmp_path,
    )
    assert_pngs(
        tmp_path,
        ["saliency.png", "grad_cam.png", "occlusion.png", "guided_backprop.png", "adversarial.png",
         "class_visualization.png", "top_patches.png", "embedding.png"],
    )
    assert "Grad-CAM pointing game over 40 test images" in proc.stdout, proc.stdout
    rows = re.findall(r"all: on +([\d.]+)%, within \d px +([\d.]+)% +correct: on +([\d.]+|nan)%, within", proc.stdout)
    assert len(rows) == 4, proc.stdout  # the last ReLU, its convolution, stretched, the first block
    assert all(float(on) <= float(near) for on, near, _ in rows)  # the tolerance only widens the mask
    assert "weights saved to" in proc.stdout
    again = run_example(
        "explain_predictions", "--dataset", "digits", "--weights", tmp_path / "model.npz", "--train", 200, "--test", 40,
        "--show", 2, "--vis-steps", 3, "--tsne-points", 30, "--eps", 0, "--out", tmp_path,
    )
    assert "weights loaded from" in again.stdout
    assert re.search(r"test accuracy: ([\d.]+)%", again.stdout)[1] == re.search(r"test accuracy: ([\d.]+)%", proc.stdout)[1]
    accuracies = [float(a) for a in re.findall(r"eps = \S+\s+accuracy\s+([\d.]+)%", proc.stdout)]
    assert len(accuracies) == 2 and accuracies[1] <= accuracies[0]  # the attack never helps
