"""The study's headline numbers, one small JSON file per dataset: what DVC shows as the study's metrics.

``metrics.json`` holds every number of the study (thousands once flattened: the comparison
intervals, the ablations, the dynamics), which ``dvc metrics show`` and ``dvc exp show`` cannot
lay out in a terminal. The headline is the main table's mean per dataset and method of the
:data:`HEADLINE_KEYS` columns, rounded as the table prints them, written as
``RESULTS/headline/<dataset>.json`` = ``{method: {key: mean}}``. DVC shows a metrics folder as one
row per file, so ``dvc metrics show`` prints the main table's layout: a row per dataset, a column
per method and key (``tghem.f1``, ``tghem.mae``, ...).

Rows and columns come from the main table's own source: the dataset's oracle (:data:`ORACLE_KEY`,
where ``metrics["oracle"]`` has it), then every ``(dataset, method)`` of ``metrics["main"]`` in its order, and the columns of :data:`experiments.analysis.tables.COLUMNS`
named in :data:`HEADLINE_KEYS` (with their decimals). Two keys keep a row of eight methods under
300 characters; the whole table stays in ``tables/main.md``.
"""

from __future__ import annotations

import re

from .formatting import format_number
from .tables import COLUMNS

HEADLINE_KEYS = ("f1", "mae")  # detection and counting: one column each per method
ORACLE_KEY = "oracle"
"""The headline's name of the main table's oracle row (``metrics["oracle"]``), first in its dataset."""
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def headline_metrics(metrics: dict) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{dataset: {method: {key: mean}}}`` from ``metrics["main"]``, means rounded as the main table prints them.

    Args:
        metrics: the content of ``metrics.json`` (``main``: ``{dataset: {method: {key: {mean, std, n}}}}``).

    Returns:
        One dict per dataset, in the order of ``metrics["main"]``; a mean the runs lack is None.

    Raises:
        ValueError: ``metrics`` has no ``main`` section, or a dataset name cannot be a file name.

    Example:
        >>> m = {"main": {"synthetic": {"tghem": {"f1": {"mean": 0.85412, "std": 0.04, "n": 3},
        ...                                       "mae": {"mean": 52.6667, "std": 12.5, "n": 3}}}}}
        >>> headline_metrics(m)
        {'synthetic': {'tghem': {'f1': 0.854, 'mae': 52.67}}}
    """
    main = metrics.get("main") if isinstance(metrics, dict) else None
    if not isinstance(main, dict):
        raise ValueError(f"metrics: expected a dict with a 'main' section, got {type(metrics).__name__}"
                         + (f" with keys {sorted(metrics)}" if isinstance(metrics, dict) else ""))
    columns = [c for c in COLUMNS if c.key in HEADLINE_KEYS]
    oracle = metrics.get("oracle") or {}

    def rounded(values: dict) -> dict[str, float | None]:
        texts = {c.key: format_number(values.get(c.key), c.decimals) for c in columns}
        return {k: None if t == "-" else float(t) for k, t in texts.items()}

    out = {}
    for dataset, by_method in main.items():
        if not SAFE_NAME.fullmatch(dataset):
            raise ValueError(f"metrics['main']: dataset name {dataset!r} cannot name a file (expected {SAFE_NAME.pattern})")
        out[dataset] = {}
        if dataset in oracle:  # the main table's first row: what the training target allows
            out[dataset][ORACLE_KEY] = rounded(oracle[dataset])
        for method, values in by_method.items():
            out[dataset][method] = rounded({k: (values.get(k) or {}).get("mean") for k in HEADLINE_KEYS})
    return out
