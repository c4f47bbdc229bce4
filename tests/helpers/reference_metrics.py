"""Independent reference for the detection and counting metrics (tests only).

Written without scipy's assignment solver, k-d trees or the grid arithmetic of
``experiments.evaluation.metrics``: matching is networkx's general graph matching on the explicit
bipartite graph of all pairs within the radius (maximum cardinality, then maximum total
``BIG - distance``, i.e. minimum total distance); regions are scanned cell by cell.
"""

from __future__ import annotations

import math

import networkx as nx


def reference_matching(pred, gt, radius):
    """(number of matched pairs, their total distance) of a max-cardinality min-distance matching."""
    g = nx.Graph()
    g.add_nodes_from(("p", i) for i in range(len(pred)))
    g.add_nodes_from(("g", j) for j in range(len(gt)))
    big = 1e6
    for i, (px, py) in enumerate(pred):
        for j, (gx, gy) in enumerate(gt):
            d = math.sqrt((px - gx) ** 2 + (py - gy) ** 2)
            if d <= radius:
                g.add_edge(("p", i), ("g", j), weight=big - d, dist=d)
    matching = nx.max_weight_matching(g, maxcardinality=True)
    return len(matching), sum(g.edges[a, b]["dist"] for a, b in matching)


def reference_counts(pred, gt, radius):
    """(TP, FP, FN)."""
    tp, _ = reference_matching(pred, gt, radius)
    return tp, len(pred) - tp, len(gt) - tp


def reference_game(pred, gt, shape, level):
    """GAME(level): cell (a, b) holds the pixel rows a*H/n <= r < (a+1)*H/n (likewise columns)."""
    h, w = shape
    n = 2**level

    def pixel(p):
        row = min(max(math.floor(p[1] + 0.5), 0), h - 1)
        col = min(max(math.floor(p[0] + 0.5), 0), w - 1)
        return row, col

    total = 0
    for a in range(n):
        for b in range(n):
            def inside(p):
                row, col = pixel(p)
                return a * h <= row * n < (a + 1) * h and b * w <= col * n < (b + 1) * w

            total += abs(sum(1 for p in pred if inside(p)) - sum(1 for p in gt if inside(p)))
    return total


def reference_f1(tp, fp, fn):
    """F1 with the documented convention (1 when both sets are empty)."""
    return 1.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
