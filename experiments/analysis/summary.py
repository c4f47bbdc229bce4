"""The study's summaries, computed with pandas from the collected runs.

* :func:`seed_summary`: mean, sample standard deviation (ddof = 1; None with one seed) and count
  over seeds, per dataset, method and metric (a group-by);
* :func:`ablation_summary`: each ablation value's metrics over the ablation seeds;
* :func:`failed_runs`: which runs never detected anything (:data:`FAILED_RULE`);
* :func:`compare_methods`: the paired comparison of TG-HEM with every other method and with
  itself at lambda = 0 (:data:`LAMBDA_ZERO`): over seeds (the primary, paired t-interval) and
  over (seed, test image) pairs (descriptive) (:mod:`experiments.analysis.statistics`);
* :func:`thin_curves`: every run's training log reduced to a fixed number of points (the mean of
  each block of iterations; the maximum for ``weight_max``), so ``curves.csv`` stays small at any
  schedule length.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .collect import CURVE_FIELDS, RUN_KEYS
from .statistics import paired_statistics, round_float, seed_level_comparison
from .study import ABLATIONS, BASELINE_REFERENCE, Study

COMPARED = ("f1", "abs_count_error")
"""Per-image quantities of the descriptive image-level comparison (``per_image.csv`` columns)."""
SEED_COMPARED = (("f1", True), ("mae", False))
"""Per-run metrics of the primary seed-level comparison (``runs.csv`` columns, the main table's
F1 and MAE) and whether higher is better."""
LAMBDA_ZERO = "tghem_lambda0"
"""The name under which TG-HEM at lambda = 0 (its per-crop OHEM selection, no topological weight;
the lambda ablation's runs) is compared with TG-HEM and listed in ``per_image.csv``."""
FAILED_RULE = "val F1 0 at every validation; a run without validation: test F1 0"
"""When a run counts as failed (:func:`failed_runs`)."""
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


def ablation_summary(runs: pd.DataFrame, metrics: Sequence[str], swept: Sequence[str] = tuple(ABLATIONS)) -> dict:
    """``{name: {value: {metric: {mean, std, n}}}}`` over the ablation seeds, values in run order.

    Metrics are the test ``metrics`` and ``best_val_f1`` (the validation F1 of the checkpoint);
    ``swept``: the ablations of the study (keys of the result, in :data:`ABLATIONS` order).
    """
    out: dict = {name: {} for name in ABLATIONS if name in swept}
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


def ablation_reference(runs: pd.DataFrame, study: Study, metrics: Sequence[str], values: Mapping[str, str]) -> dict | None:
    """``metrics.json``'s ``ablation_reference``: the main TG-HEM runs every ablation is read against.

    Returns:
        ``{"dataset", "values": {name: value text}, "method", "seeds", "scores": {metric: {mean,
        std, n}}}``: the scores over the main runs of
        :data:`~experiments.analysis.study.BASELINE_REFERENCE` on the ablation dataset and the
        ablation seeds (``metrics`` and ``best_val_f1``); ``method``, ``seeds`` and ``scores``
        are left out when the main comparison does not train that method on that dataset. None
        without ``values``.
    """
    if not values:
        return None
    out: dict = {"dataset": study.ablation_dataset, "values": dict(values)}
    main = runs[(runs["group"] == "main") & (runs["dataset"] == study.ablation_dataset)
                & (runs["method"] == BASELINE_REFERENCE) & runs["seed"].astype(int).isin(study.ablation_seeds)]
    if len(main):
        keys = [k for k in (*metrics, *ABLATION_METRICS_EXTRA) if k in main.columns]
        out.update(method=BASELINE_REFERENCE, seeds=sorted(int(s) for s in main["seed"].unique()),
                   scores={k: seed_moments(main[k]) for k in keys})
    return out


def warmup_checkpoints(runs: pd.DataFrame) -> dict:
    """``{dataset: {method: {"n", "of"}}}``: main runs whose checkpoint precedes their first weighted iteration.

    Only methods that weight after a warm-up (``weighted_from`` above 1) are counted; ``n`` of their
    ``of`` runs kept a checkpoint of the warm-up, a network no crop weight has touched (for one
    seed, TG-HEM's and both controls' are the same). A ``runs.csv`` without ``weighted_from`` gives {}.

    Example:
        >>> runs = pd.DataFrame({"group": "main", "dataset": "d", "method": ["t", "t", "o"], "seed": [0, 1, 0],
        ...                      "checkpoint_iteration": [700, 2900, 700], "weighted_from": [751, 751, None]})
        >>> warmup_checkpoints(runs)
        {'d': {'t': {'n': 1, 'of': 2}}}
    """
    if "weighted_from" not in runs.columns:
        return {}
    weighted_from = pd.to_numeric(runs["weighted_from"], errors="coerce")
    main = runs[(runs["group"] == "main") & (weighted_from > 1)]
    out: dict = {}
    for (dataset, method), frame in main.groupby(["dataset", "method"], sort=False):
        early = pd.to_numeric(frame["checkpoint_iteration"]) < weighted_from[frame.index]
        out.setdefault(dataset, {})[method] = {"n": int(early.sum()), "of": int(len(frame))}
    return out


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


def failed_runs(runs: pd.DataFrame) -> pd.Series:
    """Which runs failed (:data:`FAILED_RULE`): they never detected anything.

    ``best_val_f1`` is the highest validation F1 of the run (what selected its checkpoint), so
    it is 0 exactly when every validation scored 0 (a model that predicts nothing scores 0 too).
    A run without validation (``best_val_f1`` empty) fails when its test F1 is 0.

    Returns:
        A boolean Series aligned with ``runs``.
    """
    val = pd.to_numeric(runs["best_val_f1"], errors="coerce")
    test = pd.to_numeric(runs["f1"], errors="coerce")
    return pd.Series(np.where(val.notna(), val == 0, test == 0), index=runs.index, dtype=bool)


def failed_summary(runs: pd.DataFrame) -> dict:
    """``metrics.json``'s ``failed``: the rule, how many runs failed of how many, and which."""
    flags = failed_runs(runs)
    listed = [{k: (None if pd.isna(r[k]) else (int(r[k]) if k == "seed" else str(r[k]))) for k in RUN_KEYS}
              for _, r in runs[flags].iterrows()]
    return {"rule": FAILED_RULE, "n_runs": len(runs), "n_failed": int(flags.sum()), "runs": listed}


def _baseline_runs(runs: pd.DataFrame, dataset: str, baseline: str) -> tuple[pd.DataFrame, str]:
    """The runs a baseline of the comparison stands for, and its kind (``method`` or ``ablation``)."""
    if baseline == LAMBDA_ZERO:
        a = runs[(runs["group"] == "ablation") & (runs["setting"] == "lambda_pers") & (runs["dataset"] == dataset)]
        return a[pd.to_numeric(a["value"], errors="coerce") == 0], "ablation"
    return runs[(runs["group"] == "main") & (runs["dataset"] == dataset) & (runs["method"] == baseline)], "method"


def comparison_baselines(study: Study, dataset: str) -> list[str]:
    """What TG-HEM is compared with on ``dataset``: every other method, then :data:`LAMBDA_ZERO`
    on the ablation's dataset when the lambda ablation has lambda = 0."""
    out = [m for m in study.methods if m != BASELINE_REFERENCE]
    if dataset == study.ablation_dataset and any(float(v) == 0 for v in study.ablation["lambda_pers"]):
        out.append(LAMBDA_ZERO)
    return out


def _seeds_text(seeds) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def compare_methods(per_image: pd.DataFrame, runs: pd.DataFrame, study: Study) -> dict:
    """Paired comparison of tghem with every other method (and with itself at lambda = 0), per dataset.

    Two levels, both paired by seed (same initialisation and data order):

    * **seed level, the primary comparison**: each run's test F1 and MAE (``runs.csv``, the main
      table's numbers), compared over the seeds by
      :func:`~experiments.analysis.statistics.seed_level_comparison` (paired t-interval and
      t-test; wins counted by each metric's direction);
    * **image level, descriptive**: per-image F1 and |count error| over (seed, test image)
      pairs (``per_image.csv``) by :func:`~experiments.analysis.statistics.paired_statistics`,
      which treats the pairs as independent.

    Rules: a seed whose reference or baseline run failed (:func:`failed_runs`) is left out of
    both levels and named in ``excluded_seeds``. :data:`LAMBDA_ZERO` is the lambda ablation's
    lambda = 0 runs, on the ablation's dataset: they pair with the main TG-HEM runs of the same
    seed, so only the seeds the ablation and the main study share are compared (a note says so
    when they differ; no row when they share none). Its image level needs its per-image rows in
    ``per_image.csv`` (method :data:`LAMBDA_ZERO`); where they were not logged it is null and a
    note says so.

    Returns:
        ``{dataset: {baseline: {"reference", "baseline", "kind", "difference", "seeds",
        "excluded_seeds", "n_seeds", "n_images", "seed_level": {"f1", "mae"},
        "f1", "abs_count_error", "notes"}}}``: ``seeds`` the compared ones, ``f1`` and
        ``abs_count_error`` the image-level statistics (or None).

    Raises:
        ValueError: the two methods' evaluations of a seed cover different test images.
    """
    keys = ["dataset", "seed", "image_id"]
    flags = failed_runs(runs)
    out: dict = {}
    for d in study.datasets:
        out[d] = {}
        ref_runs = runs[(runs["group"] == "main") & (runs["dataset"] == d) & (runs["method"] == BASELINE_REFERENCE)]
        for baseline in comparison_baselines(study, d):
            base_runs, kind = _baseline_runs(runs, d, baseline)
            notes: list[str] = []
            ref_seeds, base_seeds = set(ref_runs["seed"].astype(int)), set(base_runs["seed"].astype(int))
            common = sorted(ref_seeds & base_seeds)
            if kind == "ablation":
                if not common:
                    continue  # nothing to pair: the ablation shares no seed with the main runs
                if base_seeds != ref_seeds:
                    notes.append(f"the lambda ablation's {_seeds_text(sorted(base_seeds))} differ from the main "
                                 f"{_seeds_text(sorted(ref_seeds))}: paired on the common {_seeds_text(common)}")
            failed = {}
            for name, frame in ((BASELINE_REFERENCE, ref_runs), (baseline, base_runs)):
                for seed in frame.loc[flags.loc[frame.index], "seed"].astype(int):
                    failed.setdefault(int(seed), []).append(name)
            excluded = sorted(s for s in common if s in failed)
            seeds = [s for s in common if s not in failed]
            if excluded:
                notes.append("left out, failed runs: " + "; ".join(f"seed {s} ({', '.join(failed[s])})" for s in excluded))
            ref_by_seed = ref_runs.set_index(ref_runs["seed"].astype(int))
            base_by_seed = base_runs.set_index(base_runs["seed"].astype(int))
            seed_level = {
                q: seed_level_comparison(ref_by_seed.loc[seeds, q].astype(float).to_numpy(),
                                         base_by_seed.loc[seeds, q].astype(float).to_numpy(), higher_is_better=higher)
                for q, higher in SEED_COMPARED
            }
            reference = per_image[(per_image["method"] == BASELINE_REFERENCE) & (per_image["dataset"] == d)]
            other = per_image[(per_image["method"] == baseline) & (per_image["dataset"] == d)]
            reference, other = (f[f["seed"].astype(int).isin(seeds)][[*keys, *COMPARED]] for f in (reference, other))
            image: dict = {q: None for q in COMPARED}
            n_images = None
            if len(other) or kind == "method":
                pairs = reference.merge(other, on=keys, how="outer", suffixes=("_ref", "_base"), indicator=True)
                unpaired = pairs[pairs["_merge"] != "both"]
                if len(unpaired):
                    first = unpaired.iloc[0]
                    raise ValueError(
                        f"{d}, seed {first['seed']}: {BASELINE_REFERENCE} and {baseline} were evaluated on different test "
                        f"images ({sorted(unpaired['image_id'])[:5]} ...); re-evaluate both on the current split"
                    )
                pairs = pairs.sort_values(["seed", "image_id"], kind="stable")
                n_images = int(pairs["image_id"].nunique())
                image = {q: paired_statistics(pairs[f"{q}_ref"].astype(float), pairs[f"{q}_base"].astype(float))
                         for q in COMPARED}
            else:
                notes.append("image level: the per-image rows of these runs were not logged")
            out[d][baseline] = {
                "reference": BASELINE_REFERENCE, "baseline": baseline, "kind": kind,
                "difference": f"{BASELINE_REFERENCE} minus {baseline}",
                "seeds": seeds, "excluded_seeds": excluded, "n_seeds": len(seeds), "n_images": n_images,
                "seed_level": seed_level, **image, "notes": notes,
            }
    return out


COMPARISON_COLUMNS = (
    "dataset", "reference", "baseline", "kind", "quantity", "seed_metric", "seed_n", "excluded_seeds", "seed_mean_diff",
    "seed_sd_diff", "seed_ci95_low", "seed_ci95_high", "seed_p_value", "seed_wins", "seed_losses", "seed_ties",
    "image_n_pairs", "image_mean_diff", "image_median_diff", "image_ci95_low", "image_ci95_high", "image_p_value",
    "image_test", "note",
)


def comparison_rows(comparison: dict) -> pd.DataFrame:
    """``comparison.csv``: one row per dataset, baseline and quantity (F1; count error: the seed
    level's MAE and the image level's |count error|)."""
    rows = []
    for d, by_baseline in comparison.items():
        for baseline, c in by_baseline.items():
            for quantity, (seed_key, _), image_key in zip(("f1", "count_error"), SEED_COMPARED, COMPARED):
                s, i = c["seed_level"][seed_key], c[image_key] or {}
                rows.append({
                    "dataset": d, "reference": c["reference"], "baseline": baseline, "kind": c["kind"],
                    "quantity": quantity, "seed_metric": seed_key, "seed_n": s["n_seeds"],
                    "excluded_seeds": " ".join(str(x) for x in c["excluded_seeds"]),
                    **{f"seed_{k}": s[k] for k in ("mean_diff", "sd_diff", "ci95_low", "ci95_high", "p_value", "wins",
                                                    "losses", "ties")},
                    "image_n_pairs": i.get("n_pairs"),
                    **{f"image_{k}": i.get(k) for k in ("mean_diff", "median_diff", "ci95_low", "ci95_high", "p_value", "test")},
                    "note": "; ".join([*c["notes"], *(n for n in (s["note"], i.get("note")) if n)]) or None,
                })
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


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
