"""The disk targets of tghem.targets: per-point radii, and the disks kept apart by a one-pixel gap (separate_disks)."""

import numpy as np
import pytest
from scipy import ndimage

from tghem.targets import dilated_mask, separate_disks

EIGHT = np.ones((3, 3), int)


def _blobs(mask):
    return ndimage.label(mask, structure=EIGHT)


def _spaced_points(rng, n, low, high, spacing):
    """Up to ``n`` random integer points at least ``spacing`` apart (rejection sampling)."""
    kept = []
    for p in rng.integers(low, high, size=(20 * n, 2)).astype(float):
        if all(np.hypot(*(p - q)) >= spacing for q in kept):
            kept.append(p)
        if len(kept) == n:
            break
    return np.array(kept)


@pytest.mark.parametrize("seed", range(5))
def test_every_dot_is_its_own_blob_inside_its_plain_disk(seed):
    # Dots 3 px or more apart (a dot pixel's 8 neighbours are then nearest to it): dense enough
    # that most radius-3 disks touch, and every dot keeps a blob of its own.
    rng = np.random.default_rng(seed)
    pts = _spaced_points(rng, 60, 3, 61, 3.0)
    pixels = pts
    plain, gapped = dilated_mask(pts, (64, 64), 3), separate_disks(pts, (64, 64), 3)
    assert np.all(gapped <= plain)  # only removes pixels
    labels, n = _blobs(gapped)
    # every dot pixel keeps its own pixel (a dot is nearest to itself) and no blob holds two dots
    owners = labels[pixels[:, 1].astype(int), pixels[:, 0].astype(int)]
    assert np.all(owners > 0)
    assert len(np.unique(owners)) == len(pixels) == n


def test_far_apart_dots_keep_their_plain_disks():
    pts = [[5, 5], [20, 5], [5, 20], [30, 30]]  # 15 px apart: radius-3 disks never touch
    np.testing.assert_array_equal(separate_disks(pts, (40, 40), 3), dilated_mask(pts, (40, 40), 3))


def test_touching_disks_get_exactly_a_one_pixel_gap():
    # Two dots 6 px apart on a row: radius-3 disks meet at the middle column (x = 8 belongs to
    # the left dot, x = 9 to the right one); the right dot loses x = 9, the left keeps x = 8.
    m = separate_disks([[5, 5], [11, 5]], (11, 17), 3)
    row = m[5].astype(int).tolist()
    assert row == [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0]
    assert _blobs(m)[1] == 2 and _blobs(dilated_mask([[5, 5], [11, 5]], (11, 17), 3))[1] == 1


def test_the_gap_does_not_depend_on_the_order_of_the_points():
    rng = np.random.default_rng(7)
    pts = rng.uniform(0, 47, size=(40, 2))
    np.testing.assert_array_equal(separate_disks(pts, (48, 48), 2), separate_disks(pts[::-1], (48, 48), 2))


def test_per_point_radii_and_bad_radius():
    m = separate_disks([[4, 4], [12, 4]], (9, 17), np.array([2.0, 0.0]))
    assert m[4, 4] == 1 and m[4, 2] == 1 and m[4, 12] == 1 and m[4, 13] == 0
    with pytest.raises(ValueError, match="radius: expected 2 non-negative radii"):
        separate_disks([[4, 4], [12, 4]], (9, 17), np.array([1.0]))
    with pytest.raises(ValueError, match="radius: expected a number, 'adaptive'"):
        separate_disks([[4, 4]], (9, 9), "big")


def test_several_points_on_one_pixel_take_the_largest_radius():
    """A dot pixel listed twice with two radii is one disk of the larger (29 pixels at radius 3),
    in either order, with or without the gap."""
    for radii in ([3.0, 1.0], [1.0, 3.0]):
        for make in (dilated_mask, separate_disks):
            assert make([[5, 5], [5, 5]], (11, 11), np.array(radii)).sum() == 29, (make.__name__, radii)
