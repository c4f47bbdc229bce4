"""The fast topology backends against gudhi's reference path.

D of the fast (compiled) and ripser (giotto-ph) backends must agree with gudhi to
1e-9 relative on every kind of point set the issue lists, and the fast diagrams must
equal gudhi's bit for bit; the specialised H0 Wasserstein solver must equal the
general ones;
point extraction must equal the straightforward OpenCV / numpy code; and the
number of worker processes must not change any result.
"""
from __future__ import annotations

import math
import os
import warnings

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tghem import TopoGuide, component_centroids, dot_points
from tghem import parallel, rips
from tghem.flag_persistence import flag_persistence
from tghem.rips import fast_rips_diagrams, gudhi_rips_diagrams, ripser_rips_diagrams
from tghem.topology import diagram_distance, points_discrepancy
from tghem.wasserstein import h0_wasserstein_distance, wasserstein_distance, wasserstein_matching

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300) if (a or b) else 0.0


def sorted_rows(diagram: np.ndarray) -> np.ndarray:
    finite = diagram[diagram[:, 1] > diagram[:, 0]]
    return finite[np.lexsort((finite[:, 1], finite[:, 0]))]


@st.composite
def point_sets(draw):
    """0 to 400 points: uniform, clustered, duplicated, collinear, far apart, or real-valued."""
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["uniform", "clustered", "duplicates", "collinear", "far", "float", "grid"]))
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        points = rng.integers(0, 256, (n, 2))
    elif kind == "clustered":
        centres = rng.integers(0, 256, (6, 2))
        points = np.rint(centres[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, 2)))
    elif kind == "duplicates":
        base = rng.integers(0, 128, (max(1, n // 4), 2))
        points = base[rng.integers(0, len(base), n)]
    elif kind == "collinear":
        t = rng.integers(0, 120, n)
        points = np.stack([2 * t, t + 3], axis=1)
    elif kind == "far":
        points = rng.integers(0, 8, (min(n, 60), 2)) * 60  # most pairs beyond epsilon
    elif kind == "grid":
        points = rng.integers(0, 12, (min(n, 120), 2)) * draw(st.sampled_from([3, 5, 10]))
    else:
        points = rng.uniform(0, 256, (min(n, 200), 2))
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


@SETTINGS
@given(
    gt=point_sets(),
    pred=point_sets(),
    top_dimension=st.booleans(),
    reduction=st.sampled_from(["sum", "H1"]),
    backend=st.sampled_from(["fast", "ripser"]),
)
def test_fast_backends_equal_gudhi_on_random_point_sets(gt, pred, top_dimension, reduction, backend):
    fast = points_discrepancy(gt, pred, 50.0, reduction, top_dimension=top_dimension, backend=backend)
    reference = points_discrepancy(gt, pred, 50.0, reduction, top_dimension=top_dimension, backend="gudhi")
    assert relative_difference(fast, reference) <= 1e-9


@SETTINGS
@given(points=point_sets(), epsilon=st.sampled_from([7.5, 20.0, 50.0]), top_dimension=st.booleans())
def test_fast_diagrams_equal_gudhi_diagrams_bit_for_bit(points, epsilon, top_dimension):
    reference = gudhi_rips_diagrams(points, epsilon, top_dimension=top_dimension)
    for ours, theirs in zip(fast_rips_diagrams(points, epsilon, top_dimension=top_dimension), reference):
        np.testing.assert_array_equal(sorted_rows(ours), sorted_rows(theirs))
    for ours, theirs in zip(ripser_rips_diagrams(points, epsilon, top_dimension=top_dimension), reference):
        np.testing.assert_allclose(sorted_rows(ours), sorted_rows(theirs), rtol=1e-12, atol=0)


def test_flag_persistence_closed_forms():
    # Unit square: the 4 sides join the corners (H0 deaths 1, 1, 1), the 4-cycle is born
    # at 1 and filled at sqrt 2, when the diagonals close the triangles.
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    h0, h1 = fast_rips_diagrams(square, 50.0)
    assert sorted(h0[:, 1].tolist()) == [1.0, 1.0, 1.0, 50.0]
    np.testing.assert_array_equal(h1, [[1.0, math.sqrt(2.0)]])
    # Below the diagonal the cycle never fills: an essential bar, clamped to epsilon.
    h0, h1 = fast_rips_diagrams(square, 1.2)
    np.testing.assert_array_equal(h1, [[1.0, 1.2]])
    # Regular hexagon of side 1: the cycle is born at 1 and dies at sqrt 3, when the
    # triangles of alternate vertices appear (the long diagonals, 2, come later).
    angles = np.arange(6) * np.pi / 3
    hexagon = np.column_stack([np.cos(angles), np.sin(angles)])
    _, h1 = fast_rips_diagrams(hexagon, 50.0)
    reference = gudhi_rips_diagrams(hexagon, 50.0)[1]
    np.testing.assert_array_equal(sorted_rows(h1), sorted_rows(reference))
    assert len(h1) == 1 and h1[0, 1] == pytest.approx(math.sqrt(3.0), rel=1e-15)
    # The kernel on its own: squared lengths in, squared lengths out.
    pairs = np.array([[0, 1], [0, 3], [1, 2], [2, 3]], np.int64)  # the square's sides only
    h0_deaths, h0_essential, births, deaths, essential = flag_persistence(4, pairs, np.ones(4))
    assert h0_deaths.tolist() == [1.0, 1.0, 1.0] and h0_essential == 1
    assert births.size == 0 and deaths.size == 0 and essential.tolist() == [1.0]


@SETTINGS
@given(points=point_sets(), epsilon=st.sampled_from([7.5, 20.0, 50.0]))
def test_flag_persistence_paths_agree(points, epsilon):
    # Dense ranks + bitsets (the default for these sizes), bitsets + merged lists, and
    # merged lists only: the same bars, bit for bit.
    unique = rips._unique_points(points)[0] if len(points) else points
    pairs, squared = rips.neighbour_graph(unique, epsilon)
    results = [
        flag_persistence(len(unique), pairs, squared, dense_max_vertices=dense, bitset_max_vertices=bitset)
        for dense, bitset in [(1024, 16384), (0, 16384), (0, 0)]
    ]
    for other in results[1:]:
        for ours, theirs in zip(results[0], other):
            np.testing.assert_array_equal(np.sort(np.atleast_1d(ours)), np.sort(np.atleast_1d(theirs)))


def test_flag_persistence_rejects_bad_input():
    ok_pairs, ok_values = np.array([[0, 1], [1, 2]]), np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="n must be an int"):
        flag_persistence(2.5, ok_pairs, ok_values)
    with pytest.raises(ValueError, match="n must be an int >= 0, got -1"):
        flag_persistence(-1, ok_pairs, ok_values)
    with pytest.raises(ValueError, match=r"pairs must have shape \(m, 2\), got shape \(2, 3\)"):
        flag_persistence(3, np.zeros((2, 3), int), ok_values)
    with pytest.raises(TypeError, match="pairs must have an integer dtype, got float64"):
        flag_persistence(3, ok_pairs.astype(float), ok_values)
    with pytest.raises(ValueError, match=r"squared must have shape \(2,\)"):
        flag_persistence(3, ok_pairs, np.ones(3))
    with pytest.raises(ValueError, match="pairs must index vertices 0..1, got values from 0 to 2"):
        flag_persistence(2, ok_pairs, ok_values)
    with pytest.raises(ValueError, match="i < j"):
        flag_persistence(3, np.array([[1, 0], [1, 2]]), ok_values)
    with pytest.raises(ValueError, match="sorted lexicographically"):
        flag_persistence(3, np.array([[1, 2], [0, 1]]), ok_values)
    with pytest.raises(ValueError, match="sorted lexicographically"):
        flag_persistence(3, np.array([[0, 1], [0, 1]]), ok_values)
    with pytest.raises(ValueError, match="squared must be finite and >= 0"):
        flag_persistence(3, ok_pairs, np.array([1.0, np.nan]))
    h0, essential0, births, deaths, essential1 = flag_persistence(3, [], [])  # no edge: 3 components
    assert h0.size == 0 and essential0 == 3 and births.size == deaths.size == essential1.size == 0


def test_fast_engine_handles_lengths_that_collide_in_float32():
    # Distinct squared lengths that round to the same float32 need no fallback here:
    # the kernel orders float64 values.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0 + 2.0**-30], [1.0, 1.0]])
    for ours, theirs in zip(fast_rips_diagrams(points, 50.0), gudhi_rips_diagrams(points, 50.0)):
        np.testing.assert_array_equal(sorted_rows(ours), sorted_rows(theirs))


@pytest.mark.parametrize("sort_by_y", [True, False])
def test_neighbour_graph_equals_a_kd_tree_query(sort_by_y):
    from scipy.spatial import cKDTree

    points = np.random.default_rng(4).uniform(0, 200, (300, 2))
    points[:10] = np.arange(10)[:, None] * [[0.0, 50.0]]  # pairs at exactly epsilon, in y
    points[10:20] = np.arange(10)[:, None] * [[50.0, 0.0]] + [[0.0, 7.0]]  # and in x
    if sort_by_y:
        points = points[np.argsort(points[:, 1], kind="stable")]
    pairs, squared = rips.neighbour_graph(points, 50.0)
    expected = cKDTree(points).query_pairs(50.0 + 1e-6, output_type="ndarray")
    expected = expected[np.lexsort((expected[:, 1], expected[:, 0]))]
    delta = points[expected[:, 0]] - points[expected[:, 1]]
    np.testing.assert_array_equal(pairs, expected)
    np.testing.assert_array_equal(squared, delta[:, 0] ** 2 + delta[:, 1] ** 2)
    exactly_epsilon = np.isclose(np.sqrt(squared), 50.0, rtol=0, atol=1e-12)
    assert exactly_epsilon.sum() == 18  # 9 neighbouring pairs in each line, kept


@SETTINGS
@given(diagrams=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(0, 30)))
def test_distances_do_not_depend_on_the_order_of_bars(diagrams):
    seed, n, m = diagrams
    rng = np.random.default_rng(seed)
    a, b = (np.round(rng.uniform(0, 10, (k, 2)), 1) for k in (n, m))
    a[:, 1] += a[:, 0] + 1
    b[:, 1] += b[:, 0] + 1
    shuffled_a, shuffled_b = a[rng.permutation(n)], b[rng.permutation(m)]
    assert wasserstein_distance(a, b) == wasserstein_distance(shuffled_a, shuffled_b)  # bit for bit
    assert wasserstein_matching(a, b)[0] == wasserstein_matching(shuffled_a, shuffled_b)[0]
    assert h0_wasserstein_distance(a[:, 1], b[:, 1]) == h0_wasserstein_distance(shuffled_a[:, 1], shuffled_b[:, 1])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.02, 0.6), blur=st.sampled_from([0.0, 0.7, 1.5]))
def test_fast_backend_equals_gudhi_on_random_binary_predictions(seed, density, blur):
    rng = np.random.default_rng(seed)
    size = 96
    noise = rng.random((2, size, size)).astype(np.float32)
    if blur:
        noise = np.stack([cv2.GaussianBlur(n, (0, 0), blur) for n in noise])
        noise = (noise - noise.min()) / (np.ptp(noise) + 1e-12)
    pred = noise < density
    dots = np.zeros((2, size, size), np.float32)
    for b in range(2):
        rows, cols = rng.integers(0, size, (2, int(rng.integers(0, 60))))
        dots[b, rows, cols] = 1
    fast = TopoGuide(backend="fast", workers=1).discrepancies(dots, pred)
    reference = TopoGuide(backend="gudhi", workers=1).discrepancies(dots, pred)
    for a, b in zip(fast, reference):
        assert relative_difference(a, b) <= 1e-9


@st.composite
def h0_diagrams(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n, m = draw(st.integers(0, 60)), draw(st.integers(0, 60))
    decimals = draw(st.sampled_from([0, 1, 6]))  # coarse values make ties and common points
    scale = draw(st.sampled_from([1.0, 10.0, 50.0]))
    a = np.round(rng.exponential(scale, n), decimals)
    b = np.round(rng.exponential(scale, m) * draw(st.sampled_from([1.0, 6.0])), decimals)
    return a, b


@SETTINGS
@given(h0_diagrams())
def test_h0_solver_equals_general_solvers(diagrams):
    from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein

    a, b = diagrams
    as_pairs = [np.column_stack([np.zeros(len(x)), x]) for x in (a, b)]
    special = h0_wasserstein_distance(a, b)
    assignment = wasserstein_distance(*as_pairs)
    pot = float(gudhi_wasserstein(*as_pairs, order=1.0, internal_p=2.0)) if len(a) + len(b) else 0.0
    assert relative_difference(special, assignment) <= 1e-12
    assert relative_difference(special, pot) <= 1e-12


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40), m=st.integers(0, 40))
def test_assignment_solver_equals_gudhi_on_general_diagrams(seed, n, m):
    from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein

    rng = np.random.default_rng(seed)
    diagrams = []
    for k in (n, m):
        births = rng.uniform(0, 40, k)
        diagrams.append(np.column_stack([births, births + rng.exponential(5, k)]))
    ours = wasserstein_distance(*diagrams)
    reference = float(gudhi_wasserstein(*diagrams, order=1.0, internal_p=2.0)) if n + m else 0.0
    assert relative_difference(ours, reference) <= 1e-12


def matching_cost(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> float:
    """Cost of a matching as wasserstein_matching returns it, recomputed pair by pair."""
    cost = 0.0
    for i, j in pairs:
        if i >= 0 and j >= 0:
            cost += math.hypot(a[i, 0] - b[j, 0], a[i, 1] - b[j, 1])
        else:
            birth, death = a[i] if j < 0 else b[j]
            cost += (death - birth) / math.sqrt(2)
    return cost


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30), m=st.integers(0, 30), decimals=st.sampled_from([0, 1, 6]))
def test_wasserstein_matching_attains_the_distance(seed, n, m, decimals):
    # Coarse values make points common to both diagrams, which are matched before the assignment.
    rng = np.random.default_rng(seed)
    a, b = (np.round(rng.uniform(0, 10, (k, 2)), decimals) for k in (n, m))
    a[:, 1] += a[:, 0] + 1
    b[:, 1] += b[:, 0] + 1
    distance, pairs = wasserstein_matching(a, b)
    assert distance == wasserstein_distance(a, b)  # the same assignment: the same bits
    assert sorted(pairs[pairs[:, 0] >= 0, 0].tolist()) == list(range(n))  # every point exactly once
    assert sorted(pairs[pairs[:, 1] >= 0, 1].tolist()) == list(range(m))
    assert not ((pairs[:, 0] < 0) & (pairs[:, 1] < 0)).any()
    assert relative_difference(matching_cost(a, b, pairs), distance) <= 1e-12


def test_wasserstein_matching_closed_form():
    # (0, 4) matches (0, 3) at cost 1; (1, 2) is closer to the diagonal (1 / sqrt 2) than to (0, 3).
    distance, pairs = wasserstein_matching([[0.0, 4.0], [1.0, 2.0]], [[0.0, 3.0]])
    assert pairs.tolist() == [[0, 0], [1, -1]]
    assert distance == pytest.approx(1 + 1 / math.sqrt(2), rel=1e-15)
    # A point in both diagrams is matched to its copy; an empty side sends all to the diagonal.
    distance, pairs = wasserstein_matching([[0.0, 2.0], [0.0, 5.0]], [[0.0, 5.0]])
    assert pairs.tolist() == [[0, -1], [1, 0]]
    assert distance == pytest.approx(2 / math.sqrt(2), rel=1e-15)
    distance, pairs = wasserstein_matching(np.zeros((0, 2)), [[1.0, 3.0]])
    assert pairs.tolist() == [[-1, 0]] and distance == pytest.approx(math.sqrt(2), rel=1e-15)
    assert wasserstein_matching([], [])[1].shape == (0, 2)


def test_h0_solver_closed_forms():
    # Everything to the diagonal: sum of deaths / sqrt 2.
    assert h0_wasserstein_distance([3.0, 4.0], []) == pytest.approx(7 / math.sqrt(2), rel=1e-15)
    # Close values match: |4 - 3|; the lone 2 goes to the diagonal.
    assert h0_wasserstein_distance([4.0, 2.0], [3.0]) == pytest.approx(1 + 2 / math.sqrt(2), rel=1e-15)
    # Far apart (ratio > 3 + 2 sqrt 2): both to the diagonal beats matching.
    assert h0_wasserstein_distance([1.0], [6.0]) == pytest.approx(7 / math.sqrt(2), rel=1e-15)
    assert h0_wasserstein_distance([1.0], [5.0]) == pytest.approx(4.0, rel=1e-15)
    # Equal multisets: 0, and common values cancel.
    assert h0_wasserstein_distance([1.0, 1.0, 2.0], [2.0, 1.0, 1.0]) == 0.0


def test_h0_solver_rejects_bad_input():
    with pytest.raises(ValueError, match="deaths_a"):
        h0_wasserstein_distance([[1.0, 2.0]], [1.0])
    with pytest.raises(ValueError, match="deaths_b"):
        h0_wasserstein_distance([1.0], [-1.0])
    with pytest.raises(ValueError, match="diagram_a"):
        wasserstein_distance([[0.0, np.inf]], [[0.0, 1.0]])


def reference_contour_centroids(binary: np.ndarray) -> np.ndarray:
    """One cv2.moments call per contour, rounded with Python's round (the paper's code)."""
    contours, _ = cv2.findContours((binary != 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    points = []
    for contour in contours:
        m = cv2.moments(contour)
        if m["m00"] != 0:
            points.append((round(m["m10"] / m["m00"]), round(m["m01"] / m["m00"])))
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_centroids_equal_one_cv2_moments_call_per_contour(seed):
    rng = np.random.default_rng(seed)
    image = (rng.random((128, 160)) < 0.08 + 0.05 * (seed % 4)).astype(np.uint8)
    if seed % 3 == 1:
        image = cv2.dilate(image, np.ones((2, 2), np.uint8))  # 2x2 blobs: centroids at exact .5 ties
    elif seed % 3 == 2:
        image = (cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.2) > 0.2).astype(np.uint8)
    np.testing.assert_array_equal(component_centroids(image), reference_contour_centroids(image))


def test_dot_points_equal_numpy_nonzero_order():
    rng = np.random.default_rng(3)
    dots = (rng.random((50, 70)) < 0.05).astype(np.float32) * rng.integers(1, 3, (50, 70))
    rows, cols = np.nonzero(dots)
    np.testing.assert_array_equal(dot_points(dots), np.stack([cols, rows], axis=1).astype(np.float64))
    assert dot_points(np.zeros((4, 4))).shape == (0, 2)


def test_ripser_generator_path_for_real_valued_points_is_exact():
    # Non-integer coordinates: squared distances are not float32-exact, so bars are
    # recomputed in float64 from the generating edges.
    points = np.array([[0.1, 0.2], [3.3, 0.25], [0.15, 4.4], [3.31, 4.41], [1.7, 2.3]])
    reference = gudhi_rips_diagrams(points, 50.0)
    for engine in (ripser_rips_diagrams, fast_rips_diagrams):
        for ours, theirs in zip(engine(points, 50.0), reference):
            np.testing.assert_array_equal(sorted_rows(ours), sorted_rows(theirs))


def test_ripser_float32_collisions_fall_back_to_gudhi(monkeypatch):
    # Two distinct squared lengths that round to the same float32: ripser's order
    # would be ambiguous, so the diagrams must come from gudhi.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0 + 2.0**-30]])
    calls = []
    original = rips.gudhi_rips_diagrams
    monkeypatch.setattr(rips, "gudhi_rips_diagrams", lambda *a, **k: calls.append(1) or original(*a, **k))
    ripser = ripser_rips_diagrams(points, 50.0)
    assert calls == [1]
    for ours, theirs in zip(ripser, original(points, 50.0)):
        np.testing.assert_array_equal(sorted_rows(ours), sorted_rows(theirs))


def test_huge_neighbour_graph_warns_but_stays_exact(monkeypatch):
    monkeypatch.setattr(rips, "LARGE_GRAPH_PAIRS", 10)
    points = np.random.default_rng(0).integers(0, 40, (30, 2)).astype(np.float64)
    with pytest.warns(RuntimeWarning, match="nothing is capped"):
        fast = fast_rips_diagrams(points, 50.0)
    for ours, theirs in zip(fast, gudhi_rips_diagrams(points, 50.0)):
        np.testing.assert_array_equal(sorted_rows(ours), sorted_rows(theirs))


def test_worker_processes_do_not_change_results():
    rng = np.random.default_rng(7)
    dots = np.zeros((6, 128, 128), np.float32)
    for b in range(6):
        dots[b, rng.integers(0, 128, 40), rng.integers(0, 128, 40)] = 1
    pred = np.stack([cv2.GaussianBlur(rng.random((128, 128)).astype(np.float32), (0, 0), 1.0) for _ in range(6)]) > 0.55
    inline = TopoGuide(workers=1).discrepancies(dots, pred)
    pooled = TopoGuide(workers=2).discrepancies(dots, pred)
    np.testing.assert_array_equal(inline, pooled)
    reference = TopoGuide(backend="gudhi", workers=1).discrepancies(dots, pred)
    np.testing.assert_allclose(pooled, reference, rtol=1e-9, atol=0)


def test_workers_setting_is_validated_and_resolved(monkeypatch):
    with pytest.raises(ValueError, match="workers must be 'auto' or an int >= 0, got 'many'"):
        TopoGuide(workers="many")
    with pytest.raises(TypeError, match="workers"):
        TopoGuide(workers=1.5)
    with pytest.raises(ValueError, match="got -1"):
        TopoGuide(workers=-1)
    assert parallel.resolve_workers(0, 8) == 1
    assert parallel.resolve_workers(4, 2) == 2  # never more processes than crops
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert parallel.usable_cores() == 4  # 16 cores shared by 4 torchrun ranks
    assert parallel.resolve_workers("auto", 8) == 4


def test_balanced_lanes_longest_first():
    # 5 -> A, 4 -> B, 3 -> B (7), 3 -> A (8), 2 -> B (9), 1 -> A (9): totals 9 and 9.
    assert parallel.balanced_lanes([5, 4, 3, 3, 2, 1], 2) == [[0, 3, 5], [1, 2, 4]]
    assert parallel.balanced_lanes([1.0, 1.0], 4) == [[0], [1]]  # never an empty group
    assert parallel.balanced_lanes([2.0, 7.0, 1.0], 1) == [[1, 0, 2]]


_MAIN_PID = os.getpid()


def _square_or_die_in_a_worker(x):
    if os.getpid() != _MAIN_PID and x == 3:
        os._exit(1)  # as a worker killed for memory
    return x * x


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_map_keeps_the_order_of_items(workers):
    items = list(range(11))
    costs = [float((7 * i) % 5) for i in items]
    assert parallel.parallel_map(math.factorial, items, workers, costs=costs) == [math.factorial(i) for i in items]
    assert parallel.parallel_map(math.factorial, items, workers) == [math.factorial(i) for i in items]


def test_a_dead_worker_falls_back_to_the_main_process():
    items = list(range(6))
    costs = [9.0, 1.0, 1.0, 9.0, 1.0, 1.0]  # groups [0, 1, 4] (this process) and [3, 2, 5] (a worker)
    assert parallel.balanced_lanes(costs, 2)[1][0] == 3
    with pytest.warns(RuntimeWarning, match="worker process died"):
        assert parallel.parallel_map(_square_or_die_in_a_worker, items, 2, costs=costs) == [x * x for x in items]
    # The broken pool was dropped: the next call starts a fresh one and works.
    assert parallel.parallel_map(math.factorial, [4, 5], 2, costs=[1.0, 1.0]) == [24, 120]


def test_backend_argument_is_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        TopoGuide(backend="giotto")
    with pytest.raises(ValueError, match="backend"):
        diagram_distance(np.zeros((0, 2)), np.zeros((0, 2)), backend="pot")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TopoGuide().backend == "fast"
