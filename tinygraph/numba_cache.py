"""Where Numba caches tinygraph's compiled kernels when the install folder is read-only.

Kernels are compiled with ``cache=True``.  Numba looks for a cache folder with its locator classes,
in order: ``NUMBA_CACHE_DIR``, ``__pycache__`` next to the source file, the user's cache folder
(``~/.cache/numba``), IPython's and a zip's.  In a system-wide install or a container with no
writable home none of them works, and decorating a function raises "cannot cache function ...:
no locator available", so ``relu`` or ``conv2d`` could not even be imported.

This module appends one more locator to Numba's list, tried only after all of Numba's own: it
answers for tinygraph's source files alone (a user's own ``@njit(cache=True)`` functions behave
as before) and puts their cache in a private per-user folder under the temporary directory
(``/tmp/tinygraph-numba-cache-<uid>``, mode 0700, refused if another user owns it, since cache
files are unpickled).  When even that cannot be used, a folder private to this process is used,
which is the same as compiling without a cache.  No environment variable or Numba setting changes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile

__all__ = ["fallback_cache_dir", "register"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_process_dir: str | None = None


def _is_tinygraph_file(py_file: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(py_file), _PACKAGE_DIR]) == _PACKAGE_DIR
    except ValueError:  # different drives (Windows)
        return False


def _private_user_dir() -> str | None:
    """``<tmp>/tinygraph-numba-cache-<uid>``, created 0700; None when it exists but is not safely ours."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), f"tinygraph-numba-cache-{uid if uid is not None else 'user'}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None  # a symlink or a file planted under our name
    if uid is not None and (info.st_uid != uid or info.st_mode & 0o077):
        return None  # another user's folder, or one others can write to: their files would be unpickled
    return path


def _private_process_dir() -> str:
    """A fresh folder only this process uses, removed at exit: compiling as if without a cache."""
    global _process_dir
    if _process_dir is None:
        _process_dir = tempfile.mkdtemp(prefix="tinygraph-numba-cache-")
        atexit.register(shutil.rmtree, _process_dir, True)
    return _process_dir


def fallback_cache_dir() -> str:
    """The folder tinygraph's kernels are cached in when Numba's own locations are not writable."""
    return _private_user_dir() or _private_process_dir()


def register() -> None:
    """Append tinygraph's fallback locator to Numba's list (once; nothing else is changed)."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover - numba is a dependency
        return

    base = getattr(caching, "_CacheLocator", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)  # renamed in numba 0.6x
    if base is None or mixin is None or impl is None:  # pragma: no cover - a Numba without these internals
        return
    if any(getattr(cls, "_tinygraph_fallback", False) for cls in impl._locator_classes):
        return

    class TinygraphFallbackLocator(mixin, base):
        """Caches tinygraph's own kernels in :func:`fallback_cache_dir` (Numba's ``_CacheLocator`` protocol)."""

        _tinygraph_fallback = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(fallback_cache_dir(), self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _is_tinygraph_file(py_file):
                return None  # somebody else's function: Numba's own behaviour
            return super().from_function(py_func, py_file)

    impl._locator_classes.append(TinygraphFallbackLocator)


register()  # on import: ``tinygraph/__init__.py`` imports this module before any kernel
