"""tinygraph leaves the user's process as it found it.  Each check runs in a fresh Python process.

* the environment is the same before and after importing tinygraph and running ops;
* the calling thread's CPU set never changes during a convolution (polled from a side thread);
* BLAS's thread count (threadpoolctl) is the user's before and after a call, also inside the
  user's own ``threadpool_limits`` block, and a process forked during a call starts with it;
* freed NumPy memory goes back to the system as it does without tinygraph (no ``mallopt``);
* a forked child, which has none of the parent's helper threads, shares its calls with its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A convolution large enough to be shared between tinygraph's threads (set_num_threads(2) below).
CONV = """
import numpy as np, tinygraph as tg, tinygraph.functional as F
tg.set_num_threads(2)
x = tg.randn(8, 16, 32, 32, requires_grad=True)
w = tg.randn(32, 16, 3, 3, requires_grad=True)

def step():
    out = F.conv2d(x, w, padding=1)
    out.sum().backward()
"""


def run(*parts: str) -> dict:
    """Run the code ``parts`` (each dedented) in a fresh interpreter; it prints one JSON object as its last line."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = "\n".join(textwrap.dedent(part) for part in parts)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


def test_import_and_ops_leave_the_environment_alone():
    result = run(
        """
        import json, os
        before = dict(os.environ)
        """,
        CONV,
        """
        for _ in range(3):
            step()
        F.max_pool2d(F.relu(x), 2).sum().backward()
        print(json.dumps({"changed": sorted(set(before.items()) ^ set(os.environ.items()))}))
        """
    )
    assert result["changed"] == []


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is a Linux feature")
def test_the_calling_threads_cpu_set_is_never_changed():
    result = run(
        CONV,
        """
        import json, os, threading, time
        caller = threading.get_native_id()
        before = sorted(os.sched_getaffinity(caller))
        seen, done = set(), threading.Event()

        def poll():
            while not done.is_set():
                seen.add(tuple(sorted(os.sched_getaffinity(caller))))

        poller = threading.Thread(target=poll)
        poller.start()
        start = time.perf_counter()
        while time.perf_counter() - start < 1.0:
            step()
        done.set()
        poller.join()
        workers = [t.name for t in threading.enumerate() if t.name.startswith("tinygraph-worker")]
        print(json.dumps({"before": before, "seen": sorted(seen), "workers": len(workers)}))
        """
    )
    assert result["workers"] >= 1  # the convolution did run on tinygraph's own threads
    assert result["seen"] == [result["before"]]


BLAS_COUNTS = """
import json
from threadpoolctl import ThreadpoolController, threadpool_limits
blas_libraries = ThreadpoolController().select(user_api="blas").lib_controllers

def blas():
    return [lib.num_threads for lib in blas_libraries]

if not blas_libraries:
    print(json.dumps({"skip": "threadpoolctl finds no BLAS library to control"}))
    raise SystemExit
"""


def test_blas_threads_are_the_users_outside_tinygraphs_calls_and_inside_the_users_limits():
    result = run(
        CONV,
        BLAS_COUNTS,
        """
        import threading, time
        start_count = blas()
        with threadpool_limits(3, user_api="blas"):  # the user's own limit
            limited = blas()
            samples, done = [], threading.Event()

            def sample():
                while not done.is_set():
                    samples.extend(blas())
                    time.sleep(0.001)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                step()
            done.set()
            sampler.join()
            after_calls = blas()
        print(json.dumps({"start": start_count, "limited": limited, "samples": sorted(set(samples)),
                          "after_calls": after_calls, "end": blas()}))
        """
    )
    if result["limited"] != [3] * len(result["limited"]):
        pytest.skip(f"this BLAS does not take a limit of 3 threads (reads {result['limited']})")
    assert result["after_calls"] == result["limited"]  # the user's limit, not undone
    assert result["end"] == result["start"]  # and the user's own block restored theirs
    assert set(result["samples"]) <= {1, 3}  # during a call, one thread (tinygraph's scoped limit) or the user's


def test_a_process_forked_during_a_call_starts_with_the_users_blas_threads():
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork here")
    result = run(
        CONV,
        BLAS_COUNTS,
        """
        import os, threading, time
        user = blas()  # BLAS's own default: one thread per core
        if user == [1] * len(user):
            print(json.dumps({"skip": "BLAS runs on one thread here: nothing to hold"}))
            raise SystemExit
        stop, forked = threading.Event(), {}

        def fork_during_a_call():
            deadline = time.perf_counter() + 20
            while time.perf_counter() < deadline and blas() != [1] * len(user):
                pass  # wait until a call holds BLAS to one thread
            forked["inside"] = blas()
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(write, json.dumps(blas()).encode())
                os._exit(0)
            os.waitpid(pid, 0)
            forked["child"] = json.loads(os.read(read, 1000))
            stop.set()

        forker = threading.Thread(target=fork_during_a_call)
        forker.start()
        while not stop.is_set():
            step()
        forker.join()
        after = blas()
        inside = forked["inside"]
        print(json.dumps({"user": user, "inside": inside, "child": forked["child"], "after": after}))
        """
    )
    if result["inside"] != [1] * len(result["user"]):
        pytest.skip("no call was caught holding BLAS to one thread")
    assert result["child"] == result["user"]
    assert result["after"] == result["user"]


RSS = """
import json, os
if not os.path.exists("/proc/self/statm"):
    print(json.dumps({"skip": "needs /proc/self/statm (Linux)"}))
    raise SystemExit
import numpy as np

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
"""


@pytest.mark.parametrize("with_tinygraph", [False, True])
def test_freed_numpy_memory_goes_back_to_the_system(with_tinygraph):
    use = (
        CONV + "\nfor _ in range(2):\n    step()\n"
        if with_tinygraph
        else ""
    )
    result = run(
        RSS,
        use,
        """
        before = rss()
        arrays = [np.ones(1 << 17) for _ in range(192)]  # 192 arrays of 1 MiB, touched
        held = rss()
        del arrays
        print(json.dumps({"held": (held - before) >> 20, "kept": (rss() - before) >> 20}))
        """
    )
    assert result["held"] >= 150  # the arrays were resident
    assert result["kept"] < 32, f"{result['kept']} MiB of freed arrays stayed resident"


def test_retaining_freed_memory_is_an_explicit_call_of_the_users():
    """``tg.memory.retain_freed_memory()`` keeps freed arrays for reuse, only once the user calls it."""
    result = run(
        RSS,
        "import tinygraph as tg\nif not tg.memory._glibc():\n    print(json.dumps({'skip': 'not glibc'}))\n"
        "    raise SystemExit\nassert tg.memory.retain_freed_memory() is True\n",
        """
        before = rss()
        arrays = [np.ones(1 << 17) for _ in range(192)]  # 192 arrays of 1 MiB, touched
        del arrays
        print(json.dumps({"kept": (rss() - before) >> 20}))
        """,
    )
    assert result["kept"] >= 150, f"only {result['kept']} MiB of freed arrays stayed for reuse"


def test_retain_freed_memory_rejects_bad_thresholds():
    import tinygraph as tg

    with pytest.raises(ValueError, match="mmap_threshold"):
        tg.memory.retain_freed_memory(mmap_threshold=-1)
    with pytest.raises(ValueError, match="trim_threshold"):
        tg.memory.retain_freed_memory(trim_threshold="big")


def test_a_forked_child_shares_its_calls_with_threads_of_its_own():
    """The child of a fork has none of the parent's helper threads: its first shared call starts its own."""
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork here")
    result = run(
        CONV,
        """
        import json, os, select, threading

        def shared_results():
            x.grad = w.grad = None
            step()
            return [float(np.abs(t.grad.numpy()).sum()) for t in (x, w)]

        parent = shared_results()  # the parent's helpers are started here
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = shared_results()
            names = sorted(t.name for t in threading.enumerate() if t.name.startswith("tinygraph-worker"))
            os.write(write, json.dumps({"child": child, "helpers": names}).encode())
            os._exit(0)
        ready = select.select([read], [], [], 60)[0]  # a child waiting on the parent's helpers would hang
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        out = json.loads(os.read(read, 10000)) if ready else {"child": None, "helpers": []}
        print(json.dumps({"parent": parent, **out}))
        """,
    )
    assert result["child"] is not None, "the child's shared call never finished"
    assert result["helpers"] == ["tinygraph-worker-0"]
    assert result["child"] == result["parent"]  # the same chunks, summed in the same order
