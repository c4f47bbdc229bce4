"""Every number of the study, gathered from exactly the runs it defines: what ``aggregate`` runs.

Reads the runs of the study in ``params.yaml``, found by their own records
(:mod:`experiments.analysis.discovery`, :mod:`experiments.analysis.collect`), and writes into the results folder, the files as one
(:func:`experiments.core.outputs.publish_files`: a reader sees all old or all new ones):

* ``metrics.json`` (the DVC metric): ``main``: ``{dataset: {method: {metric: {mean, std, n}}}}``
  over seeds (``std``: sample standard deviation, ddof = 1; null with one seed); ``comparison``:
  ``{dataset: {baseline: ...}}``, TG-HEM against every other method and against itself at
  lambda = 0 (``tghem_lambda0``): by seed (the primary paired t-interval) and by image
  (descriptive), :func:`~experiments.analysis.summary.compare_methods`; ``failed``: the runs
  that never detected anything (:data:`~experiments.analysis.summary.FAILED_RULE`);
  ``ablation``: ``{name: {value: {metric: {mean, std, n}}}}`` over the ablation seeds (with
  ``best_val_f1``, the checkpoint's validation F1); ``ablation_reference``: the main TG-HEM runs
  of the ablation dataset and the value each swept setting has there, what every ablation is read
  against (:mod:`~experiments.analysis.ablations`); ``warmup_checkpoints``: per dataset and
  crop-weighting method, how many main runs kept a checkpoint from before their first weighted
  iteration (:func:`~experiments.analysis.summary.warmup_checkpoints`); ``lambda_selection``: the lambda the
  validation split picks beside the configured one; ``convergence``: how much each method's val
  F1 still moves over the last quarter of training; ``dynamics``: per dataset and method, the
  mean crop weight, D and count error over training and their Spearman correlations. Metrics: ``f1``, ``precision``, ``recall``
  (micro, pooled over the test images), ``mae``, ``rmse``, and ``f1_mean_radii``, ``mre``,
  ``game0``..``game3`` where the evaluations have them.
  ``splits``: ``{dataset: {train, val, test}}``, the image count of each split (the prepared
  datasets' ``split.csv``; a re-aggregation from tables keeps the previous file's).
* ``runs.csv``: one row per run: ``group`` (main/ablation), ``dataset``, ``method``, ``seed``,
  ``setting``, ``value``, ``checkpoint_iteration``, ``n_images``, ``match_radius``, the metrics,
  ``best_val_f1``, the ``crops_*`` summaries of its ``crops.csv``
  (:data:`~experiments.analysis.collect.CROP_STATISTICS`), ``weighted_from`` (the first iteration
  with a crop weight other than 1, empty if none), ``cpu_kind``, the kind of CPU that
  trained it (e.g. ``Intel Xeon / AMX-BF16``; bf16 results differ in the last bits between kinds),
  and ``failed`` (True/False).
* ``per_image.csv``: the main runs' per-image rows pooled, and those of the lambda ablation's
  lambda = 0 runs as method ``tghem_lambda0``: ``dataset``, ``method``, ``seed``,
  ``image_id``, ``n_gt``, ``n_pred``, ``tp``, ``fp``, ``fn``, ``f1`` (``2 tp / (2 tp + fp + fn)``, 1
  when the image has neither points nor predictions), ``abs_count_error`` (``|n_pred - n_gt|``).
* ``curves.csv``: every run's training log thinned to at most
  :data:`~experiments.analysis.summary.CURVE_POINTS` rows (block means): the run's identity,
  ``iteration`` (a block's last), ``loss``, ``seg_loss``, ``weight_mean``, ``weight_max``
  (block maximum), ``discrepancy_mean`` (empty for methods without a topological term),
  ``count_error_mean``.
* ``val_curves.csv``: every run's validation curve (``val.csv``): identity, ``iteration``,
  ``f1``, ``precision``, ``recall``, ``mae``.
* ``comparison.csv``: the paired comparisons, one row per dataset, baseline and quantity (F1,
  count error): the seed-level t-interval, wins and t-test of the runs' F1 and MAE, and the
  descriptive image-level bootstrap interval and Wilcoxon test over (seed, image) pairs.
* ``qualitative.json``: everything the report's illustrative figures draw
  (:mod:`experiments.analysis.qualitative`).
* ``oracle.csv``: the training target itself scored as a prediction, per dataset and split
  (:mod:`experiments.analysis.oracle`); ``metrics.json``'s ``oracle`` holds its test rows.

``python -m experiments.aggregate --from-tables`` recomputes ``metrics.json``, ``comparison.csv``
and ``runs.csv``'s ``failed`` from ``runs.csv``, ``per_image.csv`` and ``val_curves.csv``
(:func:`reaggregate`): the rules of the summaries can change without the runs.

Nothing depends on the clock and no timing is copied, so the same runs give the same bytes;
floats are rounded to 6 significant digits, and the JSON is strict (no NaN).
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.fsutil import json_text, read_json
from ..core.outputs import publish_files
from ..core.prepared import PREPARED_SPLITS, read_split_csv, reprepare_hint, require_prepared
from ..core.settings import read_params_file, resolve, validate
from .collect import (EXTRA_SCORES, PER_IMAGE_COLUMNS, PER_IMAGE_COUNTS, RUN_KEYS, SCORES, VAL_FIELDS, logs_frame,
                      metric_names, per_image_frame, read_runs, runs_frame, val_frame)
from .discovery import (Records, Wanted, locate_oracles, locate_runs, oracle_targets, read_records, study_folder,
                        wanted_runs)
from .oracle import ORACLE_COLUMNS, ORACLE_SCORES, oracle_summary, read_oracle
from .readers import parsed_csv
from .qualitative import qualitative_example, qualitative_text
from .statistics import round_float
from .study import Study, format_value, parse_study
from .convergence import convergence_summary
from .localization import STRICT_KEY, strict_f1
from .ablations import main_setting_values
from .summary import (LAMBDA_ZERO, ablation_summary, compare_methods, comparison_rows,
                      dynamics_summary, failed_runs, failed_summary, lambda_selection, seed_summary, thin_curves,
                      warmup_checkpoints, ablation_reference)

OUTPUT_FILES = ("metrics.json", "runs.csv", "per_image.csv", "curves.csv", "val_curves.csv", "comparison.csv",
                "qualitative.json", "oracle.csv")


def csv_text(frame: pd.DataFrame) -> str:
    """CSV text (``\\n`` line ends, no index): floats to 6 significant digits, None and NaN as empty cells."""
    rounded = frame.astype(object).map(lambda v: round_float(v))
    buf = io.StringIO()
    rounded.to_csv(buf, index=False, lineterminator="\n", na_rep="")
    return buf.getvalue()


def schedule_lengths(raw: dict, params: dict, study: Study, source: str = "params") -> dict[str, int]:
    """``{dataset: train.iterations}`` of the study's datasets, their per-dataset settings applied.

    Example:
        >>> from types import SimpleNamespace
        >>> raw = {"per_dataset": {"b": {"train": {"iterations": 60}}}}
        >>> schedule_lengths(raw, {"train": {"iterations": 30}}, SimpleNamespace(datasets=("a", "b")))
        {'a': 30, 'b': 60}
    """
    return {d: resolve(params, raw, d, source)["train"]["iterations"] for d in study.datasets}


def summarise(runs: pd.DataFrame, per_image: pd.DataFrame, val: pd.DataFrame, study: Study, params: dict,
              oracle: pd.DataFrame | None = None, iterations: int | dict[str, int] | None = None,
              ablation_settings: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """Everything computed from the logged tables: ``metrics.json``'s content and ``runs.csv`` with ``failed``.

    The single place the study's numbers are derived, whether the tables were just read from
    the runs (:func:`aggregate`) or back from a results folder (:func:`reaggregate`).

    Args:
        runs: one row per run (``runs.csv``; a ``failed`` column, if any, is recomputed).
        per_image: ``per_image.csv``'s rows.
        val: every run's validation curve (``val_curves.csv``).
        study: the study the runs belong to.
        params: the validated run settings (``tghem.lambda_pers``).
        oracle: the oracle rows (``oracle.csv``; :mod:`~experiments.analysis.oracle`), if any.
        iterations: the schedule's length per dataset (:func:`schedule_lengths`), or one for
            all; None: ``params``' ``train.iterations``.
        ablation_settings: the settings of the ablation dataset's main runs (``params`` with its
            ``per_dataset`` entry applied); None: ``params``. The ablations are read against them
            (``ablation_reference``, :mod:`~experiments.analysis.ablations`).

    Returns:
        ``(metrics, runs)``: ``runs`` with its ``failed`` column (:func:`~.summary.failed_runs`).
    """
    if iterations is None:
        iterations = params["train"]["iterations"]
    runs = runs.drop(columns=["failed"], errors="ignore")
    runs = runs.assign(failed=failed_runs(runs))
    names = [k for k in (*SCORES, *EXTRA_SCORES) if k in runs.columns and runs[k].notna().any()]
    ablation_metrics = ablation_summary(runs, names, tuple(study.ablation))
    metrics = {
        "main": seed_summary(runs, study, names), "comparison": compare_methods(per_image, runs, study),
        "ablation": ablation_metrics,
        "lambda_selection": lambda_selection(ablation_metrics, params["tghem"]["lambda_pers"]),
        "convergence": convergence_summary(val, runs, iterations),
        "dynamics": dynamics_summary(runs, study),
        "failed": failed_summary(runs),
        "match_radius": {d: round_float(r) for d, r in  # each dataset's, for the anchors' F1
                         runs[runs["group"] == "main"].groupby("dataset", sort=False)["match_radius"].first().items()},
    }
    early = warmup_checkpoints(runs)
    if early:
        metrics["warmup_checkpoints"] = early
    reference = ablation_reference(runs, study, names, main_setting_values(
        params if ablation_settings is None else ablation_settings, study, oracle))
    if reference is not None:
        metrics["ablation_reference"] = reference
    oracle_scores = oracle_summary(oracle)
    if oracle_scores:
        metrics["oracle"] = oracle_scores
    return metrics, runs


SPLITS = ("train", "val", "test")
"""The splits whose image counts ``metrics.json`` records under ``splits``."""


def split_sizes(study: Study, data_dir: Path) -> dict:
    """``{dataset: {split: images}}`` of the study's datasets, counted in their prepared ``split.csv``.

    Raises:
        FileNotFoundError: a dataset is not prepared under ``data_dir`` (the message says how to).
        ValueError: a damaged ``split.csv`` (the message names it and how to prepare again).
    """
    sizes = {}
    for dataset in study.datasets:
        prepared = require_prepared(data_dir, dataset)
        counts = Counter(read_split_csv(prepared / "split.csv", PREPARED_SPLITS, reprepare_hint(prepared)).values())
        sizes[dataset] = {split: counts.get(split, 0) for split in SPLITS}
    return sizes


FROM_RUNS = "aggregate from the runs: python -m experiments.aggregate"
LOGGED_COLUMNS = {
    "runs.csv": (RUN_KEYS, ("seed", *SCORES)),
    "per_image.csv": (PER_IMAGE_COLUMNS, ("seed", *PER_IMAGE_COUNTS, "f1", "abs_count_error")),
    "val_curves.csv": ((*RUN_KEYS, "iteration", *VAL_FIELDS), ("seed", "iteration", *VAL_FIELDS)),
    "oracle.csv": (ORACLE_COLUMNS, ORACLE_SCORES),
}
"""Per logged table: its required columns, and those of them that must hold numbers."""


def _read_logged(path: Path) -> pd.DataFrame:
    """A logged table of a results folder, identity columns as text (empty: NaN), its columns checked
    (:data:`LOGGED_COLUMNS`): a damaged table is refused in one line naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run `python -m experiments.aggregate` first")
    required, numeric = LOGGED_COLUMNS[path.name]
    frame = parsed_csv(path, required, FROM_RUNS, dtype={"group": str, "dataset": str, "method": str, "setting": str,
                                                          "value": str, "image_id": str, "target": str, "radius": str})
    for column in numeric:  # none of them is ever empty, NaN or infinite in a table aggregate wrote
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(np.float64))
        if bad.any():
            row = int(bad.argmax())
            cell = frame[column].iloc[row]
            shown = repr(cell) if isinstance(cell, str) else "empty or NaN" if pd.isna(cell) else str(cell)
            raise ValueError(f"{path}: line {row + 2}, {column} is {shown}, expected a finite number; {FROM_RUNS}")
    return frame


def _identity(group, dataset, method, seed, setting, value) -> tuple:
    return group, dataset, method, int(seed), setting if isinstance(setting, str) else None, \
        value if isinstance(value, str) else None


def check_logged_runs(runs: pd.DataFrame, per_image: pd.DataFrame, wanted: Sequence[Wanted], out: Path) -> None:
    """Refuse logged tables that do not hold exactly the study's runs: ``runs.csv`` must have one row
    per run of the matrix computed from the settings (a truncated or foreign table would give n = 1
    where the study has 3 seeds), and ``per_image.csv`` ``n_images`` rows per main run.

    Raises:
        ValueError: naming the table, how many runs are missing or foreign, and one of each.
    """
    expected = Counter(_identity(w.group, w.dataset, w.method, w.seed, w.setting,
                                 None if w.setting is None else format_value(w.value)) for w in wanted)
    logged = Counter(_identity(*row) for row in runs[list(RUN_KEYS)].itertuples(index=False))
    missing, foreign = expected - logged, logged - expected
    if missing or foreign:
        parts = [f"{sum(c.values())} {what} (e.g. {' '.join(str(k) for k in next(iter(c)) if k is not None)})"
                 for c, what in ((missing, "missing"), (foreign, "not of the study or repeated")) if c]
        raise ValueError(f"{out / 'runs.csv'}: does not hold the study's {sum(expected.values())} runs: "
                         f"{', '.join(parts)}; {FROM_RUNS}")
    if "n_images" not in runs.columns:
        return
    counts = per_image.groupby(["dataset", "method", "seed"]).size()
    for row in runs[runs["group"] == "main"].itertuples(index=False):
        n = int(counts.get((row.dataset, row.method, int(row.seed)), 0))
        if pd.notna(row.n_images) and n != int(row.n_images):
            raise ValueError(f"{out / 'per_image.csv'}: {n} row(s) of {row.dataset}/{row.method}/seed {row.seed}, whose "
                             f"evaluation scored {int(row.n_images)} images (runs.csv); {FROM_RUNS}")


def _folders(root: Path, evals: Sequence[str | Path] | None) -> list[Path]:
    """The folders searched for the study's records: ``evals`` (relative ones below ``root``), default ``root/evals``."""
    return [root / f for f in evals] if evals else [root / "evals"]


def _data_dir(root: Path, data_dir: str | Path | None) -> Path:
    """The data folder: ``data_dir``, default ``root/data``."""
    return Path(data_dir) if data_dir is not None else root / "data"


def _oracle(study: Study, params: dict, raw, source: str, data_dir: Path, records: Records, where: str) -> pd.DataFrame:
    """The oracle rows of the study's targets (:func:`.discovery.oracle_targets`), from ``records``."""
    return read_oracle(locate_oracles(oracle_targets(study, params, raw, data_dir, source), records, where))


def reaggregate(params_path: str | Path | None = None, out: str | Path = "results", root: str | Path = ".",
                evals: Sequence[str | Path] | None = None, data_dir: str | Path | None = None) -> dict:
    """Recompute ``metrics.json``, ``comparison.csv`` and ``runs.csv``'s ``failed`` from the logged tables of ``out``.

    Reads ``out``'s ``runs.csv``, ``per_image.csv`` and ``val_curves.csv`` (what :func:`aggregate`
    logged from the runs) instead of the runs themselves, so the summaries and comparisons can
    be recomputed under new rules where the runs are not at hand (an empty DVC cache). The
    oracle rows come from the oracle records below ``evals`` (relative to ``root``; the
    targets' radii from ``data_dir``, default ``root/data``) when ``evals`` is given, and are then logged again (``oracle.csv``; the oracle needs no run), else from
    ``out``'s ``oracle.csv`` if any. The other files are left as they are.

    Returns:
        The content of ``metrics.json``.
    """
    out = Path(out)
    raw, source = read_params_file(params_path)
    study = parse_study(raw, source)
    params = validate(raw, source)
    runs, per_image, val = (_read_logged(out / name) for name in ("runs.csv", "per_image.csv", "val_curves.csv"))
    check_logged_runs(runs, per_image, wanted_runs(study, params, raw, source), out)
    fresh = None
    if evals:
        fresh = _oracle(study, params, raw, source, _data_dir(Path(root), data_dir), read_records(_folders(Path(root), evals)),
                        study_folder(params_path))
    oracle = fresh if fresh is not None and len(fresh) else (
        _read_logged(out / "oracle.csv") if (out / "oracle.csv").is_file() else None)
    metrics, runs = summarise(runs, per_image, val, study, params, oracle, schedule_lengths(raw, params, study, source),
                              resolve(params, raw, study.ablation_dataset, source))
    previous = out / "metrics.json"
    kept = read_json(previous, FROM_RUNS) if previous.is_file() else {}
    if isinstance(kept, dict) and "splits" in kept:
        metrics["splits"] = kept["splits"]  # the logged tables do not record them
    texts = {"metrics.json": json_text(metrics), "runs.csv": csv_text(runs),
             "comparison.csv": csv_text(comparison_rows(metrics["comparison"]))}
    if fresh is not None and len(fresh):
        texts["oracle.csv"] = csv_text(fresh[list(ORACLE_COLUMNS)])
    publish_files(out, texts, "aggregate")  # everything computed before the first write; published as one
    return metrics


def aggregate(params_path: str | Path | None = None, root: str | Path = ".", out: str | Path = "results",
              data_dir: str | Path | None = None, evals: Sequence[str | Path] | None = None) -> dict:
    """Read the study's runs and write the result files (:data:`OUTPUT_FILES`) into ``out``.

    Args:
        params_path: the ``params.yaml`` defining the study (default: the repository's).
        root: the folder the commands ran in (evaluations record their run's folder relative to it).
        out: output folder (created; other files in it are left alone).
        data_dir: data folder with ``prepared/<dataset>`` (default ``<root>/data``).
        evals: folders holding the study's evaluations and oracles, relative to ``root`` (default:
            ``root/evals``); the runs are found from their records (:mod:`.discovery`).

    Returns:
        The content of ``metrics.json``.
    """
    root = Path(root)
    data_dir = _data_dir(root, data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--root: {root} is not a folder")
    raw, source = read_params_file(params_path)
    study = parse_study(raw, source)
    params = validate(raw, source)  # the run settings of the same file, read once
    for dataset in dict.fromkeys(d for d in (*study.datasets, study.ablation_dataset) if d is not None):
        require_prepared(data_dir, dataset)  # --data-dir named at once, not by a missing points file later
    records, where = read_records(_folders(root, evals)), study_folder(params_path)  # every record read once
    main, ablation = read_runs(locate_runs(wanted_runs(study, params, raw, source), records, root, where))
    for run, value in zip([*main, *ablation], strict_f1([*main, *ablation], data_dir)):
        # F1 at 4 px, from the logged points; 6 digits, as runs.csv logs it (--from-tables reads that back)
        run.metrics = {**run.metrics, STRICT_KEY: round_float(value)}
    oracle = _oracle(study, params, raw, source, data_dir, records, where)
    names = metric_names([*main, *ablation])
    # TG-HEM at lambda = 0 (ablation runs) is compared image by image too: its rows join per_image.csv.
    zero = [r for r in ablation if r.setting == "lambda_pers" and float(r.value) == 0 and r.dataset in study.datasets]
    per_image = per_image_frame([*main, *(dataclasses.replace(r, method=LAMBDA_ZERO) for r in zero)])
    val = val_frame([*main, *ablation])
    metrics, runs = summarise(runs_frame([*main, *ablation], names), per_image, val, study, params, oracle,
                              schedule_lengths(raw, params, study, source), resolve(params, raw, study.ablation_dataset, source))
    metrics["splits"] = split_sizes(study, data_dir)
    summary = metrics["main"]
    texts = {
        "metrics.json": json_text(metrics),
        "runs.csv": csv_text(runs),
        "per_image.csv": csv_text(per_image),
        "curves.csv": csv_text(thin_curves(logs_frame([*main, *ablation]))),
        "val_curves.csv": csv_text(val),
        "comparison.csv": csv_text(comparison_rows(metrics["comparison"])),
        "qualitative.json": qualitative_text(qualitative_example(study, main, summary, data_dir,
                                                              resolve(params, raw, study.datasets[0], source))),
        "oracle.csv": csv_text(oracle[list(ORACLE_COLUMNS)]),
    }
    # Everything is computed before the first write; the files are published as one (all old or all new).
    publish_files(out, {name: texts[name] for name in OUTPUT_FILES}, "aggregate")
    return metrics

