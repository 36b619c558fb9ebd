"""Write a file all at once or not at all: ``write_atomically(path, write)``.

The bytes go to a temporary file in the same folder, are flushed to disk, and the
temporary file is then renamed over ``path`` in one step.  A crash (or an exception
inside ``write``) in the middle leaves the previous file intact and no temporary
file behind.  Used by the ``.safetensors`` writer; the ``.npz`` writer in
``serialization.py`` follows the same steps.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["write_atomically"]


def write_atomically(path: str, write, op: str = "save") -> None:
    """Call ``write(f)`` with a binary file object, then put the result at ``path`` in one rename.

    ``op`` names the caller in error messages.  The new file keeps the permissions of the
    file it replaces (0666 minus the umask for a new file).
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{op}: cannot write {path!r}: the folder {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
