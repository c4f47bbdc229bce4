"""tghem's compiled kernels are cached per user, keyed by source content: copies of the repository share them."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core import caching, config

import tghem
from tghem import _numba_cache
from tghem._numba_cache import ContentKeyedCacheLocator, cache_root

PACKAGE = Path(tghem.__file__).resolve().parent


def _function_in(path: Path):
    namespace: dict = {}
    exec(compile("def f(x):\n    return x\n", str(path), "exec"), namespace)
    return namespace["f"]


def test_locator_is_installed_first_and_keys_by_content(monkeypatch, tmp_path):
    monkeypatch.setenv("TGHEM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(config, "CACHE_DIR", "")
    assert caching.CacheImpl._locator_classes[0] is ContentKeyedCacheLocator
    source = PACKAGE / "wasserstein.py"
    locator = ContentKeyedCacheLocator.from_function(_function_in(source), str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:24]
    assert locator.get_cache_path() == str(tmp_path / "numba" / f"wasserstein-{digest}")
    assert Path(locator.get_cache_path()).is_dir()


def test_other_code_and_numba_cache_dir_keep_numbas_locators(monkeypatch, tmp_path):
    monkeypatch.setenv("TGHEM_CACHE_DIR", str(tmp_path))
    outside = tmp_path / "user_module.py"
    outside.write_text("def f(x):\n    return x\n")
    assert ContentKeyedCacheLocator.from_function(_function_in(outside), str(outside)) is None
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "numba_dir"))
    source = PACKAGE / "rips.py"
    assert ContentKeyedCacheLocator.from_function(_function_in(source), str(source)) is None


def test_cache_root_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("TGHEM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "tghem" / "numba"
    assert _numba_cache.install()  # idempotent
    assert caching.CacheImpl._locator_classes.count(ContentKeyedCacheLocator) == 1


@pytest.mark.slow
def test_a_copy_of_the_package_elsewhere_loads_the_kernels_without_compiling(tmp_path):
    """The first process compiles into the cache; a copy of tghem in another folder (a fresh clone) reuses it."""
    cache = tmp_path / "cache"
    program = ("import numpy as np; from tghem import TopoGuide; g = np.zeros((1, 32, 32)); g[0, 5, 5] = g[0, 20, 9] = 1; "
               "p = np.zeros((1, 32, 32), np.uint8); p[0, 4:7, 4:7] = 1; print(TopoGuide(workers=1).discrepancies(g, p)[0])")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["TGHEM_CACHE_DIR"] = str(cache)
    copy = tmp_path / "clone"
    shutil.copytree(PACKAGE, copy / "tghem", ignore=shutil.ignore_patterns("__pycache__"))
    first = subprocess.run([sys.executable, "-c", program], env={**env, "PYTHONPATH": str(PACKAGE.parent)},
                           capture_output=True, text=True, check=True)
    compiled = sorted(cache.rglob("*.nbc"))
    assert compiled, "no kernel was cached under TGHEM_CACHE_DIR"
    stamps = {p: p.stat().st_mtime_ns for p in compiled}
    second = subprocess.run([sys.executable, "-c", program], env={**env, "PYTHONPATH": str(copy)},
                            capture_output=True, text=True, check=True, cwd=tmp_path)
    assert second.stdout == first.stdout
    assert sorted(cache.rglob("*.nbc")) == compiled
    assert {p: p.stat().st_mtime_ns for p in compiled} == stamps
    assert not (copy / "tghem" / "__pycache__").exists() or not list((copy / "tghem" / "__pycache__").glob("*.nbi"))
