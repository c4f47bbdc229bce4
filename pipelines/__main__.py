"""Write (or check) each study's ``dvc.yaml`` from its settings file.

    python -m pipelines [STUDY_DIR ...] [--check]

The pipelines are generated (:mod:`pipelines.stages`), one template per kind of stage, so an
ablation added to a study's settings or a setting moved between a study and its base needs no hand
edit of any ``dvc.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.core.fsutil import atomic_write_text

from .dvcfile import pipeline_text
from .layout import layout

STUDIES = (".", "studies/cells", "studies/benchmark", "studies/paper")
"""The repository's studies: the default one and each folder of ``studies/``."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n\n")[0])
    p.add_argument("studies", nargs="*", default=list(STUDIES),
                   help=f"study folders ('.': the default study); default: all ({', '.join(STUDIES)})")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a dvc.yaml is not the generated one")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stale = []
    for study in args.studies:
        path = Path(layout(study).pipeline_file)
        text = pipeline_text(study)
        if path.is_file() and path.read_text() == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            atomic_write_text(path, text)
            print(f"{path}: written")
    if stale:
        print(f"not the generated pipeline: {', '.join(stale)}; run `python -m pipelines`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
