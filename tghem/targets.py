"""Training targets from points: the dilated (disk) mask, with fixed or adaptive radii, and
optionally a one-pixel background gap between neighbouring dots' disks.

Points are placed on pixels by one rule (:mod:`tghem.points`; the single-pixel dot map is
:func:`tghem.points.dot_map`). Points whose pixel lies outside
the array draw no disk here (with adaptive radii they still count as neighbours and can shrink
a disk inside); the prepared data keeps every point inside its image, and crops cut
the targets of the whole image, so nothing is lost at borders.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from tghem._validation import _describe, as_float_array, check_real
from tghem.points import as_points, check_shape, point_pixels, round_half_up

ADAPTIVE_MAX_RADIUS = 7.0
ADAPTIVE_FRACTION = 0.25


def adaptive_radii(
    points, max_radius: float = ADAPTIVE_MAX_RADIUS, fraction: float = ADAPTIVE_FRACTION
) -> np.ndarray:
    """TopoCount-style radii: ``min(max_radius, floor(fraction * nearest-neighbour distance))``.

    The distance is measured between the points' pixels, to the nearest *other* pixel holding
    a point (points sharing a pixel cannot be separated anyway). With ``fraction <= 0.25`` two
    disks of neighbours a distance d apart reach at most d/2 together, so they never overlap; dots
    on 8-adjacent pixels (d of 1 or sqrt 2) get radius 0, and their two pixels still touch.

    Args:
        points: (N, 2) x, y.
        max_radius: radius cap (7 in TopoCount).
        fraction: share of the nearest-neighbour distance.

    Returns:
        (N,) float64 radii (``max_radius`` for a lone point).

    Example:
        >>> adaptive_radii([[0, 0], [8, 0], [30, 0]])  # floor(8 / 4), floor(8 / 4), min(7, floor(22 / 4))
        array([2., 2., 5.])
    """
    max_radius = check_real("max_radius", max_radius, low=0.0)
    fraction = check_real("fraction", fraction, low=0.0, high=0.5, low_inclusive=False)
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


def _placed(points, shape, radius):
    """``((H, W), points, radius, (rows, cols, inside))``: the checked inputs of a disk target, the
    radius as a float64 array (0-d: one for all points; (N,): per point), an ``"adaptive"`` radius
    resolved to per-point radii (:func:`adaptive_radii`)."""
    h, w = check_shape(shape)
    pts = as_points("points", points)
    expected = "a number, 'adaptive' or (N,) radii"
    if isinstance(radius, str):
        if radius != "adaptive":
            raise ValueError(f"radius: expected {expected}, got {radius!r}")
        radius = adaptive_radii(pts)
    try:
        r_arr = None if isinstance(radius, bool) else as_float_array("radius", radius, expected)
    except TypeError:  # None, text, complex, ragged: the one rule of tghem._validation, this module's wording
        r_arr = None
    if r_arr is None:
        raise TypeError(f"radius: expected {expected}, got {_describe(radius)}")
    if r_arr.ndim == 0:
        if not (np.isfinite(r_arr) and r_arr >= 0):
            raise ValueError(f"radius: expected a finite number >= 0, got {radius}")
    elif r_arr.shape != (len(pts),):
        raise ValueError(f"radius: expected {len(pts)} non-negative radii, got shape {r_arr.shape}")
    elif not (np.isfinite(r_arr).all() and (r_arr >= 0).all()):
        bad = r_arr[~(np.isfinite(r_arr) & (r_arr >= 0))]
        raise ValueError(f"radius: expected {len(pts)} finite non-negative radii, got {len(bad)} other(s), e.g. {bad[0]}")
    return (h, w), pts, r_arr, point_pixels(pts, (h, w))


def dilated_mask(points, shape, radius: float | str | np.ndarray, gap: bool = False) -> np.ndarray:
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
        gap: keep neighbouring dots' disks apart (:func:`separate_disks`): every pixel is
            judged against its nearest dot, and where two disks touch (8-neighbourhood) the
            higher-numbered dot's touching pixels become background, so every dot is its own
            blob.

    Returns:
        (H, W) float32 array of 0 and 1.

    Example:
        >>> dilated_mask([[1, 1], [4, 1]], (3, 6), radius=1).astype(int)  # two disks that touch: one blob
        array([[0, 1, 0, 0, 1, 0],
               [1, 1, 1, 1, 1, 1],
               [0, 1, 0, 0, 1, 0]])
        >>> dilated_mask([[1, 1], [4, 1]], (3, 6), radius=1, gap=True).astype(int)  # kept apart: two
        array([[0, 1, 0, 0, 1, 0],
               [1, 1, 1, 0, 1, 1],
               [0, 1, 0, 0, 1, 0]])
    """
    if gap:
        return separate_disks(points, shape, radius)
    (h, w), pts, radius, (rows, cols, inside) = _placed(points, shape, radius)
    if not inside.any():
        return np.zeros((h, w), np.float32)
    seeds = np.zeros((h, w), bool)
    seeds[rows[inside], cols[inside]] = True
    r_arr = radius
    if r_arr.ndim == 0:
        if r_arr == 0:
            return seeds.astype(np.float32)
        dist = ndi.distance_transform_edt(~seeds)
        return (dist <= r_arr).astype(np.float32)
    per_pixel = np.zeros((h, w))
    # Several points on one pixel: the largest radius wins.
    np.maximum.at(per_pixel, (rows[inside], cols[inside]), r_arr[inside])
    dist, (ir, ic) = ndi.distance_transform_edt(~seeds, return_indices=True)
    return (dist <= per_pixel[ir, ic]).astype(np.float32)


def separate_disks(points, shape, radius: float | str | np.ndarray) -> np.ndarray:
    """Disks of the nearest-dot assignment, kept apart by a one-pixel background gap.

    Every pixel belongs to the dot pixel nearest to it (Euclidean; the exact distance transform
    picks one on ties) and is in that dot's disk when the distance is ``<= radius`` (the
    per-point radius of the dot). Number the dot pixels in raster order; a disk pixel whose
    8-neighbourhood holds a disk pixel of a dot with a *smaller* number becomes background. Two
    disks that touch or overlap thus lose the higher-numbered one's boundary row: one pixel of
    background between them, no pixel of one 8-adjacent to the other: when the dots are 3 px or
    more apart, every dot's pixel is its own 8-connected blob. Closer dots can lose their own
    pixel to a lower-numbered neighbour, and a disk can then split into blobs without a dot.
    Disks that do not touch are unchanged, so on sparse dots this equals
    :func:`dilated_mask` without a gap. The blob that loses its boundary row is the one of the
    higher-numbered dot, whose contour centroid can move by about a pixel.

    Args:
        points: (N, 2) x, y.
        shape: (H, W).
        radius: as :func:`dilated_mask`.

    Returns:
        (H, W) float32 array of 0 and 1.

    Example:
        >>> m = separate_disks([[2, 2], [5, 2]], (5, 8), 2)   # disks of radius 2, centres 3 px apart
        >>> m.astype(int)
        array([[0, 0, 1, 0, 0, 1, 0, 0],
               [0, 1, 1, 1, 0, 1, 1, 0],
               [1, 1, 1, 1, 0, 1, 1, 1],
               [0, 1, 1, 1, 0, 1, 1, 0],
               [0, 0, 1, 0, 0, 1, 0, 0]])
        >>> from scipy import ndimage
        >>> ndimage.label(m, structure=np.ones((3, 3)))[1]
        2
    """
    (h, w), pts, radius, (rows, cols, inside) = _placed(points, shape, radius)
    if not inside.any():
        return np.zeros((h, w), np.float32)
    r_arr = radius
    per_pixel = np.zeros((h, w))
    if r_arr.ndim == 0:
        per_pixel[rows[inside], cols[inside]] = r_arr
    else:
        np.maximum.at(per_pixel, (rows[inside], cols[inside]), r_arr[inside])
    seeds = np.zeros((h, w), bool)
    seeds[rows[inside], cols[inside]] = True
    dist, (ir, ic) = ndi.distance_transform_edt(~seeds, return_indices=True)
    # Dot number of every pixel's nearest dot pixel: its raster index (order-free), 0 outside disks.
    owner = (ir * w + ic).astype(np.int64)
    disk = dist <= per_pixel[ir, ic]
    outside = h * w  # above every dot number (and exact as a float, which the filter's cval is)
    owner[~disk] = outside
    smallest = ndi.minimum_filter(owner, size=3, mode="constant", cval=outside)
    return (disk & (smallest >= owner)).astype(np.float32)
