"""Time one TG-HEM forward pass on a batch of realistic crops.

    python -m tghem.benchmark [--vgg-cells DIR] [--batch 8] [--size 256] [--repeats 7]

Ground-truth dots come from VGG-cells dot maps (``NNNdots.png``) when a folder is
given (or found through ``TGHEM_DATA_MIRROR``), else from a seeded clustered point
process of similar density. Two predictions are timed:

- near-converged: a disk of radius 3 around most GT dots, some cells missed,
  some spurious blobs (100-200 components per crop);
- noise-like: thresholded smoothed noise, as from an untrained network (hundreds
  of components per crop).

For each, it prints the median wall time over ``--repeats`` runs of the
segmentation term alone, of TopoGuide's discrepancies, and of the whole TGHEM
forward, plus the number of predicted components.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, List, Optional

import cv2
import numpy as np
import torch

from tghem import TGHEM, SegmentationLoss, TopoGuide, component_centroids

MIRROR_ENV = "TGHEM_DATA_MIRROR"


def _find_vgg_cells(explicit: Optional[str]) -> Optional[Path]:
    candidates = [explicit] if explicit else []
    if os.environ.get(MIRROR_ENV):
        candidates.append(os.path.join(os.environ[MIRROR_ENV], "vgg_cells", "cells"))
    for candidate in candidates:
        if candidate and sorted(Path(candidate).glob("*dots.png")):
            return Path(candidate)
    if explicit:
        raise SystemExit(f"--vgg-cells {explicit}: no *dots.png files there")
    return None


def _gt_dots(batch: int, size: int, rng: np.random.Generator, vgg_dir: Optional[Path]) -> np.ndarray:
    dots = np.zeros((batch, size, size), np.float32)
    if vgg_dir is not None:
        files = sorted(vgg_dir.glob("*dots.png"))
        for b in range(batch):
            image = cv2.imread(str(files[int(rng.integers(len(files)))]), cv2.IMREAD_COLOR)
            red = (image[..., 2] > 127) & (image[..., 1] < 128) & (image[..., 0] < 128)
            y0 = int(rng.integers(0, max(1, red.shape[0] - size + 1)))
            x0 = int(rng.integers(0, max(1, red.shape[1] - size + 1)))
            crop = red[y0 : y0 + size, x0 : x0 + size]
            dots[b, : crop.shape[0], : crop.shape[1]] = crop
        return dots
    for b in range(batch):
        centres = rng.uniform(0, size, size=(12, 2))
        n = int(rng.integers(120, 200))
        points = centres[rng.integers(12, size=n)] + rng.normal(scale=size / 10, size=(n, 2))
        points = np.clip(np.rint(points), 0, size - 1).astype(int)
        dots[b, points[:, 1], points[:, 0]] = 1
    return dots


def _near_converged_logits(dots: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    logits = np.full(dots.shape, -4.0, np.float32)
    for b in range(dots.shape[0]):
        canvas = np.zeros(dots.shape[1:], np.uint8)
        for y, x in zip(*np.nonzero(dots[b])):
            if rng.random() < 0.9:  # some cells missed
                cv2.circle(canvas, (int(x), int(y)), 3, 1, -1)
        for _ in range(int(rng.integers(5, 15))):  # spurious blobs
            y, x = rng.integers(0, dots.shape[1], size=2)
            cv2.circle(canvas, (int(x), int(y)), 2, 1, -1)
        logits[b][canvas > 0] = 4.0
    return logits


def _noise_logits(shape, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(size=shape).astype(np.float32)
    smooth = np.stack([cv2.GaussianBlur(n, (0, 0), 1.0) for n in noise])
    return (smooth / smooth.std() - 0.5).astype(np.float32)


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first-call allocations and lazy imports are not the steady state
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tghem.benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vgg-cells", help=f"folder of VGG-cells *dots.png (default: ${MIRROR_ENV}/vgg_cells/cells if set)")
    parser.add_argument("--batch", type=int, default=8, help="crops per batch (default 8)")
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels (default 256)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure; the median is printed (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    vgg_dir = _find_vgg_cells(args.vgg_cells)
    dots = _gt_dots(args.batch, args.size, rng, vgg_dir)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = torch.from_numpy(np.stack([cv2.dilate(d, disk) for d in dots]) > 0).float()
    dots_t = torch.from_numpy(dots)
    print(f"torch {torch.__version__}, python {platform.python_version()}, {os.cpu_count()} CPU(s), threads {torch.get_num_threads()}")
    print(f"GT dots: {'VGG cells ' + str(vgg_dir) if vgg_dir else 'synthetic clustered points'}; "
          f"B={args.batch}, {args.size}x{args.size}, {int(dots.sum() / args.batch)} dots per crop on average")
    criterion = TGHEM()
    segmentation = SegmentationLoss(thresh=0.7, min_kept=15000, reduction="none")
    guide = TopoGuide()
    for name, logits in (
        ("near-converged", _near_converged_logits(dots, rng)),
        ("noise-like", _noise_logits(dots.shape, rng)),
    ):
        logits_t = torch.from_numpy(logits).unsqueeze(1)
        binary = (torch.sigmoid(logits_t[:, 0]) >= 0.5).numpy()
        components = np.mean([len(component_centroids(binary[b])) for b in range(args.batch)])
        seg = _median_seconds(lambda: segmentation(logits_t, mask), args.repeats)
        topo = _median_seconds(lambda: guide.discrepancies(dots, binary), args.repeats)
        full = _median_seconds(lambda: criterion(logits_t, mask, dots_t), args.repeats)
        print(
            f"{name:15s} {components:6.0f} components/crop | SegmentationLoss {seg * 1e3:8.1f} ms | "
            f"TopoGuide {topo * 1e3:8.1f} ms | TGHEM forward {full * 1e3:8.1f} ms  (median of {args.repeats})"
        )


if __name__ == "__main__":
    main()
