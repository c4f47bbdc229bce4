"""Where a study's stages read and write: one rule for the default study and every study folder.

The default study is the repository's ``params.yaml`` with its ``dvc.yaml`` beside it at the root;
a study ``studies/<name>`` keeps both files in its folder and runs its commands from the root
(``wdir``), its data, runs, evaluations and results in folders named after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DEFAULT_STUDY = "synthetic"
"""The results folder of the default study (``results/synthetic``)."""


@dataclass(frozen=True)
class Layout:
    """The folders of one study, relative to the repository root.

    Attributes:
        study_dir: ``""`` for the default study, else its folder (``studies/cells``).
        name: the study's name (its results folder).
    """

    study_dir: str
    name: str

    @property
    def is_default(self) -> bool:
        return self.study_dir == ""

    @property
    def params_file(self) -> str:
        """The study's settings file."""
        return "params.yaml" if self.is_default else f"{self.study_dir}/params.yaml"

    @property
    def pipeline_file(self) -> str:
        """The study's generated ``dvc.yaml``."""
        return "dvc.yaml" if self.is_default else f"{self.study_dir}/dvc.yaml"

    @property
    def lock_file(self) -> str:
        """The study's ``dvc.lock`` (DVC writes it beside the ``dvc.yaml``)."""
        return "dvc.lock" if self.is_default else f"{self.study_dir}/dvc.lock"

    @property
    def wdir(self) -> str | None:
        """The repository root, seen from the study's folder (None: the default study is there)."""
        return None if self.is_default else "/".join([".."] * len(PurePosixPath(self.study_dir).parts))

    @property
    def up(self) -> str:
        """The prefix that leads from the study's folder back to the root (for the top-level plots)."""
        return "" if self.is_default else f"{self.wdir}/"

    def under(self, kind: str) -> str:
        """The study's folder of ``kind`` (``data``, ``runs``, ``evals``)."""
        return kind if self.is_default else f"{kind}/{self.name}"

    @property
    def results(self) -> str:
        return f"results/{self.name}"

    @property
    def params_option(self) -> str:
        """``--params FILE `` for the commands of a study folder (the default study's is their default)."""
        return "" if self.is_default else f"--params {self.params_file} "


def layout(study_dir: str) -> Layout:
    """The layout of the study in ``study_dir`` (``""`` or ``"."``: the default study).

    Example:
        >>> layout("studies/cells").under("runs"), layout(".").under("runs"), layout("").results
        ('runs/cells', 'runs', 'results/synthetic')
    """
    study_dir = "" if study_dir in ("", ".") else PurePosixPath(study_dir).as_posix().rstrip("/")
    return Layout(study_dir, DEFAULT_STUDY if not study_dir else PurePosixPath(study_dir).name)


def study_folder(arg: str, root: Path, here: Path | None = None, name: str = "STUDY_DIR") -> str:
    """The study folder ``arg`` names (relative to ``here``, default ``root``), relative to the
    repository root ``root`` (``"."``: the default study), so that every spelling of a folder names
    it alike; ``name`` is the option, for the messages.

    Raises:
        ValueError: ``arg`` is outside ``root``, not a folder, or holds no ``params.yaml``.
    """
    root, here = root.resolve(), (here or root).resolve()
    folder = (here / arg).resolve()
    expected = f"{name} {arg!r}: expected a study folder holding a params.yaml"
    where = " (the current folder)" if here == root else ""
    if not folder.is_relative_to(root):
        raise ValueError(f"{expected} inside the repository root {root}{where}, got {folder}")
    relative = folder.relative_to(root).as_posix() if folder != root else f". ({root}{where.replace(' (', ', ').rstrip(')')})"
    if not folder.is_dir():
        raise ValueError(f"{expected}, got {'a file' if folder.exists() else 'no such folder'}: {relative}")
    if not (folder / "params.yaml").is_file():
        raise ValueError(f"{expected}, got {relative} with no params.yaml file in it")
    return folder.relative_to(root).as_posix()
