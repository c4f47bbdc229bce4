"""Atomic file-system writes (readers never see a partial file or folder) and strict JSON text."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (``\\n`` line ends on every platform, for stable digests)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(document: Any) -> str:
    """Strict JSON (no NaN or inf: ``allow_nan=False``), indented by 2, keys in insertion order."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: str | Path, document: Any) -> None:
    """Write ``document`` as :func:`json_text`, atomically."""
    atomic_write_text(path, json_text(document))


def temp_dir_beside(final: str | Path) -> Path:
    """Create an empty temporary folder next to ``final`` (same file system, so renames are atomic)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))


def replace_dir(tmp: str | Path, final: str | Path) -> None:
    """Move a completed folder ``tmp`` to ``final``, replacing any previous ``final``.

    The old folder is first renamed aside so ``final`` is always either the old or the new
    complete folder.
    """
    tmp, final = Path(tmp), Path(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary place and move it to ``final`` only if the block succeeds.

    Yields the empty temporary folder (beside ``final``, so the rename is atomic). On any
    exception it is deleted and ``final`` keeps its previous content.
    """
    tmp = temp_dir_beside(final)
    try:
        yield tmp
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` to ``dst`` where possible (no extra space for big sets), else copy."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
