"""H0 and H1 persistence diagrams of the Vietoris-Rips filtration of planar points.

Two engines compute the same diagrams:

- :func:`gudhi_rips_diagrams`: gudhi's ``RipsComplex`` expanded to triangles, the
  reference path (the paper's code builds it for every crop);
- :func:`fast_rips_diagrams`: the neighbour graph within ``epsilon`` from a k-d
  tree, handed as a sparse distance matrix to giotto-ph's ripser (cohomology with
  clearing, apparent pairs, no triangle ever stored). H0 comes from the same run
  (ripser's union-find over the sorted edges, i.e. the minimum spanning forest).

Exactness of the fast path. The ripser engines store filtration values as float32.
Squared distances are handed to it instead of distances (the same order, so the
same persistence pairs); for integer pixel coordinates they are integers below
2**24 and so exact in float32, and the square root is taken afterwards in float64,
bit for bit what gudhi computes. For other coordinates the run asks for the
generating edges of every bar and recomputes birth and death from them in float64;
that is exact when no two distinct squared distances round to the same float32
(checked on every call). When they do, the diagrams come from gudhi instead.

Both paths drop zero-length bars (as gudhi does) and clamp infinite deaths to
``epsilon``.
"""
from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from tghem._validation import as_pairs_array

Diagrams = Tuple[np.ndarray, np.ndarray]

# Points in the plane: within epsilon of a vertex there cannot be 6 neighbours that
# are pairwise farther apart than epsilon (two of them span an angle <= 60 degrees).
_DEGREE_FORCING_A_TRIANGLE = 6

# Pairs within epsilon above which a warning is issued: measured on a 2-core CPU, a
# 256 x 256 crop of 7,225 blobs (2.7 million pairs) takes about 6 s and 700 MB,
# 3,900 random points (0.76 million pairs) 1.6 s. Such crops stay exact.
LARGE_GRAPH_PAIRS = 1_000_000


def _empty() -> np.ndarray:
    return np.zeros((0, 2))


def _as_points(points) -> np.ndarray:
    return as_pairs_array("points", points, "(x, y)")


def _squared_lengths(points: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # gudhi's order of operations (dx*dx + dy*dy), so that equal inputs give equal bits.
    delta = points[u] - points[v]
    return delta[:, 0] * delta[:, 0] + delta[:, 1] * delta[:, 1]


def gudhi_rips_diagrams(points, epsilon: float, *, top_dimension: bool = True) -> Diagrams:
    """Reference diagrams from gudhi's Rips complex; see :func:`fast_rips_diagrams`."""
    import gudhi

    points = _as_points(points)
    if len(points) == 0:
        return _empty(), _empty()
    complex_ = gudhi.RipsComplex(points=points, max_edge_length=epsilon)
    tree = complex_.create_simplex_tree(max_dimension=2)
    tree.compute_persistence(persistence_dim_max=top_dimension)
    diagrams = []
    for dim in (0, 1):
        diagram = np.asarray(tree.persistence_intervals_in_dimension(dim), dtype=np.float64).reshape(-1, 2)
        diagram[np.isinf(diagram[:, 1]), 1] = epsilon
        diagrams.append(diagram)
    return diagrams[0], diagrams[1]


def _unique_points(points: np.ndarray):
    """Distinct points and their multiplicities; duplicates only add zero-length bars."""
    if len(points) < 2:
        return points, np.ones(len(points), np.int64)
    low = points.min(axis=0)
    span = points.max(axis=0) - low + 1
    if span[0] * span[1] < 2**53 and np.array_equal(points, np.floor(points)):
        # Integer pixel coordinates: one int64 key per point sorts much faster than rows.
        keys = ((points[:, 1] - low[1]) * span[0] + (points[:, 0] - low[0])).astype(np.int64)
        unique_keys, first, counts = np.unique(keys, return_index=True, return_counts=True)
        if len(unique_keys) == len(points):
            return points, counts
        return points[first], counts
    return np.unique(points, axis=0, return_counts=True)


def neighbour_graph(points: np.ndarray, epsilon: float):
    """Pairs ``i < j`` with ``|p_i - p_j| <= epsilon`` and their squared lengths.

    The length test is gudhi's (``sqrt(dx*dx + dy*dy) <= epsilon`` in float64); the
    k-d tree query uses a slightly larger radius so that rounding inside it cannot
    drop a pair at exactly ``epsilon``.
    """
    if len(points) < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    pairs = cKDTree(points).query_pairs(epsilon * (1.0 + 1e-9) + 1e-12, output_type="ndarray")
    pairs = pairs.astype(np.int64, copy=False)
    squared = _squared_lengths(points, pairs[:, 0], pairs[:, 1])
    keep = np.sqrt(squared) <= epsilon
    if keep.all():
        return pairs, squared
    return pairs[keep], squared[keep]


def _has_triangle(n: int, pairs: np.ndarray) -> bool:
    if len(pairs) < 3:
        return False
    degree = np.bincount(pairs.ravel(), minlength=n)
    if degree.max() >= _DEGREE_FORCING_A_TRIANGLE:
        return True
    adjacency = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    adjacency = adjacency + adjacency.T
    return (adjacency @ adjacency).multiply(adjacency).nnz > 0


def load_engine() -> None:
    """Import giotto-ph's ripser now (about a second), e.g. before forking workers."""
    from gph.modules import gph_ripser  # noqa: F401


def _ripser(pairs: np.ndarray, values32: np.ndarray, n: int, generators: bool = False, max_dimension: int = 1):
    # The compiled entry point of gph.ripser_parallel: the public wrapper adds
    # scikit-learn input checks that cost more than the computation on small crops.
    from gph.modules import gph_ripser

    rows = np.ascontiguousarray(pairs[:, 0])
    cols = np.ascontiguousarray(pairs[:, 1])
    values32 = np.ascontiguousarray(values32)
    return gph_ripser.rips_dm_sparse(rows, cols, values32, rows.size, n, 2, max_dimension, np.inf, 1, generators)


def _diagram_from_values(flat, epsilon: float) -> np.ndarray:
    squared = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    diagram = np.sqrt(squared)
    diagram[np.isinf(diagram[:, 1]), 1] = epsilon
    return diagram


def fast_rips_diagrams(points, epsilon: float, *, top_dimension: bool = True) -> Diagrams:
    """H0 and H1 diagrams of the Vietoris-Rips filtration, truncated at ``epsilon``.

    Equal to :func:`gudhi_rips_diagrams` (same multisets of bars, up to order), without
    building the complex: a k-d tree finds the pairs within ``epsilon`` and giotto-ph's
    ripser reduces the coboundary matrix of that sparse distance matrix.

    Args:
        points: (N, 2) coordinates; N may be 0; duplicates allowed.
        epsilon: maximum edge length, > 0.
        top_dimension: as :func:`tghem.topology.rips_diagrams`. ``False`` reproduces
            gudhi's default of skipping the complex's top dimension: no edge -> both
            diagrams empty; edges but no triangle -> H1 empty.

    Returns:
        ``(h0, h1)``, (K, 2) float64 arrays of (birth, death).

    Example:
        >>> import numpy as np
        >>> h0, h1 = fast_rips_diagrams(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]), 50.0)
        >>> sorted(h0[:, 1].tolist()), h1.shape
        ([3.0, 4.0, 50.0], (0, 2))
    """
    points = _as_points(points)
    if len(points) == 0:
        return _empty(), _empty()
    unique, counts = _unique_points(points)
    n = len(unique)
    pairs, squared = neighbour_graph(unique, epsilon)
    if not top_dimension:
        # gudhi skips the top dimension of the complex built on all points, duplicates
        # included: a repeated point is an edge, a point repeated three times a triangle.
        multiplicity = int(counts.max())
        if len(pairs) == 0 and multiplicity < 2:
            return _empty(), _empty()
        duplicated_with_neighbour = bool(np.isin(pairs.ravel(), np.flatnonzero(counts >= 2)).any())
        keep_h1 = multiplicity >= 3 or duplicated_with_neighbour or _has_triangle(n, pairs)
    else:
        keep_h1 = True
    if len(pairs) == 0:
        return np.column_stack([np.zeros(n), np.full(n, float(epsilon))]), _empty()
    if len(pairs) > LARGE_GRAPH_PAIRS:
        warnings.warn(
            f"tghem: {n} points with {len(pairs):,} pairs within epsilon={epsilon}: the exact Rips "
            f"persistence of this crop takes seconds and hundreds of MB (about 6 s and 700 MB for "
            f"2.7 million pairs on one CPU core); nothing is capped or approximated",
            RuntimeWarning,
            stacklevel=2,
        )
    values32 = squared.astype(np.float32)
    if np.array_equal(values32, squared):
        h0, h1 = _diagrams_from_squared(pairs, values32, n, epsilon)
    elif _float32_preserves_order(squared):
        h0, h1 = _diagrams_from_generators(unique, pairs, values32, epsilon)
    else:
        return gudhi_rips_diagrams(points, epsilon, top_dimension=top_dimension)
    return h0, (h1 if keep_h1 else _empty())


def _diagrams_from_squared(pairs: np.ndarray, values32: np.ndarray, n: int, epsilon: float) -> Diagrams:
    flat = _ripser(pairs, values32, n).births_and_deaths_by_dim()
    return _diagram_from_values(flat[0], epsilon), _diagram_from_values(flat[1], epsilon)


def _float32_preserves_order(squared: np.ndarray) -> bool:
    """True when distinct float64 values stay distinct in float32 (rounding is monotone)."""
    distinct = np.unique(squared)
    return bool(np.all(np.diff(distinct.astype(np.float32)) > 0))


def _diagrams_from_generators(points: np.ndarray, pairs: np.ndarray, values32: np.ndarray, epsilon: float) -> Diagrams:
    result = _ripser(pairs, values32, len(points), generators=True)
    gens = result.flag_persistence_generators_by_dim

    def length(u, v):
        return np.sqrt(_squared_lengths(points, np.asarray(u, np.int64), np.asarray(v, np.int64)))

    finite0 = np.asarray(gens.finite_0, dtype=np.int64).reshape(-1, 3)
    n_essential0 = np.asarray(gens.essential_0, dtype=np.int64).size
    deaths0 = np.concatenate([length(finite0[:, 1], finite0[:, 2]), np.full(n_essential0, float(epsilon))])
    h0 = np.stack([np.zeros_like(deaths0), deaths0], axis=1)
    finite1 = np.asarray(gens.finite_higher[0], dtype=np.int64).reshape(-1, 4)
    essential1 = np.asarray(gens.essential_higher[0], dtype=np.int64).reshape(-1, 2)
    births1 = np.concatenate([length(finite1[:, 0], finite1[:, 1]), length(essential1[:, 0], essential1[:, 1])])
    deaths1 = np.concatenate([length(finite1[:, 2], finite1[:, 3]), np.full(len(essential1), float(epsilon))])
    h1 = np.stack([births1, deaths1], axis=1)
    return h0, h1
