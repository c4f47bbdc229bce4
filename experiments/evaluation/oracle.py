"""The oracle: the training target itself taken as the prediction, through the evaluation's own
point extraction and matching.

What a method can reach is bounded by its target: touching disks that merge into one blob are
one detection however well a network learns them. The oracle binarises the ground-truth target
of every image (:func:`tghem.targets.dilated_mask` with the run settings' rule,
:func:`experiments.core.targets.target_rule`), extracts one point per blob with the evaluation's
:func:`tghem.topology.component_centroids` mode and scores the points with the same metrics
(:func:`experiments.evaluation.metrics.evaluate_image`), so every main table can show how far each
method is from what its target allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tghem.targets import dilated_mask
from tghem.topology import component_centroids

from ..core.fsutil import json_text
from ..core.outputs import atomic_dir
from ..core.prepared import load_split, read_meta, require_prepared
from ..core.resolution import ORACLE_SCORING
from ..core.settings import ConfigError, load_params
from ..core.targets import target_rule
from .inference import eval_settings
from .metrics import ImageResult, evaluate_image, summarize
from .run import per_image_csv_text

ORACLE_SPLITS = ("val", "test")
"""The splits the oracle scores (a split without images is left out)."""


def oracle_points(points, shape: tuple[int, int], radius, gap: bool, centroid_mode: str) -> np.ndarray:
    """The points the evaluation extracts from the training target of one image.

    Example:
        >>> oracle_points([[2, 2], [5, 2]], (6, 9), 2, gap=False, centroid_mode="contour").tolist()
        [[4.0, 2.0]]
        >>> oracle_points([[2, 2], [5, 2]], (6, 9), 2, gap=True, centroid_mode="contour").tolist()
        [[6.0, 2.0], [2.0, 2.0]]
    """
    return component_centroids(dilated_mask(points, shape, radius, gap=gap), mode=centroid_mode)


def oracle_results(samples: Sequence, target: dict, settings: dict) -> list[ImageResult]:
    """Per-image results of the oracle on ``samples``.

    Args:
        samples: prepared samples (``image_id``, ``image``, ``points``).
        target: :func:`experiments.core.targets.target_rule`.
        settings: :func:`experiments.evaluation.inference.eval_settings` (centroid mode, radii).
    """
    results = []
    for s in samples:
        shape = s.image.shape[:2]
        pred = oracle_points(s.points, shape, target["radius"], target["gap"], settings["centroid_mode"])
        results.append(evaluate_image(s.image_id, pred, s.points, shape, settings["match_radius"], settings["max_radius"]))
    return results


def oracle_dataset(
    data_dir: str | Path, dataset: str, out: str | Path, params_path: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """Score the oracle of a prepared dataset on its val and test splits; write ``out``.

    Writes, atomically, ``out/metrics.json`` (``dataset``, ``target`` (radius, gap),
    ``centroid_mode``, ``match_radius`` and one :func:`~experiments.evaluation.metrics.summarize`
    dict per split) and ``out/per_image_<split>.csv`` (as an evaluation's ``per_image.csv``).
    Nothing depends on the clock or the machine.

    Args:
        data_dir: data folder holding ``prepared/<dataset>``.
        dataset: prepared dataset name.
        out: output folder.
        params_path: settings file (its ``data`` and ``eval`` sections apply, as in training).
        overrides: ``data.key=value`` and ``eval.key=value`` overrides (the target and its scoring;
            another section's would change nothing, so it is refused).

    Returns:
        The content of ``metrics.json``.

    Raises:
        ConfigError: an override outside the ``data`` and ``eval`` sections, or a bad setting.
    """
    for text in overrides:
        if text.split("=", 1)[0].strip().split(".", 1)[0] not in ("data", "eval"):
            raise ConfigError(f"--set {text!r}: the oracle takes data.* and eval.* settings only (the target and its "
                              f"scoring); no other setting changes what it scores")
    cfg = load_params(params_path, overrides, dataset=dataset)
    prepared = require_prepared(data_dir, dataset)
    meta = read_meta(prepared)
    target, settings = target_rule(cfg, meta), eval_settings(cfg, meta)
    document = {"dataset": dataset, "target": target, **{key: settings[key] for key in ORACLE_SCORING}}
    tables = {}
    for split in ORACLE_SPLITS:
        samples = load_split(prepared, split)
        if not samples:
            continue
        results = oracle_results(samples, target, settings)
        document[split] = summarize(results, settings["match_radius"])
        tables[split] = per_image_csv_text(results)
    def recognise(entries: set[str]) -> bool:  # an oracle's folder written before output markers: its names only
        return "metrics.json" in entries and entries <= {"metrics.json", *(f"per_image_{s}.csv" for s in ORACLE_SPLITS)}

    with atomic_dir(Path(out), "oracle", "--out", recognise) as tmp:
        for split, text in tables.items():
            (tmp / f"per_image_{split}.csv").write_bytes(text.encode())
        (tmp / "metrics.json").write_bytes(json_text(document).encode())
    return document
