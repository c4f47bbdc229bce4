"""Training targets from points: the dilated (disk) mask, with fixed or adaptive radii.

Points are placed on pixels by the project's one rule (:mod:`experiments.core.points`; the
single-pixel dot map is :func:`experiments.core.points.dot_map`). Points whose pixel lies outside
the array are ignored here; the prepared data keeps every point inside its image, and crops cut
the targets of the whole image, so nothing is lost at borders.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..core.points import as_points, check_shape, point_pixels, round_half_up

ADAPTIVE_MAX_RADIUS = 7.0
ADAPTIVE_FRACTION = 0.25


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
    pts = as_points("points", points)
    if len(pts) == 0:
        return np.zeros(0)
    pix = round_half_up(pts)
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
    h, w = check_shape(shape)
    pts = as_points("points", points)
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
