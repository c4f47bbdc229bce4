"""What a trained network outputs at the ground-truth dots, against everywhere else (a tool, not a stage).

    python -m experiments.probe RUN_DIR [--data-dir DIR] [--split val] [--checkpoint last] [--images N]

The answer to "why does my run detect nothing?". Detection thresholds the probability map at 0.5
and extracts one point per blob; a run whose map never reaches 0.5 finds nothing, whatever it has
learned below the threshold. This tool runs the run's network over a split exactly as evaluation
tiles it (same tile, overlap, autocast) and prints, over all pixels and at the pixels of the
ground-truth dots: the largest probability, quantiles, the share at or above 0.5, and the ratio of
the mean at the dots to the mean over the image (1: the map does not tell dots from the rest).
A map that is flat at its top (its 99th percentile equals its maximum, one value on every
image) is the mark of a network that has not learned to raise any pixel above a constant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .core.cli import parsed_arguments, run_stage, stage_parser
from .core.points import point_pixels
from .core.prepared import load_split, read_meta, require_prepared
from .core.runtime import check_amp, select_device
from .model.checkpoint import load_checkpoint, model_from_checkpoint
from .model.inputs import normalise_image
from .model.tiling import predict_probability
from .evaluation.inference import eval_settings

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


def probe_run(run_dir: str | Path, data_dir: str | Path = "data", split: str = "val", checkpoint: str = "last",
              images: int | None = None) -> dict:
    """Probability statistics of a run's network on a split (see the module docstring).

    Raises:
        FileNotFoundError: no such checkpoint, or the run's dataset is not prepared in ``data_dir``.
        ValueError: ``images`` is not a positive int; a damaged checkpoint.
    """
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise ValueError(f"images: expected a positive int or None, got {images!r}")
    path = Path(run_dir) / f"{checkpoint}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"RUN_DIR: {path} does not exist; is {run_dir} the --out of a training run?")
    state = load_checkpoint(path, checkpoint)
    device = select_device("auto")
    model, cfg = model_from_checkpoint(state, device, path)
    prepared = require_prepared(data_dir, state["run"]["dataset"])
    settings = eval_settings(cfg, read_meta(prepared))
    autocast = check_amp(cfg["eval"]["amp"], device, "eval.amp")
    samples = load_split(prepared, split)[:images]
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
    doc.update(run_dir=str(run_dir), checkpoint=checkpoint, iteration=state["iteration"], split=split,
               images=len(samples), dataset=state["run"]["dataset"], method=state["run"]["method"])
    return doc


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.probe",
        "Run a training run's network over a split as evaluation does and print the probability it "
        "gives all pixels and the ground-truth dots' pixels (max, mean, quantiles, share >= 0.5): "
        "why a run detects nothing.",
        "example:\n  python -m experiments.probe runs/synthetic/tghem/seed0 --split val --images 3",
    )
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="output folder of python -m experiments.train")
    p.add_argument("--data-dir", default=Path("data"), type=Path, help="data folder (default: data)")
    p.add_argument("--split", default="val", help="split to probe (default: val)")
    p.add_argument("--checkpoint", default="last", choices=("best", "last"), help="checkpoint (default: last)")
    p.add_argument("--images", type=int, default=None, help="probe only the first N images of the split")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the tool; returns the exit status (argument errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        doc = probe_run(args.run, args.data_dir, args.split, args.checkpoint, args.images)
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
    return 0


if __name__ == "__main__":
    run_stage(main)
