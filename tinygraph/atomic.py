"""Write a file all at once or not at all: ``write_atomically(path, write)``.

The bytes go to a temporary file in the same folder, are flushed to disk, and the
temporary file is then renamed over ``path`` in one step.  A crash (or an exception
inside ``write``) in the middle leaves the previous file intact and no temporary
file behind.  A process killed outright (``kill -9``, the OOM killer) cannot clean
up, so the temporary file's name carries the writer's process id and the next
successful write to the same path removes the files of writers that are gone.
Used by both writers, ``.npz`` (``serialization.py``) and ``.safetensors``.
"""

from __future__ import annotations

import os
import tempfile
import time

__all__ = ["write_atomically"]

#: a temporary file whose name carries no pid (an older tinygraph's) is stale after this many seconds
_STALE_TMP_SECONDS = 600


def write_atomically(path: str, write, op: str = "save") -> None:
    """Call ``write(f)`` with a binary file object, then put the result at ``path`` in one rename.

    ``op`` names the caller in error messages.  The new file keeps the permissions of the
    file it replaces (0666 minus the umask for a new file).
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{op}: cannot write {path!r}: the folder {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_tmp_prefix(path) + f"{os.getpid()}.", suffix=".tmp")
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
    _remove_orphaned_tmp_files(path)


def _tmp_prefix(path: str) -> str:
    return "." + os.path.basename(path) + "."


def _remove_orphaned_tmp_files(path: str) -> None:
    """Delete temporary files that earlier writes to ``path`` left when they were killed mid-write.

    A name holds its writer's pid (``.ckpt.npz.<pid>.<random>.tmp``): the file is an orphan when that
    process is gone.  A write running now in another live process keeps its file.
    """
    directory, prefix = os.path.dirname(os.path.abspath(path)), _tmp_prefix(path)
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        full = os.path.join(directory, name)
        owner = name[len(prefix) :].split(".", 1)[0]
        try:
            if owner.isdigit():
                if int(owner) == os.getpid() or _process_alive(int(owner)):
                    continue
            elif time.time() - os.stat(full).st_mtime < _STALE_TMP_SECONDS:
                continue  # a name without a pid (an older tinygraph): only when clearly abandoned
            os.unlink(full)
        except OSError:
            pass  # gone already, or not ours to delete


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


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
