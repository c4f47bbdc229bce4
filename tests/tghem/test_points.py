"""The (N, 2) check and the pixel rule of tghem.points."""

import numpy as np
import pytest

from tghem.points import as_points, pixel_indices, round_half_up


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
