"""Regenerate the pictures the README shows (docs/images/) by running the examples with fixed seeds.

    python docs/make_images.py                 # all of them (about two minutes on 2 cores)
    python docs/make_images.py --only train_cnn sobel_edges

Each example runs as a user would run it (its default settings, ``--seed 0``) into a temporary
folder; the chosen pictures are copied to docs/images/ under the example's name, re-encoded
as palette PNGs (plots have few colours, so this shrinks them several times without visible
loss), scaled down to --max-width pixels where wider, and checked to stay under --max-kb.
One GIF from convolution_animation is kept as it is.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image  # Pillow: matplotlib's own dependency

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"

# example: (extra arguments, {file the example writes: name under docs/images})
JOBS = {
    "train_cnn": (
        [],
        {
            "loss_curves.png": "train_cnn_loss_curves.png",
            "kernels.png": "train_cnn_kernels.png",
            "feature_maps.png": "train_cnn_feature_maps.png",
            "confusion_matrix.png": "train_cnn_confusion_matrix.png",
            "predictions.png": "train_cnn_predictions.png",
            "graph.png": "train_cnn_graph.png",
        },
    ),
    "residual_vs_plain": (
        [],
        {"gradient_flow.png": "residual_vs_plain_gradient_flow.png", "loss_curves.png": "residual_vs_plain_loss.png"},
    ),
    "dilation_receptive_field": (
        [],
        {"receptive_fields.png": "dilation_receptive_fields.png", "growth.png": "dilation_growth.png"},
    ),
    "batchnorm_dropout": (
        [],
        {"loss_curves.png": "batchnorm_dropout_curves.png", "accuracy.png": "batchnorm_dropout_accuracy.png"},
    ),
    "convolution_animation": (["--dpi", "75"], {"conv_stride2_pad1.gif": "convolution_stride2_pad1.gif"}),
    "sobel_edges": (
        [],
        {"sobel_edges.png": "sobel_edges.png", "stride_padding.png": "sobel_stride_padding.png"},
    ),
    "detail_views": (
        [],
        {
            "conv_arithmetic.png": "detail_conv_arithmetic.png",
            "relu.png": "detail_relu.png",
            "pooling.png": "detail_pooling.png",
            "softmax.png": "detail_softmax.png",
        },
    ),
    "autodiff_tour": ([], {"graph.png": "autodiff_tour_graph.png"}),
}
JOBS["train_cnn_shapes"] = (["--dataset", "shapes"], {"predictions.png": "shapes_predictions.png"})
JOBS["cnn_pipeline"] = ([], {"02_conv1.png": "cnn_pipeline_conv1.png", "05_dense.png": "cnn_pipeline_dense.png"})
SCRIPTS = {"train_cnn_shapes": "train_cnn"}  # jobs that run another job's example with other arguments
SEEDLESS = {"sobel_edges"}  # nothing random in it: no --seed option


def shrink_png(source: Path, target: Path, max_width: int) -> None:
    """Copy a PNG at most ``max_width`` pixels wide, as a 256-colour palette PNG (plots have few colours)."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if image.width > max_width:  # wider than a README column: scale down (LANCZOS keeps text crisp)
            image = image.resize((max_width, round(image.height * max_width / image.width)), Image.Resampling.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(JOBS), help="regenerate only these examples' images")
    parser.add_argument("--max-kb", type=float, default=150, help="fail if a picture is larger than this")
    parser.add_argument("--max-width", type=int, default=800, help="scale wider PNGs down to this many pixels")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    too_big = []
    for example in args.only or JOBS:
        extra, files = JOBS[example]
        with tempfile.TemporaryDirectory() as tmp:
            seed = [] if example in SEEDLESS else ["--seed", "0"]
            script = SCRIPTS.get(example, example)
            command = [sys.executable, str(ROOT / "examples" / f"{script}.py"), "--out", tmp, *seed, *extra]
            print(f"$ python examples/{script}.py {' '.join(seed + extra)}", flush=True)
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            print(f"  ran in {time.perf_counter() - started:.1f}s")
            for written, name in files.items():
                target = IMAGES / name
                if name.endswith(".png"):
                    shrink_png(Path(tmp) / written, target, args.max_width)
                else:
                    shutil.copyfile(Path(tmp) / written, target)
                kb = target.stat().st_size / 1024
                print(f"  {target.relative_to(ROOT)}  {kb:.0f} KB")
                if kb > args.max_kb:
                    too_big.append(f"{name} ({kb:.0f} KB)")
    if too_big:
        sys.exit(f"larger than {args.max_kb:g} KB: {', '.join(too_big)}")


if __name__ == "__main__":
    main()
