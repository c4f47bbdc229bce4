"""H0 and H1 persistence diagrams of the Vietoris-Rips filtration of planar points.

Three engines compute the same diagrams:

- :func:`fast_rips_diagrams` (the default): the pairs within ``epsilon`` (a
  compiled sweep over the points sorted by y), then
  :func:`tghem.flag_persistence.flag_persistence`, a compiled persistence of the
  flag filtration specialised to H0 and H1 (Kruskal for H0; cohomology with
  clearing and apparent pairs for H1, where in the plane only edges with an empty
  lune are ever reduced). No triangle is stored; all arithmetic is on the float64
  squared lengths that gudhi's lengths are the square roots of, so the bars are
  those square roots, bit for bit.
- :func:`ripser_rips_diagrams`: the same neighbour graph handed as a sparse
  distance matrix to giotto-ph's ripser (the library engine; about 2 to 4 times
  slower on the crops of ``python -m benchmarks.topology``; kept for comparison).
- :func:`gudhi_rips_diagrams`: gudhi's ``RipsComplex`` expanded to triangles, the
  reference path (the paper's code builds it for every crop).

Exactness of the ripser path. The ripser engines store filtration values as float32.
Squared distances are handed to it instead of distances (the same order, so the
same persistence pairs); for integer pixel coordinates they are integers below
2**24 and so exact in float32, and the square root is taken afterwards in float64,
bit for bit what gudhi computes. For other coordinates the run asks for the
generating edges of every bar and recomputes birth and death from them in float64;
that is exact when no two distinct squared distances round to the same float32
(checked on every call). When they do, the diagrams come from gudhi instead.

All paths drop zero-length finite bars (as gudhi does) and clamp infinite deaths to
``epsilon``.
"""
from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np
from scipy import sparse

from tghem.flag_persistence import (
    BITSET_MAX_VERTICES,
    DENSE_MAX_VERTICES,
    _flag_persistence,
    count_neighbour_pairs,
    neighbour_pairs,
)
from tghem.points import as_points

Diagrams = Tuple[np.ndarray, np.ndarray]

# Points in the plane: within epsilon of a vertex there cannot be 6 neighbours that
# are pairwise farther apart than epsilon (two of them span an angle <= 60 degrees).
_DEGREE_FORCING_A_TRIANGLE = 6

# Pairs within epsilon above which a warning is issued, before the pairs are stored:
# measured on a 2-core CPU with the fast engine, a 256 x 256 crop of 7,225 blobs (2.7
# million pairs) takes about 1.4 s and 350 MB, 3,900 random points (0.72 million pairs)
# 0.9 s and 140 MB, 40,000 random pixels in 1024 x 1024 (5.5 million pairs) 21 s and
# 0.9 GB, 65,536 dots on a 16-pixel grid (0.91 million pairs) 0.75 s. The estimate
# spans that range: 0.5 to 4 microseconds and about 170 bytes per pair. Such point
# sets stay exact.
LARGE_GRAPH_PAIRS = 1_000_000
_SECONDS_PER_PAIR = (0.5e-6, 4e-6)
_BYTES_PER_PAIR = 170


def _empty() -> np.ndarray:
    return np.zeros((0, 2))


def _as_points(points) -> np.ndarray:
    return as_points("points", points)


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
    """Distinct points sorted by (y, x), and their multiplicities.

    Duplicates only add zero-length bars. The order lets :func:`neighbour_graph` stop
    each row of its scan early; the diagrams do not depend on it.
    """
    if len(points) < 2:
        return points, np.ones(len(points), np.int64)
    low = points.min(axis=0)
    span = points.max(axis=0) - low + 1
    if span[0] * span[1] < 2**53 and np.array_equal(points, np.floor(points)):
        # Integer pixel coordinates: one int64 key per point sorts much faster than rows.
        keys = ((points[:, 1] - low[1]) * span[0] + (points[:, 0] - low[0])).astype(np.int64)
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        return points[first], counts
    swapped, counts = np.unique(points[:, ::-1], axis=0, return_counts=True)
    return np.ascontiguousarray(swapped[:, ::-1]), counts


def neighbour_graph(points: np.ndarray, epsilon: float):
    """Pairs ``i < j`` with ``|p_i - p_j| <= epsilon``, in lexicographic order, and their squared lengths.

    The length test is gudhi's (``sqrt(dx*dx + dy*dy) <= epsilon`` in float64). A
    compiled scan (:func:`tghem.flag_persistence.neighbour_pairs`) tests the pairs;
    for points sorted by y (as :func:`_unique_points` returns them) it only scans
    the band within ``epsilon`` in y, which beat scipy's k-d tree at every size
    measured (0.8 vs 2.7 ms for 700 random points in 256 x 256, 68 vs 361 ms for
    6,660, 479 vs 3,635 ms for 17,306, 3.7 vs 4.4 ms for 5,000 sparse points).
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    if len(points) < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    return neighbour_pairs(points, float(epsilon))


def _neighbour_graph_or_warn(points: np.ndarray, epsilon: float):
    """:func:`neighbour_graph`, counting the pairs first and warning before storing them when there are many."""
    if len(points) < 2:
        return neighbour_graph(points, epsilon)
    points = np.ascontiguousarray(points, dtype=np.float64)
    count = count_neighbour_pairs(points, float(epsilon))
    if count > LARGE_GRAPH_PAIRS:
        warnings.warn(
            f"tghem: {len(points):,} points with {count:,} pairs within epsilon={epsilon}: the exact Rips "
            f"persistence of this point set will take about {count * _SECONDS_PER_PAIR[0]:,.1f} to "
            f"{count * _SECONDS_PER_PAIR[1]:,.1f} s and {count * _BYTES_PER_PAIR / 1e6:,.0f} MB on one CPU core with "
            f"the fast engine (several times that with ripser or gudhi); nothing is capped or approximated",
            RuntimeWarning,
            stacklevel=4,
        )
    return neighbour_pairs(points, float(epsilon), count)


def _has_triangle(n: int, pairs: np.ndarray) -> bool:
    if len(pairs) < 3:
        return False
    degree = np.bincount(pairs.ravel(), minlength=n)
    if degree.max() >= _DEGREE_FORCING_A_TRIANGLE:
        return True
    adjacency = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    adjacency = adjacency + adjacency.T
    return (adjacency @ adjacency).multiply(adjacency).nnz > 0


def load_engine(backend: str = "fast") -> None:
    """Load an engine now, e.g. before forking workers that would each load it.

    ``'fast'``: the compiled kernels (read from numba's on-disk cache, or compiled on
    the very first use, some seconds); ``'ripser'``: giotto-ph (about a second).
    """
    if backend == "fast":
        _flag_persistence(2, np.array([[0, 1]], np.int64), np.ones(1), DENSE_MAX_VERTICES, BITSET_MAX_VERTICES)
        neighbour_pairs(np.zeros((2, 2)), 1.0)
    elif backend == "ripser":
        _gph_ripser()


def _gph_ripser():
    """giotto-ph's compiled ripser module; an ImportError saying how to install it where it is absent."""
    try:
        from gph.modules import gph_ripser
    except ImportError as err:
        raise ImportError(
            "backend='ripser' needs giotto-ph, an optional dependency (the package's ripser extra): pip install giotto-ph "
            "(or use backend='fast', the default, or 'gudhi': the same D)"
        ) from err
    return gph_ripser


def _ripser(pairs: np.ndarray, values32: np.ndarray, n: int, generators: bool = False, max_dimension: int = 1):
    # The compiled entry point of gph.ripser_parallel: the public wrapper adds
    # scikit-learn input checks that cost more than the computation on small crops.
    gph_ripser = _gph_ripser()

    rows = np.ascontiguousarray(pairs[:, 0])
    cols = np.ascontiguousarray(pairs[:, 1])
    values32 = np.ascontiguousarray(values32)
    return gph_ripser.rips_dm_sparse(rows, cols, values32, rows.size, n, 2, max_dimension, np.inf, 1, generators)


def _diagram_from_values(flat, epsilon: float) -> np.ndarray:
    squared = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    diagram = np.sqrt(squared)
    diagram[np.isinf(diagram[:, 1]), 1] = epsilon
    return diagram


def _graph_or_diagrams(points, epsilon: float, top_dimension: bool):
    """What every fast engine starts from: the distinct points and their neighbour graph.

    Returns ``(diagrams, None)`` when the answer needs no persistence engine (no point,
    no pair), else ``(None, (unique, pairs, squared, keep_h1))``.
    """
    points = _as_points(points)
    if len(points) == 0:
        return (_empty(), _empty()), None
    unique, counts = _unique_points(points)
    n = len(unique)
    pairs, squared = _neighbour_graph_or_warn(unique, epsilon)
    if not top_dimension:
        # gudhi skips the top dimension of the complex built on all points, duplicates
        # included: a repeated point is an edge, a point repeated three times a triangle.
        multiplicity = int(counts.max())
        if len(pairs) == 0 and multiplicity < 2:
            return (_empty(), _empty()), None
        duplicated_with_neighbour = bool(np.isin(pairs.ravel(), np.flatnonzero(counts >= 2)).any())
        keep_h1 = multiplicity >= 3 or duplicated_with_neighbour or _has_triangle(n, pairs)
    else:
        keep_h1 = True
    if len(pairs) == 0:
        return (np.column_stack([np.zeros(n), np.full(n, float(epsilon))]), _empty()), None
    return None, (unique, pairs, squared, keep_h1)


def fast_rips_diagrams(points, epsilon: float, *, top_dimension: bool = True) -> Diagrams:
    """H0 and H1 diagrams of the Vietoris-Rips filtration, truncated at ``epsilon``.

    Equal to :func:`gudhi_rips_diagrams` (same multisets of bars, up to order, bit for
    bit), without building the complex: the pairs within ``epsilon`` go to the
    compiled H0/H1 persistence of :mod:`tghem.flag_persistence`.

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
    diagrams, graph = _graph_or_diagrams(points, epsilon, top_dimension)
    if diagrams is not None:
        return diagrams
    unique, pairs, squared, keep_h1 = graph
    # The graph is valid by construction, so the compiled kernel is called without re-checking it.
    h0_deaths, h0_essential, h1_births, h1_deaths, h1_essential = _flag_persistence(
        len(unique), pairs, squared, DENSE_MAX_VERTICES, BITSET_MAX_VERTICES
    )
    deaths0 = np.concatenate([np.sqrt(h0_deaths), np.full(h0_essential, float(epsilon))])
    h0 = np.column_stack([np.zeros(len(deaths0)), deaths0])
    if not keep_h1:
        return h0, _empty()
    finite = np.column_stack([np.sqrt(h1_births), np.sqrt(h1_deaths)])
    # Distinct squared lengths can share a square root (not for integer coordinates):
    # such bars have zero length in gudhi's filtration, which drops them.
    finite = finite[finite[:, 0] < finite[:, 1]]
    essential = np.column_stack([np.sqrt(h1_essential), np.full(len(h1_essential), float(epsilon))])
    return h0, np.concatenate([finite, essential])


def ripser_rips_diagrams(points, epsilon: float, *, top_dimension: bool = True) -> Diagrams:
    """:func:`fast_rips_diagrams` computed by giotto-ph's ripser on a sparse distance matrix."""
    diagrams, graph = _graph_or_diagrams(points, epsilon, top_dimension)
    if diagrams is not None:
        return diagrams
    unique, pairs, squared, keep_h1 = graph
    n = len(unique)
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
