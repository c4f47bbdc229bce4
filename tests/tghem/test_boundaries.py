"""Boundaries of the library's helpers that one-line changes crossed unnoticed (an audit's surviving
mutations), each against a closed form or an independent reference (gudhi, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from tghem import Counts, TopoGuide, component_centroids, dilated_mask, dot_map, match_points, separate_disks
from tghem.flag_persistence import flag_persistence
from tghem.rips import fast_rips_diagrams, gudhi_rips_diagrams
from tghem.wasserstein import h0_wasserstein_distance, wasserstein_distance
from tghem.weighting import crop_weight

TRIANGLE = [[0, 1], [0, 2], [1, 2]]


def test_a_point_that_rounds_onto_the_width_is_outside():
    assert not dot_map([[2.6, 0]], (2, 3)).any()  # x = 2.6 is pixel column 3 of 0..2
    assert dot_map([[2.4, 0]], (2, 3))[0, 2] == 1


def test_empty_shapes_and_negative_radii_are_refused():
    with pytest.raises(ValueError, match=r"^shape: expected \(H, W\) with positive ints, got \(0, 3\)$"):
        dot_map([[0, 0]], (0, 3))
    with pytest.raises(ValueError, match=r"^radius: expected 2 finite non-negative radii, got 1 other\(s\), e\.g\. -0\.5$"):
        dilated_mask([[1, 1], [3, 1]], (3, 5), [1, -0.5])


def test_the_gap_between_two_horizontally_adjacent_dots():
    """The higher-numbered dot (raster order: x = 2) loses every disk pixel 8-adjacent to the first
    dot's disk, its own pixel included; only its far side is left."""
    np.testing.assert_array_equal(separate_disks([[1, 1], [2, 1]], (3, 4), 1).astype(int),
                                  [[0, 1, 0, 0], [1, 1, 0, 1], [0, 1, 0, 0]])


def test_component_centroids_are_8_connected():
    image = np.eye(3, dtype=np.uint8)
    labels, n = ndimage.label(image, structure=np.ones((3, 3)))
    assert n == 1
    np.testing.assert_array_equal(component_centroids(image, "component"), [[1.0, 1.0]])


def test_match_points_returns_pairs_in_prediction_order():
    pairs = match_points([[0, 0], [100, 0], [0, 1]], [[0, 1], [100, 1]], 5)
    assert pairs.tolist() == [[1, 1], [2, 0]]  # pred 2 sits on gt 0; pred 1 is 1 px from gt 1


def test_dense_wasserstein_closed_form():
    # (0, 100.5) matched to (0, 100) at 0.5, (0, 101) would cost 0.5 too, so the other goes to the
    # diagonal at 100 / sqrt 2 (the cheaper of the two)
    assert wasserstein_distance([[0, 100], [0, 101]], [[0, 100.5]], solver="dense") == pytest.approx(
        0.5 + 100 / math.sqrt(2), rel=1e-12)


def test_flag_persistence_drops_zero_length_h1_and_refuses_negative_lengths():
    h1_births = flag_persistence(3, TRIANGLE, [1.0, 1.0, 1.0])[2]
    assert h1_births.size == 0  # the cycle is born and filled at 1
    with pytest.raises(ValueError, match=r"^squared must be finite and >= 0, got min -0\.5 max -0\.5$"):
        flag_persistence(2, [[0, 1]], [-0.5])


def test_flag_persistence_reads_minus_zero_as_zero():
    """-0.0 passed the >= 0 check, and the radix sort ranked it last by its sign bit."""
    for a, b in zip(flag_persistence(3, TRIANGLE, [-0.0, 1.0, 1.0]), flag_persistence(3, TRIANGLE, [0.0, 1.0, 1.0])):
        np.testing.assert_array_equal(a, b)
    assert flag_persistence(3, TRIANGLE, [-0.0, 1.0, 1.0])[0].tolist() == [0.0, 1.0]


def test_boundary_arguments_are_refused():
    with pytest.raises(ValueError, match=r"^epsilon must be in \(0, inf\), got 0\.0$"):
        TopoGuide(epsilon=0.0)
    with pytest.raises(ValueError, match=r"every birth must be 0 for the H0 solver, got births \[-1\.\]"):
        h0_wasserstein_distance([[-1.0, 2.0]], [])


PENTAGON = np.linspace(0, 2 * np.pi, 6)[:5]


@pytest.mark.parametrize(("points", "epsilon"), [
    ([[1, 2], [1, 2]], 5.0),  # a duplicated pair: the H0 bar (0, epsilon)
    ([[0, 0], [1, 0], [1, 1], [0, 1], [10, 10], [10, 10]], 1.2),  # a square without its diagonals, and a duplicate
    (np.r_[[[0, 0]], np.c_[np.cos(PENTAGON), np.sin(PENTAGON)], [[10, 10], [10.9, 10], [10.9, 10.9], [10, 10.9]]], 1.0),
])
def test_the_fast_diagrams_equal_gudhi_on_duplicates_and_triangle_free_cycles(points, epsilon):
    points = np.asarray(points, dtype=np.float64)
    for ours, theirs in zip(fast_rips_diagrams(points, epsilon, top_dimension=False),
                            gudhi_rips_diagrams(points, epsilon, top_dimension=False)):
        np.testing.assert_array_equal(ours[np.lexsort(ours.T[::-1])], theirs[np.lexsort(theirs.T[::-1])])


def test_counts_of_small_numpy_ints_do_not_overflow():
    total = Counts(np.uint8(200), 0, 0) + Counts(np.uint8(100), 0, 0)
    assert total == Counts(300, 0, 0) and type(total.tp) is int
    assert Counts(np.int8(100), np.int8(100), 0).f1 == pytest.approx(2 / 3)


def test_crop_weight_of_an_integer_signal_does_not_wrap():
    assert crop_weight(torch.tensor([200], dtype=torch.uint8), 2).tolist() == [401.0]
    assert crop_weight(np.array([200], dtype=np.uint8), 2).tolist() == [401.0]
    assert crop_weight(np.array([2.0]), 0.25).tolist() == [1.5]


def test_binarize_prediction_checks_shapes_and_keeps_the_reference_rounding():
    from tghem.weighting import binarize_prediction

    with pytest.raises(ValueError, match=r"^pred_logits and gt_mask must have shapes \(B, 1, H, W\) and \(B, H, W\), "
                                         r"got \(2, 8, 8\) and \(2, 8, 8\)$"):
        binarize_prediction(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), None)
    with pytest.raises(TypeError, match=r"^pred_logits must be a torch.Tensor, got ndarray$"):
        binarize_prediction(np.zeros((2, 1, 8, 8)), torch.zeros(2, 8, 8), None)
    # sigmoid(x) >= 0.5 in the logits' dtype, as the reference code: a float32 logit of -1e-8 rounds to 0.5
    logits = torch.tensor([[[[-1e-8, -1e-3, 0.0, 1e-3]]]])
    assert binarize_prediction(logits, torch.zeros(1, 1, 4), None).tolist() == [[[True, False, True, True]]]
