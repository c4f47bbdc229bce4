"""Points on the pixel grid: the one (N, 2) check and the one rule placing a point on a pixel.

Coordinates everywhere in the project: ``x`` = column, ``y`` = row, 0-based, in pixels, the
centre of pixel ``(row r, col c)`` being ``(x=c, y=r)``. A point falls on pixel
``(floor(y + 0.5), floor(x + 0.5))``: halves round up, never to even, so that 2.5 and 3.5 land
on neighbouring pixels as their distance says.
"""

from __future__ import annotations

import numpy as np

from tghem._validation import as_pairs_array


def as_points(name: str, points) -> np.ndarray:
    """``points`` as an (N, 2) float64 array of finite x, y (an empty input gives (0, 2)).

    Args:
        name: the argument's name, for the error message.
        points: an (N, 2) array, nested list or tensor (any real dtype) of x, y; ``[]`` for none.

    Raises:
        TypeError: not real numbers in rows of two (ragged rows, text, complex, None).
        ValueError: another shape (an empty one included, such as (3, 0)), or a NaN or
            infinite coordinate.

    Example:
        >>> as_points("gt", [[1, 2], [3.5, 4]]).tolist()
        [[1.0, 2.0], [3.5, 4.0]]
        >>> as_points("gt", []).shape
        (0, 2)
    """
    return as_pairs_array(name, points, "x, y")


def round_half_up(values) -> np.ndarray:
    """``floor(v + 0.5)`` as int64: the pixel index of a coordinate.

    Example:
        >>> round_half_up([2.5, 3.5, -0.5, 0.49]).tolist()
        [3, 4, 0, 0]
    """
    return np.floor(np.asarray(values, np.float64) + 0.5).astype(np.int64)


def pixel_indices(points) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` int64 of the pixels the points fall on (unclipped)."""
    p = as_points("points", points)
    return round_half_up(p[:, 1]), round_half_up(p[:, 0])


def check_shape(shape) -> tuple[int, int]:
    """``(H, W)`` as two positive ints.

    Raises:
        ValueError: not two positive ints.
    """
    if not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) != 2 or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0 for s in shape):
        raise ValueError(f"shape: expected (H, W) with positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def point_pixels(points, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of the points in an (H, W) array.

    Returns:
        ``(rows, cols, inside)``: int64 indices of every point and a boolean mask of the points
        whose pixel lies inside the array.
    """
    h, w = check_shape(shape)
    rows, cols = pixel_indices(points)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return rows, cols, inside


def dot_map(points, shape) -> np.ndarray:
    """Single-pixel dot map holding the number of points per pixel; points outside are left out.

    Two points on one pixel give 2, so ``dot_map(...).sum()`` is the number of points inside.

    Returns:
        (H, W) float32 counts.

    Example:
        >>> dot_map([[0, 0], [0.4, 0.2], [2, 1]], (2, 3)).tolist()
        [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    h, w = check_shape(shape)
    rows, cols, inside = point_pixels(points, (h, w))
    counts = np.bincount(rows[inside] * w + cols[inside], minlength=h * w)
    return counts.reshape(h, w).astype(np.float32)
