"""A run folder's files, and the rule that ``train`` never writes over files it did not create.

:data:`RUN_OUTPUTS` are the files a run writes. A run marks its folder with :data:`RUN_MARKER`
just before it writes the first of them (:func:`mark_run_folder`), so a folder holding some of
these names is known to be a run's. Without ``--resume``, :func:`check_run_folder` refuses a
folder that holds any of them but is not a run's: a user's own ``log.csv`` or ``train.json`` in
``--out`` would otherwise be replaced silently. Other files in the folder are left alone.

Folders of runs made before the marker existed are recognised by their ``environment.json``,
which only a run writes (it holds ``train_json_sha256``); DVC, rerunning a stage, removes the
tracked outputs but leaves that file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .fsutil import NotAnOutputError, atomic_write_text
from .resolution import SETTINGS_FILE

RUN_OUTPUTS = ("last.pt", "best.pt", "train.json", SETTINGS_FILE, "log.csv", "val.csv", "crops.csv", "timing.csv", "environment.json")
"""Every file a run writes into its folder (the first seven tracked by DVC)."""

RUN_MARKER = ".tghem-run"
"""The file that marks a folder as a training run's: constant content, listed in ``.dvcignore``."""

_MARKER_TEXT = "train\n"


def _written_by_a_run(folder: Path) -> bool:
    if (folder / RUN_MARKER).is_file():
        return True
    try:  # a run from before the marker: its environment.json names the train.json it belongs to
        environment = json.loads((folder / "environment.json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(environment, dict) and "train_json_sha256" in environment


def check_run_folder(folder: str | Path, option: str = "--out") -> None:
    """Refuse to start a run in ``folder`` when it holds files of a run's names that no run wrote.

    Raises:
        NotAnOutputError: the names found, and what to do.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "log.csv").write_text("my,own,log\\n")
        ...     check_run_folder(folder)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        experiments.core.fsutil.NotAnOutputError: --out: ... holds log.csv, which no training run wrote ...
    """
    folder = Path(folder)
    present = [name for name in RUN_OUTPUTS if (folder / name).exists()]
    if present and not _written_by_a_run(folder):
        raise NotAnOutputError(
            f"{option}: {folder} holds {', '.join(present)}, which no training run wrote (no {RUN_MARKER}); "
            f"train would overwrite {'it' if len(present) == 1 else 'them'}: name a new folder, or move "
            f"{'it' if len(present) == 1 else 'them'} away")


def mark_run_folder(folder: str | Path) -> None:
    """Write :data:`RUN_MARKER` into ``folder`` (before the run's first file)."""
    marker = Path(folder) / RUN_MARKER
    if not marker.is_file():
        atomic_write_text(marker, _MARKER_TEXT)
