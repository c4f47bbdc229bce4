"""Detection and counting metrics of predicted points against ground-truth points.

Detection: the library's one-to-one matching within a radius and its TP/FP/FN counts
(:mod:`tghem.matching`: :func:`~tghem.matching.match_points`, :class:`~tghem.matching.Counts`,
:func:`~tghem.matching.detection_counts`), which users of the loss can take alone.

The authors' F1 (their training harness's test script), reported beside ours and never instead
of it: ground-truth points taken in row-major order of their pixels, each takes the nearest
prediction not yet taken if it lies strictly closer than :data:`AUTHORS_MATCH_RADIUS` (10 px), and
``F1 = 2PR / (P + R + 1e-7)`` per image (``P = TP / n_pred``, ``R = TP / n_gt``; 0 without
predictions, or without ground truth), averaged over images (:func:`greedy_match_count`).

Counting: per image ``e = n_pred - n_gt``; MAE, RMSE, mean relative error ``|e| / n_gt`` (over
images with ``n_gt > 0``) and GAME(L), the sum over a ``2^L x 2^L`` grid of cells of the absolute
count error per cell, averaged over images (GAME(0) = MAE). Points are placed on pixels by the
project's one rule (:mod:`tghem.points`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.spatial import cKDTree

from tghem.matching import Counts, check_radius, detection_counts, match_points
from tghem.points import as_points, pixel_indices

GAME_LEVELS = (0, 1, 2, 3)
AUTHORS_MATCH_RADIUS = 10.0
"""Match radius of the authors' F1 (pixels, strict ``<``)."""


def greedy_match_count(pred, gt, radius: float = AUTHORS_MATCH_RADIUS) -> int:
    """True positives of the authors' greedy matching (their harness's radius-10 F1).

    Ground-truth points are visited in row-major order of their pixels (row, then column, as
    ``np.where`` lists a dot map); each takes the nearest prediction not yet taken (the first
    in ``pred``'s order on a tie) when it lies strictly closer than ``radius``, measured from
    the ground-truth point's pixel. Unlike :func:`match_points` this can miss matches that
    exist: an early ground-truth point may take the only prediction a later one could reach.

    Args:
        pred: (P, 2) predicted x, y.
        gt: (G, 2) ground-truth x, y.
        radius: strict match radius, > 0.

    Returns:
        The number of matched pairs.

    Example:
        >>> # The first ground-truth point takes the prediction the second one needed:
        >>> pred, gt = [[14, 0], [2, 0]], [[10, 0], [22, 0]]
        >>> greedy_match_count(pred, gt, radius=10), len(match_points(pred, gt, radius=9.99))
        (1, 2)
    """
    pred, gt, radius = as_points("pred", pred), as_points("gt", gt), check_radius(radius)
    if len(pred) == 0 or len(gt) == 0:
        return 0
    rows, cols = pixel_indices(gt)
    order = np.lexsort((cols, rows))
    free = np.ones(len(pred), bool)
    tp = 0
    for g in order:
        d = np.hypot(pred[:, 0] - cols[g], pred[:, 1] - rows[g])
        d[~free] = np.inf
        j = int(np.argmin(d))
        if d[j] < radius:
            free[j] = False
            tp += 1
    return tp


def authors_scores(tp: int, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` of one image as the authors' harness computes them.

    ``F1 = 2PR / (P + R + 1e-7)``; an image without predictions scores 0 (even with no ground
    truth), one without ground truth but with predictions 0 too (the harness divides by zero).

    Example:
        >>> [round(v, 4) for v in authors_scores(3, 4, 6)]
        [0.75, 0.5, 0.6]
    """
    if n_pred == 0 or n_gt == 0:
        return 0.0, 0.0, 0.0
    p, r = tp / n_pred, tp / n_gt
    return p, r, 2 * p * r / (p + r + 1e-7)


def region_counts(points, shape: tuple[int, int], level: int) -> np.ndarray:
    """Number of points in each cell of a ``2^level x 2^level`` grid over an (H, W) image.

    Cell boundaries fall on pixel boundaries: pixel row ``r`` is in grid row
    ``r * 2^level // H`` (likewise columns); points are placed on pixels by rounding half up
    and clipped into the image.

    Returns:
        (2^level, 2^level) int64 counts.
    """
    p = as_points("points", points)
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"shape: expected (H, W) with H, W >= 1, got {shape!r}")
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0:
        raise ValueError(f"level: expected an int >= 0, got {level!r}")
    n = 2**level
    rows, cols = pixel_indices(p)
    rows, cols = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    cell = (rows * n // h) * n + cols * n // w
    return np.bincount(cell, minlength=n * n).reshape(n, n)


def game(pred, gt, shape: tuple[int, int], level: int) -> float:
    """GAME(level) of one image: sum over grid cells of ``|n_pred - n_gt|`` in the cell."""
    return float(np.abs(region_counts(pred, shape, level) - region_counts(gt, shape, level)).sum())


@dataclass
class ImageResult:
    """Per-image evaluation record (the rows of ``per_image.csv``, plus GAME values)."""

    image_id: str
    n_gt: int
    n_pred: int
    tp: int
    fp: int
    fn: int
    game: tuple[float, ...] = ()
    tp_by_radius: tuple[int, ...] = ()
    tp_greedy: int | None = None

    @property
    def counts(self) -> Counts:
        return Counts(self.tp, self.fp, self.fn)


def evaluate_image(
    image_id: str, pred, gt, shape: tuple[int, int], radius: float, max_radius: int | None = None
) -> ImageResult:
    """Everything the metrics need from one image.

    Args:
        image_id: id of the image.
        pred: (P, 2) predicted points.
        gt: (G, 2) ground-truth points.
        shape: (H, W) of the image (for GAME).
        radius: match radius.
        max_radius: R of the mean F1 over r = 1..R (None: ``floor(radius)``, at least 1).

    Returns:
        An :class:`ImageResult`; ``tp_by_radius[r - 1]`` is the TP count at radius ``r``;
        ``tp_greedy`` the TP count of the authors' matching (:func:`greedy_match_count`).
    """
    pred, gt = as_points("pred", pred), as_points("gt", gt)
    c = detection_counts(pred, gt, radius)
    big_r = max_radius if max_radius is not None else max(1, int(math.floor(radius)))
    tps = tuple(len(match_points(pred, gt, float(r))) for r in range(1, big_r + 1))
    games = tuple(game(pred, gt, shape, level) for level in GAME_LEVELS)
    return ImageResult(image_id, len(gt), len(pred), c.tp, c.fp, c.fn, games, tps, greedy_match_count(pred, gt))


def summarize(results: Sequence[ImageResult], radius: float) -> dict:
    """Split-level metrics from per-image results.

    Returns:
        A dict with ``precision``, ``recall``, ``f1`` (micro: from the summed TP/FP/FN),
        ``precision_mean``, ``recall_mean``, ``f1_mean`` (means of the per-image values),
        ``tp``, ``fp``, ``fn``, ``n_images``, ``n_gt``, ``n_pred``, ``match_radius``,
        ``f1_mean_radii`` (TopoCount-style: mean over r = 1..R of the micro F1 at radius r) with
        ``mean_f1_max_radius`` = R, ``mae``, ``rmse``, ``mre`` (None without any image with
        ground truth), ``mre_images`` and ``game0``..``game3`` (None where there is no per-image
        GAME), and the authors' ``precision_authors``, ``recall_authors``, ``f1_authors`` (means
        of :func:`authors_scores` over images; None where an image lacks ``tp_greedy``). With
        no image at all, every score is None.
    """
    n = len(results)
    out: dict = {"n_images": n, "match_radius": float(radius)}
    total = sum((r.counts for r in results), Counts(0, 0, 0))
    out.update(tp=total.tp, fp=total.fp, fn=total.fn, n_gt=sum(r.n_gt for r in results), n_pred=sum(r.n_pred for r in results))
    if n == 0:
        keys = ["precision", "recall", "f1", "precision_mean", "recall_mean", "f1_mean", "f1_mean_radii",
                "mean_f1_max_radius", "mae", "rmse", "mre", *AUTHORS_KEYS] + [f"game{level}" for level in GAME_LEVELS]
        out.update({k: None for k in keys}, mre_images=0)
        return out
    out.update(precision=total.precision, recall=total.recall, f1=total.f1)
    out.update(
        precision_mean=float(np.mean([r.counts.precision for r in results])),
        recall_mean=float(np.mean([r.counts.recall for r in results])),
        f1_mean=float(np.mean([r.counts.f1 for r in results])),
    )
    big_r = len(results[0].tp_by_radius)
    if big_r and all(len(r.tp_by_radius) == big_r for r in results):
        n_pred, n_gt = out["n_pred"], out["n_gt"]
        f1s = [
            Counts(t, n_pred - t, n_gt - t).f1
            for t in (sum(r.tp_by_radius[k] for r in results) for k in range(big_r))
        ]
        out.update(f1_mean_radii=float(np.mean(f1s)), mean_f1_max_radius=big_r)
    else:
        out.update(f1_mean_radii=None, mean_f1_max_radius=None)
    err = np.array([r.n_pred - r.n_gt for r in results], np.float64)
    out.update(mae=float(np.abs(err).mean()), rmse=float(np.sqrt((err**2).mean())))
    with_gt = [abs(r.n_pred - r.n_gt) / r.n_gt for r in results if r.n_gt > 0]
    out.update(mre=float(np.mean(with_gt)) if with_gt else None, mre_images=len(with_gt))
    for k, level in enumerate(GAME_LEVELS):
        values = [r.game[k] for r in results if len(r.game) == len(GAME_LEVELS)]
        out[f"game{level}"] = float(np.mean(values)) if len(values) == n else None
    if all(r.tp_greedy is not None for r in results):
        scores = np.array([authors_scores(r.tp_greedy, r.n_pred, r.n_gt) for r in results])
        out.update(dict(zip(AUTHORS_KEYS, (float(v) for v in scores.mean(axis=0)))))
    else:
        out.update(dict.fromkeys(AUTHORS_KEYS))
    return out


AUTHORS_KEYS = ("precision_authors", "recall_authors", "f1_authors")
"""Keys of the authors' scores in :func:`summarize`'s dict."""
