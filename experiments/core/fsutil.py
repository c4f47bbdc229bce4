"""Atomic file writes (readers never see a partial file), their leftovers, system errors as one line, and strict JSON text.

Whole folders and multi-file outputs: :mod:`experiments.core.outputs`.

Files and folders made here get the modes a plain ``open``/``mkdir`` would give under the
user's umask (``tempfile`` creates them 0600/0700, which would keep a colleague from reading a
shared run), and a folder the user may not write to is reported by name
(:class:`UnwritableError`).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
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


def make_parent(path: Path) -> None:
    """Create the folder holding ``path`` (a permission or system error is one line naming it)."""
    with writing_into(path.parent), reporting_os_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file ``.NAME.PID-XXXXXXXX.tmp`` in the same
    folder and ``os.replace``; such files of dead processes are removed first (:func:`remove_leftovers`).

    Raises:
        UnwritableError: the folder is not writable (the message names it).
        OutputError: a full disk or another system error (the message names the path); the
            temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    if path.is_dir():
        raise NotAnOutputError(f"{path} is an existing folder; name a file path instead")
    make_parent(path)
    with writing_into(path.parent), reporting_os_errors(path):
        remove_leftovers(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
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


# tempfile's random part is 8 characters of [a-z0-9_]; the pid before it tells a leftover of a
# dead process from a live writer's folder.
_PARTIAL = r"\.{stem}\.(?:(\d+)-)?[a-z0-9_]{{8}}\.(?:partial|tmp)|\.{stem}\.old-(\d+)"


class NotAnOutputError(ValueError):
    """An existing path a stage would replace but did not write; the message names it and the fix."""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (another user's counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(folder: str | Path, stem: str, locked: bool = False) -> list[Path]:
    """Delete what a killed write of ``folder/stem`` left beside it: ``.STEM.PID-XXXXXXXX.partial``
    folders, ``.STEM.PID-XXXXXXXX.tmp`` files and ``.STEM.old-PID`` folders whose process is no
    longer running. Names without a pid (from before pids were recorded) are removed only with
    ``locked``: the caller holds a lock on ``folder`` that proves no one else writes there.

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(_PARTIAL.format(stem=re.escape(stem)))
    removed = []
    for p in sorted(folder.iterdir()):
        m = pattern.fullmatch(p.name)
        pid = m and (m.group(1) or m.group(2))
        if (pid and not pid_alive(int(pid))) or (m and not pid and locked):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class OutputError(ValueError):
    """A system error (full disk, a file where a folder should be...) while writing an output;
    the message names the path and what to do. Nothing partial was left."""


@contextmanager
def reporting_os_errors(path: str | Path, option: str = "output") -> Iterator[None]:
    """Turn an ``OSError`` of the block (other than a permission error, reported by
    :func:`writing_into`, or a missing file) into an :class:`OutputError` naming ``path``."""
    try:
        yield
    except (PermissionError, FileNotFoundError):
        raise
    except OSError as err:
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
        raise OutputError(f"{option}: cannot write {path}{where}: {err.strerror or err}; {os_error_fix(err)}") from None


def os_error_fix(err: OSError) -> str:
    """What to do about a system error while writing (the end of a one-line message)."""
    if isinstance(err, (NotADirectoryError, FileExistsError, IsADirectoryError)):
        return "a path on the way is an existing file (or a folder where a file goes): name another path"
    if err.errno == errno.ENOSPC:
        return "the disk is full: free space or write elsewhere; nothing partial was left"
    if err.errno == errno.EDQUOT:
        return "the disk quota is exceeded: free space or write elsewhere; nothing partial was left"
    if err.errno == errno.EROFS:
        return "the file system is read-only: write elsewhere"
    return "fix the cause or write elsewhere; nothing partial was left"


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link ``src`` to ``dst`` where possible (no extra space for big sets), else copy."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
