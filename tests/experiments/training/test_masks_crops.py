"""Training-time data: dot maps, dilated masks, crops, padding and augmentation."""

import numpy as np
import pytest

from tghem.points import dot_map, point_pixels
from experiments.model.inputs import normalise_image
from experiments.training.crops import IGNORE_INDEX, CropSampler, transform_points
from tghem.targets import adaptive_radii, dilated_mask


def test_dot_map_counts_two_dots_on_one_pixel_and_rounds_half_up():
    pts = np.array([[3.0, 4.0], [3.2, 3.9], [0.5, 0.0], [9.0, 9.0]])
    d = dot_map(pts, (10, 10))
    assert d[4, 3] == 2  # two dots share a pixel: both counted
    assert d[0, 1] == 1  # x = 0.5 rounds half up to column 1
    assert d[9, 9] == 1  # corner pixel kept
    assert d.sum() == 4 and d.dtype == np.float32


def test_points_outside_the_array_are_ignored_not_wrapped():
    pts = np.array([[-0.6, 2.0], [10.5, 2.0], [-0.4, 2.0]])
    rows, cols, inside = point_pixels(pts, (5, 10))
    assert inside.tolist() == [False, False, True]
    assert dot_map(pts, (5, 10)).sum() == 1


def test_disk_radius_is_euclidean():
    m = dilated_mask(np.array([[10.0, 10.0]]), (21, 21), 3)
    yy, xx = np.mgrid[:21, :21]
    expected = ((yy - 10) ** 2 + (xx - 10) ** 2 <= 9).astype(np.float32)
    np.testing.assert_array_equal(m, expected)
    assert m.sum() == 29  # lattice points in a disk of radius 3
    assert dilated_mask(np.array([[10.0, 10.0]]), (21, 21), 0).sum() == 1


def test_disk_on_border_is_clipped_not_lost():
    m = dilated_mask(np.array([[0.0, 0.0]]), (8, 8), 2)
    # quarter disk of radius 2 around the corner: (0,0),(0,1),(0,2),(1,0),(1,1),(2,0)
    assert m.sum() == 6 and m[0, 0] == 1


def test_empty_points_give_empty_targets():
    assert dilated_mask(np.zeros((0, 2)), (5, 6), 3).sum() == 0
    assert dilated_mask([], (5, 6), "adaptive").shape == (5, 6)
    assert dot_map(np.zeros((0, 2)), (5, 6)).sum() == 0


def test_adaptive_radius_is_quarter_nn_capped_at_7_and_never_merges():
    pts = np.array([[10.0, 10.0], [18.0, 10.0], [60.0, 60.0], [60.0, 60.0]])
    r = adaptive_radii(pts)
    assert r.tolist() == [2.0, 2.0, 7.0, 7.0]  # 8/4 = 2; far pair on one pixel: the cap
    from scipy import ndimage as ndi

    m = dilated_mask(pts, (80, 80), "adaptive")
    _, n = ndi.label(m)
    assert n == 3  # two separate close disks + one for the shared pixel
    assert m[10, 12] == 1 and m[10, 13] == 0 and m[10, 14] == 0 and m[10, 16] == 1


@pytest.mark.parametrize("bad", ["big", -1])
def test_bad_radius_raises(bad):
    with pytest.raises(ValueError, match="radius"):
        dilated_mask(np.array([[1.0, 1.0]]), (5, 5), bad)


def test_normalise_image_per_channel():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    x = normalise_image(img)
    assert x.shape == (3, 20, 30) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(1, 2)), 1, atol=1e-4)
    assert normalise_image(np.full((4, 4), 7, np.uint8)).max() == 0  # flat stays finite
    assert normalise_image(img, channels=1).shape == (1, 20, 30)


@pytest.mark.parametrize("rot", range(4))
@pytest.mark.parametrize("hf", [False, True])
@pytest.mark.parametrize("vf", [False, True])
def test_point_transform_matches_array_transform(rot, hf, vf):
    from experiments.training.crops import _transform_array

    s = 7
    pts = np.array([[1.0, 2.0], [6.0, 0.0], [0.0, 6.0]])
    a = dot_map(pts, (s, s))
    np.testing.assert_array_equal(_transform_array(a, hf, vf, rot), dot_map(transform_points(pts, s, hf, vf, rot), (s, s)))


def _random_points(rng, n, h, w):
    pts = np.stack([rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n)], axis=1)
    pts[:3] = [[0, 0], [w - 1, h - 1], [0, h - 1]]  # corners
    pts[3] = pts[4]  # two dots on one pixel
    return pts


def test_crops_consistent_with_points_masks_and_deterministic():
    rng = np.random.default_rng(1)
    h, w = 90, 120
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pts = _random_points(rng, 60, h, w)
    sampler = CropSampler(crop_size=48, crops_per_image=16, radius=3, seed=5)
    b = sampler.sample(img, pts)
    assert b.image.shape == (16, 3, 48, 48) and b.mask.shape == (16, 48, 48) and b.dots.shape == (16, 48, 48)
    assert b.image.dtype == b.mask.dtype == b.dots.dtype == np.float32
    full_mask = dilated_mask(pts, (h, w), 3)
    for k in range(16):
        # dot map of the crop's points is the crop's dot target
        np.testing.assert_array_equal(dot_map(b.points[k], (48, 48)), b.dots[k])
        assert b.dots[k].sum() == len(b.points[k])
        # every dot lies in the mask, and the crop mask is the cut of the full-image mask
        assert np.all(b.mask[k][b.dots[k] > 0] == 1)
        x0, y0 = b.origins[k]
        hf, vf, rot = b.transforms[k]
        from experiments.training.crops import _transform_array

        np.testing.assert_array_equal(_transform_array(full_mask[y0 : y0 + 48, x0 : x0 + 48], hf, vf, rot), b.mask[k])
    assert {t[2] for t in b.transforms} > {0}  # rotations actually happen
    b2 = CropSampler(crop_size=48, crops_per_image=16, radius=3, seed=5).sample(img, pts)
    np.testing.assert_array_equal(b.image, b2.image)
    np.testing.assert_array_equal(b.origins, b2.origins)
    b3 = CropSampler(crop_size=48, crops_per_image=16, radius=3, seed=6).sample(img, pts)
    assert not np.array_equal(b.origins, b3.origins)


def test_whole_image_crop_loses_nothing_at_borders():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    pts = _random_points(rng, 25, 32, 32)
    b = CropSampler(crop_size=32, crops_per_image=4, radius="adaptive", seed=0).sample(img, pts)
    for k in range(4):
        assert b.dots[k].sum() == 25 and len(b.points[k]) == 25
        assert b.mask[k].sum() == dilated_mask(pts, (32, 32), "adaptive").sum()


def test_small_image_is_padded_with_ignore_index():
    img = np.full((20, 30, 3), 100, np.uint8)
    img[5, 5] = 200
    pts = np.array([[29.0, 19.0], [0.0, 0.0]])
    b = CropSampler(crop_size=40, crops_per_image=3, radius=2, flips=False, rot90=False, seed=0).sample(img, pts)
    assert b.image.shape == (3, 3, 40, 40)
    assert (b.origins == 0).all()
    m = b.mask[0]
    assert np.all(m[20:, :] == IGNORE_INDEX) and np.all(m[:, 30:] == IGNORE_INDEX)
    assert set(np.unique(m[:20, :30]).tolist()) == {0.0, 1.0}
    assert b.dots[0].sum() == 2 and b.dots[0][19, 29] == 1
    # the disk of the corner point stops at the padding: the padding stays ignore
    assert m[19, 29] == 1 and m[20, 29] == IGNORE_INDEX
    assert np.all(b.image[0, :, 20:, :] == 0)


def test_empty_crops_and_batches_one_image_per_batch():
    img = np.zeros((64, 64), np.uint8)
    sampler = CropSampler(crop_size=16, crops_per_image=2, radius=3, seed=0)
    b = sampler.sample(img, np.zeros((0, 2)))
    assert b.mask.sum() == 0 and b.dots.sum() == 0 and all(len(p) == 0 for p in b.points)
    assert b.image.shape == (2, 1, 16, 16)

    class S:
        def __init__(self, i, n):
            self.image_id = str(i)
            self.image = np.full((16, 16), i, np.uint8)
            self.points = np.array([[3.0, 3.0]] * n)

    samples = [S(i, i + 1) for i in range(3)]
    seen = [int(b.dots[0].sum()) for b in CropSampler(16, 2, 2, seed=3).batches(samples, 6)]
    # the crop covers the whole image, so the dot count names the image: each pass visits all 3
    assert sorted(seen[:3]) == [1, 2, 3] and sorted(seen[3:]) == [1, 2, 3]
    t_img, t_mask, t_dots = b.tensors()
    assert tuple(t_img.shape) == (2, 1, 16, 16) and t_mask.dtype == t_dots.dtype


def test_the_image_crop_is_cut_and_transformed_as_its_dots():
    """An image bright exactly at its dots: in every crop, whatever its flips and rotation, the bright
    pixels are the crop's dot pixels (an image cut or turned unlike its targets would misalign)."""
    rng = np.random.default_rng(3)
    h, w = 70, 90
    pts = np.unique(rng.integers(0, [w, h], (40, 2)), axis=0).astype(np.float64)
    img = np.zeros((h, w), np.uint8)
    img[pts[:, 1].astype(int), pts[:, 0].astype(int)] = 255
    b = CropSampler(crop_size=32, crops_per_image=64, radius=1, channels=1, seed=2).sample(img, pts)
    assert len(set(b.transforms)) == 16  # every (hflip, vflip, rot90) draw occurs
    for k in range(64):
        bright = b.image[k, 0] > b.image[k, 0].min() if b.dots[k].any() else np.zeros((32, 32), bool)
        np.testing.assert_array_equal(bright, b.dots[k] > 0, err_msg=f"crop {k}, transform {b.transforms[k]}")


def test_a_narrow_image_is_padded_on_the_right_only_with_ignore_index():
    """Tall enough, too narrow: only columns are padded, and the padding is ignored, never background."""
    img = np.full((50, 20), 100, np.uint8)
    image, mask, dots = CropSampler(crop_size=32, crops_per_image=1, radius=2).targets(img, np.array([[10.0, 10.0]]))
    assert image.shape == (1, 50, 32) and mask.shape == dots.shape == (50, 32)
    assert np.all(mask[:, 20:] == IGNORE_INDEX) and set(np.unique(mask[:, :20]).tolist()) == {0.0, 1.0}
    assert np.all(image[:, :, 20:] == 0) and dots.sum() == 1


def test_crop_origins_reach_every_position_including_the_far_borders():
    img = np.zeros((40, 50), np.uint8)
    b = CropSampler(crop_size=32, crops_per_image=2000, radius=1, seed=0).sample(img, np.zeros((0, 2)))
    assert set(b.origins[:, 0].tolist()) == set(range(50 - 32 + 1))  # x0 in 0..18
    assert set(b.origins[:, 1].tolist()) == set(range(40 - 32 + 1))  # y0 in 0..8
    no_rot = CropSampler(crop_size=32, crops_per_image=200, radius=1, flips=True, rot90=False, seed=0).sample(
        img, np.zeros((0, 2)))
    assert {t[2] for t in no_rot.transforms} == {0} and {t[:2] for t in no_rot.transforms} == {
        (False, False), (False, True), (True, False), (True, True)}
