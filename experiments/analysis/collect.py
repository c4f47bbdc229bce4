"""Collecting the study's runs: exactly the runs ``params.yaml`` defines, found by their own records
(:mod:`.discovery`).

For every dataset x method x seed of ``study`` the training folder (``train.json``, ``log.csv``)
and its evaluation on the test split (``metrics.json``, ``per_image.csv``, ``points/``); for every
ablation value, the same pair. Records of runs the study does not define are never read. A missing file is
an error naming it and the command that makes it; files of another run or split, an unfinished
training, or a missing column or metric are errors too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..evaluation.metrics import Counts
from scipy import stats

from .discovery import SPLIT, Located, StageHint, evaluation_fix, training_fix

from .localization import STRICT_KEY
from .readers import check_metrics, read_crops_csv, read_log_csv, read_per_image_csv, read_train_json
from .study import format_value

SCORES = ("f1", "precision", "recall", "mae", "rmse")
"""Metrics every evaluation must have (keys of its ``metrics.json``)."""
EXTRA_SCORES = ("f1_mean_radii", "mre", "game0", "game1", "game2", "game3", "f1_authors", "precision_authors",
                "recall_authors", STRICT_KEY)
"""Metrics carried along where the evaluations have them (``f1_r4``: added by the aggregation,
:mod:`.localization`)."""
CURVE_FIELDS = ("loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean", "count_error_mean")
"""Columns of a training ``log.csv`` the curves keep (``lr`` is set by the schedule)."""
PER_IMAGE_COUNTS = ("n_gt", "n_pred", "tp", "fp", "fn")
PER_IMAGE_COLUMNS = ("dataset", "method", "seed", "image_id", *PER_IMAGE_COUNTS, "f1", "abs_count_error")
"""Columns of ``per_image.csv``: ``f1`` is ``2 tp / (2 tp + fp + fn)``, ``abs_count_error`` ``|n_pred - n_gt|``."""
RUN_KEYS = ("group", "dataset", "method", "seed", "setting", "value")
"""The columns that identify a run in every table (``setting``, ``value``: ablation runs only)."""
VAL_FIELDS = ("f1", "precision", "recall", "mae")
"""Columns of a training ``val.csv`` the validation curves keep."""
CROP_STATISTICS = ("weight_mean", "discrepancy_mean", "count_error_mean", "weight_count_spearman",
                   "discrepancy_count_spearman", "weight_discrepancy_spearman")
"""Per-run summaries of ``crops.csv`` (every crop of every iteration): means, and Spearman
correlations between a crop's weight, its discrepancy D and its count error |n_pred - n_gt|
(empty where one of the two is constant, as the weight of a method that does not weight crops)."""


@dataclass
class Run:
    """One run of the study, read from its folders.

    Attributes:
        group: ``'main'`` or ``'ablation'``.
        dataset, method, seed: what was trained.
        setting, value: the ablation's name and its value as in the stage name (ablation runs),
            else None.
        metrics: the evaluation's ``metrics.json``.
        per_image: its ``per_image.csv`` (counts as ints).
        points_dir: its ``points/`` folder (predicted points per image).
        log: its training ``log.csv`` (floats read back exactly).
        val: its training ``val.csv`` (validation curve), empty when it never validated.
        best_val_f1: the validation F1 of the checkpoint evaluated (``train.json``), or None.
        crop_statistics: :data:`CROP_STATISTICS` of its ``crops.csv``.
        cpu_kind: the kind of CPU that trained it (``train.json``'s ``environment``), None for
            runs from before it was recorded.
        weighted_from: the first iteration with a crop weight other than 1
            (:func:`first_weighted_iteration`), None for a run that never weighted a crop.
    """

    group: str
    dataset: str
    method: str
    seed: int
    setting: str | None
    value: str | None
    metrics: dict
    per_image: pd.DataFrame
    points_dir: Path
    log: pd.DataFrame
    val: pd.DataFrame
    best_val_f1: float | None
    crop_statistics: dict
    cpu_kind: str | None = None
    weighted_from: int | None = None

    def key(self) -> dict:
        """The run's identity columns (:data:`RUN_KEYS`)."""
        return {k: getattr(self, k) for k in RUN_KEYS}


def _missing(path: Path, stage: StageHint) -> FileNotFoundError:
    return FileNotFoundError(f"{path} does not exist; make it with {stage.how_to_make()}")


def read_run(located: Located) -> Run:
    """Read and check one run's training and evaluation folders.

    Args:
        located: the run and its folders (:func:`.discovery.locate_runs`, which matched its
            recorded settings to the study's).

    Raises:
        FileNotFoundError: a file is missing (the message names it and the stage that makes it).
        ValueError: the files belong to another run or split, the training did not finish, a
            file is damaged (truncated, not JSON/CSV), lacks a column or metric, or holds a value
            out of range (NaN, an F1 outside [0, 1], a negative count; :mod:`.readers`). Each
            message names the file and the stage to run again.
    """
    w, training, evaluation = located.wanted, located.training, located.evaluation
    group, dataset, method, seed, setting = w.group, w.dataset, w.method, w.seed, w.setting
    train_dir, eval_dir = located.train_dir, located.eval_dir
    for name in ("train.json", "log.csv", "val.csv", "crops.csv"):
        if not (train_dir / name).is_file():
            raise _missing(train_dir / name, training)
    for name in ("metrics.json", "per_image.csv", "points"):
        if not (eval_dir / name).exists():
            raise _missing(eval_dir / name, evaluation)
    train_fix, eval_fix = training_fix(train_dir, training), evaluation_fix(evaluation)
    summary = read_train_json(train_dir / "train.json", train_fix)
    if not summary.get("finished"):
        raise ValueError(
            f"{train_dir}: training stopped at iteration {summary.get('iterations')} of "
            f"{summary.get('total_iterations')}; finish it with the command that trained it plus --resume, "
            f"or {training.how_to_make()}"
        )
    metrics = check_metrics(located.metrics, eval_dir / "metrics.json", SCORES, eval_fix)  # read by discovery
    expected = {"dataset": dataset, "method": method, "seed": seed, "split": SPLIT}
    wrong = {k: metrics.get(k) for k, v in expected.items() if metrics.get(k) != v}
    if wrong:
        raise ValueError(f"{eval_dir / 'metrics.json'}: expected {expected}, the file has {wrong}; "
                         f"evaluate again: {evaluation.how_to_make()}")
    absent = [k for k in SCORES if k not in metrics]
    if absent:
        raise ValueError(f"{eval_dir / 'metrics.json'}: metrics {absent} missing; evaluate again: {evaluation.how_to_make()}")
    per_image = read_per_image_csv(eval_dir / "per_image.csv", PER_IMAGE_COUNTS, eval_fix)
    if len(per_image) != metrics.get("n_images"):
        raise ValueError(f"{eval_dir}: per_image.csv has {len(per_image)} rows, metrics.json n_images {metrics.get('n_images')}")
    # discrepancy_mean is empty for the methods without a topological term.
    log = read_log_csv(train_dir / "log.csv", CURVE_FIELDS, train_fix, optional=("discrepancy_mean",))
    val = read_log_csv(train_dir / "val.csv", VAL_FIELDS, train_fix)
    crops = read_crops_csv(train_dir / "crops.csv", train_fix)
    value = format_value(w.value) if setting is not None else None
    return Run(group, dataset, method, seed, setting, value, metrics, per_image, eval_dir / "points", log, val,
               summary.get("best_val_f1"), crop_statistics(crops), (summary.get("environment") or {}).get("cpu_kind"),
               first_weighted_iteration(crops))


def first_weighted_iteration(crops: pd.DataFrame) -> int | None:
    """The first iteration (1-based, as ``crops.csv`` counts) with a crop weight other than 1, None if none.

    A crop-weighting method with a warm-up (``tghem.warmup``) weights every crop 1 until then, so
    a checkpoint from an earlier iteration is the warm-up's network, the same for TG-HEM and both
    controls of one seed. Read from the logged weights, not recomputed from the settings.

    Example:
        >>> crops = pd.DataFrame({"iteration": [1, 1, 2, 2, 3], "weight": [1.0, 1.0, 1.0, 1.5, 2.0]})
        >>> first_weighted_iteration(crops), first_weighted_iteration(crops.assign(weight=1.0))
        (2, None)
    """
    weighted = crops.loc[crops["weight"] != 1.0, "iteration"]
    return int(weighted.min()) if len(weighted) else None


def _spearman(a: pd.Series, b: pd.Series) -> float | None:
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return None
    return float(stats.spearmanr(a, b).statistic)


def crop_statistics(crops: pd.DataFrame) -> dict:
    """:data:`CROP_STATISTICS` of one run's ``crops.csv``."""
    error = (crops["n_pred"] - crops["n_gt"]).abs().astype(float)
    has_d = crops["discrepancy"].notna().all() and len(crops) > 0
    d = crops["discrepancy"] if has_d else None
    return {
        "weight_mean": float(crops["weight"].mean()) if len(crops) else None,
        "discrepancy_mean": float(d.mean()) if has_d else None,
        "count_error_mean": float(error.mean()) if len(crops) else None,
        "weight_count_spearman": _spearman(crops["weight"], error),
        "discrepancy_count_spearman": _spearman(d, error) if has_d else None,
        "weight_discrepancy_spearman": _spearman(crops["weight"], d) if has_d else None,
    }


def read_runs(located: Sequence[Located]) -> tuple[list[Run], list[Run]]:
    """All runs of the study: (main runs in matrix order, ablation runs ablation by ablation)."""
    runs = [read_run(x) for x in located]
    return [r for r in runs if r.group == "main"], [r for r in runs if r.group != "main"]


def metric_names(runs: Sequence[Run]) -> list[str]:
    """:data:`SCORES`, then the :data:`EXTRA_SCORES` that some evaluation has."""
    return [*SCORES, *(k for k in EXTRA_SCORES if any(k in r.metrics for r in runs))]


def runs_frame(runs: Sequence[Run], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per run: its identity, checkpoint iteration, image count, match radius and ``metrics``."""
    rows = [
        {**r.key(), "checkpoint_iteration": r.metrics.get("iteration"), "n_images": r.metrics.get("n_images"),
         "match_radius": r.metrics.get("match_radius"), **{k: r.metrics.get(k) for k in metrics},
         "best_val_f1": r.best_val_f1, **{f"crops_{k}": v for k, v in r.crop_statistics.items()},
         "weighted_from": r.weighted_from, "cpu_kind": r.cpu_kind}
        for r in runs
    ]
    columns = [*RUN_KEYS, "checkpoint_iteration", "n_images", "match_radius", *metrics, "best_val_f1",
               *(f"crops_{k}" for k in CROP_STATISTICS), "weighted_from", "cpu_kind"]
    return pd.DataFrame(rows, columns=columns)


def image_f1(tp, fp, fn):
    """Per-image F1 from counts (:attr:`experiments.evaluation.metrics.Counts.f1`), element-wise."""
    return [Counts(int(a), int(b), int(c)).f1 for a, b, c in zip(tp, fp, fn)]


def per_image_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """The runs' per-image rows pooled (:data:`PER_IMAGE_COLUMNS`), with ``f1`` and ``abs_count_error``."""
    parts = [r.per_image.assign(dataset=r.dataset, method=r.method, seed=r.seed) for r in runs]
    columns = list(PER_IMAGE_COLUMNS[:-2])
    frame = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    return frame.assign(f1=image_f1(frame["tp"], frame["fp"], frame["fn"]),
                        abs_count_error=(frame["n_pred"] - frame["n_gt"]).abs())


def val_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's validation curve (``val.csv``: :data:`VAL_FIELDS` by iteration), identity columns in front."""
    parts = [r.val.assign(**r.key()) for r in runs if len(r.val)]
    columns = [*RUN_KEYS, "iteration", *VAL_FIELDS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def logs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's training log, with the run's identity columns in front."""
    parts = [r.log.assign(**r.key()) for r in runs]
    columns = [*RUN_KEYS, "iteration", *CURVE_FIELDS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
