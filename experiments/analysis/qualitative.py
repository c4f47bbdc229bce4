"""The qualitative example: one test image, its detections and what TG-HEM's D measures on one crop.

Everything the report's two illustrative figures draw is computed here, by the functions the
evaluation and TG-HEM themselves use, and written to ``qualitative.json``; the report only
draws it.

* The image: of the first dataset's test split, the one with the median ground-truth count (the
  lower median; ties by id), so the example is neither the easiest nor the hardest; the
  predictions of every method for the first seed, and for TG-HEM and the best baseline (highest
  mean F1) their true positives, false positives and false negatives by the evaluation's
  matching (:func:`experiments.evaluation.metrics.match_points`; the counts equal the image's
  row of ``per_image.csv``, which is checked).
* The crop: a window of the training crop size where the ground truth is densest
  (:func:`densest_window`). Its ground truth as TG-HEM sees a training crop (the dot map's
  non-zero pixels, :func:`tghem.topology.dot_points`), TG-HEM's predicted points in it, and what
  the TopoGuide training builds from the same ``tghem`` settings
  (:func:`experiments.core.topo.topo_guide`) makes of them (:meth:`tghem.TopoGuide.explain`): the
  H0 and H1 persistence diagrams, the two W1 distances, one optimal matching of each and D; and
  the crop weight w = 1 + λD by the losses' own rule (:func:`tghem.weighting.crop_weight`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from tghem import TopoGuide
from tghem.points import dot_map, pixel_indices
from tghem.topology import dot_points
from tghem.weighting import crop_weight

from ..core.fsutil import json_text
from ..core.prepared import image_file, prepared_dir, read_points_csv
from ..core.topo import topo_guide
from ..evaluation.metrics import Counts, match_points
from .collect import Run
from .discovery import SPLIT
from .study import BASELINE_REFERENCE, Study

SELECTION = "test image with the median ground-truth count (lower median, ties by id)"


def densest_window(points: np.ndarray, shape: tuple[int, int], size: int) -> dict:
    """The ``size x size`` window (clipped to the image) holding the most points.

    Points are placed on pixels by the project's rule; ties go to the smallest top row, then the
    smallest left column.

    Returns:
        ``{"x0", "y0", "width", "height"}``: the window covers pixel columns ``x0 .. x0 + width - 1``
        and rows ``y0 .. y0 + height - 1``.
    """
    h, w = int(shape[0]), int(shape[1])
    win_h, win_w = min(size, h), min(size, w)
    rows, cols = pixel_indices(points)
    rows, cols = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    counts = np.zeros((h + 1, w + 1), np.int64)
    np.add.at(counts, (rows + 1, cols + 1), 1)
    table = counts.cumsum(0).cumsum(1)  # table[r, c]: points in rows < r and columns < c
    inside = table[win_h:, win_w:] - table[:-win_h, win_w:] - table[win_h:, :-win_w] + table[:-win_h, :-win_w]
    y0, x0 = np.unravel_index(int(np.argmax(inside)), inside.shape)  # first maximum in row-major order
    return {"x0": int(x0), "y0": int(y0), "width": int(win_w), "height": int(win_h)}


def crop_points(points, crop: dict) -> np.ndarray:
    """Points whose pixel lies in the crop window, in the crop's coordinates."""
    p = np.asarray(points, float).reshape(-1, 2)
    rows, cols = pixel_indices(p)
    inside = ((cols >= crop["x0"]) & (cols < crop["x0"] + crop["width"])
              & (rows >= crop["y0"]) & (rows < crop["y0"] + crop["height"]))
    return p[inside] - np.array([crop["x0"], crop["y0"]], float)


def classify_detections(gt, pred, radius: float) -> dict[str, list]:
    """TP and FP predictions and FN ground truth, by the evaluation's one-to-one matching.

    Returns:
        ``{"tp": matched predictions, "fp": unmatched predictions, "fn": unmatched ground truth}``,
        each a list of ``[x, y]``.
    """
    gt, pred = np.asarray(gt, float).reshape(-1, 2), np.asarray(pred, float).reshape(-1, 2)
    pairs = match_points(pred, gt, radius)
    matched_pred = np.zeros(len(pred), bool)
    matched_gt = np.zeros(len(gt), bool)
    matched_pred[pairs[:, 0]] = True
    matched_gt[pairs[:, 1]] = True
    return {"tp": pred[matched_pred].tolist(), "fp": pred[~matched_pred].tolist(), "fn": gt[~matched_gt].tolist()}


def persistence_example(gt, pred, crop: dict, guide: TopoGuide, lambda_pers: float) -> dict:
    """What D measures on one crop: points, diagrams, distances, matchings, D and w.

    ``guide`` is the TopoGuide training builds from the same settings
    (:func:`experiments.core.topo.topo_guide`), asked to explain the crop
    (:meth:`tghem.TopoGuide.explain`); ``w`` is the crop-weighting rule of the losses
    (:func:`tghem.weighting.crop_weight`).

    Returns:
        ``crop``, ``gt``, ``pred`` (points in crop coordinates), ``gt_h0``, ``gt_h1``, ``pred_h0``,
        ``pred_h1`` (diagrams, rows ``[birth, death]``), ``w_h0``, ``w_h1``, ``discrepancy``,
        ``weight``, ``h0_pairs``, ``h1_pairs`` (rows ``[pred index, gt index]``, -1: the
        diagonal), ``epsilon``, ``lambda_pers``, ``reduction``.
    """
    gt_points = dot_points(dot_map(crop_points(gt, crop), (crop["height"], crop["width"])))
    e = guide.explain(gt_points, crop_points(pred, crop))
    return {
        "crop": crop,
        "gt": e.gt_points.tolist(), "pred": e.pred_points.tolist(),
        "gt_h0": e.gt_h0.tolist(), "gt_h1": e.gt_h1.tolist(), "pred_h0": e.pred_h0.tolist(), "pred_h1": e.pred_h1.tolist(),
        "w_h0": float(e.w_h0), "w_h1": float(e.w_h1), "discrepancy": float(e.discrepancy),
        "weight": float(crop_weight(e.discrepancy, lambda_pers)),
        "h0_pairs": e.h0_pairs.tolist(), "h1_pairs": e.h1_pairs.tolist(),
        "epsilon": float(guide.epsilon), "lambda_pers": float(lambda_pers), "reduction": guide.reduction,
    }


def best_baseline(summary: dict, dataset: str) -> str | None:
    """The method other than tghem with the highest mean F1 on ``dataset`` (study order on ties)."""
    by_method = summary[dataset]
    others = [m for m in by_method if m != BASELINE_REFERENCE and by_method[m]["f1"]["mean"] is not None]
    return max(others, key=lambda m: by_method[m]["f1"]["mean"]) if others else None


def qualitative_example(study: Study, runs: Sequence[Run], summary: dict, data_dir: Path, params: dict) -> dict:
    """The inputs of the report's qualitative and persistence figures (see the module docstring).

    Args:
        study: the study.
        runs: its main runs.
        summary: :func:`experiments.analysis.summary.seed_summary` of them (for the best baseline).
        data_dir: data folder holding the prepared test image.
        params: the settings (``train.crop_size``, ``tghem.*``).

    Returns:
        ``dataset``, ``split``, ``seed``, ``image_id``, ``image_file`` (relative to the prepared
        folder), ``image_shape`` ``[H, W]``, ``selection``, ``match_radius``, ``gt``, ``pred``
        (``{method: points}``), ``counts`` (``{method: {n_pred, tp, fp, fn}}``), ``shown`` (TG-HEM
        and the best baseline), ``detections`` (``{shown method: classify_detections}``, with
        its ``f1``) and ``persistence`` (:func:`persistence_example`).

    Raises:
        ValueError: the test split is empty, or the prepared data or the evaluated points no
            longer agree with the evaluation's counts.
    """
    dataset, seed = study.datasets[0], study.seeds[0]
    chosen = {r.method: r for r in runs if r.dataset == dataset and r.seed == seed}
    reference = chosen[BASELINE_REFERENCE]
    if reference.per_image.empty:
        raise ValueError(f"{dataset}: the {SPLIT} split has no images; there is nothing to show")
    ranked = reference.per_image.sort_values(["n_gt", "image_id"], kind="stable")
    row = ranked.iloc[(len(ranked) - 1) // 2]
    image_id = str(row["image_id"])
    prepared = prepared_dir(data_dir, dataset)
    image_path = image_file(prepared, image_id)
    gt = read_points_csv(prepared / "points" / f"{image_id}.csv")
    if len(gt) != int(row["n_gt"]):
        raise ValueError(
            f"{prepared}: image {image_id} has {len(gt)} points, its evaluation {int(row['n_gt'])}; "
            f"the prepared data changed after evaluation: re-evaluate the runs"
        )
    with Image.open(image_path) as im:
        width, height = im.size
    radius = float(reference.metrics["match_radius"])
    pred, counts = {}, {}
    for m in study.methods:
        path = chosen[m].points_dir / f"{image_id}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; evaluate the run again (`python -m experiments.evaluate "
                                    f"--run ... --out {chosen[m].points_dir.parent}`)")
        pred[m] = read_points_csv(path)
        image_row = chosen[m].per_image.set_index("image_id").loc[image_id]
        counts[m] = {k: int(image_row[k]) for k in ("n_pred", "tp", "fp", "fn")}
    shown = [BASELINE_REFERENCE] + [m for m in [best_baseline(summary, dataset)] if m]
    detections = {}
    for m in shown:
        parts = classify_detections(gt, pred[m], radius)
        found = {k: len(parts[k]) for k in ("tp", "fp", "fn")}
        expected = {k: counts[m][k] for k in found}
        if found != expected:
            raise ValueError(f"{chosen[m].points_dir}: matching {m}'s points of image {image_id} gives {found}, "
                             f"its per_image.csv row {expected}; evaluate the run again")
        detections[m] = {**parts, "f1": Counts(found["tp"], found["fp"], found["fn"]).f1}
    t = params["tghem"]
    crop = densest_window(gt, (height, width), params["train"]["crop_size"])
    return {
        "dataset": dataset, "split": SPLIT, "seed": seed, "image_id": image_id,
        "image_file": str(image_path.relative_to(prepared)), "image_shape": [height, width],
        "selection": SELECTION, "match_radius": radius,
        "gt": gt.tolist(), "pred": {m: p.tolist() for m, p in pred.items()}, "counts": counts,
        "shown": shown, "detections": detections,
        "persistence": persistence_example(gt, pred[BASELINE_REFERENCE], crop, topo_guide(t), t["lambda_pers"]),
    }


def qualitative_text(document: dict) -> str:
    """``qualitative.json`` text: strict JSON, but each list of points or bars on one line.

    Indenting every coordinate would spread a few thousand points over tens of thousands of
    lines; one line per list keeps the file short and its diffs readable.
    """
    inline: dict[str, list] = {}

    def placeholder(value: list) -> str:
        key = f"@{len(inline)}@"
        inline[key] = value
        return key

    persistence = {k: placeholder(v) if isinstance(v, list) else v for k, v in document["persistence"].items()}
    skeleton = dict(
        document,
        gt=placeholder(document["gt"]),
        pred={m: placeholder(p) for m, p in document["pred"].items()},
        detections={m: {k: placeholder(v) if isinstance(v, list) else v for k, v in d.items()}
                    for m, d in document["detections"].items()},
        persistence=persistence,
    )
    text = json_text(skeleton)
    for key, value in inline.items():
        text = text.replace(json.dumps(key), json.dumps(value, separators=(",", ":"), allow_nan=False), 1)
    return text
