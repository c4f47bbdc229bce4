"""The sparse exact H1 Wasserstein solver against the dense assignment, and the size warnings.

The sparse transport (distinct points with multiplicities, nearest-neighbour arcs, a
dual check over all pairs) must give the dense assignment's distance to 1e-9 on every
kind of diagram (empty, identical, disjoint, duplicated points, points on either side
of each other), return a matching that attains it, compute a case the dense solver
could not hold in memory, and warn before the work where a size is large.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tghem import rips, wasserstein
from tghem.rips import fast_rips_diagrams, gudhi_rips_diagrams
from tghem.wasserstein import wasserstein_distance, wasserstein_matching

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def matching_cost(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> float:
    """Cost of a matching as wasserstein_matching returns it, recomputed pair by pair."""
    total = 0.0
    for i, j in pairs:
        if i >= 0 and j >= 0:
            total += math.hypot(a[i, 0] - b[j, 0], a[i, 1] - b[j, 1])
        else:
            point = a[i] if i >= 0 else b[j]
            total += (point[1] - point[0]) / math.sqrt(2)
    return total


def assert_is_a_matching(pairs: np.ndarray, n: int, m: int) -> None:
    assert sorted(pairs[pairs[:, 0] >= 0, 0].tolist()) == list(range(n))
    assert sorted(pairs[pairs[:, 1] >= 0, 1].tolist()) == list(range(m))
    assert not np.any((pairs[:, 0] < 0) & (pairs[:, 1] < 0))


@st.composite
def diagram_pairs(draw):
    """Two diagrams of one of several kinds, often sharing or repeating points."""
    kind = draw(st.sampled_from(["grid", "real", "shared", "identical", "disjoint", "one empty"]))
    seed = draw(st.integers(0, 2**32 - 1))
    n, m = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    rng = np.random.default_rng(seed)

    def diagram(k, offset=0.0):
        if kind in ("grid", "shared", "identical"):  # few distinct values: many duplicates
            births = rng.integers(0, 6, k).astype(np.float64) + offset
            return np.column_stack([births, births + rng.integers(1, 5, k)])
        births = rng.uniform(0, 10, k) + offset
        return np.column_stack([births, births + rng.exponential(2.0, k)])

    a = diagram(n)
    if kind == "identical":
        return a, a[rng.permutation(n)]
    if kind == "one empty":
        return a, np.zeros((0, 2))
    b = diagram(m, offset=1000.0 if kind == "disjoint" else 0.0)
    if kind == "shared" and n and m:
        k = min(n, m) // 2
        b[:k] = a[rng.choice(n, k, replace=False)]
    return a, b


@SETTINGS
@given(diagram_pairs())
def test_sparse_solver_equals_dense_solver(diagrams):
    a, b = diagrams
    dense = wasserstein_distance(a, b, solver="dense")
    sparse = wasserstein_distance(a, b, solver="sparse")
    assert sparse == pytest.approx(dense, rel=1e-9, abs=1e-12)
    assert wasserstein_distance(b, a, solver="sparse") == pytest.approx(dense, rel=1e-9, abs=1e-12)
    distance, pairs = wasserstein_matching(a, b, solver="sparse")
    assert distance == sparse  # the same solver: the same bits
    assert_is_a_matching(pairs, len(a), len(b))
    assert matching_cost(a, b, pairs) == pytest.approx(sparse, rel=1e-9, abs=1e-12)


def test_sparse_solver_closed_forms():
    a = np.array([[0.0, 4.0], [1.0, 2.0]])
    assert wasserstein_distance(a, [[0.0, 3.0]], solver="sparse") == pytest.approx(1 + 1 / math.sqrt(2), rel=1e-15)
    assert wasserstein_distance(a, a[::-1], solver="sparse") == 0.0
    assert wasserstein_distance(a, np.zeros((0, 2)), solver="sparse") == pytest.approx(5 / math.sqrt(2), rel=1e-15)
    assert wasserstein_distance([], [], solver="sparse") == 0.0
    # Far apart: both go to the diagonal.
    far = wasserstein_distance([[0.0, 1.0]], [[100.0, 102.0]], solver="sparse")
    assert far == pytest.approx(3 / math.sqrt(2), rel=1e-15)
    # 1,000 copies of one point against 1,000 copies of another, 1 apart: one arc carries them all.
    many = wasserstein_distance(np.tile([[0.0, 10.0]], (1000, 1)), np.tile([[1.0, 10.0]], (1000, 1)), solver="sparse")
    assert many == pytest.approx(1000.0, rel=1e-12)


def test_sparse_solver_on_diagrams_of_real_point_sets_equals_the_dense_one():
    rng = np.random.default_rng(7)
    for _ in range(5):
        gt = rng.integers(0, 200, (150, 2)).astype(np.float64)
        pred = np.clip(gt[rng.random(150) < 0.8] + rng.integers(-2, 3, (1, 2)), 0, 199)
        h1_gt, h1_pred = fast_rips_diagrams(gt, 50.0)[1], fast_rips_diagrams(pred, 50.0)[1]
        dense = wasserstein_distance(h1_pred, h1_gt, solver="dense")
        assert wasserstein_distance(h1_pred, h1_gt, solver="sparse") == pytest.approx(dense, rel=1e-9)


def test_auto_uses_the_dense_solver_for_small_diagrams_only(monkeypatch):
    calls = []
    original = wasserstein._sparse_transport
    monkeypatch.setattr(wasserstein, "_sparse_transport", lambda a, b: calls.append(len(a) + len(b)) or original(a, b))
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 10, (20, 2)).cumsum(axis=1), rng.uniform(0, 10, (20, 2)).cumsum(axis=1)
    assert wasserstein_distance(*small) == wasserstein_distance(*small, solver="dense")
    assert calls == []
    monkeypatch.setattr(wasserstein, "DENSE_MAX_POINTS", 10)
    assert wasserstein_distance(*small) == wasserstein_distance(*small, solver="sparse")
    assert calls == [40, 40]


def test_a_case_too_large_for_the_dense_solver_is_exact():
    # 20,000 + 20,000 points: the dense matrix would be 40,000^2 x 8 bytes = 12.8 GB.
    # 200 clusters of short bars along the diagonal, 10 apart: no pair across clusters
    # costs less than sending both to the diagonal, so W is the sum of the clusters'
    # distances, each computed by the dense solver.
    rng = np.random.default_rng(3)
    clusters = []
    for c in range(200):
        births = 10.0 * c + rng.uniform(0, 2, (2, 100))
        lives = rng.uniform(0, 0.5, (2, 100))
        clusters.append((np.column_stack([births[0], births[0] + lives[0]]), np.column_stack([births[1], births[1] + lives[1]])))
    expected = math.fsum(wasserstein_distance(a, b, solver="dense") for a, b in clusters)
    a = np.concatenate([a for a, _ in clusters])
    b = np.concatenate([b for _, b in clusters])
    assert wasserstein_distance(a, b) == pytest.approx(expected, rel=1e-9)
    distance, pairs = wasserstein_matching(a, b)
    assert_is_a_matching(pairs, len(a), len(b))
    assert matching_cost(a, b, pairs) == pytest.approx(expected, rel=1e-9)


def test_solver_argument_is_checked():
    with pytest.raises(ValueError, match=r"solver must be one of \('auto', 'dense', 'sparse'\), got 'lap'"):
        wasserstein_distance([[0.0, 1.0]], [[0.0, 2.0]], solver="lap")
    with pytest.raises(ValueError, match="solver must be one of"):
        wasserstein_matching([[0.0, 1.0]], [[0.0, 2.0]], solver=None)


def test_large_sparse_transport_warns_before_the_work(monkeypatch):
    monkeypatch.setattr(wasserstein, "LARGE_TRANSPORT_POINTS", 10)
    seen_at_solve = []
    original = wasserstein._restricted_transport

    def solve(*args):
        seen_at_solve.append(len(caught))
        return original(*args)

    monkeypatch.setattr(wasserstein, "_restricted_transport", solve)
    a = np.column_stack([np.arange(8.0), np.arange(8.0) + 3])
    b = np.column_stack([np.arange(8.0) + 0.5, np.arange(8.0) + 3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distance = wasserstein_distance(a, b, solver="sparse")
    assert seen_at_solve and seen_at_solve[0] == 1  # the warning came before the first solve
    message = str(caught[0].message)
    assert caught[0].category is RuntimeWarning
    assert "diagrams of 8 and 8 points (8 + 8 distinct)" in message
    assert " s and " in message and " MB on one CPU core" in message and "nothing is capped" in message
    assert caught[0].filename == __file__  # points at the caller
    assert distance == pytest.approx(wasserstein_distance(a, b, solver="dense"), rel=1e-12)


def test_forced_dense_solver_warns_with_its_matrix_size(monkeypatch):
    monkeypatch.setattr(wasserstein, "LARGE_DENSE_POINTS", 10)
    a = np.column_stack([np.arange(8.0), np.arange(8.0) + 3])
    with pytest.warns(RuntimeWarning, match=r"builds a 16 x 16 matrix: about 0\.0 GB and 0 s; solver='sparse'"):
        wasserstein_distance(a, a + [0.5, 0.0], solver="dense")


def test_huge_neighbour_graph_warns_before_storing_the_pairs(monkeypatch):
    monkeypatch.setattr(rips, "LARGE_GRAPH_PAIRS", 10)
    seen_at_fill = []
    original = rips.neighbour_pairs
    monkeypatch.setattr(rips, "neighbour_pairs", lambda *args: seen_at_fill.append(len(caught)) or original(*args))
    points = np.random.default_rng(0).integers(0, 40, (30, 2)).astype(np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = fast_rips_diagrams(points, 50.0)
    assert seen_at_fill == [1]
    pairs = len(rips.neighbour_graph(rips._unique_points(points)[0], 50.0)[0])
    message = str(caught[0].message)
    assert f"with {pairs:,} pairs within epsilon=50.0" in message
    assert f"about {pairs * 0.5e-6:,.1f} to {pairs * 4e-6:,.1f} s and" in message and "MB on one CPU core" in message
    assert caught[0].filename == __file__
    for ours, theirs in zip(fast, gudhi_rips_diagrams(points, 50.0)):
        np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])


def test_large_crop_benchmark_figures_at_a_small_size():
    from benchmarks.topology import dense_against_sparse, large_crop, large_crop_cost

    dots, binary = large_crop(size=256, spacing=16)
    assert int(dots.sum()) == 256 and binary.any()
    result = dense_against_sparse(size=256, spacing=16)
    assert result["sparse"] == pytest.approx(result["dense"], rel=1e-9)
    cost = large_crop_cost(size=256, spacing=16)
    assert cost["dots"] == 256
    assert cost["D"] == pytest.approx(cost["D_parts"], rel=1e-12)
    assert cost["h1"] == pytest.approx(cost["h1_check"], rel=1e-9)
    assert cost["peak_mb"] > 0
