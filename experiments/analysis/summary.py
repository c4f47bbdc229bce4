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
from .statistics import hierarchical_bootstrap_interval, paired_statistics, round_float, seed_level_comparison
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


ABLATION_METRICS_EXTRA = ("best_val_f1",)
"""Beside the test metrics, each ablation value reports the validation F1 of its checkpoint."""
SELECTION_METRIC = "best_val_f1"
"""What the main table's lambda is chosen by: the mean over seeds of the val F1 of the checkpoint."""


def ablation_summary(runs: pd.DataFrame, metrics: Sequence[str]) -> dict:
    """``{name: {value: {metric: {mean, std, n}}}}`` over the ablation seeds, values in run order.

    Metrics are the test ``metrics`` and ``best_val_f1`` (the validation F1 of the checkpoint).
    """
    out: dict = {name: {} for name in ABLATIONS}
    ablation = runs[runs["group"] == "ablation"]
    keys = [*metrics, *ABLATION_METRICS_EXTRA]
    for (name, value), frame in ablation.groupby(["setting", "value"], sort=False):
        out[name][value] = {k: seed_moments(frame[k]) for k in keys}
    return out


def lambda_selection(ablation: dict, configured: float) -> dict | None:
    """The lambda > 0 of the best mean validation F1 in the lambda ablation, beside the configured one.

    Only positive values are candidates: at lambda = 0 TG-HEM is its own pixel term without any
    topology, the reference the ablation measures the method against, not a setting of it. The
    result also says how lambda = 0 scored, so a reader sees whether any lambda helps on val.

    Returns:
        ``{"metric", "best_value", "best_mean", "configured", "configured_mean", "matches",
        "zero_mean", "zero_at_least_as_good"}``, or None without a positive lambda. ``matches``
        says whether ``tghem.lambda_pers`` is the value validation picks (ties: the smallest).
    """
    by_value = ablation.get("lambda_pers") or {}
    scored = [(float(v), m[SELECTION_METRIC]["mean"]) for v, m in by_value.items() if m[SELECTION_METRIC]["mean"] is not None]
    positive = [p for p in scored if p[0] > 0]
    if not positive:
        return None
    best_value, best_mean = max(positive, key=lambda p: (p[1], -p[0]))
    configured_mean = next((m for v, m in scored if v == float(configured)), None)
    zero_mean = next((m for v, m in scored if v == 0), None)
    return {"metric": f"{SELECTION_METRIC} (mean over seeds)", "best_value": best_value, "best_mean": round_float(best_mean),
            "configured": float(configured), "configured_mean": round_float(configured_mean),
            "matches": best_value == float(configured), "zero_mean": round_float(zero_mean),
            "zero_at_least_as_good": zero_mean is not None and round_float(zero_mean) >= round_float(best_mean)}


def dynamics_summary(runs: pd.DataFrame, study: Study) -> dict:
    """``{dataset: {method: {crops_*: {mean, std, n}}}}``: what the crop weights did over training, main runs."""
    main = runs[runs["group"] == "main"]
    keys = [c for c in runs.columns if c.startswith("crops_")]
    out: dict = {}
    for d in study.datasets:
        out[d] = {}
        for m in study.methods:
            frame = main[(main["dataset"] == d) & (main["method"] == m)]
            out[d][m] = {k: seed_moments(frame[k]) for k in keys}
    return out


LAST_FRACTION = 0.25
"""Convergence is judged on the last quarter of training."""


def convergence_summary(val: pd.DataFrame, runs: pd.DataFrame, total_iterations: int) -> dict:
    """Per dataset and method (main runs): how much val F1 still moves over the last quarter.

    For each run, over the validations at iterations >= 3/4 of ``total_iterations``: ``range``
    (max - min of val F1) and ``change`` (last minus first of them). Reported: the largest of
    each over the seeds (the worst run), and ``converged``: every seed's range <= 0.01.
    """
    main = val[val["group"] == "main"]
    start = (1 - LAST_FRACTION) * total_iterations
    out: dict = {}
    for (d, m), frame in main.groupby(["dataset", "method"], sort=False):
        ranges, changes = [], []
        for _, run in frame.groupby("seed", sort=True):
            late = run[run["iteration"] >= start].sort_values("iteration")
            if len(late):
                ranges.append(float(late["f1"].max() - late["f1"].min()))
                changes.append(float(late["f1"].iloc[-1] - late["f1"].iloc[0]))
        out.setdefault(d, {})[m] = {
            "last_quarter_from": int(start), "n_seeds": len(ranges),
            "max_range": round_float(max(ranges)) if ranges else None,
            "max_abs_change": round_float(max(abs(c) for c in changes)) if changes else None,
            "converged": bool(ranges) and max(ranges) <= 0.01,
        }
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
            hierarchical = {}
            seed_level = {}
            for q in COMPARED:
                diff = pd.DataFrame({"seed": pairs["seed"], "image_id": pairs["image_id"],
                                     "difference": pairs[f"{q}_ref"].astype(float) - pairs[f"{q}_base"].astype(float)})
                hierarchical[q] = hierarchical_bootstrap_interval(diff) if len(diff) else None
                per_seed = pairs.groupby("seed", sort=True)[[f"{q}_ref", f"{q}_base"]].mean()
                seed_level[q] = seed_level_comparison(per_seed[f"{q}_ref"].astype(float), per_seed[f"{q}_base"].astype(float))
            out[d][baseline] = {
                "hierarchical": hierarchical,
                "seed_level": seed_level,
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
    rows = []
    for d, by_baseline in comparison.items():
        for baseline, c in by_baseline.items():
            for q in COMPARED:
                h, s = c["hierarchical"][q] or {}, c["seed_level"][q]
                rows.append({"dataset": d, "reference": c["reference"], "baseline": baseline, "quantity": q, **c[q],
                             "hier_ci95_low": h.get("ci95_low"), "hier_ci95_high": h.get("ci95_high"),
                             "seed_n": s["n_seeds"], "seed_mean_diff": s["mean_diff"], "seed_p_value": s["p_value"],
                             "seed_wins": s["wins"], "seed_losses": s["losses"]})
    return pd.DataFrame(rows, columns=[
        "dataset", "reference", "baseline", "quantity", "n_pairs", "n_nonzero", "mean_diff", "median_diff",
        "ci95_low", "ci95_high", "statistic", "p_value", "test", "note", "hier_ci95_low", "hier_ci95_high",
        "seed_n", "seed_mean_diff", "seed_p_value", "seed_wins", "seed_losses",
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
