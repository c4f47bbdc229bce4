"""What a trained network outputs at the ground-truth dots, against everywhere else (a tool, not a stage).

    python -m experiments.probe RUN_DIR [--data-dir DIR] [--split val] [--checkpoint last] [--images N]
                                [--thresholds T [T ...]]

The answer to "why does my run detect nothing?". Detection thresholds the probability map at
``eval.threshold`` (the reference's 0.5 unless a study sets another) and extracts one point per
blob; a run whose map never reaches it finds nothing, whatever it has learned below it. This tool runs the run's network over a split exactly as evaluation
tiles it (same tile, overlap, autocast) and prints, over all pixels and at the pixels of the
ground-truth dots: the largest probability, quantiles, the share at or above 0.5, and the ratio of
the mean at the dots to the mean over the image (1: the map does not tell dots from the rest).
A map that is flat at its top (its 99th percentile equals its maximum, one value on every
image) is the mark of a network that has not learned to raise any pixel above a constant.

``--thresholds`` scores the same maps binarised at other probability thresholds than the 0.5 that
training (TG-HEM's predicted points) and, by default, evaluation use, through the evaluation's own
point extraction and matching (F1, precision, recall, count MAE on the split): a network whose map
tells the dots apart below 0.5 detects at a lower threshold. At the run's ``eval.threshold`` the
scores are evaluation's. A diagnosis, not a protocol: a study that sets ``eval.threshold`` states
its rule for the value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tghem.points import point_pixels
from tghem.topology import component_centroids

from .core.cli import int_at_least, parsed_arguments, run_stage, stage_parser
from .core.prepared import READABLE_SPLITS, load_split, read_meta, require_prepared
from .core.runtime import check_amp, select_device
from .evaluation.inference import check_same_data, eval_settings
from .evaluation.metrics import evaluate_image, summarize
from .model.checkpoint import load_checkpoint, model_from_checkpoint
from .model.inputs import normalise_image
from .model.tiling import predict_probability

QUANTILES = (0.5, 0.9, 0.99)
"""Quantiles of the probability reported over all pixels and at the dots."""


def summarize_probabilities(maps: list[np.ndarray], dots: list[np.ndarray]) -> dict:
    """Statistics of probability maps over all pixels and at the dot pixels.

    Args:
        maps: (H, W) probability maps, one per image.
        dots: the probability at each ground-truth dot's pixel, one array per image.

    Returns:
        ``pixels`` and ``dots``: ``n``, ``max``, ``mean``, ``q50``/``q90``/``q99`` and ``share_at_least_0.5``;
        ``dot_to_image_mean_ratio``; ``per_image_max`` (the largest probability of each image).

    Example:
        >>> s = summarize_probabilities([np.array([[0.1, 0.3], [0.3, 0.7]])], [np.array([0.7, 0.3])])
        >>> s["pixels"]["max"], s["dots"]["mean"], s["dots"]["share_at_least_0.5"], s["dot_to_image_mean_ratio"]
        (0.7, 0.5, 0.5, 1.4286)
    """
    def stats(values: np.ndarray) -> dict:
        if values.size == 0:
            return {"n": 0}
        out = {"n": int(values.size), "max": round(float(values.max()), 4), "mean": round(float(values.mean()), 4)}
        out.update({f"q{round(q * 100)}": round(float(np.quantile(values, q)), 4) for q in QUANTILES})
        out["share_at_least_0.5"] = round(float(np.mean(values >= 0.5)), 4)
        return out

    pixels = np.concatenate([m.ravel() for m in maps]) if maps else np.zeros(0)
    at_dots = np.concatenate(dots) if dots else np.zeros(0)
    doc = {"pixels": stats(pixels), "dots": stats(at_dots)}
    ratio = at_dots.mean() / pixels.mean() if at_dots.size and pixels.size and pixels.mean() > 0 else None
    doc["dot_to_image_mean_ratio"] = None if ratio is None else round(float(ratio), 4)
    doc["per_image_max"] = [round(float(m.max()), 4) for m in maps]
    return doc


THRESHOLD_SCORES = ("f1", "precision", "recall", "mae")
"""The detection scores reported per binarisation threshold."""


def check_thresholds(thresholds) -> tuple[float, ...]:
    """``thresholds`` as floats, each strictly between 0 and 1."""
    values = tuple(thresholds)
    bad = [t for t in values if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t < 1.0]
    if bad:
        raise ValueError(f"thresholds: expected probabilities strictly between 0 and 1, got {bad[0]!r}")
    return tuple(float(t) for t in values)


def _threshold(text: str) -> float:
    """argparse ``type`` of ``--thresholds``: a bad value is a usage error (exit 2), as :func:`check_thresholds` rules."""
    try:
        return check_thresholds([float(text)])[0]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability strictly between 0 and 1, got {text!r}") from None


def threshold_scores(maps: list[np.ndarray], samples, thresholds, settings: dict) -> list[dict]:
    """Detection scores of probability maps binarised at each threshold (``map >= t``).

    Points come from :func:`tghem.topology.component_centroids` (``settings["centroid_mode"]``) and
    are scored by :func:`experiments.evaluation.metrics.evaluate_image` and ``summarize`` at
    ``settings["match_radius"]``, as evaluation does.

    Args:
        maps: (H, W) probability maps, one per sample.
        samples: the samples (``image_id``, ``points``) the maps belong to, in order.
        thresholds: probabilities strictly between 0 and 1.
        settings: :func:`experiments.evaluation.inference.eval_settings`.

    Returns:
        One dict per threshold: ``threshold`` and :data:`THRESHOLD_SCORES`.

    Example:
        >>> from types import SimpleNamespace
        >>> m = np.zeros((20, 20), np.float32); m[4:7, 4:7] = 0.4; m[12:15, 12:15] = 0.8
        >>> s = [SimpleNamespace(image_id="a", points=np.array([[5.0, 5.0], [13.0, 13.0]]))]
        >>> settings = {"centroid_mode": "contour", "match_radius": 2.0, "max_radius": 2}
        >>> [(r["threshold"], r["recall"], r["mae"]) for r in threshold_scores([m], s, (0.3, 0.5), settings)]
        [(0.3, 1.0, 0.0), (0.5, 0.5, 1.0)]
    """
    out = []
    for t in check_thresholds(thresholds):
        results = [evaluate_image(s.image_id, component_centroids(m >= t, mode=settings["centroid_mode"]), s.points,
                                  m.shape, settings["match_radius"], settings["max_radius"])
                   for s, m in zip(samples, maps, strict=True)]
        scores = summarize(results, settings["match_radius"])
        out.append({"threshold": t, **{k: scores[k] for k in THRESHOLD_SCORES}})
    return out


def probe_run(run_dir: str | Path, data_dir: str | Path = "data", split: str = "val", checkpoint: str = "last",
              images: int | None = None, thresholds=()) -> dict:
    """Probability statistics of a run's network on a split (see the module docstring).

    With ``thresholds``, also the detection scores of the maps binarised at each
    (:func:`threshold_scores`), under ``thresholds``.

    Raises:
        FileNotFoundError: no such checkpoint, or the run's dataset is not prepared in ``data_dir``.
        ValueError: ``images`` is not a positive int; a threshold not strictly between 0 and 1; a
            damaged checkpoint; the run's dataset prepared again from other files since it trained
            (:func:`~experiments.evaluation.inference.check_same_data`, as evaluation refuses it);
            a split without images.
    """
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise ValueError(f"images: expected a positive int or None, got {images!r}")
    thresholds = check_thresholds(thresholds)
    path = Path(run_dir) / f"{checkpoint}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"RUN_DIR: {path} does not exist; is {run_dir} the --out of a training run?")
    state = load_checkpoint(path, checkpoint)
    device = select_device("auto")
    model, cfg = model_from_checkpoint(state, device, path)
    dataset = state["run"]["dataset"]
    prepared = require_prepared(data_dir, dataset)
    meta = read_meta(prepared)
    check_same_data(state["run"], dataset, meta, prepared, Path(run_dir), "RUN_DIR", "probing it")
    settings = eval_settings(cfg, meta)
    autocast = check_amp(cfg["eval"]["amp"], device, "eval.amp")
    samples = load_split(prepared, split)[:images]
    if not samples:
        raise ValueError(f"--split {split}: the prepared dataset {dataset!r} ({prepared}) has no {split} images; "
                         f"probe a split that has some")
    maps, dots = [], []
    for s in samples:
        image = normalise_image(s.image, settings["channels"])
        prob = predict_probability(
            model, image, settings["tile"], overlap=settings["overlap"], batch_size=settings["batch_size"],
            device=device, autocast_dtype=autocast, channels_last=cfg["model"]["channels_last"],
        )
        rows, cols, inside = point_pixels(s.points, prob.shape)
        maps.append(prob)
        dots.append(prob[rows[inside], cols[inside]])
    doc = summarize_probabilities(maps, dots)
    if thresholds:
        doc["thresholds"] = threshold_scores(maps, samples, thresholds, settings)
    doc.update(run_dir=str(run_dir), checkpoint=checkpoint, iteration=state["iteration"], split=split,
               images=len(samples), dataset=dataset, method=state["run"]["method"])
    return doc


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.probe",
        "Run a training run's network over a split as evaluation does and print the probability it "
        "gives all pixels and the ground-truth dots' pixels (max, mean, quantiles, share >= 0.5): "
        "why a run detects nothing.",
        "examples:\n  python -m experiments.probe runs/synthetic/tghem/seed0 --split val --images 3\n"
        "  python -m experiments.probe RUN_DIR --data-dir data/crowd --thresholds 0.3 0.4 0.5",
    )
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="output folder of python -m experiments.train")
    p.add_argument("--data-dir", default=Path("data"), type=Path, help="data folder (default: data)")
    p.add_argument("--split", default="val", choices=READABLE_SPLITS, help="split to probe (default: val)")
    p.add_argument("--checkpoint", default="last", choices=("best", "last"), help="checkpoint (default: last)")
    p.add_argument("--images", type=int_at_least(1), default=None, metavar="N", help="probe only the first N images of the split")
    p.add_argument("--thresholds", type=_threshold, nargs="+", default=(), metavar="T",
                   help="also score the maps binarised at these probabilities (0 < T < 1; evaluation: eval.threshold, 0.5 by default)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the tool; returns the exit status (argument errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        doc = probe_run(args.run, args.data_dir, args.split, args.checkpoint, args.images, args.thresholds)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{doc['run_dir']} ({doc['dataset']}, {doc['method']}), {doc['checkpoint']}.pt at iteration "
          f"{doc['iteration']}, {doc['images']} {doc['split']} images")
    for name in ("pixels", "dots"):
        s = doc[name]
        if s["n"]:
            print(f"  {name:6s} n {s['n']:>9d}  max {s['max']:.4f}  mean {s['mean']:.4f}  q50 {s['q50']:.4f}  "
                  f"q90 {s['q90']:.4f}  q99 {s['q99']:.4f}  >= 0.5: {s['share_at_least_0.5']:.2%}")
    print(f"  mean at the dots / mean of the image: {doc['dot_to_image_mean_ratio']}")
    for r in doc.get("thresholds", ()):
        print(f"  map >= {r['threshold']:g}: F1 {r['f1']:.4f}  precision {r['precision']:.4f}  recall {r['recall']:.4f}  "
              f"MAE {r['mae']:.2f}")
    return 0


if __name__ == "__main__":
    run_stage(main)
