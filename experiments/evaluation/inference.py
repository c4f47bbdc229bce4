"""Predicted points of whole images, and their per-image results: what validation and evaluation share
(and, with the check that a run meets the data it trained on, the probe tool).

For every image: tiled inference (:mod:`experiments.model.tiling`), the prediction binarised at
``sigmoid >= eval.threshold`` (float32; the reference's 0.5 by default, as TGHEM binarises), one point per predicted blob by the very
function TopoGuide uses (:func:`tghem.topology.component_centroids`, mode ``eval.centroid_mode``),
then the per-image counts of :mod:`experiments.evaluation.metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tghem.topology import component_centroids

from ..core.resolution import resolve_eval
from ..model.inputs import normalise_image
from ..model.tiling import predict_logits
from .metrics import ImageResult, evaluate_image


def check_same_data(run: dict, dataset: str, meta: dict, prepared: Path, run_dir: Path, option: str = "--run",
                    use: str = "evaluating it") -> None:
    """Refuse to run a network on its own dataset once that was prepared again from other files.

    A run records the content digest of the prepared dataset it trained on (``run.dataset_digest``,
    None in older checkpoints, which are not checked); running it on another dataset on purpose
    (evaluate's ``--dataset``) is not checked either.

    Args:
        run: the checkpoint's ``run``.
        dataset: the prepared dataset it is about to run on.
        meta: that dataset's ``meta.json``.
        prepared: its folder, for the message.
        run_dir: the run, for the message.
        option: how the user named the run (``--run``, ``RUN_DIR``).
        use: what would be done with it (``evaluating it``, ``probing it``).

    Raises:
        ValueError: the digests differ (both named).

    Example:
        >>> check_same_data({"dataset": "d", "dataset_digest": "abc"}, "d", {"content_digest": "abc"}, Path("p"), Path("r"))
        >>> check_same_data({"dataset": "d", "dataset_digest": "abc"}, "d", {"content_digest": "def"}, Path("p"), Path("r"))
        Traceback (most recent call last):
        ValueError: --run: r was trained on the prepared dataset 'd' with content digest abc, but p now has def ...
    """
    recorded = run.get("dataset_digest")
    if dataset != run["dataset"] or recorded is None:
        return
    now = meta.get("content_digest")
    if now != recorded:
        raise ValueError(
            f"{option}: {run_dir} was trained on the prepared dataset {dataset!r} with content digest {recorded}, but "
            f"{prepared} now has {now} (prepared again from other files); {use} there would mix two data "
            f"sets: train the run again on this data, or prepare the data it was trained on"
        )


def eval_settings(cfg: dict, meta: dict) -> dict:
    """Inference and matching settings from run settings and the dataset's ``meta.json``
    (:func:`experiments.core.resolution.resolve_eval` fills in what the settings leave to the dataset).

    Returns:
        ``tile``, ``overlap``, ``batch_size``, ``centroid_mode``, ``threshold``, ``match_radius``,
        ``max_radius`` (R of the mean F1) and ``channels``.

    Raises:
        ValueError: no match radius in ``eval.match_radius`` nor in the dataset's meta.
    """
    e = resolve_eval(cfg, meta)
    return {
        "tile": e["tile_size"],
        "overlap": e["tile_overlap"],
        "batch_size": e["batch_size"],
        "centroid_mode": e["centroid_mode"],
        "threshold": e["threshold"],
        "match_radius": e["match_radius"],
        "max_radius": e["mean_f1_max_radius"],
        "channels": cfg["data"]["channels"],
    }


def predict_points(
    model: torch.nn.Module, image: np.ndarray, settings: dict, device: torch.device, channels_last: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Predicted points (x, y) of one whole image.

    Args:
        model: the network, in eval mode.
        image: (H, W[, C]) uint8 image.
        settings: :func:`eval_settings`.
        device: the model's device.
        channels_last: NHWC tiles.
        autocast_dtype: autocast dtype (bf16 on the CPU or CUDA, fp16 on CUDA), or None for float32.

    Returns:
        (P, 2) float64 points from :func:`tghem.topology.component_centroids`.
    """
    x = normalise_image(image, settings["channels"])
    logits = predict_logits(
        model, x, settings["tile"], overlap=settings["overlap"], batch_size=settings["batch_size"], device=device,
        autocast_dtype=autocast_dtype, channels_last=channels_last,
    )
    # TGHEM's binarisation (float32 sigmoid >= 0.5) at the reference threshold.
    binary = (torch.sigmoid(torch.from_numpy(logits)) >= settings["threshold"]).numpy()
    return component_centroids(binary, mode=settings["centroid_mode"])


def evaluate_samples(
    model: torch.nn.Module, samples, settings: dict, device: torch.device, channels_last: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[list[ImageResult], list[np.ndarray]]:
    """Per-image results and predicted points of ``samples`` (the model is put in eval mode)."""
    model.eval()
    results, points = [], []
    for s in samples:
        pred = predict_points(model, s.image, settings, device, channels_last, autocast_dtype)
        results.append(evaluate_image(s.image_id, pred, s.points, s.image.shape[:2], settings["match_radius"], settings["max_radius"]))
        points.append(pred)
    return results, points
