"""The study's summaries, computed with pandas from the collected runs.

* :func:`seed_summary`: mean, sample standard deviation (ddof = 1; None with one seed) and count
  over seeds, per dataset, method and metric (a group-by);
* :func:`ablation_summary`: each ablation value's metrics (one run each);
* :func:`compare_methods`: the paired comparison of TG-HEM with every other method over
  (seed, test image) pairs (:mod:`experiments.analysis.statistics`);
* :func:`thin_curves`: every run's training log reduced to a fixed number of points (the mean of
  each block of iterations; the maximum for ``weight_max``), so ``curves.csv`` stays small at any
  schedule length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .collect import CURVE_FIELDS, RUN_KEYS
from .statistics import paired_statistics, round_float
from .study import ABLATIONS, BASELINE_REFERENCE, Study

COMPARED = ("f1", "abs_count_error")
"""Per-image quantities of the paired comparison."""
CURVE_POINTS = 100
"""Rows per run in ``curves.csv``: the log is averaged over this many blocks of iterations."""


def seed_moments(values: pd.Series) -> dict:
    """Mean, sample standard deviation (ddof = 1; None below 2 values) and count of the present values."""
    present = values.dropna().astype(np.float64)
    n = len(present)
    return {
        "mean": round_float(present.mean()) if n else None,
        "std": round_float(present.std(ddof=1)) if n >= 2 else None,
        "n": n,
    }


def seed_summary(runs: pd.DataFrame, study: Study, metrics: Sequence[str]) -> dict:
    """``{dataset: {method: {metric: {mean, std, n}}}}`` over the seeds of the main runs, in study order."""
    main = runs[runs["group"] == "main"]
    grouped = {key: frame for key, frame in main.groupby(["dataset", "method"], sort=False)}
    empty = pd.DataFrame(columns=list(metrics))
    return {
        d: {m: {k: seed_moments(grouped.get((d, m), empty)[k]) for k in metrics} for m in study.methods}
        for d in study.datasets
    }


def ablation_summary(runs: pd.DataFrame, metrics: Sequence[str]) -> dict:
    """``{name: {value: {metric: value}}}`` of the ablation runs (one seed each), in run order."""
    out: dict = {name: {} for name in ABLATIONS}
    for row in runs[runs["group"] == "ablation"].itertuples(index=False):
        out[row.setting][row.value] = {k: round_float(getattr(row, k)) for k in metrics}
    return out


def compare_methods(per_image: pd.DataFrame, study: Study) -> dict:
    """Paired comparison of tghem with every other method, per dataset.

    Pairs are (seed, test image): the same image evaluated for the same seed under both methods,
    taken in (seed, image id) order whatever the files' row order.

    Returns:
        ``{dataset: {baseline: {"reference", "baseline", "difference", "n_seeds", "n_images",
        "f1": paired_statistics, "abs_count_error": paired_statistics}}}``.

    Raises:
        ValueError: the two methods' evaluations of a seed cover different test images.
    """
    keys = ["dataset", "seed", "image_id"]
    reference = per_image[per_image["method"] == BASELINE_REFERENCE][[*keys, *COMPARED]]
    out: dict = {}
    for d in study.datasets:
        out[d] = {}
        for baseline in (m for m in study.methods if m != BASELINE_REFERENCE):
            other = per_image[per_image["method"] == baseline][[*keys, *COMPARED]]
            pairs = reference[reference["dataset"] == d].merge(
                other[other["dataset"] == d], on=keys, how="outer", suffixes=("_ref", "_base"), indicator=True)
            unpaired = pairs[pairs["_merge"] != "both"]
            if len(unpaired):
                first = unpaired.iloc[0]
                raise ValueError(
                    f"{d}, seed {first['seed']}: {BASELINE_REFERENCE} and {baseline} were evaluated on different test "
                    f"images ({sorted(unpaired['image_id'])[:5]} ...); re-evaluate both on the current split"
                )
            pairs = pairs.sort_values(["seed", "image_id"], kind="stable")
            out[d][baseline] = {
                "reference": BASELINE_REFERENCE,
                "baseline": baseline,
                "difference": f"{BASELINE_REFERENCE} minus {baseline}",
                "n_seeds": len(study.seeds),
                "n_images": int(pairs["image_id"].nunique()),
                **{q: paired_statistics(pairs[f"{q}_ref"].astype(float), pairs[f"{q}_base"].astype(float))
                   for q in COMPARED},
            }
    return out


def comparison_rows(comparison: dict) -> pd.DataFrame:
    """``comparison.csv``: one row per dataset, baseline and compared quantity."""
    rows = [
        {"dataset": d, "reference": c["reference"], "baseline": baseline, "quantity": q, **c[q]}
        for d, by_baseline in comparison.items()
        for baseline, c in by_baseline.items()
        for q in COMPARED
    ]
    return pd.DataFrame(rows, columns=[
        "dataset", "reference", "baseline", "quantity", "n_pairs", "n_nonzero", "mean_diff", "median_diff",
        "ci95_low", "ci95_high", "statistic", "p_value", "test", "note",
    ])


def thin_curves(logs: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """Each run's log in at most ``points`` rows: block means (``weight_max``: block maxima).

    A run of ``n`` iterations is cut into ``min(points, n)`` consecutive blocks of as equal a
    length as possible; a row holds the block's last iteration and the mean of each logged
    value over the block (NaN-aware: a method without a topological term keeps an empty
    ``discrepancy_mean``).
    """
    parts = []
    for _, run in logs.groupby(list(RUN_KEYS), sort=False, dropna=False):
        run = run.sort_values("iteration", kind="stable")
        n = len(run)
        block = (np.arange(n) * min(points, n)) // n
        aggregations = {k: ("max" if k == "weight_max" else "mean") for k in CURVE_FIELDS}
        thinned = run.groupby(block, sort=True).agg({"iteration": "max", **aggregations})
        parts.append(thinned.assign(**{k: run[k].iloc[0] for k in RUN_KEYS}))
    columns = [*RUN_KEYS, "iteration", *CURVE_FIELDS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
