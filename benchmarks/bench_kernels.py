"""Benchmark tinygraph's CNN kernels against PyTorch (when installed) and print a Markdown table.

    python benchmarks/bench_kernels.py                    # every family, every case
    python benchmarks/bench_kernels.py --cases resnet3x3 stem7x7 --repeats 30
    python benchmarks/bench_kernels.py --no-compile      # skip the JIT start-up measurement

For every case: the median wall time of the forward pass (no graph recorded) and of forward +
backward (gradients for every input), after warm-up calls, through the public API
(``tg.functional``), so the Function/autograd overhead is included as it is for PyTorch's
autograd.  PyTorch runs in the same process with ``torch.set_num_threads(2)``; ``ratio`` is
tinygraph's time / PyTorch's (lower is better, < 1 means tinygraph is faster).
``--separate-processes N`` times each library alone instead, in N pairs of fresh processes (one
per library, tinygraph first), so that neither can change the other's speed.

The machine has 2 cores, possibly shared: medians over ``--repeats`` runs, the two libraries
taking turns in ``--rounds`` blocks, and the load average printed with the table.  Each block
starts with ``--settle`` seconds of untimed calls of its own op: neither library is timed while
the other's idle threads still spin, nor while the caches and the CPU's clock recover from the
switch (the first calls after any pause run slower than a training loop's).

Adding an op family (pooling, batch norm, ...): write a function ``(case, torch_module_or_None)
-> dict of callables`` like ``conv2d_runners`` and append a ``Family`` to ``FAMILIES`` with its
list of cases.  Nothing else changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# PyTorch first, so that it starts exactly as it would in a program of its own.
try:
    if "--no-torch" in sys.argv or "--child=tinygraph" in sys.argv:
        raise ImportError
    import torch
except ImportError:
    torch = None

import _report  # noqa: E402  (benchmarks/_report.py: --write)

if "--child=torch" in sys.argv:  # PyTorch timed alone: tinygraph is not even imported
    tg = F = None
else:
    import tinygraph as tg
    import tinygraph.functional as F


@dataclass
class Case:
    """One benchmark problem: a name and the keyword arguments its family's runner understands."""

    name: str
    params: dict


@dataclass
class Family:
    """An op family: its cases and a function building the callables to time for one case.

    ``runners(case, torch)`` returns ``{"tg_fwd": f, "tg_fwdbwd": f, "torch_fwd": f, "torch_fwdbwd": f}``
    (the torch entries only when ``torch`` is not None); each callable runs the op once.
    """

    name: str
    cases: list
    runners: object
    columns: list = field(default_factory=list)  # case parameters shown in the table


# ------------------------------------------------------------------ conv2d


def _conv(name, n, c_in, hw, c_out, k, stride, pad, dilation):
    return Case(name, dict(N=n, C_in=c_in, HW=hw, C_out=c_out, k=k, stride=stride, pad=pad, dilation=dilation))


CONV2D_CASES = [
    _conv("lenet-c1", 64, 1, 28, 6, 5, 1, 2, 1),
    _conv("lenet-c2", 64, 6, 14, 16, 5, 1, 0, 1),
    _conv("resnet3x3", 32, 64, 32, 64, 3, 1, 1, 1),
    _conv("strided", 32, 64, 32, 128, 3, 2, 1, 1),
    _conv("dilated", 16, 32, 32, 32, 3, 1, 2, 2),
    _conv("stem7x7", 8, 3, 224, 64, 7, 2, 3, 1),
]


def _timed_calls(no_grad, op, tensors, grad):
    """``(fwd, fwdbwd)``: ``op(*tensors)`` without a graph, and with a backward pass from ``grad``."""

    def fwd():
        with no_grad():
            op(*tensors)

    def fwdbwd():
        for t in tensors:
            t.grad = None
        op(*tensors).backward(grad)

    return fwd, fwdbwd


def _runners(arrays, tg_op, torch_op, torch):
    """The four callables of one case: each library's op forward only, and forward + backward.

    ``arrays``: the op's float inputs (NumPy), every one of which gets a gradient;
    ``tg_op(*tensors)`` / ``torch_op(*tensors)`` run the op.  The backward pass starts from a
    gradient of ones.
    """
    runners = {}
    if tg is not None:
        tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
        grad = np.ones(tg_op(*tensors).shape, dtype=arrays[0].dtype)
        runners["tg_fwd"], runners["tg_fwdbwd"] = _timed_calls(tg.no_grad, tg_op, tensors, grad)
    if torch is not None:
        theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
        with torch.no_grad():
            their_grad = torch.ones_like(torch_op(*theirs))
        runners["torch_fwd"], runners["torch_fwdbwd"] = _timed_calls(torch.no_grad, torch_op, theirs, their_grad)
    return runners


def conv2d_runners(case, torch, dtype=np.float32):
    p = case.params
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p["N"], p["C_in"], p["HW"], p["HW"])).astype(dtype)
    w = (rng.standard_normal((p["C_out"], p["C_in"], p["k"], p["k"])) / np.sqrt(p["C_in"] * p["k"] ** 2)).astype(dtype)
    b = rng.standard_normal(p["C_out"]).astype(dtype)
    geometry = dict(stride=p["stride"], padding=p["pad"], dilation=p["dilation"])
    torch_conv2d = torch.nn.functional.conv2d if torch is not None else None
    return _runners(
        (x, w, b),
        lambda *t: F.conv2d(*t, **geometry),
        lambda *t: torch_conv2d(*t, **geometry),
        torch,
    )


# ------------------------------------------------------------------ max_pool2d and batch_norm


def _pool(name, n, c, hw, k, stride, pad):
    return Case(name, dict(N=n, C=c, HW=hw, k=k, stride=stride, pad=pad))


MAX_POOL2D_CASES = [
    _pool("lenet-p1", 64, 6, 28, 2, 2, 0),  # LeNet5's first pooling layer
    _pool("lenet-p2", 64, 16, 10, 2, 2, 0),
    _pool("resnet-stem", 8, 64, 112, 3, 2, 1),  # after ResNet's 7x7 stem
]


def max_pool2d_runners(case, torch, dtype=np.float32):
    p = case.params
    x = np.random.default_rng(0).standard_normal((p["N"], p["C"], p["HW"], p["HW"])).astype(dtype)
    geometry = dict(kernel_size=p["k"], stride=p["stride"], padding=p["pad"])
    torch_pool = torch.nn.functional.max_pool2d if torch is not None else None
    return _runners((x,), lambda t: F.max_pool2d(t, **geometry), lambda t: torch_pool(t, **geometry), torch)


BATCH_NORM_CASES = [
    Case("lenet-size", dict(N=64, C=6, HW=28)),
    Case("resnet-size", dict(N=32, C=64, HW=32)),
]


def batch_norm_runners(case, torch, dtype=np.float32):
    """Training-mode batch norm (batch statistics, running statistics updated), with affine weight and bias."""
    p = case.params
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p["N"], p["C"], p["HW"], p["HW"])).astype(dtype)
    weight, bias = rng.standard_normal(p["C"]).astype(dtype), rng.standard_normal(p["C"]).astype(dtype)
    stats = {"tg": (tg.zeros(p["C"]), tg.ones(p["C"]))} if tg is not None else {}
    if torch is not None:
        stats["torch"] = (torch.zeros(p["C"]), torch.ones(p["C"]))
        torch_bn = torch.nn.functional.batch_norm
    return _runners(
        (x, weight, bias),
        lambda t, w, b: F.batch_norm(t, *stats["tg"], w, b, training=True),
        lambda t, w, b: torch_bn(t, *stats["torch"], w, b, training=True),
        torch,
    )


def _conv2d_compile_script():
    """Python source timing the first conv2d forward+backward call of a fresh process (JIT or cache load)."""
    return (
        "import time; t0 = time.perf_counter()\n"
        "import numpy as np, tinygraph as tg\n"
        "t1 = time.perf_counter()\n"
        "x = tg.randn(2, 3, 8, 8, requires_grad=True); w = tg.randn(4, 3, 3, 3, requires_grad=True)\n"
        "tg.functional.conv2d(x, w, padding=1).sum().backward()\n"
        "t2 = time.perf_counter()\n"
        "print(f'{t1 - t0:.3f} {t2 - t1:.3f}')\n"
    )


FAMILIES = [
    Family(
        "conv2d",
        CONV2D_CASES,
        conv2d_runners,
        columns=["N", "C_in", "HW", "C_out", "k", "stride", "pad", "dilation"],
    ),
    Family("max_pool2d", MAX_POOL2D_CASES, max_pool2d_runners, columns=["N", "C", "HW", "k", "stride", "pad"]),
    Family("batch_norm", BATCH_NORM_CASES, batch_norm_runners, columns=["N", "C", "HW"]),
]


# ------------------------------------------------------------------ timing


def median_ms(fn, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def settle(fn, seconds: float) -> None:
    """Call ``fn()`` untimed for at least ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()


def measure_case(family, case, torch, args, only=None):
    """``{runner key: median ms}`` for one case; ``only="tg"`` or ``"torch"`` times that library's runners alone."""
    runners = family.runners(case, torch)
    if only is not None:
        runners = {key: fn for key, fn in runners.items() if key.startswith(only + "_")}
    result = {}
    # interleave the libraries, so a burst of load from elsewhere hits both alike
    rounds = max(1, args.rounds)
    samples = {key: [] for key in runners}
    for _ in range(rounds):
        for key, fn in runners.items():
            # back to this op's steady state first: the other library's idle threads (PyTorch's
            # OpenMP workers, OpenBLAS's) spin for a while after their last call, and after that or
            # any pause the first calls run slow while caches refill and the CPU speeds up again
            time.sleep(args.pause)
            settle(fn, args.settle)
            samples[key].append(median_ms(fn, args.warmup, max(1, args.repeats // rounds)))
    for key, values in samples.items():
        result[key] = statistics.median(values)
    return result


def first_call_latency(repo_root: str) -> dict:
    """Seconds for ``import tinygraph`` and for the first conv2d fwd+bwd, cold (empty Numba cache) and warm.

    Cold runs in a fresh, empty NUMBA_CACHE_DIR so every kernel is compiled; warm runs the same
    script again with that cache now filled (what a second run of a training script sees).
    """
    script = _conv2d_compile_script()
    out = {}
    with tempfile.TemporaryDirectory(prefix="tinygraph-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=repo_root)
        for label in ("cold", "warm"):
            proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            import_s, first_s = (float(v) for v in proc.stdout.split())
            out[label] = (import_s, first_s)
    return out


# ------------------------------------------------------------------ report


def _fmt(ms):
    return "-" if ms is None else (f"{ms:.2f}" if ms < 100 else f"{ms:.0f}")


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def _selected(args):
    """``[(family, cases)]`` that ``--families`` and ``--cases`` select."""
    chosen = []
    for family in FAMILIES:
        if args.families and family.name not in args.families:
            continue
        cases = [c for c in family.cases if not args.cases or c.name in args.cases]
        if cases:
            chosen.append((family, cases))
    return chosen


def _separate_processes(args) -> dict:
    """``{(family, case): {runner key: ms}}``, each library timed alone in fresh processes, medians over pairs."""
    forwarded = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--rounds", str(args.rounds),
                 "--settle", str(args.settle), "--pause", str(args.pause)]
    if args.families:
        forwarded += ["--families", *args.families]
    if args.cases:
        forwarded += ["--cases", *args.cases]
    samples = {}
    for _ in range(args.separate_processes):
        for child in ("tinygraph", "torch"):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={child}", *forwarded],
                                 check=True, capture_output=True, text=True).stdout
            for key, ms in json.loads(out):
                samples.setdefault(tuple(key[:2]), {}).setdefault(key[2], []).append(ms)
    return {case: {key: statistics.median(v) for key, v in runs.items()} for case, runs in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="*", default=None, help="op families to run (default: all)")
    parser.add_argument("--cases", nargs="*", default=None, help="case names to run (default: all)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per measurement (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds per case (libraries take turns); the median of the round medians is reported",
    )
    parser.add_argument("--pause", type=float, default=0.0, help="seconds of sleep before each timed block")
    parser.add_argument("--settle", type=float, default=0.2,
                        help="seconds of untimed calls before each timed block (after --pause)")
    parser.add_argument("--no-torch", action="store_true", help="do not compare with PyTorch even if installed")
    parser.add_argument("--no-compile", action="store_true", help="skip the cold/warm JIT start-up measurement")
    parser.add_argument("--separate-processes", type=int, default=0, metavar="N",
                        help="time each library alone, in N pairs of fresh processes (medians over the pairs)")
    parser.add_argument("--child", choices=("tinygraph", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--write", metavar="PATH", help="also write the tables into this Markdown file")
    args = parser.parse_args(argv)

    if args.child:  # one library in this process: its medians, as JSON, for the parent
        only = "tg" if args.child == "tinygraph" else "torch"
        if torch is not None:
            torch.set_num_threads(2)
        rows = []
        for family, cases in _selected(args):
            for case in cases:
                for key, ms in measure_case(family, case, torch, args, only).items():
                    rows.append(((family.name, case.name, key), ms))
        print(json.dumps(rows))
        return

    with _report.captured() as output:
        torch_module = None if args.no_torch else globals()["torch"]
        if args.separate_processes and torch_module is None:
            parser.error("--separate-processes compares with PyTorch, which is not installed")
        if torch_module is not None:
            torch_module.set_num_threads(2)
        separate = _separate_processes(args) if args.separate_processes else None

        import numba

        how = (f"each library alone in {args.separate_processes} pairs of fresh processes (medians over the pairs), "
               if separate else "")
        print(
            f"tinygraph vs {'torch ' + torch_module.__version__ if torch_module else '(torch not installed)'}; "
            f"numpy {np.__version__}, "
            f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads); {os.cpu_count()} CPUs; {how}"
            f"median of {args.rounds} interleaved rounds x {max(1, args.repeats // max(1, args.rounds))} calls "
            f"after {args.warmup} warm-up calls; float32; times in ms"
        )
        for family, cases in _selected(args):
            load_before = os.getloadavg()[0]
            print(f"\n### {family.name}\n")
            head = ["case"] + family.columns + ["tg fwd", "tg fwd+bwd"]
            if torch_module:
                head += ["torch fwd", "torch fwd+bwd", "ratio fwd", "ratio fwd+bwd"]
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for case in cases:
                r = separate[(family.name, case.name)] if separate else measure_case(family, case, torch_module, args)
                row = [case.name] + [str(case.params[c]) for c in family.columns]
                row += [_fmt(r["tg_fwd"]), _fmt(r["tg_fwdbwd"])]
                if torch_module:
                    row += [_fmt(r["torch_fwd"]), _fmt(r["torch_fwdbwd"])]
                    row += [_ratio(r["tg_fwd"], r["torch_fwd"]), _ratio(r["tg_fwdbwd"], r["torch_fwdbwd"])]
                print("| " + " | ".join(row) + " |", flush=True)
            if not separate:
                print(f"\nload average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")

        if not args.no_compile:
            repo_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
            lat = first_call_latency(repo_root)
            print("\n### first call (fresh process): import tinygraph, then the first conv2d forward+backward\n")
            print("| Numba cache | import tinygraph (s) | first conv2d fwd+bwd (s) |")
            print("|---|---|---|")
            for label, (import_s, first_s) in lat.items():
                print(f"| {label} | {import_s:.2f} | {first_s:.2f} |")
    if args.write:
        if separate:
            name, title = "bench_kernels_separate", ("Kernels, each library in fresh processes of its own "
                                                     "(benchmarks/bench_kernels.py --separate-processes)")
        else:
            name, title = "bench_kernels", "Kernels, one op at a time (benchmarks/bench_kernels.py)"
        _report.write_section(args.write, name, title, output.getvalue())


if __name__ == "__main__":
    main()
