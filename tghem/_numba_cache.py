"""Where numba keeps tghem's compiled kernels: a per-user cache keyed by source content, not by path.

numba's default for ``cache=True`` is the ``__pycache__`` folder beside the source file. A fresh
clone, a ``dvc exp run --queue`` workspace or a CI checkout is a new folder, so each compiled the
kernels again (about 8 s of compilation for the first TG-HEM run of every copy). numba already
stamps a cache entry with the sha256 of its source file; this locator adds a folder named by
that hash under the user's cache directory, so every copy of the same source shares one entry
and an edited file gets its own.

Why not numba's own knob, ``NUMBA_CACHE_DIR``: it moves the cache, but numba names the folder
inside it by the sha1 of the source file's *absolute folder*
(``UserProvidedCacheLocator.get_suitable_cache_subpath``), so two clones still get two entries and
both compile. Measured with two copies of ``tghem/`` and one ``NUMBA_CACHE_DIR`` (first
``load_engine('fast')`` of each, a loaded 2-core machine): 35.0 s and 38.3 s, two folders
``tghem_<sha1 of the path>``; with this locator: 30.6 s, then 8.4 s for the second copy (imports
and loading), one folder per source content. numba offers no public way to add a locator, so
:func:`install` uses the class attribute it reads; where that attribute is missing (another numba
version) it changes nothing and numba's own locators apply.

The folder is ``$TGHEM_CACHE_DIR/numba`` (default ``$XDG_CACHE_HOME/tghem/numba``, i.e.
``~/.cache/tghem/numba``). It defers to numba's own settings: with ``NUMBA_CACHE_DIR`` set, or
with a cache folder that cannot be written, numba's usual locators apply. Only tghem's own
source files are located here; other numba code in the process is untouched.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from numba.core import caching, config

PACKAGE_DIR = Path(__file__).resolve().parent


def cache_root() -> Path:
    """The folder of tghem's compiled kernels (see the module docstring)."""
    base = os.environ.get("TGHEM_CACHE_DIR")
    if base:
        return Path(base) / "numba"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tghem" / "numba"


def _content_key(py_file: str) -> str:
    with open(py_file, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:24]


class ContentKeyedCacheLocator(caching.InTreeCacheLocator):
    """numba cache locator: ``cache_root() / "<module>-<sha256 of the source>"`` for tghem's modules."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = str(cache_root() / f"{Path(py_file).stem}-{_content_key(py_file)}")

    @classmethod
    def from_function(cls, py_func, py_file) -> Optional["ContentKeyedCacheLocator"]:
        if config.CACHE_DIR:
            return None  # the user chose numba's cache folder: keep numba's behaviour
        try:
            if Path(py_file).resolve().parent != PACKAGE_DIR:
                return None
        except OSError:
            return None
        return super().from_function(py_func, py_file)


def install() -> bool:
    """Put :class:`ContentKeyedCacheLocator` first in numba's locator list (once); whether it is there.

    The list is numba's class attribute ``CacheImpl._locator_classes`` (``_CacheImpl`` in older
    versions; requirements.txt pins the tested one); without it numba's own locators apply.
    """
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if not isinstance(classes, list):
        return False  # another numba version: its default locators apply
    if ContentKeyedCacheLocator not in classes:
        classes.insert(0, ContentKeyedCacheLocator)
    return True
