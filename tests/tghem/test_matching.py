"""Point matching and detection counts (tghem.matching): hand-made cases, the empty-set conventions,
error messages and agreement with an independent reference."""

import math

import numpy as np
import pytest

from tghem.matching import Counts, detection_counts, match_points
from tests.helpers.reference_metrics import reference_matching

def greedy_tp(pred, gt, radius):
    """Nearest-pair-first greedy matching, the common shortcut Hungarian matching replaces."""
    pairs = sorted(
        (math.dist(p, g), i, j) for i, p in enumerate(pred) for j, g in enumerate(gt) if math.dist(p, g) <= radius
    )
    used_p, used_g = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_p)


def test_known_tp_fp_fn():
    gt = [[10, 10], [30, 10], [50, 50], [80, 80]]
    pred = [[11, 10], [30, 13], [52, 52], [0, 90], [90, 0]]
    c = detection_counts(pred, gt, radius=5)
    assert (c.tp, c.fp, c.fn) == (3, 2, 1)
    assert c.precision == pytest.approx(3 / 5) and c.recall == pytest.approx(3 / 4)
    assert c.f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert match_points(pred, gt, 5).tolist() == [[0, 0], [1, 1], [2, 2]]


def test_radius_is_inclusive_and_a_hair_beyond_is_not_a_match():
    gt = [[0.0, 0.0]]
    assert detection_counts([[5.0, 0.0]], gt, 5).tp == 1  # exactly r
    assert detection_counts([[3.0, 4.0]], gt, 5).tp == 1  # exactly r, diagonal
    c = detection_counts([[5.0 + 1e-9, 0.0]], gt, 5)
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)
    c = detection_counts([[3.0, 4.0001]], gt, 5)
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)


def test_one_to_one_two_predictions_on_one_cell():
    c = detection_counts([[10, 10], [10, 11]], [[10, 10]], radius=5)
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)
    c = detection_counts([[10, 10]], [[10, 10], [10, 11]], radius=5)
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)


def test_ties_give_one_match_per_point_and_are_deterministic():
    # A prediction exactly between two cells, and two predictions equidistant from one cell.
    gt = [[0, 0], [4, 0], [20, 0]]
    pred = [[2, 0], [20, 3], [20, -3]]
    first = match_points(pred, gt, 5)
    assert len(first) == 2
    assert len(set(first[:, 0])) == 2 and len(set(first[:, 1])) == 2
    np.testing.assert_array_equal(first, match_points(pred, gt, 5))
    assert (detection_counts(pred, gt, 5).fp, detection_counts(pred, gt, 5).fn) == (1, 1)


def test_hungarian_beats_greedy():
    # Greedy takes the closest pair P0-G0 (distance 1) first; then P1 is too far from G1.
    # The optimum pairs P0-G1 (3) and P1-G0 (1.5): two true positives instead of one.
    gt = [[0.0, 0.0], [4.0, 0.0]]
    pred = [[1.0, 0.0], [-1.5, 0.0]]
    assert greedy_tp(pred, gt, 3.5) == 1
    assert detection_counts(pred, gt, 3.5).tp == 2
    assert match_points(pred, gt, 3.5).tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("pred, gt, expected", [
    ([], [[1, 1], [5, 5]], (0, 0, 2)),
    ([[1, 1], [5, 5]], [], (0, 2, 0)),
    ([], [], (0, 0, 0)),
])
def test_empty_sets(pred, gt, expected):
    c = detection_counts(pred, gt, 5)
    assert (c.tp, c.fp, c.fn) == expected
    assert match_points(pred, gt, 5).shape == (0, 2)


def test_empty_set_conventions():
    assert (Counts(0, 0, 0).precision, Counts(0, 0, 0).recall, Counts(0, 0, 0).f1) == (1.0, 1.0, 1.0)
    assert (Counts(0, 0, 3).precision, Counts(0, 0, 3).recall, Counts(0, 0, 3).f1) == (1.0, 0.0, 0.0)
    assert (Counts(0, 2, 0).precision, Counts(0, 2, 0).recall, Counts(0, 2, 0).f1) == (0.0, 1.0, 0.0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="radius"):
        match_points([[0, 0]], [[0, 0]], 0)
    with pytest.raises(TypeError, match="radius"):
        match_points([[0, 0]], [[0, 0]], "5")
    with pytest.raises(ValueError, match="^pred must have shape \\(K, 2\\) of x, y, got shape \\(1, 3\\)$"):
        match_points([[0, 0, 0]], [[0, 0]], 5)
    with pytest.raises(ValueError, match=r"^gt must be finite, got rows \[\[nan, 0.0\]\]$"):
        match_points([[0, 0]], [[np.nan, 0]], 5)


def test_many_points_split_into_groups_match_the_reference():
    # Dense enough that candidate groups are large, sparse enough for the reference to be quick.
    rng = np.random.default_rng(7)
    gt = rng.uniform(0, 120, (150, 2))
    pred = np.concatenate([gt[:120] + rng.normal(0, 2.5, (120, 2)), rng.uniform(0, 120, (30, 2))])
    n, dist = reference_matching(pred.tolist(), gt.tolist(), 5.0)
    pairs = match_points(pred, gt, 5.0)
    assert len(pairs) == n
    assert float(np.hypot(*(pred[pairs[:, 0]] - gt[pairs[:, 1]]).T).sum()) == pytest.approx(dist, abs=1e-6)
