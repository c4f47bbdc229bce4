"""Stage ``aggregate``: every number of the study, gathered from exactly the runs it defines.

    python -m experiments.aggregate [--params params.yaml] [--root .] [--data-dir ROOT/data] [--out results]

Reads the runs of the study in ``--params`` (:mod:`experiments.study`), and only those (folders
left from another study are ignored): for every dataset x method x seed of ``study``, the
training run ``runs/main/<dataset>/<method>/seed<seed>/`` (``train.json``, ``log.csv``) and its
evaluation on the test split ``evals/main/...`` (``metrics.json``, ``per_image.csv``,
``points/``); for every value of the ablation, ``runs/ablation/<setting>/<value>/`` and
``evals/ablation/<setting>/<value>/``. A missing file is an error that names it and the command
that makes it. The qualitative example also reads the prepared test image's ground truth
(``<data-dir>/prepared/<dataset>``).

Writes into ``--out``, each file atomically. Nothing depends on the clock and no wall-clock
timing is copied, so the same runs give the same bytes; floats are rounded to 6 significant
digits.

* ``metrics.json`` (the DVC metric): ``main``: ``{dataset: {method: {metric: {mean, std, n}}}}``
  over seeds (``std``: sample standard deviation, ddof = 1; null with one seed); ``comparison``:
  ``{dataset: {baseline: ...}}``, the paired tests below; ``ablation``:
  ``{setting: {value: {metric: value}}}``. Metrics: ``f1``, ``precision``, ``recall`` (micro,
  pooled over the test images), ``mae``, ``rmse``, and ``f1_mean_radii``, ``mre``,
  ``game0``..``game3`` where the evaluations have them.
* ``runs.csv``: one row per run: ``group`` (main/ablation), ``dataset``, ``method``, ``seed``,
  ``setting``, ``value``, ``checkpoint_iteration``, ``n_images``, ``match_radius`` and the metrics.
* ``per_image.csv``: the main runs' per-image rows pooled: ``dataset``, ``method``, ``seed``,
  ``image_id``, ``n_gt``, ``n_pred``, ``tp``, ``fp``, ``fn``, ``f1`` (``2 tp / (2 tp + fp + fn)``, 1
  when the image has neither points nor predictions), ``abs_count_error`` (``|n_pred - n_gt|``).
* ``curves.csv``: the training logs of all runs: ``group``, ``dataset``, ``method``, ``seed``,
  ``setting``, ``value``, ``iteration``, ``loss``, ``seg_loss``, ``weight_mean``, ``weight_max``,
  ``discrepancy_mean`` (empty for methods without a topological term).
* ``comparison.csv``: the paired comparisons, one row per dataset, baseline and quantity.
* ``qualitative.json``: what the report's two illustrative figures show (see
  :func:`qualitative_example`).

Paired comparison of ``tghem`` with each other method, per dataset: the pairs are (seed, test
image), the same image evaluated for the same seed under both methods. Differences are always
**tghem minus baseline**, so a positive F1 difference and a negative count-error difference
favour tghem. For per-image F1 and per-image absolute count error: the mean and median
difference, a paired bootstrap 95% confidence interval of the mean difference (percentile
interval of 10,000 resamples of the pairs, seeded, hence reproducible) and the two-sided
Wilcoxon signed-rank test (:func:`wilcoxon_signed_rank`). Pairs of one image under several seeds
are not independent; the test treats them as if they were, which overstates its confidence when
seeds agree closely.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image
from scipy import stats

from .cli import run_stage
from .config import ConfigError, read_params
from .fsutil import atomic_write_text
from .metrics import Counts
from .parsers import read_points_csv
from .study import ABLATION_SETTINGS, BASELINE_REFERENCE, Study, ablation_run, format_value, main_run, read_study

SPLIT = "test"
SCORES = ("f1", "precision", "recall", "mae", "rmse")
"""Metrics every evaluation must have (keys of its ``metrics.json``)."""
EXTRA_SCORES = ("f1_mean_radii", "mre", "game0", "game1", "game2", "game3")
"""Metrics carried along where the evaluations have them."""
CURVE_FIELDS = ("loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean")
"""Columns of a training ``log.csv`` kept in ``curves.csv`` (``lr`` is set, ``seconds`` is a timing)."""
PER_IMAGE_COUNTS = ("n_gt", "n_pred", "tp", "fp", "fn")
COMPARED = ("f1", "abs_count_error")
"""Per-image quantities of the paired comparison."""
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
MIN_PAIRS = 2
"""Fewer pairs than this: no test and no interval (one pair has no spread to resample)."""
SIGNIFICANT_DIGITS = 6
# Pairs up to this many non-zero differences are tested exactly when there are tied magnitudes
# (all 2^n sign flips enumerated); without ties the exact null distribution is used up to 50.
EXACT_WITH_TIES_MAX = 13
EXACT_MAX = 50
# Differences are rounded to this many decimals before ranking, so that differences equal as
# fractions (0.75 - 0.5 and 1.0 - 0.75) tie even when float subtraction leaves them a bit apart.
DIFFERENCE_DECIMALS = 12

RUNS_FIELDS = ("group", "dataset", "method", "seed", "setting", "value", "checkpoint_iteration", "n_images", "match_radius")
PER_IMAGE_FIELDS = ("dataset", "method", "seed", "image_id", *PER_IMAGE_COUNTS, "f1", "abs_count_error")
CURVES_FIELDS = ("group", "dataset", "method", "seed", "setting", "value", "iteration", *CURVE_FIELDS)
COMPARISON_FIELDS = (
    "dataset", "reference", "baseline", "quantity", "n_pairs", "n_nonzero", "mean_diff", "median_diff",
    "ci95_low", "ci95_high", "statistic", "p_value", "test", "note",
)
OUTPUT_FILES = ("metrics.json", "runs.csv", "per_image.csv", "curves.csv", "comparison.csv", "qualitative.json")


@dataclass
class Run:
    """One run of the study, read from its folders.

    Attributes:
        group: ``'main'`` or ``'ablation'``.
        dataset, method, seed: what was trained.
        setting, value: the swept TG-HEM setting and its value as in the folder name (ablation
            runs), else None.
        metrics: the evaluation's ``metrics.json``.
        per_image: rows of its ``per_image.csv`` (counts as ints).
        points_dir: its ``points/`` folder (predicted points per image).
        log: rows of the training ``log.csv`` (strings, as written).
    """

    group: str
    dataset: str
    method: str
    seed: int
    setting: str | None
    value: str | None
    metrics: dict
    per_image: list[dict]
    points_dir: Path
    log: list[dict]


def round_float(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` rounded to ``digits`` significant digits if it is a float; NaN and inf become None.

    Ints, strings and None pass through, so whole records can be rounded field by field.
    """
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def csv_text(fields: Sequence[str], rows: Sequence[dict]) -> str:
    """CSV text (``\\n`` line ends): ``fields`` as the header, None as an empty cell, floats rounded."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else round_float(row.get(k)) for k in fields})
    return buf.getvalue()


def json_text(document: Any) -> str:
    """Strict JSON (no NaN or inf: ``allow_nan=False``), indented, keys in insertion order."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def image_f1(tp: int, fp: int, fn: int) -> float:
    """Per-image F1 ``2 tp / (2 tp + fp + fn)``; 1 for an image with no point and no prediction."""
    return Counts(tp, fp, fn).f1


def summarize_seeds(values: Sequence[float | None]) -> dict:
    """Mean, sample standard deviation (ddof = 1) and number of the values that are not None.

    Returns:
        ``{"mean", "std", "n"}``; ``std`` is None with fewer than 2 values, ``mean`` with none.
    """
    present = np.array([v for v in values if v is not None], np.float64)
    n = len(present)
    return {
        "mean": round_float(present.mean()) if n else None,
        "std": round_float(present.std(ddof=1)) if n >= 2 else None,
        "n": n,
    }


def wilcoxon_signed_rank(differences: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired differences against a zero median.

    Zero differences are dropped (Wilcoxon's treatment) and ``n_nonzero`` says how many remain.
    The p-value is exact where that is affordable: the exact null distribution when the
    magnitudes have no ties and ``n_nonzero <= 50``, all ``2^n`` sign flips when they have ties
    and ``n_nonzero <= 13``; otherwise the normal approximation with tie correction. With no
    non-zero difference the data give no evidence either way: p = 1, and ``note`` says why.

    Args:
        differences: paired differences.

    Returns:
        ``{"statistic", "p_value", "test", "n_nonzero", "note"}``: ``statistic`` is
        ``min(W+, W-)`` (scipy's two-sided statistic), ``test`` ``'exact'``, ``'permutation'``
        or ``'normal approximation'``.
    """
    d = np.round(np.asarray(differences, np.float64), DIFFERENCE_DECIMALS)
    nonzero = d[d != 0]
    n = len(nonzero)
    if n == 0:
        return {"statistic": 0.0, "p_value": 1.0, "test": None, "n_nonzero": 0,
                "note": "all differences are zero: p = 1 (no evidence of a difference)"}
    _, counts = np.unique(np.abs(nonzero), return_counts=True)
    ties = bool((counts > 1).any())
    if not ties and n <= EXACT_MAX:
        method, test = "exact", "exact"
    elif ties and n <= EXACT_WITH_TIES_MAX:
        # 2^13 = 8192 sign patterns, fewer than the default 9999 resamples: scipy enumerates
        # them all, so the p-value is exact and involves no random draw.
        method, test = stats.PermutationMethod(), "permutation"
    else:
        method, test = "asymptotic", "normal approximation"
    result = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided", method=method)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "test": test, "n_nonzero": n, "note": None}


def bootstrap_mean_interval(
    differences: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences.

    Pairs are resampled with replacement (``numpy.random.default_rng(seed)``, in chunks of a
    fixed size so memory stays bounded), hence the same differences give the same interval.

    Args:
        differences: paired differences, at least one.
        resamples: number of bootstrap resamples.
        seed: seed of the resampling.
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``(low, high)``.
    """
    d = np.asarray(differences, np.float64)
    if len(d) == 0:
        raise ValueError("differences: expected at least one")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // len(d))  # at most ~32 MB of indices at a time
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = d[rng.integers(0, len(d), size=(stop - start, len(d)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_statistics(reference: Sequence[float], baseline: Sequence[float]) -> dict:
    """Paired comparison of two aligned samples; differences are ``reference - baseline``.

    Returns:
        ``n_pairs``, ``n_nonzero``, ``mean_diff``, ``median_diff``, ``ci95_low``, ``ci95_high``
        (:func:`bootstrap_mean_interval`), ``statistic``, ``p_value``, ``test``
        (:func:`wilcoxon_signed_rank`) and ``note`` (why a value is null, or None). With fewer
        than :data:`MIN_PAIRS` pairs the test and the interval are null.
    """
    a, b = np.asarray(reference, np.float64), np.asarray(baseline, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"reference and baseline: expected two 1-d arrays of one length, got {a.shape} and {b.shape}")
    d = a - b
    out = {"n_pairs": len(d), "n_nonzero": int(np.count_nonzero(np.round(d, DIFFERENCE_DECIMALS))),
           "mean_diff": None, "median_diff": None, "ci95_low": None, "ci95_high": None,
           "statistic": None, "p_value": None, "test": None, "note": None}
    if len(d) == 0:
        out["note"] = "no pairs: no test image to compare"
    else:
        out.update(mean_diff=float(d.mean()), median_diff=float(np.median(d)))
        if len(d) < MIN_PAIRS:
            out["note"] = f"{len(d)} pair, fewer than {MIN_PAIRS}: no test and no interval"
        else:
            low, high = bootstrap_mean_interval(d)
            test = wilcoxon_signed_rank(d)
            out.update(ci95_low=low, ci95_high=high, statistic=test["statistic"], p_value=test["p_value"],
                       test=test["test"], note=test["note"])
    return {k: round_float(v) for k, v in out.items()}


def _missing(path: Path, how: str) -> FileNotFoundError:
    return FileNotFoundError(f"{path} does not exist; {how}")


def _make_commands(dataset: str, method: str, seed: int, setting: str | None, value: str | None,
                   train_dir: Path, eval_dir: Path, data_dir: Path) -> tuple[str, str]:
    """The commands that make a run's training and evaluation folders (dvc's stage, or by hand)."""
    if setting is None:  # dvc names a matrix stage by its values joined with '-'
        train_stage, eval_stage = f"train@{dataset}-{method}-{seed}", f"evaluate@{dataset}-{method}-{seed}"
        extra = ""
    else:
        train_stage, eval_stage = f"train_{setting}@{value}", f"evaluate_{setting}@{value}"
        extra = f" --set tghem.{setting}={value}"
    train = (f"`dvc repro {train_stage}` or `python -m experiments.train --dataset {dataset} "
             f"--method {method} --seed {seed}{extra} --data-dir {data_dir} --out {train_dir}`")
    evaluate = (f"`dvc repro {eval_stage}` or `python -m experiments.evaluate --run {train_dir} "
                f"--data-dir {data_dir} --out {eval_dir}`")
    return train, evaluate


def _read_csv(path: Path, required: Sequence[str]) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [k for k in required if k not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing from the header {reader.fieldnames}")
        return list(reader)


def read_run(group: str, dataset: str, method: str, seed: int, setting: str | None, raw_value: Any,
             root: Path, data_dir: Path) -> Run:
    """Read and check one run's training and evaluation folders.

    Args:
        group: ``'main'`` or ``'ablation'``.
        dataset, method, seed: the run.
        setting: the swept TG-HEM setting (ablation runs), else None.
        raw_value: its value as params.yaml gives it (ablation runs), else None.
        root: folder holding ``runs/`` and ``evals/``.
        data_dir: data folder, for the commands the error messages suggest.

    Returns:
        The :class:`Run`.

    Raises:
        FileNotFoundError: a file is missing (the message names it and the command that makes it).
        ValueError: the files belong to another run or split, the training did not finish, or
            a file lacks a column or metric.
    """
    value = format_value(raw_value) if setting is not None else None
    paths = main_run(dataset, method, seed, root) if group == "main" else ablation_run(setting, raw_value, root)
    make_train, make_eval = _make_commands(dataset, method, seed, setting, value, paths.train, paths.eval, data_dir)
    for name in ("train.json", "log.csv"):
        if not (paths.train / name).is_file():
            raise _missing(paths.train / name, f"make it with {make_train}")
    for name in ("metrics.json", "per_image.csv", "points"):
        if not (paths.eval / name).exists():
            raise _missing(paths.eval / name, f"make it with {make_eval}")
    summary = json.loads((paths.train / "train.json").read_text())
    if not summary.get("finished"):
        raise ValueError(
            f"{paths.train}: training stopped at iteration {summary.get('iterations')} of "
            f"{summary.get('total_iterations')}; finish it with the same command plus --resume ({make_train})"
        )
    trained_value = summary.get("config", {}).get("tghem", {}).get(setting) if setting is not None else None
    if setting is not None and trained_value != raw_value:
        raise ValueError(
            f"{paths.train}: trained with tghem.{setting}={trained_value!r}, the study expects {raw_value!r}; "
            f"train it again in an empty folder: {make_train}"
        )
    metrics = json.loads((paths.eval / "metrics.json").read_text())
    expected = {"dataset": dataset, "method": method, "seed": seed, "split": SPLIT}
    wrong = {k: metrics.get(k) for k, v in expected.items() if metrics.get(k) != v}
    if wrong:
        raise ValueError(f"{paths.eval / 'metrics.json'}: expected {expected}, the file has {wrong}; evaluate again: {make_eval}")
    absent = [k for k in SCORES if k not in metrics]
    if absent:
        raise ValueError(f"{paths.eval / 'metrics.json'}: metrics {absent} missing; evaluate again: {make_eval}")
    per_image = _read_csv(paths.eval / "per_image.csv", ("image_id", *PER_IMAGE_COUNTS))
    rows = [{"image_id": r["image_id"], **{k: int(r[k]) for k in PER_IMAGE_COUNTS}} for r in per_image]
    if len(rows) != metrics.get("n_images"):
        raise ValueError(f"{paths.eval}: per_image.csv has {len(rows)} rows, metrics.json n_images {metrics.get('n_images')}")
    log = _read_csv(paths.train / "log.csv", ("iteration", *CURVE_FIELDS))
    return Run(group, dataset, method, seed, setting, value, metrics, rows, paths.eval / "points", log)


def read_runs(study: Study, root: Path, data_dir: Path) -> tuple[list[Run], list[Run]]:
    """All runs of the study: (main runs in dvc.yaml's matrix order, ablation runs setting by setting)."""
    main = [read_run("main", d, m, s, None, None, root, data_dir) for d, m, s in study.main_runs()]
    ablation = [
        read_run("ablation", study.ablation_dataset, BASELINE_REFERENCE, study.ablation_seed, setting, v, root, data_dir)
        for setting in ABLATION_SETTINGS
        for v in study.ablation[setting]
    ]
    return main, ablation


def metric_names(runs: Sequence[Run]) -> list[str]:
    """:data:`SCORES`, then the :data:`EXTRA_SCORES` that some evaluation has."""
    return [*SCORES, *(k for k in EXTRA_SCORES if any(k in r.metrics for r in runs))]


def main_summary(study: Study, runs: Sequence[Run], metrics: Sequence[str]) -> dict:
    """``{dataset: {method: {metric: {mean, std, n}}}}`` over the seeds of the main runs."""
    out: dict = {}
    for d in study.datasets:
        out[d] = {}
        for m in study.methods:
            chosen = [r for r in runs if r.dataset == d and r.method == m]
            out[d][m] = {k: summarize_seeds([r.metrics.get(k) for r in chosen]) for k in metrics}
    return out


def image_values(run: Run) -> dict[str, dict[str, float]]:
    """``{image_id: {"f1": ..., "abs_count_error": ...}}`` of one run."""
    return {
        r["image_id"]: {"f1": image_f1(r["tp"], r["fp"], r["fn"]), "abs_count_error": float(abs(r["n_pred"] - r["n_gt"]))}
        for r in run.per_image
    }


def compare_methods(study: Study, runs: Sequence[Run]) -> dict:
    """Paired comparison of tghem with every other method, per dataset (see the module docstring).

    Returns:
        ``{dataset: {baseline: {"reference", "baseline", "difference", "n_seeds", "n_images",
        "f1": paired_statistics, "abs_count_error": paired_statistics}}}``.

    Raises:
        ValueError: the two methods' evaluations of a seed cover different test images.
    """
    by_key = {(r.dataset, r.method, r.seed): image_values(r) for r in runs}
    out: dict = {}
    for d in study.datasets:
        out[d] = {}
        for baseline in (m for m in study.methods if m != BASELINE_REFERENCE):
            pairs = {q: ([], []) for q in COMPARED}
            images: set[str] = set()
            for s in study.seeds:
                ref, other = by_key[(d, BASELINE_REFERENCE, s)], by_key[(d, baseline, s)]
                if set(ref) != set(other):
                    raise ValueError(
                        f"{d}, seed {s}: {BASELINE_REFERENCE} and {baseline} were evaluated on different test images "
                        f"({sorted(set(ref) ^ set(other))[:5]} ...); re-evaluate both on the current split"
                    )
                for image_id in sorted(ref):  # (seed, image) order, whatever the files' row order
                    images.add(image_id)
                    for q in COMPARED:
                        pairs[q][0].append(ref[image_id][q])
                        pairs[q][1].append(other[image_id][q])
            out[d][baseline] = {
                "reference": BASELINE_REFERENCE,
                "baseline": baseline,
                "difference": f"{BASELINE_REFERENCE} minus {baseline}",
                "n_seeds": len(study.seeds),
                "n_images": len(images),
                **{q: paired_statistics(*pairs[q]) for q in COMPARED},
            }
    return out


def ablation_summary(runs: Sequence[Run], metrics: Sequence[str]) -> dict:
    """``{setting: {value: {metric: value}}}`` of the ablation runs (one seed each)."""
    out: dict = {s: {} for s in ABLATION_SETTINGS}
    for r in runs:
        out[r.setting][r.value] = {k: round_float(r.metrics.get(k)) for k in metrics}
    return out


def runs_rows(runs: Sequence[Run], metrics: Sequence[str]) -> list[dict]:
    """Rows of ``runs.csv``."""
    return [
        {"group": r.group, "dataset": r.dataset, "method": r.method, "seed": r.seed, "setting": r.setting,
         "value": r.value, "checkpoint_iteration": r.metrics.get("iteration"), "n_images": r.metrics.get("n_images"),
         "match_radius": r.metrics.get("match_radius"), **{k: r.metrics.get(k) for k in metrics}}
        for r in runs
    ]


def per_image_rows(runs: Sequence[Run]) -> list[dict]:
    """Rows of ``per_image.csv`` (main runs)."""
    return [
        {"dataset": r.dataset, "method": r.method, "seed": r.seed, **row,
         "f1": image_f1(row["tp"], row["fp"], row["fn"]), "abs_count_error": abs(row["n_pred"] - row["n_gt"])}
        for r in runs
        for row in r.per_image
    ]


def _log_value(text: str) -> float | None:
    if text is None or text.strip() == "":
        return None
    return float(text)


def curve_rows(runs: Sequence[Run]) -> list[dict]:
    """Rows of ``curves.csv`` (every run's training log, without ``lr`` and ``seconds``)."""
    return [
        {"group": r.group, "dataset": r.dataset, "method": r.method, "seed": r.seed, "setting": r.setting,
         "value": r.value, "iteration": int(row["iteration"]), **{k: _log_value(row[k]) for k in CURVE_FIELDS}}
        for r in runs
        for row in r.log
    ]


def comparison_rows(comparison: dict) -> list[dict]:
    """Rows of ``comparison.csv``: one per dataset, baseline and compared quantity."""
    return [
        {"dataset": d, "reference": c["reference"], "baseline": baseline, "quantity": q, **c[q]}
        for d, by_baseline in comparison.items()
        for baseline, c in by_baseline.items()
        for q in COMPARED
    ]


def densest_window(points: np.ndarray, shape: tuple[int, int], size: int) -> dict:
    """The ``size x size`` window (clipped to the image) holding the most points.

    Points are placed on pixels as everywhere in the project (rounding half up); ties go to
    the smallest top row, then the smallest left column.

    Args:
        points: (N, 2) x, y.
        shape: (H, W) of the image.
        size: side of the window in pixels.

    Returns:
        ``{"x0", "y0", "width", "height"}``: the window covers pixel columns ``x0 .. x0 + width - 1``
        and rows ``y0 .. y0 + height - 1``.
    """
    h, w = int(shape[0]), int(shape[1])
    win_h, win_w = min(size, h), min(size, w)
    rows = np.clip(np.floor(points[:, 1] + 0.5).astype(np.int64), 0, h - 1)
    cols = np.clip(np.floor(points[:, 0] + 0.5).astype(np.int64), 0, w - 1)
    counts = np.zeros((h + 1, w + 1), np.int64)
    np.add.at(counts, (rows + 1, cols + 1), 1)
    table = counts.cumsum(0).cumsum(1)  # table[r, c]: points in rows < r and columns < c
    inside = table[win_h:, win_w:] - table[:-win_h, win_w:] - table[win_h:, :-win_w] + table[:-win_h, :-win_w]
    y0, x0 = np.unravel_index(int(np.argmax(inside)), inside.shape)  # first maximum in row-major order
    return {"x0": int(x0), "y0": int(y0), "width": int(win_w), "height": int(win_h)}


def _image_file(prepared: Path, image_id: str, dataset: str, data_dir: Path) -> Path:
    found = sorted((prepared / "images").glob(f"{image_id}.*")) if (prepared / "images").is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"{prepared / 'images' / image_id}.*: no such image; prepare the dataset with "
            f"`python -m experiments.prepare --dataset {dataset} --data-dir {data_dir}` (or `dvc repro prepare@{dataset}`)"
        )
    return found[0]


def qualitative_example(study: Study, runs: Sequence[Run], data_dir: Path, params: dict) -> dict:
    """The inputs of the report's qualitative and persistence figures.

    The image: of the first dataset's test split, the one with the median ground-truth count
    (the lower median; ties by id), so the example is neither the easiest nor the hardest. The
    predictions: every method's, for the first seed. The persistence window: the training crop
    size (``train.crop_size``, so that D and w are those of a crop TG-HEM could see), placed
    where the ground truth is densest (:func:`densest_window`).

    Returns:
        ``dataset``, ``split``, ``seed``, ``image_id``, ``image_file`` (relative to the prepared
        folder), ``image_shape`` ``[H, W]``, ``selection`` (how the image was chosen),
        ``match_radius``, ``gt`` (``[[x, y], ...]``), ``pred`` (``{method: [[x, y], ...]}``),
        ``counts`` (``{method: {n_pred, tp, fp, fn}}`` from ``per_image.csv``), ``epsilon``
        (``tghem.topo_epsilon``), ``lambda_pers``, ``topo_reduction`` and ``crop``
        (:func:`densest_window`).
    """
    dataset, seed = study.datasets[0], study.seeds[0]
    chosen = {r.method: r for r in runs if r.dataset == dataset and r.seed == seed}
    reference = chosen[BASELINE_REFERENCE]
    if not reference.per_image:
        raise ValueError(f"{dataset}: the {SPLIT} split has no images; there is nothing to show")
    ranked = sorted(reference.per_image, key=lambda r: (r["n_gt"], r["image_id"]))
    image_id = ranked[(len(ranked) - 1) // 2]["image_id"]
    prepared = data_dir / "prepared" / dataset
    image_path = _image_file(prepared, image_id, dataset, data_dir)
    gt = read_points_csv(prepared / "points" / f"{image_id}.csv")
    n_gt = next(r["n_gt"] for r in reference.per_image if r["image_id"] == image_id)
    if len(gt) != n_gt:
        raise ValueError(
            f"{prepared}: image {image_id} has {len(gt)} points, its evaluation {n_gt}; "
            f"the prepared data changed after evaluation: re-evaluate the runs"
        )
    with Image.open(image_path) as im:
        width, height = im.size
    pred, counts = {}, {}
    for m in study.methods:
        path = chosen[m].points_dir / f"{image_id}.csv"
        if not path.is_file():
            raise _missing(path, f"re-evaluate the run (`python -m experiments.evaluate --run ... --out {chosen[m].points_dir.parent}`)")
        pred[m] = read_points_csv(path).tolist()
        row = next(r for r in chosen[m].per_image if r["image_id"] == image_id)
        counts[m] = {k: row[k] for k in ("n_pred", "tp", "fp", "fn")}
    t = params["tghem"]
    return {
        "dataset": dataset,
        "split": SPLIT,
        "seed": seed,
        "image_id": image_id,
        "image_file": str(image_path.relative_to(prepared)),
        "image_shape": [height, width],
        "selection": "test image with the median ground-truth count (lower median, ties by id)",
        "match_radius": reference.metrics["match_radius"],
        "gt": gt.tolist(),
        "pred": pred,
        "counts": counts,
        "epsilon": t["topo_epsilon"],
        "lambda_pers": t["lambda_pers"],
        "topo_reduction": t["topo_reduction"],
        "crop": densest_window(gt, (height, width), params["train"]["crop_size"]),
    }


def qualitative_text(document: dict) -> str:
    """``qualitative.json`` text: as :func:`json_text`, but each point set on one line.

    Indenting every coordinate would spread a few thousand points over tens of thousands of
    lines; one line per set keeps the file short and its diffs readable.
    """
    point_sets = {"@gt@": document["gt"], **{f"@pred:{m}@": p for m, p in document["pred"].items()}}
    skeleton = dict(document, gt="@gt@", pred={m: f"@pred:{m}@" for m in document["pred"]})
    text = json_text(skeleton)
    for key, points in point_sets.items():
        text = text.replace(json.dumps(key), json.dumps(points, separators=(",", ":"), allow_nan=False), 1)
    return text


def aggregate(params_path: str | Path | None = None, root: str | Path = ".", out: str | Path = "results",
              data_dir: str | Path | None = None) -> dict:
    """Read the study's runs and write the six result files into ``out``.

    Args:
        params_path: the ``params.yaml`` defining the study (default: the repository's).
        root: folder holding ``runs/`` and ``evals/``.
        out: output folder (created; other files in it are left alone).
        data_dir: data folder with ``prepared/<dataset>`` (default ``<root>/data``).

    Returns:
        The content of ``metrics.json``.
    """
    root = Path(root)
    data_dir = Path(data_dir) if data_dir is not None else root / "data"
    if not root.is_dir():
        raise FileNotFoundError(f"--root: {root} is not a folder")
    study = read_study(params_path)
    params = read_params(params_path)
    main, ablation = read_runs(study, root, data_dir)
    names = metric_names([*main, *ablation])
    comparison = compare_methods(study, main)
    metrics = {
        "main": main_summary(study, main, names),
        "comparison": comparison,
        "ablation": ablation_summary(ablation, names),
    }
    texts = {
        "metrics.json": json_text(metrics),
        "runs.csv": csv_text((*RUNS_FIELDS, *names), runs_rows([*main, *ablation], names)),
        "per_image.csv": csv_text(PER_IMAGE_FIELDS, per_image_rows(main)),
        "curves.csv": csv_text(CURVES_FIELDS, curve_rows([*main, *ablation])),
        "comparison.csv": csv_text(COMPARISON_FIELDS, comparison_rows(comparison)),
        "qualitative.json": qualitative_text(qualitative_example(study, main, data_dir, params)),
    }
    # Everything is computed before the first write, so an error leaves the old files intact.
    for name in OUTPUT_FILES:
        atomic_write_text(Path(out) / name, texts[name])
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.aggregate",
        description=textwrap.fill(
            "Gather the study's results: read exactly the runs that the study and ablation sections "
            "of --params define (runs/main, evals/main, runs/ablation, evals/ablation under --root; "
            "a missing one is an error naming the command that makes it), summarise the test "
            "metrics over seeds (mean, sample std), compare tghem with every other method image by "
            "image (Wilcoxon signed-rank test, paired bootstrap 95% CI; differences are tghem minus "
            "baseline) and write metrics.json, runs.csv, per_image.csv, curves.csv, comparison.csv "
            "and qualitative.json into --out. Deterministic: no timing, fixed bootstrap seed.",
            width=88,
        ),
        epilog=(
            "reads (ROOT/...; d, m, s: every dataset, method and seed of study; v: every ablation value):\n"
            "  runs/main/d/m/seed<s>/{train.json,log.csv}    evals/main/d/m/seed<s>/{metrics.json,per_image.csv,points/}\n"
            "  runs/ablation/<setting>/v/...                 evals/ablation/<setting>/v/...\n"
            "  DATA_DIR/prepared/<first dataset>/            the qualitative example's ground truth\n"
            "writes (OUT/):\n"
            "  metrics.json      main (mean, std, n over seeds), comparison (paired tests), ablation\n"
            "  runs.csv          one row per run: group, dataset, method, seed, setting, value, metrics\n"
            "  per_image.csv     main runs, one row per test image: counts, f1, abs_count_error\n"
            "  curves.csv        training logs (loss, seg_loss, weight_mean, weight_max, discrepancy_mean)\n"
            "  comparison.csv    tghem - baseline per dataset and quantity: mean/median, 95% CI, Wilcoxon p\n"
            "  qualitative.json  example image, points, match radius, persistence crop, epsilon, lambda\n\n"
            "examples:\n"
            "  python -m experiments.aggregate\n"
            "  python -m experiments.aggregate --params params.yaml --root . --out results"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--params", type=Path, default=None, help="params.yaml defining the study (default: the repository's)")
    p.add_argument("--root", type=Path, default=Path("."), help="folder holding runs/ and evals/ (default: .)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data folder with prepared/<dataset>, for the qualitative example (default: ROOT/data)")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        metrics = aggregate(args.params, args.root, args.out, args.data_dir)
    except ConfigError as err:
        parser.error(str(err))
    if not args.quiet:
        n = sum(len(by_method) for by_method in metrics["main"].values())
        print(f"{args.out}: {n} dataset x method summaries, {len(OUTPUT_FILES)} files")
    return 0


if __name__ == "__main__":
    run_stage(main)
