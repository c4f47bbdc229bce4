"""Every layer places points on pixels by tghem.points' one rule, and names the prepared folder in one place."""

import numpy as np
import pytest

from experiments.analysis.qualitative import crop_points, densest_window
from experiments.core.prepared import prepared_dir, require_prepared
from experiments.evaluation.metrics import region_counts
from tghem.points import dot_map, point_pixels


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
