"""The synthetic default: determinism and the properties the benchmark relies on."""

import hashlib
import time

import numpy as np
import pytest
from scipy import ndimage as ndi

from experiments.data.synthetic import SyntheticConfig, generate, png_bytes

SMALL = SyntheticConfig(num_train=2, num_val=1, num_test=1, image_size=(96, 128), count_range=(30, 60))


def _digest(cfg, seed):
    h = hashlib.sha256()
    for image_id, split, image, points in generate(cfg, seed):
        h.update(image_id.encode() + split.encode() + png_bytes(image) + points.tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b, c = _digest(SMALL, 7), _digest(SMALL, 7), _digest(SMALL, 8)
    assert a == b
    assert a != c


def test_images_do_not_depend_on_how_many_are_generated():
    few = list(generate(SyntheticConfig(num_train=1, num_val=0, num_test=0, image_size=(64, 64), count_range=(10, 20)), 3))
    more = list(generate(SyntheticConfig(num_train=3, num_val=0, num_test=0, image_size=(64, 64), count_range=(10, 20)), 3))
    np.testing.assert_array_equal(few[0][2], more[0][2])


def test_default_set_is_vgg_like_fast_and_has_merged_cells():
    cfg = SyntheticConfig()
    t = time.perf_counter()
    out = list(generate(cfg, 0))
    elapsed = time.perf_counter() - t
    assert elapsed < 10
    assert len(out) == 24 and [s for _, s, _, _ in out].count("train") == 12
    for image_id, split, image, points in out:
        assert image.shape == (256, 256, 3) and image.dtype == np.uint8
        assert 90 <= len(points) <= 300  # placement may fall a little short in crowded draws
        assert np.all(points >= 0) and np.all(points <= 255)
    # touching / merged cells: fewer bright blobs than cells
    image, points = out[0][2], out[0][3]
    fg = image[..., 2] > np.percentile(image[..., 2], 60)
    _, n_blobs = ndi.label(fg)
    assert n_blobs < 0.8 * len(points)
    # every dot sits on a cell (bright), the background is dark
    rows, cols = np.floor(points[:, 1] + 0.5).astype(int), np.floor(points[:, 0] + 0.5).astype(int)
    assert np.median(image[rows, cols, 2]) > 2 * np.median(image[..., 2])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_train": -1}, "num_train"), ({"image_size": (8, 8)}, "image_size"), ({"max_overlap": 1.0}, "max_overlap"), ({"count_range": (5, 2)}, "count_range")],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        list(generate(SyntheticConfig(**kwargs), 0))
