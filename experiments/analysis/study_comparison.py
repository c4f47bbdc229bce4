"""Two runs of the same study under different settings (e.g. float32 vs bf16), compared run by run.

A change meant to be free of accuracy cost (a precision, a memory format, a faster kernel) is
judged by rerunning the study with the same seeds and pairing each run of one study with the run
of the same dataset, method and seed in the other. Per method and over all runs it reports the
paired differences (``b - a``) of the test metrics with :func:`~.statistics.paired_statistics`
(mean, median, bootstrap 95% interval, Wilcoxon signed-rank test), beside the seed noise of each
study (the sample standard deviation over seeds of the same method, averaged over methods): a
difference well inside the seed noise is not a loss of accuracy that seeds could resolve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .statistics import paired_statistics, round_float

KEYS = ("dataset", "method", "seed")
DEFAULT_METRICS = ("f1", "mae")


def read_runs_csv(path: str | Path) -> pd.DataFrame:
    """The ``group == 'main'`` rows of an aggregated ``runs.csv``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file lacks the columns of a ``runs.csv``, or repeats a (dataset, method, seed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such runs.csv; run python -m experiments.aggregate (or give results/runs.csv)")
    frame = pd.read_csv(path)
    missing = [c for c in ("group", *KEYS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not an aggregated runs.csv (missing columns {missing})")
    main = frame[frame["group"] == "main"]
    if main.duplicated(list(KEYS)).any():
        raise ValueError(f"{path}: repeats a (dataset, method, seed) among its main runs")
    return main


def compare_studies(a: pd.DataFrame, b: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """Paired differences ``b - a`` of ``metrics`` per (dataset, method) and over all runs.

    Returns:
        One row per (dataset, method) and one ``all`` row per dataset, with, per metric,
        ``<m>_a`` and ``<m>_b`` (means), ``<m>_diff`` (mean difference), ``<m>_ci95_low``,
        ``<m>_ci95_high``, ``<m>_p`` (Wilcoxon), and ``<m>_seed_sd_a``, ``<m>_seed_sd_b`` (seed
        noise) and ``n_pairs``.

    Raises:
        ValueError: a metric missing from either frame, or no run in common.
    """
    for name, frame in (("a", a), ("b", b)):
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            raise ValueError(f"{name}: runs.csv lacks the metrics {missing}")
    paired = a.merge(b, on=list(KEYS), suffixes=("_a", "_b"))
    if paired.empty:
        raise ValueError("the two studies share no (dataset, method, seed) run")
    rows = []
    for dataset, runs in paired.groupby("dataset", sort=False):
        groups = [(method, part) for method, part in runs.groupby("method", sort=False)] + [("all", runs)]
        for method, part in groups:
            row = {"dataset": dataset, "method": method, "n_pairs": len(part)}
            for m in metrics:
                stats = paired_statistics(part[f"{m}_b"], part[f"{m}_a"])
                # Seed noise: std over the seeds of one method, averaged over the methods involved.
                noise = {side: part.groupby("method")[f"{m}_{side}"].std(ddof=1).mean() for side in ("a", "b")}
                row.update({f"{m}_a": part[f"{m}_a"].mean(), f"{m}_b": part[f"{m}_b"].mean(), f"{m}_diff": stats["mean_diff"],
                            f"{m}_ci95_low": stats["ci95_low"], f"{m}_ci95_high": stats["ci95_high"], f"{m}_p": stats["p_value"],
                            f"{m}_seed_sd_a": noise["a"], f"{m}_seed_sd_b": noise["b"]})
            rows.append({k: round_float(v) for k, v in row.items()})
    return pd.DataFrame(rows)
