"""Atomic file-system writes (readers never see a partial file or folder) and strict JSON text.

Files and folders made here get the modes a plain ``open``/``mkdir`` would give under the
user's umask (``tempfile`` creates them 0600/0700, which would keep a colleague from reading a
shared run), and a folder the user may not write to is reported by name
(:class:`UnwritableError`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


class UnwritableError(PermissionError):
    """A folder the process may not write to; the message names it and what to do."""


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, briefly
    os.umask(mask)
    return mask


@contextmanager
def writing_into(folder: str | Path) -> Iterator[None]:
    """Turn a ``PermissionError`` raised in the block into an :class:`UnwritableError` naming the
    folder: ``folder``, or its nearest existing parent where it is still to be made."""
    try:
        yield
    except UnwritableError:
        raise
    except PermissionError as err:
        target = Path(folder)
        while not target.exists() and target.parent != target:
            target = target.parent
        denied = f" on {err.filename}" if err.filename and Path(err.filename) != target else ""
        raise UnwritableError(
            f"{target}: cannot write here (permission denied{denied}); make it writable "
            f"(`chmod u+w {target}`, or ask its owner) or choose another output folder"
        ) from None


def _make_parent(path: Path) -> None:
    with writing_into(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Raises:
        UnwritableError: the folder is not writable (the message names it).
    """
    path = Path(path)
    _make_parent(path)
    with writing_into(path.parent):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~current_umask())
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


def first_non_finite(document: Any, prefix: str = "") -> tuple[str, float] | None:
    """The dotted key and value of the first NaN or infinite number in ``document``, or None."""
    if isinstance(document, float) and not math.isfinite(document):
        return prefix or "(top level)", document
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def read_json(path: str | Path, fix: str) -> Any:
    """Read a JSON file that a stage wrote, refusing a damaged one with a one-line message.

    Args:
        path: the file.
        fix: what to do about a damaged file (e.g. "evaluate again: `dvc repro ...`"); ends the message.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not UTF-8, not JSON (truncated, say), or holding NaN or an infinity (the
            message names the file, the place or key, and ``fix``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; {fix}")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: damaged (not UTF-8 text); {fix}") from None
    except json.JSONDecodeError as err:
        what = "empty" if not err.doc.strip() else f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        raise ValueError(f"{path}: damaged or truncated, {what}; {fix}") from None
    bad = first_non_finite(document)
    if bad is not None:
        raise ValueError(f"{path}: {bad[0]} is {bad[1]}, expected a finite number; {fix}")
    return document


def temp_dir_beside(final: str | Path) -> Path:
    """Create an empty temporary folder next to ``final`` (same file system, so renames are atomic).

    Its mode follows the umask (as ``mkdir``'s), not ``tempfile``'s 0700.

    Raises:
        UnwritableError: the parent folder is not writable.
    """
    final = Path(final)
    _make_parent(final)
    with writing_into(final.parent):
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
        os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


def replace_dir(tmp: str | Path, final: str | Path) -> None:
    """Move a completed folder ``tmp`` to ``final``, replacing any previous ``final``.

    The old folder is first renamed aside so ``final`` is always either the old or the new
    complete folder.
    """
    tmp, final = Path(tmp), Path(final)
    old = None
    with writing_into(final.parent):
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

    Raises:
        UnwritableError: the folder holding ``final`` is not writable.
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
