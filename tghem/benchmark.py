"""Time TopoGuide's fast backend against gudhi's reference path, and one TGHEM forward.

    python -m tghem.benchmark [--vgg-cells DIR] [--batch 8] [--size 256] [--repeats 7] [--workers auto] [--edge-collapse]

Ground-truth dots come from VGG-cells dot maps (``NNNdots.png``) when a folder is
given (or found through ``TGHEM_DATA_MIRROR``), else from a seeded clustered point
process of similar density. Two predictions are timed:

- near-converged: a disk of radius 3 around most GT dots, some cells missed,
  some spurious blobs (100-200 components per crop);
- noise-like: thresholded smoothed noise, as from an untrained network (hundreds
  of components per crop).

For each it prints, measured side by side in one run on the same crops, the median
wall time over ``--repeats`` interleaved runs of ``TopoGuide.discrepancies`` on the
batch with the gudhi path (one crop after another, as the paper's code), with
giotto-ph's ripser on the same neighbour graph (``backend='ripser'``, in this
process), with the fast path in this process only (``workers=1``: what the
algorithms alone buy) and with the fast path as configured (``--workers``, default
``auto``), each one's ratio to gudhi, and the largest relative difference of D
from gudhi's over all crops and paths; then the whole TGHEM
forward and the segmentation term alone; with ``--edge-collapse``, the kernel's time
on the batch's neighbour graphs against gudhi's edge collapse of the same graphs
alone. ``python -m experiments.bench_topology``
adds the training-step overhead with the U-Net.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

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


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs, after one untimed warm-up run."""
    fn()  # first-call allocations, lazy imports and worker start-up are not the steady state
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class BenchmarkCrops:
    """A batch of GT dot maps, their dilated masks and two kinds of predicted logits."""

    dots: np.ndarray  # (B, S, S) float32
    mask: np.ndarray  # (B, S, S) float32 in {0, 1}
    logits: Dict[str, np.ndarray]  # name -> (B, S, S) float32
    source: str


def make_crops(batch: int = 8, size: int = 256, seed: int = 0, vgg_cells: Optional[str] = None) -> BenchmarkCrops:
    """The benchmark's crops: VGG-cells dots when found (``--vgg-cells`` or the mirror), else synthetic."""
    rng = np.random.default_rng(seed)
    vgg_dir = _find_vgg_cells(vgg_cells)
    dots = _gt_dots(batch, size, rng, vgg_dir)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = (np.stack([cv2.dilate(d, disk) for d in dots]) > 0).astype(np.float32)
    logits = {"near-converged": _near_converged_logits(dots, rng), "noise-like": _noise_logits(dots.shape, rng)}
    source = f"VGG cells {vgg_dir}" if vgg_dir else "synthetic clustered points"
    return BenchmarkCrops(dots, mask, logits, source)


def compare_backends(dots: np.ndarray, binary: np.ndarray, repeats: int, workers="auto", epsilon: float = 50.0) -> dict:
    """Time the gudhi path, giotto-ph's ripser and the fast path on the same crops and compare their D.

    Runs are interleaved (one of each, then the next round), so that a slow spell of
    the machine hits every path alike; each figure is the median over ``repeats``.
    """
    guides = {
        "gudhi": TopoGuide(epsilon=epsilon, backend="gudhi", workers=1),
        "ripser_inline": TopoGuide(epsilon=epsilon, backend="ripser", workers=1),
        "fast_inline": TopoGuide(epsilon=epsilon, backend="fast", workers=1),
        "fast": TopoGuide(epsilon=epsilon, backend="fast", workers=workers),
    }
    values = {name: guide.discrepancies(dots, binary) for name, guide in guides.items()}  # also the warm-up
    times: Dict[str, List[float]] = {name: [] for name in guides}
    for _ in range(repeats):
        for name, guide in guides.items():
            start = time.perf_counter()
            guide.discrepancies(dots, binary)
            times[name].append(time.perf_counter() - start)
    reference = values["gudhi"]
    scale = np.maximum(np.abs(reference), 1e-300)
    result = {f"{name}_s": statistics.median(samples) for name, samples in times.items()}
    result["components"] = float(np.mean([len(component_centroids(b)) for b in binary]))
    result["max_rel_diff"] = float(max(np.max(np.abs(values[name] - reference) / scale) for name in guides if name != "gudhi"))
    return result


def format_comparison(result: dict, workers) -> str:
    """One line of :func:`compare_backends`'s figures, each path with its speed-up over gudhi."""
    gudhi = result["gudhi_s"]

    def timed(label: str, key: str) -> str:
        return f"{label} {result[key] * 1e3:7.1f} ms ({gudhi / result[key]:5.1f}x)"

    return " | ".join(
        [
            f"{result['components']:4.0f} components/crop",
            f"gudhi {gudhi * 1e3:8.1f} ms",
            timed("ripser, 1 process", "ripser_inline_s"),
            timed("fast, 1 process", "fast_inline_s"),
            timed(f"fast, workers={workers}", "fast_s"),
            f"max rel. diff of D {result['max_rel_diff']:.1e}",
        ]
    )


def add_crop_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """The options shared by the benchmark commands: which crops, how many runs, how many workers."""
    parser.add_argument("--vgg-cells", help=f"folder of VGG-cells *dots.png (default: ${MIRROR_ENV}/vgg_cells/cells if set)")
    parser.add_argument("--batch", type=int, default=8, help="crops per batch (default 8)")
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels (default 256)")
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed runs per figure; the median is printed (default {repeats})")
    parser.add_argument("--workers", default="auto", help="worker processes of the fast path: 'auto' or an int (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and predictions (default 0)")


def parse_workers(text: str):
    """'auto' or an int, from the command line."""
    return text if text == "auto" else int(text)


def print_environment() -> None:
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"torch threads {torch.get_num_threads()}"
    )


def edge_collapse_cost(dots: np.ndarray, binary: np.ndarray, repeats: int, epsilon: float = 50.0) -> dict:
    """Whether gudhi's edge collapse could pay for itself before the compiled kernel.

    On the neighbour graphs of every GT and predicted point set of the batch, the
    median time of the kernel on the whole graph against that of
    ``SimplexTree.collapse_edges`` alone (which would only shrink the kernel's input),
    and the edge counts before and after the collapse.
    """
    import gudhi
    from scipy import sparse

    from tghem.flag_persistence import flag_persistence
    from tghem.rips import _unique_points, neighbour_graph
    from tghem.topology import dot_points

    point_sets = [dot_points(d) for d in dots] + [component_centroids(b) for b in binary]
    graphs = []
    for points in point_sets:
        unique = _unique_points(points)[0] if len(points) else points
        graphs.append((len(unique),) + neighbour_graph(unique, epsilon))

    def collapsed(n, pairs, squared):
        tree = gudhi.SimplexTree()
        tree.insert_edges_from_coo_matrix(sparse.coo_matrix((squared, (pairs[:, 0], pairs[:, 1])), shape=(n, n)))
        tree.collapse_edges()
        return tree

    kernel = median_seconds(lambda: [flag_persistence(*graph) for graph in graphs], repeats)
    collapse = median_seconds(lambda: [collapsed(*graph) for graph in graphs], repeats)
    trees = [collapsed(*graph) for graph in graphs]
    edges_after = sum(sum(1 for simplex, _ in tree.get_skeleton(1) if len(simplex) == 2) for tree in trees)
    return {
        "kernel_s": kernel,
        "collapse_s": collapse,
        "edges": sum(len(graph[1]) for graph in graphs),
        "edges_after": edges_after,
    }


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tghem.benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_crop_arguments(parser, repeats=7)
    parser.add_argument(
        "--edge-collapse", action="store_true", help="also time gudhi's edge collapse against the kernel on the same graphs"
    )
    args = parser.parse_args(argv)
    workers = parse_workers(args.workers)

    torch.manual_seed(args.seed)
    crops = make_crops(args.batch, args.size, args.seed, args.vgg_cells)
    print_environment()
    print(f"GT dots: {crops.source}; B={args.batch}, {args.size}x{args.size}, "
          f"{int(crops.dots.sum() / args.batch)} dots per crop on average; epsilon 50; medians of {args.repeats}")
    mask_t = torch.from_numpy(crops.mask)
    dots_t = torch.from_numpy(crops.dots)
    criterion = TGHEM(topo_workers=workers)
    segmentation = SegmentationLoss(thresh=0.7, min_kept=15000, reduction="none")
    for name, logits in crops.logits.items():
        logits_t = torch.from_numpy(logits).unsqueeze(1)
        binary = (torch.sigmoid(logits_t[:, 0]) >= 0.5).numpy()
        result = compare_backends(crops.dots, binary, args.repeats, workers)
        seg = median_seconds(lambda: segmentation(logits_t, mask_t), args.repeats)
        full = median_seconds(lambda: criterion(logits_t, mask_t, dots_t), args.repeats)
        print(f"{name:15s} {format_comparison(result, workers)}")
        print(f"{'':15s} TGHEM forward (fast) {full * 1e3:8.1f} ms | SegmentationLoss alone {seg * 1e3:6.1f} ms")
        if args.edge_collapse:
            c = edge_collapse_cost(crops.dots, binary, args.repeats)
            print(
                f"{'':15s} H0/H1 kernel on the {c['edges']:,} edges {c['kernel_s'] * 1e3:7.2f} ms | "
                f"gudhi edge collapse alone {c['collapse_s'] * 1e3:7.2f} ms (-> {c['edges_after']:,} edges)"
            )


if __name__ == "__main__":
    main()
