"""tinygraph.memory: import keeps freed memory for reuse (glibc), unless the environment says no."""

import os
import subprocess
import sys

import pytest

from tinygraph import memory

# Allocate three 2 MiB arrays and free them, 30 times: without retained memory glibc gives the
# freed top of its heap back to the kernel every round, and the next round faults the pages in
# again (3 x 512 pages a round); with it, the pages are reused.
FAULTS_PER_ROUND = """
import resource, sys
import numpy as np
import tinygraph
def rounds(n):
    for _ in range(n):
        arrays = [np.ones(1 << 18) for _ in range(3)]
        del arrays
rounds(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(30)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 30)
"""


def faults_per_round(env_value):
    env = {"TINYGRAPH_RETAIN_FREED_MEMORY": env_value} if env_value is not None else {}
    command = [sys.executable, "-c", FAULTS_PER_ROUND]
    result = subprocess.run(command, env=dict(os.environ, **env), capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="mallopt is glibc's")


@glibc_only
def test_import_retains_freed_memory_and_the_environment_can_say_no():
    retained, released = faults_per_round(None), faults_per_round("0")
    assert retained < 50, f"{retained} page faults per round with freed memory retained"
    assert released > 500, f"{released} page faults per round with TINYGRAPH_RETAIN_FREED_MEMORY=0"


@glibc_only
def test_retain_freed_memory_reports_success():
    assert memory.retain_freed_memory() is True


def test_no_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.retain_freed_memory() is False
