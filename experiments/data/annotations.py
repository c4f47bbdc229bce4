"""Reading annotations: image sizes, points kept in the image, and points from dot images.

Coordinates as everywhere in the project (:mod:`tghem.points`): ``x`` = column,
``y`` = row, 0-based, in pixels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from tghem.points import as_points, round_half_up

from ..core.prepared import decoded_image

SOURCE_FIX = "replace it with a complete copy of the file, or remove the image together with its annotation"
"""What to do about a damaged published or user file."""


def image_size(path: Path, fix: str = SOURCE_FIX) -> tuple[int, int]:
    """``(width, height)`` of an image file, checked to decode completely.

    Decoding every pixel here (not just the header) makes an empty, truncated or corrupt image
    fail at prepare time, naming the file, instead of in the middle of training.

    Raises:
        ValueError: the file does not decode (the message names it and ends with ``fix``).
    """
    with decoded_image(path, fix) as im:
        return im.size


def dot_image_mask(path: Path, fix: str = SOURCE_FIX) -> np.ndarray:
    """Boolean (H, W) of the non-zero pixels of a lossless dot image (any channel).

    Raises:
        ValueError: the file does not decode.
    """
    with decoded_image(path, fix) as im:
        a = np.asarray(im)
    return (a.max(axis=2) if a.ndim == 3 else a) > 0


def annotation_points(arr, what: str) -> np.ndarray:
    """The x, y columns of an annotation array (some files carry more columns)."""
    pts = np.asarray(arr, dtype=np.float64)
    if pts.ndim == 2 and pts.shape[1] > 2:
        pts = pts[:, :2]
    return as_points(what, pts).copy()


def clip_points(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """Clip points into ``[0, width-1] x [0, height-1]``.

    Args:
        points: (N, 2) x, y.
        width: image width.
        height: image height.

    Returns:
        The clipped copy and the number of points that moved.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = pts.copy()
    out[:, 0] = np.clip(out[:, 0], 0, width - 1)
    out[:, 1] = np.clip(out[:, 1], 0, height - 1)
    moved = int(np.count_nonzero(np.any(out != pts, axis=1)))
    return out, moved


def natural_key(p: Path):
    """Sort key ordering ``IMG_2`` before ``IMG_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def points_from_dot_mask(mask: np.ndarray) -> np.ndarray:
    """Return one point per non-zero pixel of a lossless dot image (x, y sorted row-major).

    Each annotated pixel is one dot, so two touching dots stay two (MBM has such pairs).
    """
    rows, cols = np.nonzero(np.asarray(mask))
    return np.stack([cols, rows], axis=1).astype(np.float64)


def redness(rgb: np.ndarray) -> np.ndarray:
    """Return ``R - max(G, B)`` clipped at 0, as float32 (how red-dot annotations are marked)."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {a.shape}")
    a = a[..., :3].astype(np.float32)
    return np.clip(a[..., 0] - np.maximum(a[..., 1], a[..., 2]), 0, None)


def points_from_lossy_dots(strength: np.ndarray, min_strength: float = 40.0) -> np.ndarray:
    """Recover dot positions from a dot image that went through lossy (JPEG) compression.

    JPEG weakens a single-pixel dot and rings around it, and may leave two touching dots as
    one blob. So: (1) the strongest pixel gives the level of an intact dot (annotation dots
    share one colour); (2) the threshold is set to 60% of it (at quality 75 dots keep about
    115 of 255 and ringing reaches about 60), but at least ``min_strength``; (3) each remaining component holds
    ``round(mass / typical mass)`` dots (at least 1, at most its pixel count); a single dot is
    placed at the strength-weighted centroid rounded to a pixel, several at the strongest
    pixels. Lossless and high-quality 4:4:4 files (as published for ADI) come back exactly;
    files below about quality 75, or with chroma subsampling, lose single-pixel colour dots in
    the codec itself and cannot be recovered.

    Args:
        strength: (H, W) dot strength, e.g. :func:`redness` of the annotation image.
        min_strength: strength below which nothing is a dot (ringing of intact dots stays
            below it).

    Returns:
        (N, 2) float64 x, y at pixel centres, sorted row-major.
    """
    s = np.asarray(strength, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"strength: expected an (H, W) array, got shape {s.shape}")
    if not s.size or s.max() <= min_strength:
        return np.zeros((0, 2), np.float64)
    lab, n = ndi.label(s > max(min_strength, 0.6 * float(s.max())), structure=np.ones((3, 3), bool))
    idx = np.arange(1, n + 1)
    masses = np.asarray(ndi.sum(s, lab, idx))
    sizes = np.asarray(ndi.sum(np.ones_like(s), lab, idx))
    ref = float(np.median(masses))
    pts = []
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        comp = np.where(lab[sl] == i, s[sl], 0.0)
        k = int(min(max(1, round(masses[i - 1] / ref)), sizes[i - 1]))
        if k == 1:
            rr, cc = np.indices(comp.shape)
            w = comp.sum()
            r = int(round_half_up((rr * comp).sum() / w)) + sl[0].start
            c = int(round_half_up((cc * comp).sum() / w)) + sl[1].start
            pts.append((c, r))
        else:
            flat = np.argsort(-comp, axis=None, kind="stable")[:k]
            for rr, cc in zip(*np.unravel_index(flat, comp.shape)):
                pts.append((cc + sl[1].start, rr + sl[0].start))
    return np.array(sorted(pts, key=lambda p: (p[1], p[0])), dtype=np.float64).reshape(-1, 2)


def read_rgb(path: Path, fix: str = SOURCE_FIX) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB.

    Raises:
        ValueError: the file does not decode.
    """
    with decoded_image(path, fix) as im:
        return np.asarray(im.convert("RGB"))
