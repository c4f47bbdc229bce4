"""A study's ``dvc.yaml`` text, generated from its settings file (:mod:`.stages`).

The committed ``dvc.yaml`` of every study is this function's output; a test regenerates each and
compares, so the pipeline never drifts from the settings and the template. Its first line says it
is generated (:data:`HEADER`): :func:`is_generated` tells such a file from one written by hand,
which :func:`check_replaceable` refuses to replace.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from experiments.analysis.study import parse_study
from experiments.core.settings import base_path, read_own_settings, read_params_file

from .layout import layout
from .stages import StudyPipeline

HEADER = """\
# GENERATED from {params} by `python -m pipelines {where}`: do not edit; edit
# the settings and run that command (tests/pipelines/test_generator.py checks this file).
#   prepare (per dataset) -> oracle (the target's ceiling) -> train, evaluate (dataset x method x seed;
#   TG-HEM ablations x seed) -> aggregate ({results}/metrics.json, ...) -> report (tables, figures, headline)
# Dependencies: each stage's entry point and the subpackages it imports, and the settings it reads,
# each from the file that writes it (pipelines/stages.py says how).
"""
GENERATED_LINE = re.compile(re.escape(HEADER.split("\n", 1)[0]).replace(r"\{params\}", r"\S+")
                            .replace(r"\{where\}", r"\S+"))
"""The first line of every generated ``dvc.yaml``, whatever its study."""


def is_generated(text: str) -> bool:
    """Whether ``text`` is a ``dvc.yaml`` this generator wrote (its first line is :data:`HEADER`'s).

    Example:
        >>> is_generated("# GENERATED from s/params.yaml by `python -m pipelines s`: do not edit; edit\\nstages:\\n")
        True
        >>> is_generated("stages: {}\\n"), is_generated("# my own pipeline\\nstages: {}\\n")
        (False, False)
    """
    return GENERATED_LINE.fullmatch(text.split("\n", 1)[0]) is not None


def check_replaceable(path: Path, study: str) -> None:
    """Refuse to replace ``path``, the ``dvc.yaml`` of ``study``, unless this generator wrote it (or it does not exist).

    Raises:
        ValueError: ``path`` is a folder, or a file that does not start with the generated header.
    """
    if path.is_file():
        first = path.read_bytes().decode(errors="replace").split("\n", 1)[0]
        if is_generated(first):
            return
        got = f"one whose first line is {first!r}"
    elif path.exists() or path.is_symlink():
        got = "a folder or broken link"
    else:
        return
    raise ValueError(f"{path}: expected a dvc.yaml written by `python -m pipelines` (first line '# GENERATED from "
                     f"...'), got {got}; left as it is: move it away to generate the pipeline of {study}")


def _inside(root: Path, base: Path, params: Path) -> str:
    """The base settings file ``base`` of ``params``, relative to ``root``; it must lie below ``root``."""
    try:
        return base.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{params}: extends: expected a base settings file inside the repository root "
                         f"{root.resolve()}, got {base.resolve()}; run `python -m pipelines` from the "
                         f"repository root") from None


def study_pipeline(study_dir: str | Path, root: str | Path = ".") -> StudyPipeline:
    """The stages of the study in ``study_dir`` (``""``/``"."``: the default study), below ``root``.

    Raises:
        ConfigError: its settings file or their base is missing or invalid.
        ValueError: their base lies outside ``root``.
    """
    where = layout(Path(study_dir).as_posix() if str(study_dir) not in ("", ".") else "")
    params = Path(root) / where.params_file
    raw, source = read_params_file(params)
    base = base_path(params)
    base_file = None if base is None else _inside(Path(root), Path(base), params)
    return StudyPipeline(parse_study(raw, source), where, raw, read_own_settings(params), base_file)


def pipeline_text(study_dir: str | Path, root: str | Path = ".") -> str:
    """The ``dvc.yaml`` of the study in ``study_dir``, as text."""
    p = study_pipeline(study_dir, root)
    body = yaml.safe_dump({"stages": p.stages(), "plots": p.plots()}, sort_keys=False, width=4096,
                          default_flow_style=False)
    body = re.sub(r"\n(  [a-z_]+:\n)", r"\n\n\1", body).replace("stages:\n\n", "stages:\n", 1)  # blank lines between stages
    body = body.replace("\nplots:\n", "\n\nplots:\n")
    where = p.layout.study_dir or "."
    return HEADER.format(where=where, params=p.layout.params_file, results=p.layout.results) + "\n" + body
