"""Folders a stage replaces whole, and files it publishes as one batch: never someone else's.

* :func:`atomic_dir`: build a folder beside its final place and rename it there, replacing only
  a missing or empty folder or the stage's own previous output (:func:`check_replaceable`: a
  :data:`OUTPUT_MARKER` file naming the stage, or the entries an unmarked one holds);
* :func:`publish_files`: several files into a shared folder so that readers (after
  :func:`settle`) see all old or all new ones.

What a killed process leaves (``.NAME.PID-XXXXXXXX.partial`` folders, ``.NAME.old-PID``) is
removed by the next write (:func:`experiments.core.fsutil.remove_leftovers`) and listed in
``.dvcignore``, so no DVC hash includes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .fsutil import (NotAnOutputError, make_parent, current_umask, remove_leftovers, reporting_os_errors,
                     writing_into)

OUTPUT_MARKER = ".tghem-output"
"""File a stage writes into every folder it replaces whole, holding the stage's name (and a
newline): the proof that the folder is that stage's previous output, which it may replace. Its
content never varies, and ``.dvcignore`` keeps it out of DVC's hashes (a folder DVC restores
from its cache lacks it and is recognised by its content instead, see :func:`check_replaceable`)."""

PUBLISHING = ".publishing"
"""Folder of a :func:`publish_files` batch that is complete but not yet wholly moved into place."""


def _marker_stage(folder: Path) -> str | None:
    try:
        return (folder / OUTPUT_MARKER).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _listed(names: set[str], most: int = 6) -> str:
    shown = sorted(names)
    return ", ".join(shown[:most]) + (f" and {len(shown) - most} more" if len(shown) > most else "")


def check_replaceable(final: str | Path, stage: str, option: str,
                      recognise: Callable[[set[str]], bool] | None = None) -> None:
    """Refuse to replace ``final`` unless it is missing, empty, or a previous output of ``stage``.

    A previous output carries :data:`OUTPUT_MARKER` naming ``stage``; one written before markers
    existed (or restored by DVC, which does not hash the marker) is recognised by
    ``recognise(set of its entry names)``. Where ``recognise`` is given, a marked folder must pass
    it too: one that has since received entries the stage does not write (a user's file, another
    stage's output written into it) is not replaced, since replacing it would delete them.

    Raises:
        NotAnOutputError: ``final`` is a file, or a folder of someone else's (the message names
            it, ``option`` and what to do).
    """
    final = Path(final)
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise NotAnOutputError(
            f"{option}: {final} is an existing file, not a folder; name a new folder (or a previous {stage} output)")
    if not final.exists():
        return
    entries = {p.name for p in final.iterdir()}
    if not entries:
        return
    own = recognise is None or recognise(entries - {OUTPUT_MARKER})
    if _marker_stage(final) == stage:
        if own:
            return
        raise NotAnOutputError(
            f"{option}: {final} is an output of {stage} but holds more than {stage} writes (its entries: "
            f"{_listed(entries - {OUTPUT_MARKER})}); {stage} replaces its output folder whole and never deletes "
            f"what it did not write: move what you added away, or name a new folder")
    if recognise is not None and own:
        return
    raise NotAnOutputError(
        f"{option}: {final} exists and is not an output of {stage} (it lacks a {OUTPUT_MARKER} file naming "
        f"{stage}); {stage} replaces its output folder whole and never deletes what it did not write: name a "
        f"new folder, or move {final} away")


def check_not_an_output(folder: str | Path, option: str, own: str | None = None) -> None:
    """Refuse to write files into ``folder`` when it is a folder some stage other than ``own``
    replaces whole (it holds :data:`OUTPUT_MARKER`): that stage's next run would refuse it, or,
    before it knew better, delete what was written there.

    Raises:
        NotAnOutputError: ``folder`` carries another stage's marker (the message names the stage).
    """
    stage = _marker_stage(Path(folder))
    if stage not in (None, own):
        raise NotAnOutputError(f"{option}: {folder} is an output folder of {stage}, which replaces it whole; "
                               f"name a folder of its own")


def temp_dir_beside(final: str | Path) -> Path:
    """Create an empty temporary folder ``.NAME.PID-XXXXXXXX.partial`` next to ``final`` (same
    file system, so renames are atomic), after removing those of dead processes
    (:func:`remove_leftovers`).

    Its mode follows the umask (as ``mkdir``'s), not ``tempfile``'s 0700.

    Raises:
        UnwritableError: the parent folder is not writable.
    """
    final = Path(final)
    make_parent(final)
    with writing_into(final.parent):
        remove_leftovers(final.parent, final.name)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{os.getpid()}-", suffix=".partial"))
        os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


def replace_dir(tmp: str | Path, final: str | Path) -> None:
    """Move a completed folder ``tmp`` to ``final``, replacing any previous ``final``.

    The old folder is first renamed aside so ``final`` is always either the old or the new
    complete folder. Callers check first that ``final`` may be replaced (:func:`check_replaceable`).
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
def atomic_dir(final: str | Path, stage: str, option: str = "output folder",
               recognise: Callable[[set[str]], bool] | None = None) -> Iterator[Path]:
    """Build a folder in a temporary place and move it to ``final`` only if the block succeeds.

    ``final`` must be missing, empty or a previous output of ``stage`` (:func:`check_replaceable`,
    checked before and again just before the swap); the new folder gets :data:`OUTPUT_MARKER`.
    Yields the empty temporary folder (beside ``final``, so the rename is atomic). On any
    exception it is deleted and ``final`` keeps its previous content.

    Args:
        final: the folder to write.
        stage: the stage's name, written into the marker.
        option: how the user named ``final`` (``--out``), for messages.
        recognise: tells an unmarked previous output by its entry names.

    Raises:
        NotAnOutputError: ``final`` is a file or someone else's folder.
        UnwritableError: the folder holding ``final`` is not writable.
        OSError: the disk is full (or another system error): the message names ``final``.
    """
    check_replaceable(final, stage, option, recognise)
    with reporting_os_errors(final, option):
        tmp = temp_dir_beside(final)
        try:
            yield tmp
            (tmp / OUTPUT_MARKER).write_text(stage + "\n", encoding="utf-8")
            check_replaceable(final, stage, option, recognise)
            replace_dir(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def settle(folder: str | Path) -> None:
    """Finish a :func:`publish_files` batch a killed process committed but had not wholly moved:
    readers call this first, so they see all old or all new files."""
    folder = Path(folder)
    ready = folder / PUBLISHING
    if not ready.is_dir():
        return
    for p in sorted(ready.iterdir()):
        os.replace(p, folder / p.name)
    ready.rmdir()


def publish_files(folder: str | Path, texts: dict[str, str], stage: str, option: str = "--out") -> None:
    """Write several files into ``folder`` as one: readers (after :func:`settle`) see all old or
    all new ones.

    The files are written into a temporary ``.publishing.PID-XXXXXXXX.partial`` folder, which is
    renamed to :data:`PUBLISHING` (the commit point), then each file is moved into place. A
    process killed before the commit leaves a ``.partial`` folder that the next call removes; one
    killed after it leaves :data:`PUBLISHING`, which :func:`settle` finishes. ``folder`` must
    not hold these files unless it is a previous output of ``stage`` (:data:`OUTPUT_MARKER`, or
    all of them present); other files in it are left alone.

    Raises:
        NotAnOutputError: ``folder`` is a file, a folder another stage replaces whole, or holds some
            of the files but is not ``stage``'s.
        OutputError: a system error (full disk...) before the commit; the old files stay.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotAnOutputError(f"{option}: {folder} is an existing file, not a folder; name a folder")
    check_not_an_output(folder, option, own=stage)  # e.g. report's tables/: its next run would refuse it
    present = [name for name in texts if (folder / name).exists()]
    if present and len(present) < len(texts) and _marker_stage(folder) != stage:
        raise NotAnOutputError(
            f"{option}: {folder} holds {', '.join(present)} but is not an output of {stage} (no {OUTPUT_MARKER} "
            f"naming it); {stage} would overwrite them: name a new folder, or move them away")
    make_parent(folder / "x")
    with writing_into(folder), reporting_os_errors(folder, option):
        settle(folder)
        remove_leftovers(folder, PUBLISHING.lstrip("."))
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f"{PUBLISHING}.{os.getpid()}-", suffix=".partial"))
        try:
            os.chmod(tmp, 0o777 & ~current_umask())
            for name, text in {**texts, OUTPUT_MARKER: stage + "\n"}.items():
                (tmp / name).write_bytes(text.encode("utf-8"))
                os.chmod(tmp / name, 0o666 & ~current_umask())
            os.replace(tmp, folder / PUBLISHING)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        settle(folder)
