"""The oracle rows of a study: what each dataset's training target itself scores.

The ``oracle`` stage (:mod:`experiments.evaluation.oracle`) writes, per dataset, the metrics of
the ground-truth target taken as the prediction; ``oracle_<ablation>`` stages do the same for an
ablation that changes the target (``mask_gap``). This module reads them where ``dvc.yaml`` puts
them, logs them as ``oracle.csv`` (one row per dataset, target and split) and gives the summary
``metrics.json`` carries under ``oracle``: ``{dataset: {metric: value}}`` on the test split for the
study's target, and ``{"ablation": {name: {value: {metric: value}}}}`` for the ablations'.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.fsutil import read_json
from .pipeline import Pipeline
from .study import ABLATIONS, Study, format_value

ORACLE_SCORES = ("f1", "precision", "recall", "mae", "rmse", "f1_authors")
"""The oracle's metrics carried into the tables."""
ORACLE_COLUMNS = ("dataset", "target", "split", "radius", "gap", *ORACLE_SCORES)
"""Columns of ``oracle.csv``; ``target`` is ``study`` or ``<ablation>=<value>``."""


def _rows(path: Path, dataset: str, target: str, how: str) -> list[dict]:
    doc = read_json(path, f"make it again with {how}")
    if not isinstance(doc, dict) or "target" not in doc:
        raise ValueError(f"{path}: not an oracle's metrics.json (no 'target'); make it again with {how}")
    return [{"dataset": dataset, "target": target, "split": split, "radius": format_value(doc["target"]["radius"]),
             "gap": bool(doc["target"]["gap"]), **{k: doc[split].get(k) for k in ORACLE_SCORES}}
            for split in ("val", "test") if split in doc]


def read_oracle(study: Study, pipeline: Pipeline, root: Path) -> pd.DataFrame:
    """The oracle rows of every dataset (and target-changing ablation) the pipeline scores.

    A pipeline without an ``oracle`` stage gives an empty frame (no oracle rows in its tables).

    Raises:
        FileNotFoundError: a stage's output is missing (the message says how to make it).
    """
    rows: list[dict] = []
    jobs = []
    if pipeline.has_group("oracle"):
        jobs += [(pipeline.stage("oracle", d), d, "study") for d in study.datasets]
    for name in study.ablation:
        if pipeline.has_group(f"oracle_{name}"):
            jobs += [(pipeline.stage(f"oracle_{name}", v), study.ablation_dataset, f"{name}={format_value(v)}")
                     for v in study.ablation[name]]
    for stage, dataset, target in jobs:
        path = root / stage.folder / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; make it with {stage.how_to_make()}")
        rows += _rows(path, dataset, target, stage.how_to_make())
    return pd.DataFrame(rows, columns=list(ORACLE_COLUMNS))


def oracle_summary(frame: pd.DataFrame | None) -> dict:
    """``metrics.json``'s ``oracle``: test-split scores by dataset, and by ablation value.

    Example:
        >>> f = pd.DataFrame([["a", "study", "test", "3", True, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        ...                   ["a", "mask_gap=false", "test", "3", False, 0.87, 1.0, 0.77, 39.4, 41.0, 0.86]],
        ...                  columns=ORACLE_COLUMNS)
        >>> s = oracle_summary(f)
        >>> s["a"]["f1"], s["ablation"]["mask_gap"]["false"]["mae"]
        (1.0, 39.4)
    """
    out: dict = {}
    if frame is None or frame.empty:
        return out
    test = frame[frame["split"] == "test"]
    for row in test.itertuples(index=False):
        scores = {k: (None if pd.isna(getattr(row, k)) else float(getattr(row, k))) for k in ORACLE_SCORES}
        scores.update(radius=row.radius, gap=bool(row.gap))
        if row.target == "study":
            out[row.dataset] = scores
        else:
            name, value = row.target.split("=", 1)
            if name in ABLATIONS:
                out.setdefault("ablation", {}).setdefault(name, {})[value] = scores
    return out
