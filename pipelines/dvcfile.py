"""A study's ``dvc.yaml`` text, generated from its settings file (:mod:`.stages`).

The committed ``dvc.yaml`` of every study is this function's output; a test regenerates each and
compares, so the pipeline never drifts from the settings and the template.
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


def study_pipeline(study_dir: str | Path, root: str | Path = ".") -> StudyPipeline:
    """The stages of the study in ``study_dir`` (``""``/``"."``: the default study), below ``root``."""
    where = layout(Path(study_dir).as_posix() if str(study_dir) not in ("", ".") else "")
    params = Path(root) / where.params_file
    raw, source = read_params_file(params)
    base = base_path(params)
    base_file = None if base is None else Path(base).resolve().relative_to(Path(root).resolve()).as_posix()
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
