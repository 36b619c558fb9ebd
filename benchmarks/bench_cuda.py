"""GPU vs CPU: the conv cases of ``bench_kernels.py`` and LeNet5 training throughput; prints Markdown tables.

    python benchmarks/bench_cuda.py                       # everything
    python benchmarks/bench_cuda.py --cases lenet-c1 resnet3x3 --repeats 20 --lenet-steps 20

Needs an NVIDIA GPU with ``numba-cuda`` (``pip install 'tinygraph[cuda]'``).  Without one it
prints "no CUDA GPU available" with the reason and exits 0.  The CUDA simulator does not count:
its timings would measure Python, not a GPU.

* conv2d: the kernels themselves (``kernels.cpu.conv`` vs ``kernels.cuda.conv``), forward and
  forward + both backward kernels, float32, median of ``--repeats`` after warm-up (the first GPU
  call compiles the kernel).  GPU times include ``cuda.synchronize()`` (kernels run asynchronously),
  not the host<->device copies: the data stays on the device during training.
* LeNet5: images/s of full training steps (forward, cross-entropy, backward, SGD with momentum)
  on a fixed random batch, on 'cpu' and on 'cuda' through the public API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tinygraph as tg  # noqa: E402
from tinygraph import cuda as tg_cuda  # noqa: E402


def gpu_or_exit() -> None:
    if not tg_cuda.is_available():
        print(f"no CUDA GPU available: {tg_cuda.unavailable_reason()}")
        sys.exit(0)
    if tg_cuda.is_simulator():
        print("no CUDA GPU available: NUMBA_ENABLE_CUDASIM=1 selects the CUDA simulator, whose timings are meaningless")
        sys.exit(0)


def median_time(fn, repeats: int, sync) -> float:
    fn()  # warm-up: JIT compilation (CPU and GPU) happens here
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_table(cases, repeats: int) -> None:
    from bench_kernels import CONV2D_CASES

    from tinygraph.kernels.cpu import conv as cpu_conv
    from tinygraph.kernels.cuda import conv as gpu_conv

    print("\n### conv2d kernels, float32 (median ms; ratio = GPU / CPU, < 1 means the GPU is faster)\n")
    print("| case | CPU fwd | GPU fwd | ratio | CPU fwd+bwd | GPU fwd+bwd | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for case in CONV2D_CASES:
        if cases and case.name not in cases:
            continue
        p = case.params
        x = rng.standard_normal((p["N"], p["C_in"], p["HW"], p["HW"])).astype(np.float32)
        w = rng.standard_normal((p["C_out"], p["C_in"], p["k"], p["k"])).astype(np.float32)
        b = rng.standard_normal(p["C_out"]).astype(np.float32)
        s, pad, d = (p["stride"],) * 2, (p["pad"],) * 2, (p["dilation"],) * 2
        out_size = tuple((p["HW"] + 2 * pad[0] - d[0] * (p["k"] - 1) - 1) // s[0] + 1 for _ in range(2))
        g = rng.standard_normal((p["N"], p["C_out"]) + out_size).astype(np.float32)
        xd, wd, bd, gd = (tg_cuda.to_device(a) for a in (x, w, b, g))
        geometry = (s, pad, d, 1)

        def step(k, x, w, b, g, backward, geometry=geometry, out_size=out_size):
            def run():
                k.conv2d_forward(x, w, b, *geometry, out_size)
                if backward:
                    k.conv2d_backward(g, x, w, *geometry, x.shape[2:], w.shape[2:])
            return run

        row = []
        for backward in (False, True):
            cpu = median_time(step(cpu_conv, x, w, b, g, backward), repeats, lambda: None)
            gpu = median_time(step(gpu_conv, xd, wd, bd, gd, backward), repeats, tg_cuda.synchronize)
            row += [f"{cpu * 1e3:.2f}", f"{gpu * 1e3:.2f}", f"{gpu / cpu:.2f}"]
        print(f"| {case.name} | " + " | ".join(row) + " |", flush=True)


def lenet_table(batch: int, steps: int) -> None:
    import tinygraph.functional as F
    from tinygraph import optim
    from tinygraph.models import LeNet5

    print(f"\n### LeNet5 training, batch {batch}, float32 (images/s, higher is better)\n")
    print("| device | images/s |")
    print("|---|---:|")
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y_host = rng.integers(0, 10, batch)
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        try:
            model = LeNet5().to(device)
            x, y = tg.tensor(x_host).to(device), tg.tensor(y_host).to(device)
        except (RuntimeError, NotImplementedError, TypeError) as err:
            print(f"| {device} | not run: {err} |")
            continue
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step(model=model, x=x, y=y, opt=opt):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        sync = tg_cuda.synchronize if device == "cuda" else (lambda: None)
        seconds = median_time(train_step, steps, sync)
        print(f"| {device} | {batch / seconds:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=None, help="conv cases of bench_kernels.py (default: all)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lenet-steps", type=int, default=10)
    args = parser.parse_args()
    gpu_or_exit()
    print(f"GPU: {tg_cuda.device_name()}; numpy {np.__version__}; CPU cores: {os.cpu_count()}")
    conv_table(args.cases, args.repeats)
    lenet_table(args.batch, args.lenet_steps)


if __name__ == "__main__":
    main()
