"""Stage ``evaluate``: detection and counting metrics of a trained run on whole images.

    python -m experiments.evaluate --run RUN_DIR --data-dir DIR [--split test] [--out EVAL_DIR]

For every image of the split: tiled inference (:mod:`experiments.tiling`), the prediction
binarised at ``sigmoid >= 0.5``, one point per predicted blob by the very function TopoGuide
uses (:func:`tghem.topology.component_centroids`, mode ``eval.centroid_mode``), then the
metrics of :mod:`experiments.metrics`. Writes, atomically, into ``EVAL_DIR``
(default ``RUN_DIR/eval/<split>``):

* ``metrics.json``: ``precision``, ``recall``, ``f1`` (micro), their per-image means, ``tp``,
  ``fp``, ``fn``, ``f1_mean_radii`` (mean F1 over r = 1..R), ``mae``, ``rmse``, ``mre``,
  ``game0``..``game3``, ``match_radius``, ``n_images`` and the run's context;
* ``per_image.csv``: ``image_id,n_gt,n_pred,tp,fp,fn``;
* ``points/<image_id>.csv``: the predicted points, header ``x,y`` (as the prepared points).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from tghem.topology import component_centroids

from .checkpoint import load_checkpoint
from .cli import run_stage
from .config import ConfigError, apply_overrides, params_help, read_params
from .crops import normalise_image
from .datasets import load_split, points_csv_text, read_meta
from .fsutil import atomic_dir
from .metrics import ImageResult, evaluate_image, summarize
from .model import UNet
from .runtime import DEVICE_CHOICES, select_device
from .tiling import predict_logits

CHECKPOINT_CHOICES = ("best", "last")
PER_IMAGE_FIELDS = ("image_id", "n_gt", "n_pred", "tp", "fp", "fn")


def prepared_dir(data_dir: str | Path, dataset: str) -> Path:
    """``<data_dir>/prepared/<dataset>``, checked to hold a prepared dataset.

    Raises:
        FileNotFoundError: not prepared yet (the message gives the command that prepares it).
    """
    path = Path(data_dir) / "prepared" / dataset
    if not (path / "split.csv").is_file():
        raise FileNotFoundError(
            f"--data-dir: {path} is not a prepared dataset; run "
            f"`python -m experiments.prepare --dataset {dataset} --data-dir {data_dir}` first"
        )
    return path


def eval_settings(cfg: dict, meta: dict) -> dict:
    """Inference and matching settings from run settings and the dataset's ``meta.json``.

    Returns:
        ``tile``, ``overlap``, ``batch_size``, ``centroid_mode``, ``match_radius``,
        ``max_radius`` (R of the mean F1) and ``channels``.
    """
    e = cfg["eval"]
    radius = e["match_radius"] if e["match_radius"] is not None else meta.get("match_radius")
    if radius is None:
        raise ValueError("eval.match_radius: the dataset's meta.json records none; set eval.match_radius")
    return {
        "tile": e["tile_size"] if e["tile_size"] is not None else cfg["train"]["crop_size"],
        "overlap": e["tile_overlap"],
        "batch_size": e["batch_size"],
        "centroid_mode": e["centroid_mode"],
        "match_radius": float(radius),
        "max_radius": e["mean_f1_max_radius"] if e["mean_f1_max_radius"] is not None else max(1, math.floor(radius)),
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
        autocast_dtype: autocast dtype on CUDA, or None.

    Returns:
        (P, 2) float64 points from :func:`tghem.topology.component_centroids`.
    """
    x = normalise_image(image, settings["channels"])
    logits = predict_logits(
        model, x, settings["tile"], overlap=settings["overlap"], batch_size=settings["batch_size"], device=device,
        autocast_dtype=autocast_dtype, channels_last=channels_last,
    )
    # The same binarisation as TGHEM's: float32 sigmoid >= 0.5.
    binary = (torch.sigmoid(torch.from_numpy(logits)) >= 0.5).numpy()
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


def per_image_csv_text(results: list[ImageResult]) -> str:
    """``per_image.csv`` content: header ``image_id,n_gt,n_pred,tp,fp,fn``, one row per image."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PER_IMAGE_FIELDS)
    for r in results:
        writer.writerow([r.image_id, r.n_gt, r.n_pred, r.tp, r.fp, r.fn])
    return buf.getvalue()


def model_from_checkpoint(state: dict, device: torch.device) -> tuple[UNet, dict]:
    """The network of a checkpoint, on ``device`` in eval mode, and the run's settings."""
    cfg = state["run"]["config"]
    m = cfg["model"]
    model = UNet(in_channels=cfg["data"]["channels"], base_channels=m["base_channels"], norm=m["norm"])
    model.load_state_dict(state["model"])
    model.to(device)
    if m["channels_last"]:
        model.to(memory_format=torch.channels_last)
    return model.eval(), cfg


def evaluate_run(
    run_dir: str | Path,
    data_dir: str | Path = "data",
    split: str = "test",
    out: str | Path | None = None,
    checkpoint: str = "best",
    params_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    device: str = "auto",
    dataset: str | None = None,
) -> dict:
    """Evaluate a training run and write ``metrics.json``, ``per_image.csv`` and ``points/``.

    Args:
        run_dir: output folder of ``python -m experiments.train``.
        data_dir: data folder holding ``prepared/<dataset>``.
        split: split to evaluate.
        out: output folder (default ``run_dir/eval/<split>``), replaced atomically.
        checkpoint: ``'best'`` (best validation F1) or ``'last'``.
        params_path: settings file whose ``eval`` section applies (default: the repository's).
        overrides: ``eval.*`` overrides (``section.key=value``).
        device: one of :data:`experiments.runtime.DEVICE_CHOICES`.
        dataset: evaluate on this prepared dataset instead of the run's.

    Returns:
        The content of ``metrics.json``.
    """
    if checkpoint not in CHECKPOINT_CHOICES:
        raise ValueError(f"checkpoint: expected one of {CHECKPOINT_CHOICES}, got {checkpoint!r}")
    for text in overrides:
        if not text.split("=", 1)[0].strip().startswith("eval."):
            raise ConfigError(f"--set {text!r}: evaluate takes eval.* settings only; the model's come from the run")
    run_dir = Path(run_dir)
    ckpt_path = run_dir / f"{checkpoint}.pt"
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"--run: {ckpt_path} does not exist; is {run_dir} the --out of a finished training run?")
    state = load_checkpoint(ckpt_path)
    dev = select_device(device)
    model, cfg = model_from_checkpoint(state, dev)
    cfg = dict(cfg, eval=apply_overrides(read_params(params_path), overrides)["eval"])
    run = state["run"]
    dataset = dataset or run["dataset"]
    pdir = prepared_dir(data_dir, dataset)
    settings = eval_settings(cfg, read_meta(pdir))
    samples = load_split(pdir, split)
    t0 = time.perf_counter()
    results, points = evaluate_samples(model, samples, settings, dev, channels_last=cfg["model"]["channels_last"])
    metrics = summarize(results, settings["match_radius"])
    metrics.update(
        dataset=dataset, split=split, method=run["method"], seed=run["seed"], run_dir=str(run_dir),
        checkpoint=checkpoint, iteration=state["iteration"], tile_size=settings["tile"],
        tile_overlap=settings["overlap"], centroid_mode=settings["centroid_mode"],
        seconds=round(time.perf_counter() - t0, 3),
    )
    out = Path(out) if out is not None else run_dir / "eval" / split
    with atomic_dir(out) as tmp:
        (tmp / "points").mkdir()
        for r, p in zip(results, points):
            (tmp / "points" / f"{r.image_id}.csv").write_bytes(points_csv_text(p).encode())
        (tmp / "per_image.csv").write_bytes(per_image_csv_text(results).encode())
        (tmp / "metrics.json").write_bytes((json.dumps(metrics, indent=2) + "\n").encode())
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.evaluate",
        description=textwrap.fill(
            "Evaluate a training run on whole images: tiled inference (tiles of the training crop "
            "size, overlapping and blended), sigmoid >= 0.5, one point per predicted blob "
            "(tghem's component_centroids, as TopoGuide), Hungarian matching to the ground truth "
            "within the dataset's match radius; detection (precision, recall, F1 micro and per "
            "image, mean F1 over radii 1..R) and counting (MAE, RMSE, mean relative error, "
            "GAME 0-3) metrics. Writes metrics.json, per_image.csv and points/<image_id>.csv.",
            width=88,
        ),
        epilog=(
            "settings (the eval section of params.yaml; override with --set eval.KEY=VALUE):\n"
            + params_help(sections=("eval",))
            + "\n\nexamples:\n"
            "  python -m experiments.evaluate --run runs/synthetic/tghem/0 --data-dir data\n"
            "  python -m experiments.evaluate --run runs/x --split val --checkpoint last --out runs/x/val\n"
            "  python -m experiments.evaluate --run runs/x --set eval.tile_overlap=0.5"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, type=Path, metavar="RUN_DIR", help="output folder of experiments.train")
    p.add_argument("--data-dir", default=Path("data"), type=Path, help="data folder with prepared/<dataset> (default: data)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate (default: test)")
    p.add_argument("--out", type=Path, default=None, metavar="EVAL_DIR", help="output folder (default: RUN_DIR/eval/<split>)")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINT_CHOICES,
                   help="best.pt (best validation F1; the final model when there was no validation) or last.pt")
    p.add_argument("--dataset", default=None, help="evaluate on this prepared dataset instead of the run's")
    p.add_argument("--params", type=Path, default=None, help="settings file (default: the repository's params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE",
                   help="override an eval setting (repeatable)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="auto: cuda, then mps, then cpu")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        m = evaluate_run(
            args.run, args.data_dir, args.split, args.out, args.checkpoint, args.params, args.overrides,
            args.device, args.dataset,
        )
    except ConfigError as err:
        parser.error(str(err))
    if not args.quiet:
        print(
            f"{args.run} [{m['split']}, {m['n_images']} images, r = {m['match_radius']:g}]: "
            f"F1 {m['f1']:.4f} (P {m['precision']:.4f}, R {m['recall']:.4f}), MAE {m['mae']:.2f}, "
            f"RMSE {m['rmse']:.2f}" if m["n_images"] else f"{args.run}: the {args.split} split has no images"
        )
    return 0


if __name__ == "__main__":
    run_stage(main)
