"""End-to-end speed: LeNet5 training steps and inference, tinygraph beside PyTorch, and start-up times.

    python benchmarks/bench_train.py                  # everything
    python benchmarks/bench_train.py --steps 50 --no-startup

A training step is forward + cross-entropy + backward + SGD(momentum=0.9) on a batch of 64
random 1x28x28 images; inference is one forward pass of 1,000 images without a graph. Both
libraries run the same network (LeNet5: conv5-relu-maxpool-conv5-relu-maxpool-fc120-fc84-fc10),
in the same process, interleaved round by round, PyTorch with ``torch.set_num_threads(2)``.
Figures are medians over rounds after warm-up; the ratio is tinygraph / PyTorch (lower is better).
Each round of a library starts with ``--settle`` untimed steps of it: the first steps after the
other library's round (or after any pause) run slower than a training loop's steady state, while
the caches refill and the CPU speeds up again, and whichever library comes second would pay for it.
``--write docs/performance.md`` also writes the tables there, with the machine and versions.

Start-up: the wall time of ``examples/train_cnn.py --epochs 1`` in a fresh process, cold (an
empty Numba cache, so every kernel compiles) and warm (the cache filled by the cold run).

``--separate-processes N``: instead, N pairs of fresh processes, each importing and timing one
library only (alternating, tinygraph first), the way a user's training script runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

_CHILD = sys.argv[sys.argv.index("--child") + 1] if "--child" in sys.argv else None
try:  # PyTorch first, so that it starts as it would in a program of its own
    if _CHILD == "tinygraph":  # a process for tinygraph alone
        raise ImportError
    import torch
except ImportError:
    torch = None

if _CHILD != "pytorch":
    import tinygraph as tg  # noqa: E402

import _report  # noqa: E402  (benchmarks/_report.py: --write)


def tinygraph_runners(batch: int, infer_batch: int):
    tg.manual_seed(0)
    model = tg.models.LeNet5()
    opt = tg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, batch))
    x_infer = tg.tensor(rng.standard_normal((infer_batch, 1, 28, 28)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = tg.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        with tg.no_grad():
            model(x_infer)

    return step, infer, model


def torch_runners(torch, batch: int, infer_batch: int):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    x_infer = torch.randn(infer_batch, 1, 28, 28)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x_infer)

    return step, infer


def time_once(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


FIRST_STEP = """
import time; t0 = time.perf_counter()
import tinygraph as tg
model = tg.models.LeNet5(); opt = tg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = tg.randn(8, 1, 28, 28), tg.tensor([0, 1, 2, 3, 4, 5, 6, 7])
loss = tg.functional.cross_entropy(model(x), y); loss.backward(); opt.step()
print(time.perf_counter() - t0)
"""


def startup_times(python: str, epochs_script: bool) -> dict:
    """Wall seconds of fresh processes with an empty Numba cache (cold) and with it filled (warm).

    ``first step``: import tinygraph and run one LeNet5 training step (what compiling costs);
    ``train_cnn.py``: the whole main example with ``--epochs 1``.
    """
    results = {}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, MPLBACKEND="Agg")
        for label in ("cold", "warm"):
            start = time.perf_counter()
            subprocess.run([python, "-c", FIRST_STEP], env=env, check=True, capture_output=True)
            results[("first step", label)] = time.perf_counter() - start
        if epochs_script:
            script = os.path.join(ROOT, "examples", "train_cnn.py")
            for label in ("cold", "warm"):
                if label == "cold":
                    env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(dir=cache)
                start = time.perf_counter()
                subprocess.run([python, script, "--epochs", "1", "--out", out], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                results[("train_cnn.py --epochs 1", label)] = time.perf_counter() - start
    return results


def _page_faults() -> int:
    """Minor page faults of this process so far: each is a fresh page the kernel had to map and zero."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(runs: dict, rounds: int, steps: int, settle: int = 10) -> dict:
    """``{name: (median s per training step, median s per inference batch, page faults per training step)}``.

    The libraries take turns, round by round; with two of them, each round first runs ``settle``
    untimed steps of its library.
    """
    for step, infer in runs.values():  # warm-up: JIT compilation, allocator, caches
        time_once(step, 3)
        time_once(infer, 1)
    step_times = {name: [] for name in runs}
    infer_times = {name: [] for name in runs}
    faults = dict.fromkeys(runs, 0)
    for _ in range(rounds):
        for name, (step, infer) in runs.items():
            if len(runs) > 1 and settle:
                time_once(step, settle)  # back to this library's steady state (see the module docstring)
            before = _page_faults()
            step_times[name].append(time_once(step, steps))
            faults[name] += _page_faults() - before
            infer_times[name].append(time_once(infer, 1))
    median = statistics.median
    per_step = rounds * steps
    return {name: (median(step_times[name]), median(infer_times[name]), faults[name] / per_step) for name in runs}


def separate_processes(args) -> None:
    """Time each library in fresh processes of its own, alternating, and print one row per pair."""
    command = [sys.executable, os.path.abspath(__file__), "--batch", str(args.batch), "--infer-batch",
               str(args.infer_batch), "--rounds", str(args.rounds), "--steps", str(args.steps)]
    print(f"LeNet5, each library in {args.separate_processes} fresh processes of its own (alternating); "
          f"medians of {args.rounds} rounds of {args.steps} steps per process\n")
    print("| pair | tinygraph ms / step | PyTorch ms / step | ratio | tinygraph ms / inference | "
          "PyTorch ms / inference | ratio | page faults / step, tinygraph : PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for pair in range(1, args.separate_processes + 1):
        result = {}
        for name in ("tinygraph", "pytorch"):
            out = subprocess.run(command + ["--child", name], check=True, capture_output=True, text=True).stdout
            result[name] = [float(v) for v in out.split()]
        (ts, ti, tf), (ps, pi, pf) = result["tinygraph"], result["pytorch"]
        ratios.append(ts / ps)
        print(f"| {pair} | {ts * 1e3:.2f} | {ps * 1e3:.2f} | {ts / ps:.2f}x | {ti * 1e3:.1f} | {pi * 1e3:.1f} | "
              f"{ti / pi:.2f}x | {tf:,.0f} : {pf:,.0f} |")
    print(f"\nmedian training-step ratio over the pairs: {statistics.median(ratios):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--infer-batch", type=int, default=1000, help="inference batch size")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (the median is reported)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    parser.add_argument("--settle", type=int, default=10,
                        help="untimed training steps of a library before each of its timed rounds")
    parser.add_argument("--no-startup", action="store_true", help="skip the cold/warm start-up measurement")
    parser.add_argument("--separate-processes", type=int, default=0, metavar="N",
                        help="time each library alone in N fresh processes of its own (needs PyTorch)")
    parser.add_argument("--child", choices=("tinygraph", "pytorch"), help=argparse.SUPPRESS)
    parser.add_argument("--write", metavar="PATH", help="also write the tables into this Markdown file")
    parser.add_argument("--retain-freed-memory", action="store_true",
                        help="call tg.memory.retain_freed_memory() first (process-wide: both libraries get it)")
    args = parser.parse_args()
    if args.retain_freed_memory and _CHILD != "pytorch":
        print(f"tg.memory.retain_freed_memory() -> {tg.memory.retain_freed_memory()}")

    if args.child:  # one library in this process: print its medians for the parent
        if args.child == "pytorch":
            torch.set_num_threads(2)
            runs = {"pytorch": torch_runners(torch, args.batch, args.infer_batch)}
        else:
            runs = {"tinygraph": tinygraph_runners(args.batch, args.infer_batch)[:2]}
        print(*measure(runs, args.rounds, args.steps)[args.child])
        return
    if args.separate_processes:
        if torch is None:
            parser.error("--separate-processes compares with PyTorch, which is not installed")
        with _report.captured() as output:
            separate_processes(args)
        if args.write:
            _report.write_section(args.write, "bench_train_separate",
                                  "Training LeNet-5, each library in fresh processes of its own "
                                  "(benchmarks/bench_train.py --separate-processes)", output.getvalue())
        return

    with _report.captured() as output:
        if torch is not None:
            torch.set_num_threads(2)

        tg_step, tg_infer, _ = tinygraph_runners(args.batch, args.infer_batch)
        runs = {"tinygraph": (tg_step, tg_infer)}
        if torch is not None:
            runs["pytorch"] = torch_runners(torch, args.batch, args.infer_batch)

        medians = measure(runs, args.rounds, args.steps, args.settle)
        retained = ", freed memory retained (tg.memory.retain_freed_memory())" if args.retain_freed_memory else ""
        print(f"LeNet5, batch {args.batch} training (SGD momentum) and batch {args.infer_batch} inference{retained}; "
              f"medians of {args.rounds} rounds of {args.steps} steps, each after {args.settle} untimed steps; "
              f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs\n")
        print("| library | ms / training step | training images/s | ms / inference batch | inference images/s "
              "| page faults / training step |")
        print("|---|---|---|---|---|---|")
        for name in runs:
            s, i, f = medians[name]
            print(f"| {name} | {s * 1e3:.2f} | {args.batch / s:,.0f} | {i * 1e3:.1f} | {args.infer_batch / i:,.0f} "
                  f"| {f:,.0f} |")
        if torch is not None:
            (ts, ti, _), (ps, pi, _) = medians["tinygraph"], medians["pytorch"]
            print(f"| ratio tinygraph / pytorch | {ts / ps:.2f}x | | {ti / pi:.2f}x | | |")
        else:
            print("\n(PyTorch is not installed: no ratio. `pip install torch` to compare.)")

        if not args.no_startup:
            has_example = os.path.exists(os.path.join(ROOT, "examples", "train_cnn.py"))
            results = startup_times(sys.executable, has_example)
            print("\n| fresh process | cold (empty JIT cache) | warm (cached kernels) |\n|---|---|---|")
            for what in dict.fromkeys(w for w, _ in results):
                print(f"| {what} | {results[(what, 'cold')]:.1f} s | {results[(what, 'warm')]:.1f} s |")
    if args.write:
        title = "Training LeNet-5 (benchmarks/bench_train.py)"
        if args.retain_freed_memory:  # its own section, beside the default run's
            title = "Training LeNet-5 with freed memory retained (benchmarks/bench_train.py --retain-freed-memory)"
        name = "bench_train_retained" if args.retain_freed_memory else "bench_train"
        _report.write_section(args.write, name, title, output.getvalue())


if __name__ == "__main__":
    main()
