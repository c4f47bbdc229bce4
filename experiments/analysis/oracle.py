"""The oracle rows of a study: what each dataset's training target itself scores.

The ``oracle`` stage (:mod:`experiments.evaluation.oracle`) writes, per dataset, the metrics of
the ground-truth target taken as the prediction; ``oracle_<ablation>`` stages do the same for an
ablation that changes the target (``mask_gap``). This module reads the records
:func:`.discovery.locate_oracles` finds for the study's targets, logs them as ``oracle.csv`` (one row per dataset, target and split) and gives the summary
``metrics.json`` carries under ``oracle``: ``{dataset: {metric: value}}`` on the test split for the
study's target, and ``{"ablation": {name: {value: {metric: value}}}}`` for the ablations'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..core.fsutil import read_json
from .study import ABLATIONS, format_value

ORACLE_SCORES = ("f1", "precision", "recall", "mae", "rmse", "f1_authors")
"""The oracle's metrics carried into the tables."""
ORACLE_COLUMNS = ("dataset", "target", "split", "radius", "gap", *ORACLE_SCORES)
"""Columns of ``oracle.csv``; ``target`` is ``study`` or ``<ablation>=<value>``."""


ORACLE_FIX = "make it again with `python -m experiments.oracle` (the oracle stage)"


def _rows(path: Path, dataset: str, target: str) -> list[dict]:
    doc = read_json(path, ORACLE_FIX)
    if not isinstance(doc, dict) or "target" not in doc:
        raise ValueError(f"{path}: not an oracle's metrics.json (no 'target'); {ORACLE_FIX}")
    return [{"dataset": dataset, "target": target, "split": split, "radius": format_value(doc["target"]["radius"]),
             "gap": bool(doc["target"]["gap"]), **{k: doc[split].get(k) for k in ORACLE_SCORES}}
            for split in ("val", "test") if split in doc]


def read_oracle(located: Sequence[tuple[str, str, Path]]) -> pd.DataFrame:
    """The oracle rows of the records ``located`` (``(dataset, label, metrics.json)``, from
    :func:`.discovery.locate_oracles`): one per dataset, label and split.

    Raises:
        ValueError: a file is not an oracle's ``metrics.json``.
    """
    rows: list[dict] = []
    for dataset, target, path in located:
        rows += _rows(path, dataset, target)
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
