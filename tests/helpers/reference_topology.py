"""Independent reference for the topological discrepancy, used only by the tests.

Written from the definitions, sharing no code with tghem: the Vietoris-Rips
filtration is enumerated explicitly, persistence comes from the textbook column
reduction of the boundary matrix over Z/2, and the Wasserstein distance from an
assignment problem on the diagram points augmented with their diagonal projections.
Cubic cost: meant for a few dozen points.

``top_dimension=False`` follows the rule gudhi documents for ``compute_persistence()`` with its
defaults (``persistence_dim_max=False``): the homology of the complex's own top dimension is not
computed. The complex built here has dimension 2 when it holds a triangle, 1 when it holds only
edges, 0 when only vertices.
"""
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment


def rips_persistence(points, epsilon, top_dimension=True):
    """H0 and H1 diagrams (births, deaths; infinite deaths set to epsilon)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    simplices = [((i,), 0.0) for i in range(n)]
    edges = [((i, j), dist[i, j]) for i, j in combinations(range(n), 2) if dist[i, j] <= epsilon]
    edge_set = {e for e, _ in edges}
    triangles = [
        (t, max(dist[t[0], t[1]], dist[t[0], t[2]], dist[t[1], t[2]]))
        for t in combinations(range(n), 3)
        if {(t[0], t[1]), (t[0], t[2]), (t[1], t[2])} <= edge_set
    ]
    simplices += edges + triangles
    simplices.sort(key=lambda s: (s[1], len(s[0]), s[0]))
    position = {s: k for k, (s, _) in enumerate(simplices)}
    columns = []
    for simplex, _ in simplices:
        faces = combinations(simplex, len(simplex) - 1) if len(simplex) > 1 else []
        columns.append({position[f] for f in faces})
    low_owner, paired, bars = {}, set(), {0: [], 1: []}
    for j, column in enumerate(columns):
        while column and max(column) in low_owner:
            column ^= columns[low_owner[max(column)]]
        if column:
            low = max(column)
            low_owner[low] = j
            paired.update((low, j))
            dim = len(simplices[low][0]) - 1
            if dim in bars:
                bars[dim].append((simplices[low][1], simplices[j][1]))
    for k, (simplex, value) in enumerate(simplices):
        dim = len(simplex) - 1
        if k not in paired and dim in bars:
            bars[dim].append((value, epsilon))
    if not top_dimension:
        complex_dim = 2 if triangles else 1 if edges else 0
        for d in (0, 1):
            if d >= complex_dim:
                bars[d] = []
    return tuple(np.array(bars[d], dtype=np.float64).reshape(-1, 2) for d in (0, 1))


def wasserstein1(a, b):
    """Order-1 Wasserstein distance, Euclidean ground metric, diagonal allowed."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    n, m = len(a), len(b)
    if n + m == 0:
        return 0.0
    to_diag_a = (a[:, 1] - a[:, 0]) / np.sqrt(2)
    to_diag_b = (b[:, 1] - b[:, 0]) / np.sqrt(2)
    big = 1e18
    cost = np.zeros((n + m, m + n))
    cost[:n, :m] = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    cost[:n, m:] = big
    cost[np.arange(n), m + np.arange(n)] = to_diag_a
    cost[n:, :m] = big
    cost[n + np.arange(m), np.arange(m)] = to_diag_b
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum())


def discrepancy(gt_points, pred_points, epsilon, reduction="sum", top_dimension=True):
    gt0, gt1 = rips_persistence(gt_points, epsilon, top_dimension)
    pr0, pr1 = rips_persistence(pred_points, epsilon, top_dimension)
    h1 = wasserstein1(pr1, gt1)
    if reduction == "H1":
        return h1
    total = wasserstein1(pr0, gt0) + h1
    return total / 2 if reduction == "mean" else total
