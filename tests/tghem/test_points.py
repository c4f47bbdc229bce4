"""The (N, 2) check and the pixel rule of tghem.points."""

import numpy as np
import pytest
import torch

from tghem.points import as_points, pixel_indices, round_half_up


@pytest.mark.parametrize("bad, message", [
    ([[1.0, 2.0, 3.0]], r"^gt must have shape \(K, 2\) of x, y, got shape \(1, 3\)$"),
    ([1.0, 2.0], r"^gt must have shape \(K, 2\) of x, y, got shape \(2,\)$"),
    (np.zeros((3, 0)), r"^gt must have shape \(K, 2\) of x, y, got shape \(3, 0\)$"),
    (np.zeros((0, 5)), r"^gt must have shape \(K, 2\) of x, y, got shape \(0, 5\)$"),
    ([[1.0, np.nan]], r"^gt must be finite, got rows \[\[1.0, nan\]\]$"),
    ([[np.inf, 0.0], [1.0, 2.0]], r"^gt must be finite, got rows \[\[inf, 0.0\]\]$"),
])
def test_as_points_refuses_a_bad_shape_or_value_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        as_points("gt", bad)


@pytest.mark.parametrize("bad", [
    None, "12", [["1", "2"]], np.array([["1", "2"]]), [[1 + 2j, 0.0]], np.array([[1 + 2j, 0.0]]),
    torch.zeros(1, 2, dtype=torch.complex64), [[0.0, 1.0], [2.0]],
])
def test_as_points_refuses_what_is_not_real_numbers(bad):
    with pytest.raises(TypeError, match=r"^gt must be a \(K, 2\) array of x, y, got "):
        as_points("gt", bad)


@pytest.mark.parametrize("empty", [[], np.zeros(0), np.zeros((0, 2), np.int64), torch.zeros(0, 2)])
def test_as_points_reads_the_empty_inputs_as_no_points(empty):
    points = as_points("gt", empty)
    assert points.shape == (0, 2) and points.dtype == np.float64


def test_as_points_takes_tensors_of_every_real_dtype_exactly():
    expected = [[1.0, 2.5], [-3.0, 0.0]]
    for dtype in (torch.bfloat16, torch.float16, torch.float32, torch.float64):
        assert as_points("gt", torch.tensor(expected, dtype=dtype)).tolist() == expected
    assert as_points("gt", torch.tensor([[1, 2]], dtype=torch.int16)).tolist() == [[1.0, 2.0]]
    assert as_points("gt", np.array([[1, 2]], dtype=object)).tolist() == [[1.0, 2.0]]
    source = np.array([[1.0, 2.0]])
    assert as_points("gt", source) is source  # float64 input is not copied


def test_halves_round_up_never_to_even():
    assert round_half_up([0.5, 1.5, 2.5, -0.5, -1.5]).tolist() == [1, 2, 3, 0, -1]
    rows, cols = pixel_indices([[2.5, 3.5], [0.49, 0.5]])
    assert rows.tolist() == [4, 1] and cols.tolist() == [3, 0]
