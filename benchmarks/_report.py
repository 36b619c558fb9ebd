"""Writing a benchmark's own output into ``docs/performance.md``, with the machine and versions it ran on.

Each script owns one section of the file, between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``;
running it with ``--write docs/performance.md`` replaces that section and leaves the others.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import sys


def machine() -> str:
    """CPU model, cores and library versions, as a Markdown list."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = [f"Python {platform.python_version()}"]
    for name in ("numpy", "numba", "threadpoolctl", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            versions.append(f"{name} {module.__version__}")
    return (
        f"- CPU: {model}, {os.cpu_count()} cores ({usable} usable by this process)\n"
        f"- {', '.join(versions)}\n"
        f"- load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


@contextlib.contextmanager
def captured():
    """Within the block, what is printed also goes into the returned StringIO."""
    copy = io.StringIO()
    real = sys.stdout

    class Tee(io.TextIOBase):
        def write(self, text):
            copy.write(text)
            return real.write(text)

        def flush(self):
            real.flush()

    sys.stdout = Tee()
    try:
        yield copy
    finally:
        sys.stdout = real


def write_section(path: str, name: str, title: str, body: str) -> None:
    """Replace (or append) section ``name`` of the Markdown file ``path`` with ``body`` and how it was made."""
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"<!-- begin {name} -->\n## {title}\n\n`{command}`, {date}\n\n{machine()}\n\n"
    section += f"{body.strip()}\n<!-- end {name} -->"
    text = open(path).read() if os.path.exists(path) else "# Performance\n\nWritten by the benchmark scripts.\n"
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)
