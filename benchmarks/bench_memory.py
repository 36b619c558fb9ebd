"""What keeping freed memory is worth: a LeNet-5 training step with and without ``tg.memory.retain_freed_memory()``.

    python benchmarks/bench_memory.py                 # 4 pairs of fresh processes
    python benchmarks/bench_memory.py --pairs 6 --write docs/performance.md

tinygraph leaves ``malloc`` as the user's process has it (see ``tinygraph/memory.py``); a training
script may opt in.  Each setting runs in fresh processes of its own (alternating, default first),
each timing ``--rounds`` rounds of ``--steps`` training steps (batch 64 of 1x28x28 images,
cross-entropy, SGD with momentum) after warm-up, and printing the median ms per step.  The table
gives the median over the processes of each setting, the minimum and maximum.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import _report  # benchmarks/_report.py: --write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(retain: bool, rounds: int, steps: int) -> None:
    """One process: time LeNet-5 training steps, print the median ms per step."""
    import numpy as np

    import tinygraph as tg

    if retain:
        tg.memory.retain_freed_memory()
    tg.manual_seed(0)
    model = tg.models.LeNet5()
    opt = tg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, 64))

    def step():
        opt.zero_grad()
        tg.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(steps * 2):  # warm-up: compiled kernels loaded, memory in the state a training run reaches
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    print(statistics.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4, help="fresh processes per setting")
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds per process (the median is kept)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--write", metavar="PATH", help="also write the table into this Markdown file")
    parser.add_argument("--child", choices=("default", "retained"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child == "retained", args.rounds, args.steps)
        return

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    results = {"default": [], "retained": []}
    for pair in range(args.pairs):
        for setting in results:
            command = [sys.executable, __file__, "--child", setting, "--rounds", str(args.rounds),
                       "--steps", str(args.steps)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            results[setting].append(float(done.stdout.strip().splitlines()[-1]))
            print(f"pair {pair + 1}/{args.pairs} {setting}: {results[setting][-1]:.2f} ms/step", file=sys.stderr)

    with _report.captured() as output:
        print(f"LeNet5 training step, batch 64, tinygraph alone in {args.pairs} fresh processes per setting "
              f"(medians of {args.rounds} rounds of {args.steps} steps each)\n")
        print("| setting | ms / step (median) | min | max |\n|---|---|---|---|")
        for setting, ms in results.items():
            label = "default (malloc as the process has it)" if setting == "default" else (
                "after tg.memory.retain_freed_memory()")
            print(f"| {label} | {statistics.median(ms):.2f} | {min(ms):.2f} | {max(ms):.2f} |")
        ratio = statistics.median(results["retained"]) / statistics.median(results["default"])
        print(f"\nretained / default: {ratio:.2f}x")
    if args.write:
        title = "Keeping freed memory (benchmarks/bench_memory.py)"
        _report.write_section(args.write, "bench_memory", title, output.getvalue())


if __name__ == "__main__":
    main()
