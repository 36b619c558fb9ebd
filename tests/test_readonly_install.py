"""tinygraph runs from a read-only install with no writable home (Numba's cache falls back; see numba_cache)."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

pwd = pytest.importorskip("pwd", reason="needs POSIX users and permission bits")

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tinygraph")

CHILD = """
import importlib, os, pkgutil, sys
import tinygraph as tg
import tinygraph.functional as F
import tinygraph.kernels.cpu as cpu
for info in pkgutil.iter_modules(cpu.__path__):  # every compiled kernel module decorates with cache=True
    importlib.import_module("tinygraph.kernels.cpu." + info.name)
x = tg.randn(2, 3, 6, 6, requires_grad=True)
y = F.max_pool2d(F.relu(x), 2)
y.sum().backward()
assert x.grad.shape == (2, 3, 6, 6)
print("ran from", os.path.dirname(tg.__file__))
"""


def _can_run(prefix) -> bool:
    probe = subprocess.run(prefix + [sys.executable, "-c", "import numba, numpy"], capture_output=True)
    return probe.returncode == 0


def _unprivileged(prefix_note):
    """A command prefix that runs a child without the right to write into read-only folders, and what it is."""
    if os.geteuid() != 0:
        return [], f"uid {os.geteuid()} (not root: permission bits apply)"
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: cannot run the child without root's rights")
    nobody = pwd.getpwnam("nobody")
    as_nobody = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--"]
    if _can_run(as_nobody):
        return as_nobody, "user nobody"
    # The interpreter may live where nobody cannot read it (e.g. under /root): stay uid 0 but drop every
    # capability, so CAP_DAC_OVERRIDE is gone and a folder without write bits is read-only for the child too.
    no_caps = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]
    if _can_run(no_caps):
        return no_caps, f"uid 0 without capabilities ({prefix_note}: nobody cannot read {sys.executable})"
    pytest.skip("running as root and neither setpriv --reuid=nobody nor a capability drop works here")


def _make_read_only(path):
    for root, dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        os.chmod(root, 0o555)


def test_every_op_runs_from_a_read_only_install_without_a_writable_home():
    prefix, who = _unprivileged("fallback")
    work = tempfile.mkdtemp(prefix="tinygraph-readonly-test-")
    try:
        os.chmod(work, 0o755)
        site = os.path.join(work, "site")  # the read-only install
        shutil.copytree(PACKAGE, os.path.join(site, "tinygraph"), ignore=shutil.ignore_patterns("__pycache__"))
        _make_read_only(site)
        home = os.path.join(work, "home")  # a home nobody can write to
        os.mkdir(home, 0o555)
        tmp = os.path.join(work, "tmp")  # the child's temporary directory (TMPDIR), like /tmp
        os.mkdir(tmp)
        os.chmod(tmp, 0o1777)
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
        env.update(HOME=home, TMPDIR=tmp, PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
        # cwd: not the checkout, whose own tinygraph/ would come first on the child's sys.path ("" for -c)
        run = subprocess.run(prefix + [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd=home)
        print(f"child ran as {who}")
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"ran from {os.path.join(site, 'tinygraph')}\n" in run.stdout, run.stdout  # the read-only copy ran
        assert "no locator available" not in run.stderr
        cache_dirs = [d for d in os.listdir(tmp) if d.startswith("tinygraph-numba-cache-")]
        assert len(cache_dirs) == 1, os.listdir(tmp)
        cache = os.path.join(tmp, cache_dirs[0])
        assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700  # private: cache files are unpickled
        assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)
        assert not [d for _, dirs, _ in os.walk(site) for d in dirs if d == "__pycache__"]  # the install is untouched
    finally:
        for root, dirs, _ in os.walk(work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(work, ignore_errors=True)


def test_a_users_own_functions_keep_numbas_behaviour():
    from numba.core import caching

    import tinygraph.numba_cache as numba_cache

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    fallback = [cls for cls in impl._locator_classes if getattr(cls, "_tinygraph_fallback", False)]
    assert len(fallback) == 1 and impl._locator_classes[-1] is fallback[0]  # tried after all of Numba's own

    def users_function():
        pass

    assert fallback[0].from_function(users_function, __file__) is None
    numba_cache.register()  # idempotent
    assert sum(getattr(cls, "_tinygraph_fallback", False) for cls in impl._locator_classes) == 1


def test_a_cache_folder_owned_by_someone_else_is_not_used(tmp_path, monkeypatch):
    import tinygraph.numba_cache as numba_cache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"tinygraph-numba-cache-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)  # writable by anyone: files in it could have been planted
    assert numba_cache._private_user_dir() is None
    assert numba_cache.fallback_cache_dir() != str(planted)
