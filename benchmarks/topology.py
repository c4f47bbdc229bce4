"""Time TopoGuide's fast backend against gudhi's reference path, and one TGHEM forward.

    python -m benchmarks.topology [--vgg-cells DIR] [--batch 8] [--size 256] [--repeats 7] [--workers auto] [--edge-collapse]
    python -m benchmarks.topology --large-crop [--large-size 4096] [--spacing 16]

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
alone. ``python -m benchmarks.topology_step``
adds the training-step overhead with the U-Net.

``--large-crop`` measures one huge crop instead (:func:`large_crop_cost`): a
``--large-size`` square (default 4096 x 4096) with a dot every ``--spacing`` pixels
(default 16: 65,536 dots) and a prediction of disks around them with cells missed,
shifted and merged; it prints the time of each stage of D (points, Rips diagrams,
H0 and H1 distances), TGHEM's forward on the crop, and the process's peak resident
memory. Then, on a mid-size crop (a quarter of the side), the H1 distance with the
dense assignment against the sparse transport, and their difference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np
import torch

from benchmarks.environment import benchmark_environment, environment_line
from experiments.core.cli import int_at_least
from experiments.data.download import MIRROR_ENV
from experiments.data.parsers import VggCellsParser
from tghem import TGHEM, SegmentationLoss, TopoGuide, component_centroids

AGREEMENT = 1e-9
"""Largest relative difference of D allowed between the timed paths: they must do the same work
(they agree to about 1e-15, the summation order of the transport solvers)."""


def _find_vgg_cells(explicit: Optional[str]) -> Optional[Path]:
    candidates = [explicit] if explicit else []
    if os.environ.get(MIRROR_ENV):
        candidates.append(os.path.join(os.environ[MIRROR_ENV], "vgg_cells", "cells"))
    for candidate in candidates:
        if candidate and sorted(Path(candidate).glob("*dots.png")):
            return Path(candidate)
    if explicit:
        raise ValueError(f"--vgg-cells: expected a folder of VGG-cells *dots.png files, got {explicit!r} (none there)")
    return None


def _gt_dots(batch: int, size: int, rng: np.random.Generator, vgg_dir: Optional[Path]) -> np.ndarray:
    dots = np.zeros((batch, size, size), np.float32)
    if vgg_dir is not None:
        files = sorted(vgg_dir.glob("*dots.png"))
        parser = VggCellsParser()  # the dataset's own rule for its dot images
        for b in range(batch):
            red = parser.dot_mask(files[int(rng.integers(len(files)))])
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

    Raises:
        RuntimeError: a path's D differs from gudhi's by more than :data:`AGREEMENT` (relative).
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
    if not result["max_rel_diff"] <= AGREEMENT:
        raise RuntimeError(f"the paths disagree: D differs from gudhi's by {result['max_rel_diff']:.1e} (relative), "
                           f"more than {AGREEMENT:.0e}; their timings would compare different work")
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


def multiple_of_16(text: str) -> int:
    """An argparse ``type``: a crop side, a positive multiple of 16 (the U-Net's four poolings)."""
    value = int_at_least(16)(text)
    if value % 16:
        raise argparse.ArgumentTypeError(f"expected a multiple of 16 (the U-Net halves it four times), got {text!r}")
    return value


def parse_workers(text: str):
    """An argparse ``type``: 'auto' or an int >= 0 (0 and 1: in this process)."""
    if text == "auto":
        return text
    try:
        return int_at_least(0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an int >= 0, got {text!r}") from None


def add_crop_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """The options shared by the benchmark commands: which crops, how many runs, how many workers."""
    parser.add_argument("--vgg-cells", help=f"folder of VGG-cells *dots.png (default: ${MIRROR_ENV}/vgg_cells/cells if set)")
    parser.add_argument("--batch", type=int_at_least(1), default=8, help="crops per batch (default 8)")
    parser.add_argument("--size", type=multiple_of_16, default=256, help="crop side in pixels, a multiple of 16 (default 256)")
    parser.add_argument("--repeats", type=int_at_least(1), default=repeats,
                        help=f"timed runs per figure; the median is printed (default {repeats})")
    parser.add_argument("--workers", type=parse_workers, default="auto",
                        help="worker processes of the fast path: 'auto' or an int, 0 and 1 in this process (default auto)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the crops and predictions (default 0)")


def checked_crops(parser: argparse.ArgumentParser, args: argparse.Namespace) -> BenchmarkCrops:
    """:func:`make_crops` of the parsed options; a ``--vgg-cells`` folder without dot maps is a usage error."""
    try:
        return make_crops(args.batch, args.size, args.seed, args.vgg_cells)
    except ValueError as err:
        parser.error(str(err))


def print_environment() -> None:
    """The first line of every benchmark: the machine and the software (:mod:`benchmarks.environment`)."""
    print(environment_line(benchmark_environment()))


def edge_collapse_cost(dots: np.ndarray, binary: np.ndarray, repeats: int, epsilon: float = 50.0) -> dict:
    """Whether gudhi's edge collapse could pay for itself before the compiled kernel.

    On the neighbour graphs of every GT and predicted point set of the batch, the
    median time of the kernel on the whole graph against that of
    ``SimplexTree.collapse_edges`` alone (which would only shrink the kernel's input; timed on
    trees built beforehand, as it changes them) and that of building gudhi's trees from the
    graphs (which the collapse needs first), and the edge counts before and after the collapse.
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

    def built(n, pairs, squared):
        tree = gudhi.SimplexTree()
        tree.insert_edges_from_coo_matrix(sparse.coo_matrix((squared, (pairs[:, 0], pairs[:, 1])), shape=(n, n)))
        return tree

    def collapse_all(trees):
        for tree in trees:
            tree.collapse_edges()

    kernel = median_seconds(lambda: [flag_persistence(*graph) for graph in graphs], repeats)
    build_times, collapse_times = [], []
    for round_ in range(repeats + 1):  # the first round is the warm-up, as in median_seconds
        start = time.perf_counter()
        trees = [built(*graph) for graph in graphs]
        middle = time.perf_counter()
        collapse_all(trees)
        if round_:
            build_times.append(middle - start)
            collapse_times.append(time.perf_counter() - middle)
    edges_after = sum(sum(1 for simplex, _ in tree.get_skeleton(1) if len(simplex) == 2) for tree in trees)
    return {
        "kernel_s": kernel,
        "collapse_s": statistics.median(collapse_times),
        "build_s": statistics.median(build_times),
        "edges": sum(len(graph[1]) for graph in graphs),
        "edges_after": edges_after,
    }


def large_crop(size: int = 4096, spacing: int = 16, seed: int = 0):
    """A dot on a ``spacing`` grid and a prediction of radius-3 disks: 10% missed, 20% shifted by up to 3 px, 3% merged with a neighbour.

    Returns:
        ``(dots, binary)``: (size, size) float32 and uint8 maps.
    """
    rng = np.random.default_rng(seed)
    dots = np.zeros((size, size), np.float32)
    centres = np.arange(spacing // 2, size, spacing)
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    dots[ys, xs] = 1
    binary = np.zeros((size, size), np.uint8)
    for y, x, r, (dy, dx) in zip(ys.ravel(), xs.ravel(), rng.random(ys.size), rng.integers(-3, 4, (ys.size, 2))):
        if r < 0.1:
            continue
        if r >= 0.3:
            dy = dx = 0
        cv2.circle(binary, (int(x + dx), int(y + dy)), 3, 1, -1)
        if r > 0.97:
            cv2.line(binary, (int(x), int(y)), (int(x + spacing), int(y)), 1, 2)
    return dots, binary


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def large_crop_cost(size: int = 4096, spacing: int = 16, epsilon: float = 50.0) -> dict:
    """Time every stage of D on :func:`large_crop`, and TGHEM's forward on it, in this process."""
    from tghem.rips import load_engine
    from tghem.topology import dot_points, rips_diagrams
    from tghem.wasserstein import _cancel_common_rows, h0_wasserstein_distance, wasserstein_distance

    load_engine()
    wasserstein_distance([[0.0, 1.0]], [[0.0, 2.0]], solver="sparse")  # compiled kernels and POT loaded
    dots, binary = large_crop(size, spacing)
    times = {}

    def timed(name, fn):
        start = time.perf_counter()
        value = fn()
        times[name] = time.perf_counter() - start
        return value

    gt = timed("points", lambda: (dot_points(dots), component_centroids(binary)))
    (gt_h0, gt_h1), (pred_h0, pred_h1) = timed("diagrams", lambda: [rips_diagrams(p, epsilon) for p in gt])
    h0 = timed("h0", lambda: h0_wasserstein_distance(pred_h0[:, 1], gt_h0[:, 1]))
    h1 = timed("h1", lambda: wasserstein_distance(pred_h1, gt_h1))
    rest = _cancel_common_rows(pred_h1, gt_h1)
    left = [len(d) for d in rest]
    check = _dense_transport_of_distinct_points(*rest)
    guide = TopoGuide(epsilon=epsilon, workers=1)
    d = timed("topoguide", lambda: guide(dots, binary))
    logits = torch.from_numpy(np.where(binary > 0, 4.0, -4.0).astype(np.float32))[None, None]
    mask = torch.from_numpy(cv2.dilate(dots, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0).float()[None]
    criterion = TGHEM(ohem_min_kept=15000, topo_workers=1)
    timed("tghem", lambda: criterion(logits, mask, torch.from_numpy(dots)[None]))
    return {
        "dots": len(gt[0]),
        "blobs": len(gt[1]),
        "h1_points": (len(gt_h1), len(pred_h1)),
        "h1_left": tuple(left),
        "D": d,
        "D_parts": h0 + h1,
        "h1": h1,
        "h1_check": check,
        "times": times,
        "peak_mb": peak_memory_mb(),
    }


def _dense_transport_of_distinct_points(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    """W1 by POT's dense network simplex on the distinct points with their multiplicities and the
    diagonal as one more point on each side, every pair an arc: an independent check of the sparse
    solver's arc selection. None when the dense matrix would exceed 10 million entries."""
    import math

    import ot

    (pa, ca), (pb, cb) = (np.unique(d, axis=0, return_counts=True) for d in (a, b))
    if (len(pa) + 1) * (len(pb) + 1) > 10_000_000:
        return None
    cost = np.zeros((len(pa) + 1, len(pb) + 1))
    cost[:-1, :-1] = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
    cost[:-1, -1] = (pa[:, 1] - pa[:, 0]) / math.sqrt(2)
    cost[-1, :-1] = (pb[:, 1] - pb[:, 0]) / math.sqrt(2)
    masses_a = np.append(ca, len(b)).astype(np.float64)
    masses_b = np.append(cb, len(a)).astype(np.float64)
    return float(ot.emd2(masses_a, masses_b, cost, numItermax=10**8))


def dense_against_sparse(size: int = 1024, spacing: int = 16, epsilon: float = 50.0) -> dict:
    """The H1 distance of :func:`large_crop` at ``size``: the dense assignment against the sparse transport."""
    from tghem.topology import component_centroids as centroids, dot_points, rips_diagrams
    from tghem.wasserstein import _cancel_common_rows, wasserstein_distance

    dots, binary = large_crop(size, spacing)
    gt_h1 = rips_diagrams(dot_points(dots), epsilon)[1]
    pred_h1 = rips_diagrams(centroids(binary), epsilon)[1]
    result = {"h1_left": tuple(len(d) for d in _cancel_common_rows(pred_h1, gt_h1))}
    for solver in ("dense", "sparse"):
        start = time.perf_counter()
        result[solver] = wasserstein_distance(pred_h1, gt_h1, solver=solver)
        result[f"{solver}_s"] = time.perf_counter() - start
    return result


def print_large_crop(size: int, spacing: int) -> None:
    """``--large-crop``: the figures of :func:`large_crop_cost` and :func:`dense_against_sparse`."""
    c = large_crop_cost(size, spacing)
    t = c["times"]
    print(f"{size} x {size} crop, {c['dots']:,} dots (spacing {spacing}), {c['blobs']:,} predicted blobs; epsilon 50")
    print(f"  H1 diagrams: {c['h1_points'][0]:,} (GT) and {c['h1_points'][1]:,} (prediction) points, "
          f"{c['h1_left'][1]:,} + {c['h1_left'][0]:,} left after cancelling common ones")
    print(f"  points {t['points']:.2f} s | Rips diagrams {t['diagrams']:.2f} s | H0 W1 {t['h0']:.2f} s | "
          f"H1 W1 {t['h1']:.2f} s | TopoGuide (all of it) {t['topoguide']:.2f} s | "
          f"TGHEM(ohem_min_kept=15000) forward {t['tghem']:.2f} s")
    print(f"  D = {c['D']!r} (stages summed: {c['D_parts']!r}) | peak resident memory {c['peak_mb']:,.0f} MB")
    if c["h1_check"] is not None:
        print(f"  H1 W1 {c['h1']!r}; POT's dense transport on the distinct points: {c['h1_check']!r} "
              f"(relative difference {abs(c['h1'] - c['h1_check']) / max(abs(c['h1_check']), 1e-300):.1e})")
    mid = max(spacing * 4, size // 4)
    r = dense_against_sparse(mid, spacing)
    print(f"{mid} x {mid} crop: H1 W1 between {r['h1_left'][1]:,} + {r['h1_left'][0]:,} points: dense assignment "
          f"{r['dense_s']:.2f} s, sparse transport {r['sparse_s']:.2f} s, "
          f"relative difference {abs(r['dense'] - r['sparse']) / max(abs(r['dense']), 1e-300):.1e}")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.topology", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_crop_arguments(parser, repeats=7)
    parser.add_argument(
        "--edge-collapse", action="store_true", help="also time gudhi's edge collapse against the kernel on the same graphs"
    )
    parser.add_argument("--large-crop", action="store_true", help="time D and TGHEM on one huge crop instead (see above)")
    parser.add_argument("--large-size", type=int_at_least(16), default=4096, help="side of the --large-crop crop (default 4096)")
    parser.add_argument("--spacing", type=int_at_least(2), default=16, help="pixels between the --large-crop dots (default 16)")
    args = parser.parse_args(argv)
    if args.large_crop:
        if args.spacing * 4 > args.large_size:
            parser.error(f"--spacing: expected at most a quarter of --large-size ({args.large_size // 4}), got {args.spacing}")
        print_environment()
        print_large_crop(args.large_size, args.spacing)
        return
    workers = args.workers

    torch.manual_seed(args.seed)
    crops = checked_crops(parser, args)
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
                f"gudhi: building its trees {c['build_s'] * 1e3:7.2f} ms, then collapse_edges alone "
                f"{c['collapse_s'] * 1e3:7.2f} ms (-> {c['edges_after']:,} edges)"
            )


if __name__ == "__main__":
    main()
