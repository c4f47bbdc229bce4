"""Point matching and detection scores: predicted points against ground-truth points.

Predicted and ground-truth points are matched one to one, only pairs at Euclidean distance
``<= radius`` being allowed, by a maximum-cardinality matching of minimum total distance
(Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`). Matched pairs are true
positives, unmatched predictions false positives, unmatched ground-truth points false negatives.
Greedy nearest-first matching can miss matches that exist (see the tests); this cannot.

Conventions for empty sets: ``precision = TP / (TP + FP)`` is 1 when nothing is predicted (no
wrong detection), ``recall = TP / (TP + FN)`` is 1 when there is nothing to find, and
``F1 = 2 TP / (2 TP + FP + FN)`` (the harmonic mean of the two where they are defined) is 1 when
both sets are empty. Points are (x, y) = (column, row) in pixels (:mod:`tghem.points`).

Example:
    >>> from tghem.matching import detection_counts
    >>> c = detection_counts(pred=[[10, 10], [40, 12]], gt=[[11, 10], [80, 80]], radius=5)
    >>> (c.tp, c.fp, c.fn), c.precision, c.recall, c.f1
    ((1, 1, 1), 0.5, 0.5, 0.5)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from tghem.points import as_points

__all__ = ["Counts", "check_radius", "detection_counts", "match_points"]


def check_radius(radius) -> float:
    """``radius`` as a float, checked to be a finite number > 0 (errors name the argument)."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)):
        raise TypeError(f"radius: expected a positive number, got {type(radius).__name__} {radius!r}")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: expected a finite number > 0, got {radius!r}")
    return float(radius)


def match_points(pred, gt, radius: float) -> np.ndarray:
    """One-to-one matching of predicted to ground-truth points within ``radius``.

    Among all matchings using only pairs at distance ``<= radius``, returns one with the
    largest number of pairs and, among those, the smallest total distance. The candidate pairs
    come from a k-d tree; every connected group of candidates is solved separately by the
    Hungarian algorithm on its dense cost matrix, so thousands of points stay cheap.

    Args:
        pred: (P, 2) predicted x, y.
        gt: (G, 2) ground-truth x, y.
        radius: largest matching distance (inclusive), > 0.

    Returns:
        (M, 2) int64 array of ``(pred_index, gt_index)`` pairs, sorted by ``pred_index``.

    Example:
        >>> match_points([[0, 0], [10, 0]], [[1, 0], [30, 0]], radius=5).tolist()
        [[0, 0]]
    """
    pred, gt, radius = as_points("pred", pred), as_points("gt", gt), check_radius(radius)
    if len(pred) == 0 or len(gt) == 0:
        return np.zeros((0, 2), np.int64)
    # The tree's bound test overflows near float64's largest value (radius 1e308); 1e300 already
    # holds every pair of finite pixel coordinates, and the exact test below uses the radius itself.
    pairs = cKDTree(pred).sparse_distance_matrix(cKDTree(gt), min(radius, 1e300), output_type="ndarray")
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    # A pair is kept when the tree's bound test and np.hypot both put it within the radius: they
    # differ only within a rounding error of it (a float sum of squares just above radius**2 for
    # a hypot equal to the radius), where the tree's test has already dropped the pair.
    d = np.hypot(pred[i, 0] - gt[j, 0], pred[i, 1] - gt[j, 1])
    keep = d <= radius
    i, j, d = i[keep], j[keep], d[keep]
    if len(i) == 0:
        return np.zeros((0, 2), np.int64)
    n_pred = len(pred)
    graph = coo_matrix((np.ones(len(i)), (i, n_pred + j)), shape=(n_pred + len(gt),) * 2)
    _, label = connected_components(graph, directed=False)
    group = label[i]
    out = []
    for g in np.unique(group):
        sel = group == g
        rows, rows_inv = np.unique(i[sel], return_inverse=True)
        cols, cols_inv = np.unique(j[sel], return_inverse=True)
        # Pairs beyond the radius cost more than any complete set of allowed pairs, so the
        # optimum first maximises the number of allowed pairs, then minimises their distance.
        forbidden = radius * (min(len(rows), len(cols)) + 1) + 1.0
        cost = np.full((len(rows), len(cols)), forbidden)
        cost[rows_inv, cols_inv] = d[sel]
        r, c = linear_sum_assignment(cost)
        ok = cost[r, c] < forbidden
        out.append(np.stack([rows[r[ok]], cols[c[ok]]], axis=1))
    matched = np.concatenate(out).astype(np.int64)
    return matched[np.argsort(matched[:, 0], kind="stable")]


@dataclass(frozen=True)
class Counts:
    """Detection outcome of one image (or a sum of images): true positives, false positives, misses.

    ``precision`` = TP / (TP + FP) (1 when nothing is predicted), ``recall`` = TP / (TP + FN) (1
    when there is nothing to find), ``f1`` = 2 TP / (2 TP + FP + FN) (1 when both are empty).
    Counts add (``sum`` of a list too), so a split's micro scores are those of the sum of its images'
    counts. Each is an int >= 0.

    Example:
        >>> total = Counts(tp=3, fp=1, fn=0) + Counts(tp=0, fp=0, fn=2)
        >>> total, total.precision, total.recall, round(total.f1, 4)
        (Counts(tp=3, fp=1, fn=2), 0.75, 0.6, 0.6667)
    """

    tp: int
    fp: int
    fn: int

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Counts.{name}: expected an int >= 0, got {type(value).__name__} {value!r}")
            if value < 0:
                raise ValueError(f"Counts.{name}: expected an int >= 0, got {value!r}")
            object.__setattr__(self, name, int(value))  # a numpy uint8 or int8 would overflow in sums

    def __add__(self, other: "Counts") -> "Counts":
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def __radd__(self, other) -> "Counts":
        """``0 + counts`` is ``counts``, so ``sum(per_image_counts)`` totals a split."""
        return self if isinstance(other, int) and not isinstance(other, bool) and other == 0 else NotImplemented

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 1.0


def detection_counts(pred, gt, radius: float) -> Counts:
    """TP, FP and FN of one image by :func:`match_points`.

    Example:
        >>> c = detection_counts([[0, 0], [10, 0], [50, 50]], [[1, 0], [12, 0], [30, 0]], radius=5)
        >>> (c.tp, c.fp, c.fn), round(c.f1, 4)
        ((2, 1, 1), 0.6667)
    """
    pred, gt = as_points("pred", pred), as_points("gt", gt)
    tp = len(match_points(pred, gt, radius))
    return Counts(tp, len(pred) - tp, len(gt) - tp)
