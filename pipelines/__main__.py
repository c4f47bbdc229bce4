"""Write (or check) each study's ``dvc.yaml`` from its settings file.

    python -m pipelines [STUDY_DIR ...] [--check]

The pipelines are generated (:mod:`pipelines.stages`), one template per kind of stage, so an
ablation added to a study's settings or a setting moved between a study and its base needs no hand
edit of any ``dvc.yaml``.

It runs from the repository root (the current folder): a ``STUDY_DIR`` is a folder inside it that
holds a ``params.yaml``, however it is spelled (``studies/cells``, ``./studies/cells/``, its absolute
path: the same file is written). A ``dvc.yaml`` that does not start with the generated header
(:func:`pipelines.dvcfile.check_replaceable`) was written by someone else: the command refuses to replace
it. Every study is checked before anything is written; a bad one is one ``error: ...`` line and exit
status 1 (a bad option: 2, argparse's).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from experiments.core.cli import run_stage
from experiments.core.fsutil import atomic_write_text

from .dvcfile import check_replaceable, pipeline_text
from .layout import layout, study_folder

OTHER_COMMANDS_HINT = re.compile(r"; pass --params PATH to a params\.yaml.*")
"""The hint of :mod:`experiments.core.settings`'s file errors, for the stage commands' option (this one has none)."""
FILES_EXPECTED = "; expected the study's params.yaml to be a UTF-8 YAML file"
STUDIES = (".", "studies/cells", "studies/benchmark", "studies/paper")
"""The repository's studies: the default one and each folder of ``studies/``."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n\n")[0])
    p.add_argument("studies", nargs="*", default=list(STUDIES), metavar="STUDY_DIR",
                   help=f"study folders inside the repository root, which is the current folder ('.': the default "
                        f"study); default: all ({', '.join(STUDIES)})")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a dvc.yaml is not the generated one")
    return p


def generated(arg: str, study: str) -> str:
    """The ``dvc.yaml`` text of ``study``; a bad settings file (the study's or its base) is one line naming ``arg``."""
    try:
        return pipeline_text(study)
    except ValueError as err:  # ConfigError too
        message = OTHER_COMMANDS_HINT.sub(FILES_EXPECTED, " ".join(str(err).split()))
        raise ValueError(f"STUDY_DIR {arg!r}: {message}") from None


def main(argv: list[str] | None = None) -> int:
    """Check every study named, then write (``--check``: compare) their ``dvc.yaml``; returns the exit status."""
    args = build_parser().parse_args(argv)
    root, done, planned = Path.cwd(), set(), []
    for arg in args.studies:
        study = study_folder(arg, root)
        if study in done:  # the same folder spelled twice
            continue
        done.add(study)
        path, text = Path(layout(study).pipeline_file), generated(arg, study)
        if path.is_file() and path.read_bytes() == text.encode():
            continue
        if not args.check:
            check_replaceable(path, study)
        planned.append((path, text))
    if args.check:
        if planned:
            print(f"not the generated pipeline: {', '.join(str(p) for p, _ in planned)}; run `python -m pipelines`",
                  file=sys.stderr)
        return 1 if planned else 0
    for path, text in planned:
        atomic_write_text(path, text)
        print(f"{path}: written")
    return 0


if __name__ == "__main__":
    run_stage(main)
