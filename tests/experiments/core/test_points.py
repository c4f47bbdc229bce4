"""The one (N, 2) check and the one pixel rule, used by every layer."""

import numpy as np
import pytest

from experiments.analysis.qualitative import crop_points, densest_window
from tghem.points import as_points, dot_map, pixel_indices, point_pixels, round_half_up
from experiments.core.prepared import prepared_dir, require_prepared
from experiments.evaluation.metrics import region_counts


@pytest.mark.parametrize("bad, message", [
    ([[1.0, 2.0, 3.0]], r"gt: expected an \(N, 2\) array of x, y, got shape \(1, 3\)"),
    ([1.0, 2.0], r"gt: expected an \(N, 2\) array of x, y, got shape \(2,\)"),
    ([[1.0, np.nan]], "gt: expected finite coordinates, got NaN or inf"),
    ([[np.inf, 0.0]], "gt: expected finite coordinates"),
])
def test_as_points_names_the_argument(bad, message):
    with pytest.raises(ValueError, match=message):
        as_points("gt", bad)


def test_halves_round_up_never_to_even():
    assert round_half_up([0.5, 1.5, 2.5, -0.5, -1.5]).tolist() == [1, 2, 3, 0, -1]
    rows, cols = pixel_indices([[2.5, 3.5], [0.49, 0.5]])
    assert rows.tolist() == [4, 1] and cols.tolist() == [3, 0]


def test_every_layer_places_points_on_the_same_pixels():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.uniform(0, 31, (200, 2)), np.floor(rng.uniform(0, 31, (50, 2))) + 0.5])
    shape = (32, 32)
    rows, cols, inside = point_pixels(points, shape)
    expected = np.zeros(shape)
    np.add.at(expected, (rows[inside], cols[inside]), 1)
    assert np.array_equal(dot_map(points, shape), expected)  # training targets
    assert np.array_equal(region_counts(points, shape, 5), expected)  # evaluation's GAME at pixel level
    whole = {"x0": 0, "y0": 0, "width": 32, "height": 32}
    assert len(crop_points(points, whole)) == int(inside.sum())  # the analysis' crops
    window = densest_window(points, shape, 32)
    assert window == whole


def test_the_prepared_folder_is_named_in_one_place(tmp_path):
    assert prepared_dir(tmp_path, "cells") == tmp_path / "prepared" / "cells"
    with pytest.raises(FileNotFoundError, match=r"run `python -m experiments.prepare --dataset cells --data-dir "):
        require_prepared(tmp_path, "cells")
