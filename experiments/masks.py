"""Training targets from points: the single-pixel dot map and the dilated (disk) mask.

A point ``(x, y)`` falls on pixel ``(row, col) = (floor(y + 0.5), floor(x + 0.5))`` (pixel
centres at integer coordinates, halves rounded up, never banker's rounding). Points whose pixel
lies outside the array are ignored here; the prepared data keeps every point inside its image,
and crops cut the targets of the whole image, so nothing is lost at borders.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

ADAPTIVE_MAX_RADIUS = 7.0
ADAPTIVE_FRACTION = 0.25


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) != 2 or any((not isinstance(s, (int, np.integer))) or s <= 0 for s in shape):
        raise ValueError(f"shape: expected (H, W) with positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_points(points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points: expected an (N, 2) array of x, y, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points: expected finite coordinates, got NaN or inf")
    return pts


def point_pixels(points, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map points to pixel indices.

    Args:
        points: (N, 2) x, y.
        shape: (H, W) of the array.

    Returns:
        ``(rows, cols, inside)``: int64 indices for all points and a boolean mask of the points
        whose pixel lies inside the array.
    """
    h, w = _check_shape(shape)
    pts = _check_points(points)
    cols = np.floor(pts[:, 0] + 0.5).astype(np.int64)
    rows = np.floor(pts[:, 1] + 0.5).astype(np.int64)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return rows, cols, inside


def dot_map(points, shape) -> np.ndarray:
    """Single-pixel dot map holding the number of points per pixel.

    Two points on one pixel give 2, so ``dot_map(...).sum()`` is the number of points inside.

    Args:
        points: (N, 2) x, y.
        shape: (H, W).

    Returns:
        (H, W) float32 counts.
    """
    h, w = _check_shape(shape)
    rows, cols, inside = point_pixels(points, (h, w))
    counts = np.bincount(rows[inside] * w + cols[inside], minlength=h * w)
    return counts.reshape(h, w).astype(np.float32)


def adaptive_radii(
    points, max_radius: float = ADAPTIVE_MAX_RADIUS, fraction: float = ADAPTIVE_FRACTION
) -> np.ndarray:
    """TopoCount-style radii: ``min(max_radius, floor(fraction * nearest-neighbour distance))``.

    The distance is measured between the points' pixels, to the nearest *other* pixel holding
    a point (points sharing a pixel cannot be separated anyway). With ``fraction <= 0.25`` two
    disks of neighbours a distance d apart reach at most d/2 together, so they never merge.

    Args:
        points: (N, 2) x, y.
        max_radius: radius cap (7 in TopoCount).
        fraction: share of the nearest-neighbour distance.

    Returns:
        (N,) float64 radii (``max_radius`` for a lone point).
    """
    if not max_radius >= 0:
        raise ValueError(f"max_radius: expected >= 0, got {max_radius}")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction: expected in (0, 0.5], got {fraction}")
    pts = _check_points(points)
    if len(pts) == 0:
        return np.zeros(0)
    pix = np.floor(pts + 0.5)
    uniq, inverse = np.unique(pix, axis=0, return_inverse=True)
    if len(uniq) < 2:
        return np.full(len(pts), float(max_radius))
    d, _ = cKDTree(uniq).query(uniq, k=2)
    r = np.minimum(float(max_radius), np.floor(fraction * d[:, 1]))
    return r[inverse.reshape(-1)]


def dilated_mask(points, shape, radius: float | str | np.ndarray) -> np.ndarray:
    """Binary mask of disks around the points' pixels.

    A pixel is in the disk of a dot pixel when their Euclidean distance is ``<= radius``
    (radius 0: the dot pixel alone). With per-point radii each pixel is judged against its
    nearest dot only, so a disk never crosses into a neighbour's Voronoi cell; for adaptive
    radii this equals the plain union of disks.

    Args:
        points: (N, 2) x, y.
        shape: (H, W).
        radius: one radius for all points, ``"adaptive"`` (:func:`adaptive_radii`), or (N,)
            radii.

    Returns:
        (H, W) float32 array of 0 and 1.
    """
    h, w = _check_shape(shape)
    pts = _check_points(points)
    if isinstance(radius, str):
        if radius != "adaptive":
            raise ValueError(f"radius: expected a number, 'adaptive' or (N,) radii, got {radius!r}")
        radius = adaptive_radii(pts)
    rows, cols, inside = point_pixels(pts, (h, w))
    if not inside.any():
        return np.zeros((h, w), np.float32)
    seeds = np.zeros((h, w), bool)
    seeds[rows[inside], cols[inside]] = True
    r_arr = np.asarray(radius, dtype=np.float64)
    if r_arr.ndim == 0:
        if not r_arr >= 0:
            raise ValueError(f"radius: expected >= 0, got {radius}")
        if r_arr == 0:
            return seeds.astype(np.float32)
        dist = ndi.distance_transform_edt(~seeds)
        return (dist <= r_arr).astype(np.float32)
    if r_arr.shape != (len(pts),) or np.any(r_arr < 0):
        raise ValueError(f"radius: expected {len(pts)} non-negative radii, got shape {r_arr.shape}")
    per_pixel = np.zeros((h, w))
    # Several points on one pixel: the largest radius wins.
    np.maximum.at(per_pixel, (rows[inside], cols[inside]), r_arr[inside])
    dist, (ir, ic) = ndi.distance_transform_edt(~seeds, return_indices=True)
    return (dist <= per_pixel[ir, ic]).astype(np.float32)
