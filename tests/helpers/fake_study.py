"""Study folders as experiments.train and experiments.evaluate write them, with chosen contents.

Shared by the aggregation and rendering tests: they need many runs, and real training is far
too slow for that, so the files are written directly, each run's ``train.json`` recording the
settings the study gives it and each evaluation's ``metrics.json`` naming its run, as the stages
write them: the aggregation finds them from those records (:mod:`experiments.analysis.discovery`).
"""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from experiments.analysis import discovery
from experiments.analysis.study import format_value, read_study
from experiments.core.prepared import points_csv_text
from experiments.core.settings import load_params, read_params_file, validate
from experiments.training.logs import CROP_FIELDS, LOG_FIELDS, TIMING_FIELDS, VAL_FIELDS
from tests.helpers.paths import ROOT


@dataclass(frozen=True)
class RunPaths:
    """A run's training and evaluation folders, the training folder as its evaluation records it
    (relative to the study's root), and the settings the study gives the run."""

    train: Path
    eval: Path
    run_dir: str = ""
    config: dict = field(default_factory=dict)


def write_params(path: Path, datasets, methods, seeds, lambda_pers=(0.0, 0.5), ohem_min_kept=(500, 1000),
                 ablation_dataset=None, ablation_seeds=(0,), top_dimension=(True,), **settings) -> Path:
    """The repository's params.yaml with the study shrunk and ``settings`` changed.

    ``settings``: ``section={key: value}``, e.g. ``train={"crop_size": 32}``.
    """
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["study"].update(datasets=list(datasets), methods=list(methods), seeds=list(seeds))
    raw["ablation"].update(dataset=ablation_dataset or datasets[0], seeds=list(ablation_seeds),
                           lambda_pers=list(lambda_pers), ohem_min_kept=list(ohem_min_kept),
                           top_dimension=list(top_dimension))
    for section, values in settings.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def located(params: Path, root: Path) -> list:
    """Every run of the study of ``params`` found below ``root/evals`` (:func:`discovery.locate_runs`)."""
    raw, source = read_params_file(params)
    wanted = discovery.wanted_runs(read_study(params), validate(raw, source), raw, source)
    return discovery.locate_runs(wanted, discovery.read_records([root / "evals"]), root)


def _paths(root: Path, kind: str, *parts, config: dict) -> RunPaths:
    rel = Path(*map(str, parts))
    return RunPaths(root / "runs" / kind / rel, root / "evals" / kind / rel, (Path("runs") / kind / rel).as_posix(), config)


def main_run(params: Path, dataset: str, method: str, seed: int, root: Path) -> RunPaths:
    """Folders for one run of the main comparison, below ``root``, and its settings."""
    return _paths(root, "main", dataset, method, f"seed{seed}", config=load_params(params, dataset=dataset))


def ablation_run(params: Path, name: str, value, root: Path, seed: int = 0) -> RunPaths:
    """Folders for one ablation run, below ``root``, and its settings."""
    config = discovery.ablation_settings(load_params(params, dataset=read_study(params).ablation_dataset), name, value)
    return _paths(root, "ablation", name, format_value(value), f"seed{seed}", config=config)


def oracle_folder(params: Path, dataset: str, root: Path) -> Path:
    """A folder for the oracle of ``dataset``, below ``root``."""
    return root / "evals" / "oracle" / dataset


def write_oracle(params: Path, dataset: str, root: Path, scores: dict, radius=3, gap=True) -> Path:
    """An oracle's ``metrics.json`` with ``scores`` on the val and test splits."""
    out = oracle_folder(params, dataset, root)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"dataset": dataset, "target": {"radius": radius, "gap": gap}, "centroid_mode": "contour",
           "match_radius": 5.0, "val": scores, "test": scores}
    (out / "metrics.json").write_text(json.dumps(doc, indent=2))
    return out


def log_rows(iterations: int, start_loss: float, weight: float | None) -> list[dict]:
    """A training log: loss halving over the run; ``weight`` None for methods without topology."""
    rows = []
    for it in range(1, iterations + 1):
        loss = start_loss * 0.5 ** (it / iterations)
        rows.append({
            "iteration": it, "loss": loss, "seg_loss": loss / (weight or 1.0), "weight_mean": weight or 1.0,
            "weight_max": (weight or 1.0) * 1.5, "discrepancy_mean": "" if weight is None else (weight - 1.0) / 0.5,
            "count_error_mean": 2.0, "lr": 0.001,
        })
    return rows


def write_run(paths: RunPaths, dataset: str, method: str, seed: int, per_image: list[dict], scores: dict,
              log: list[dict], points: dict[str, np.ndarray] | None = None, config: dict | None = None,
              match_radius: float = 5.0, finished: bool = True, best_val_f1: float | None = 0.5) -> None:
    """One run's training folder (train.json, log.csv, and the untracked timing files) and evaluation folder.

    Args:
        paths: the run's folders.
        per_image: rows ``{"image_id", "n_gt", "n_pred", "tp", "fp", "fn"}``.
        scores: the metrics of metrics.json (f1, precision, ...).
        log: rows of log.csv (:func:`log_rows`).
        points: predicted points per image id (default: none for every image).
        config: settings that differ from the ones the study gives the run (``paths.config``),
            ``{section: {key: value}}``; train.json records the result.
        best_val_f1: the validation F1 train.json records for the checkpoint; val.csv rises to it.
    """
    paths.train.mkdir(parents=True)
    iterations = len(log)
    settings = copy.deepcopy(paths.config)
    for section, values in (config or {}).items():
        settings.setdefault(section, {}).update(values)
    summary = {"dataset": dataset, "method": method, "seed": seed, "iterations": iterations,
               "total_iterations": iterations, "finished": finished, "config": settings,
               "best_val_f1": best_val_f1, "environment": {"torch_threads": 2, "cpu_kind": "Test CPU / AVX2"}}
    (paths.train / "train.json").write_text(json.dumps(summary, indent=2))
    with open(paths.train / "log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(log)
    with open(paths.train / "val.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, VAL_FIELDS, lineterminator="\n")
        writer.writeheader()
        top = best_val_f1 or 0.0
        for k, it in enumerate(sorted({max(1, iterations // 2), iterations})):
            f1 = top * (0.8 if k == 0 and it != iterations else 1.0)
            writer.writerow({"iteration": it, "f1": f1, "precision": f1, "recall": f1, "f1_mean": f1, "mae": 3.0,
                             "rmse": 4.0, "n_images": 2})
    with open(paths.train / "crops.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CROP_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in log:
            for crop in range(2):  # crop 1 has the larger count error and, where weighted, the larger weight
                w = float(r["weight_mean"])
                weighted = r["discrepancy_mean"] != ""
                writer.writerow({"iteration": r["iteration"], "crop": crop, "n_gt": 10, "n_pred": 10 + crop * 4,
                                 "discrepancy": (1.0 + 3 * crop + r["iteration"] % 3) if weighted else "",
                                 "weight": (w * (0.5 + crop) + 0.01 * (r["iteration"] % 3)) if weighted else 1.0})
    # What a real run also leaves beside its outputs: timings that aggregate must never copy.
    with open(paths.train / "timing.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, TIMING_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({"iteration": r["iteration"], "seconds": 0.123 + r["iteration"]} for r in log)
    (paths.train / "environment.json").write_text(json.dumps({"wall_seconds": 12.5, "train_seconds": 3.21}))
    (paths.eval / "points").mkdir(parents=True)
    metrics = {"n_images": len(per_image), "match_radius": match_radius, **scores, "dataset": dataset,
               "split": "test", "method": method, "seed": seed, "run_dir": paths.run_dir, "checkpoint": "best",
               "iteration": iterations}
    (paths.eval / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with open(paths.eval / "per_image.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ("image_id", "n_gt", "n_pred", "tp", "fp", "fn"), lineterminator="\n")
        writer.writeheader()
        writer.writerows(per_image)
    for row in per_image:
        p = (points or {}).get(row["image_id"], np.zeros((0, 2)))
        (paths.eval / "points" / f"{row['image_id']}.csv").write_text(points_csv_text(p))


def copy_run(source: RunPaths, paths: RunPaths) -> None:
    """``source``'s files as the run of ``paths``: two runs of the same settings (an ablation value
    equal to the main one) are the same experiment, with the same records but for the run's folder."""
    import shutil

    shutil.copytree(source.train, paths.train)
    shutil.copytree(source.eval, paths.eval)
    metrics = json.loads((paths.eval / "metrics.json").read_text())
    (paths.eval / "metrics.json").write_text(json.dumps(dict(metrics, run_dir=paths.run_dir), indent=2))


def write_prepared(data_dir: Path, dataset: str, gt: dict[str, np.ndarray], shape=(64, 80)) -> Path:
    """A prepared dataset with every image in the test split (black PNGs of ``shape``)."""
    from PIL import Image

    d = data_dir / "prepared" / dataset
    (d / "images").mkdir(parents=True)
    (d / "points").mkdir()
    for image_id, points in gt.items():
        Image.fromarray(np.zeros(shape, np.uint8)).save(d / "images" / f"{image_id}.png")
        (d / "points" / f"{image_id}.csv").write_text(points_csv_text(points))
    (d / "split.csv").write_text("image_id,split\n" + "".join(f"{i},test\n" for i in gt))
    (d / "meta.json").write_text(json.dumps({"dataset": dataset, "match_radius": 5.0}))
    return d
