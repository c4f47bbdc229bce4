"""Deterministic generator of fluorescence-like cell images, in the spirit of SIMCEP.

SIMCEP (Lehmussola et al., IEEE TMI 2007) is the simulator behind the VGG cells set. This is an
independent, simplified generator of the same kind: cells are placed in clusters with a
controlled amount of overlap, so touching and merged cells occur (where topology matters);
each cell is a round shape whose radius is perturbed at a few control angles and smoothed by a
periodic cubic spline; intensity carries multi-octave texture; the image gets optical blur,
uneven illumination and vignetting, an autofluorescence background, and Poisson (shot) plus
Gaussian (read) noise. The annotation is one dot at the centroid of each cell's rasterised
shape. A fixed seed gives a byte-identical dataset.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image
from scipy.interpolate import CubicSpline


@dataclass(frozen=True)
class SyntheticConfig:
    """Generator parameters. Defaults: a VGG-like set sized for the CPU default pipeline.

    Attributes:
        num_train: train images.
        num_val: validation images.
        num_test: test images.
        image_size: (height, width) in pixels.
        count_range: inclusive range of cells attempted per image (placement may fall short
            when the image is too crowded for the overlap limit).
        radius_mean: mean cell radius (pixels).
        radius_std: standard deviation of the cell radius.
        cluster_range: inclusive range of cluster centres per image.
        cluster_fraction: fraction of cells placed around a cluster centre (the rest uniform).
        cluster_spread: standard deviation (pixels) of a cell's offset from its cluster centre.
        max_overlap: largest allowed overlap, as a fraction of the sum of two cells' radii
            (0: cells may touch but not overlap; 0.4: strongly merged pairs occur).
        shape_irregularity: relative standard deviation of the radius at the control angles.
        texture_amplitude: relative intensity modulation inside cells.
        blur_sigma: optical blur (Gaussian sigma, pixels).
        illumination: relative amplitude of the smooth uneven-illumination field.
        vignetting: relative intensity loss at the image corners.
        background: autofluorescence level (fraction of full scale).
        photons: photons per unit intensity (Poisson noise; lower = noisier).
        read_noise: Gaussian noise standard deviation (fraction of full scale).
        tint: RGB weights of the single fluorescence channel (VGG cells are blue).
    """

    num_train: int = 12
    num_val: int = 4
    num_test: int = 8
    image_size: tuple[int, int] = (256, 256)
    count_range: tuple[int, int] = (100, 300)
    radius_mean: float = 4.5
    radius_std: float = 0.8
    cluster_range: tuple[int, int] = (3, 8)
    cluster_fraction: float = 0.7
    cluster_spread: float = 16.0
    max_overlap: float = 0.3
    shape_irregularity: float = 0.12
    texture_amplitude: float = 0.3
    blur_sigma: float = 1.5
    illumination: float = 0.25
    vignetting: float = 0.3
    background: float = 0.06
    photons: float = 80.0
    read_noise: float = 0.015
    tint: tuple[float, float, float] = (0.02, 0.04, 1.0)

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the first bad parameter."""
        for name in ("num_train", "num_val", "num_test"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise TypeError(f"{name}: expected a non-negative int, got {v!r}")
        if self.num_train + self.num_val + self.num_test == 0:
            raise ValueError("num_train + num_val + num_test: expected > 0, got 0")
        h, w = self.image_size
        if h < 16 or w < 16:
            raise ValueError(f"image_size: expected both sides >= 16, got {self.image_size}")
        lo, hi = self.count_range
        if not 0 <= lo <= hi:
            raise ValueError(f"count_range: expected 0 <= low <= high, got {self.count_range}")
        lo, hi = self.cluster_range
        if not 1 <= lo <= hi:
            raise ValueError(f"cluster_range: expected 1 <= low <= high, got {self.cluster_range}")
        if not self.radius_mean >= 1:
            raise ValueError(f"radius_mean: expected >= 1, got {self.radius_mean}")
        if not 0 <= self.max_overlap < 1:
            raise ValueError(f"max_overlap: expected in [0, 1), got {self.max_overlap}")
        if not 0 <= self.cluster_fraction <= 1:
            raise ValueError(f"cluster_fraction: expected in [0, 1], got {self.cluster_fraction}")
        if not self.photons > 0:
            raise ValueError(f"photons: expected > 0, got {self.photons}")

    @property
    def num_images(self) -> int:
        return self.num_train + self.num_val + self.num_test


def value_noise(rng: np.random.Generator, shape: tuple[int, int], octaves: int, base: int) -> np.ndarray:
    """Multi-octave value noise in about [-1, 1].

    Args:
        rng: random generator.
        shape: (H, W) of the output.
        octaves: number of octaves; octave ``k`` has ``base * 2**k`` cells along the longer side
            and weight ``2**-k``.
        base: grid cells of the coarsest octave.

    Returns:
        (H, W) float32 array with zero mean.
    """
    h, w = shape
    out = np.zeros(shape, np.float32)
    total = 0.0
    for k in range(octaves):
        n = base * 2**k
        grid = rng.random((max(2, n * h // max(h, w)) + 1, max(2, n * w // max(h, w)) + 1)).astype(np.float32)
        out += (2.0**-k) * cv2.resize(grid * 2 - 1, (w, h), interpolation=cv2.INTER_CUBIC)
        total += 2.0**-k
    out /= total
    return out - out.mean()


def _place_cells(rng: np.random.Generator, cfg: SyntheticConfig, n: int):
    h, w = cfg.image_size
    n_clusters = int(rng.integers(cfg.cluster_range[0], cfg.cluster_range[1] + 1))
    centres = rng.uniform([0, 0], [w - 1, h - 1], size=(n_clusters, 2))
    pos = np.zeros((0, 2))
    rad = np.zeros(0)
    keep = 1.0 - cfg.max_overlap
    # Rejection sampling with a bounded number of tries: crowded images end up with fewer
    # cells rather than violating the overlap limit.
    for _ in range(n * 20):
        if len(rad) >= n:
            break
        r = max(2.0, rng.normal(cfg.radius_mean, cfg.radius_std))
        if rng.random() < cfg.cluster_fraction:
            c = centres[rng.integers(n_clusters)] + rng.normal(0, cfg.cluster_spread, 2)
        else:
            c = rng.uniform([0, 0], [w - 1, h - 1])
        if not (0 <= c[0] <= w - 1 and 0 <= c[1] <= h - 1):
            continue
        if len(rad) and np.any(np.hypot(*(pos - c).T) < keep * (rad + r)):
            continue
        pos = np.vstack([pos, c])
        rad = np.append(rad, r)
    return pos, rad


def _cell_polygon(rng: np.random.Generator, cfg: SyntheticConfig, centre, radius) -> np.ndarray:
    m = 8
    theta = np.linspace(0, 2 * np.pi, m + 1)
    r = radius * (1 + cfg.shape_irregularity * rng.standard_normal(m + 1))
    r[-1] = r[0]
    spline = CubicSpline(theta, np.clip(r, 0.4 * radius, None), bc_type="periodic")
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False) + rng.uniform(0, 2 * np.pi)
    rr = spline(t % (2 * np.pi))
    return np.stack([centre[0] + rr * np.cos(t), centre[1] + rr * np.sin(t)], axis=1)


def render_image(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render one image and its dots.

    Args:
        cfg: generator parameters.
        rng: random generator (consumed).

    Returns:
        ``(image, points)``: (H, W, 3) uint8 RGB and (N, 2) float64 x, y centroids (0-based,
        inside the image).
    """
    h, w = cfg.image_size
    n = int(rng.integers(cfg.count_range[0], cfg.count_range[1] + 1))
    pos, rad = _place_cells(rng, cfg, n)
    texture = value_noise(rng, (h, w), 4, 8)
    signal = np.zeros((h, w), np.float32)
    shift = 4  # sub-pixel polygon vertices: 1/16 pixel
    pts = []
    for c, r in zip(pos, rad):
        poly = _cell_polygon(rng, cfg, c, r)
        x0, y0 = np.floor(poly.min(0)).astype(int) - 1
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 2
        patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(patch, [np.round((poly - [x0, y0]) * (1 << shift)).astype(np.int32)], 1, cv2.LINE_8, shift)
        ys, xs = np.nonzero(patch)
        if len(ys) == 0:
            continue
        # The dot is the centroid of the whole rasterised shape (also its part outside the
        # image), pulled onto the border when it falls outside.
        pts.append((xs.mean() + x0, ys.mean() + y0))
        gy, gx = ys + y0, xs + x0
        inside = (gy >= 0) & (gy < h) & (gx >= 0) & (gx < w)
        gy, gx = gy[inside], gx[inside]
        bright = rng.uniform(0.45, 0.9)
        # Fluorescence adds up, so overlapping cells are brighter where they overlap.
        signal[gy, gx] += bright * (1 + cfg.texture_amplitude * 2 * texture[gy, gx])

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr2 = ((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2
    vignette = 1 - cfg.vignetting * rr2 / 2
    illum = 1 + cfg.illumination * value_noise(rng, (h, w), 1, 2) * 2
    img = signal * illum * vignette
    if cfg.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), cfg.blur_sigma)
    img = img + cfg.background * (1 + 0.5 * value_noise(rng, (h, w), 3, 4)) * vignette
    img = rng.poisson(np.clip(img, 0, None) * cfg.photons) / cfg.photons
    img = img + rng.normal(0, cfg.read_noise, img.shape)
    img = np.clip(img, 0, 1).astype(np.float32)
    rgb = np.clip(np.round(img[..., None] * np.asarray(cfg.tint, np.float32) * 255), 0, 255).astype(np.uint8)
    points = np.array(pts, np.float64).reshape(-1, 2)
    points[:, 0] = np.clip(points[:, 0], 0, w - 1)
    points[:, 1] = np.clip(points[:, 1], 0, h - 1)
    return rgb, points


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an 8-bit image as PNG bytes (PIL writes no timestamp, so bytes are reproducible)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def generate(cfg: SyntheticConfig, seed: int):
    """Generate the dataset in memory, image by image.

    Each image has its own generator spawned from ``seed``, so image ``i`` does not depend on
    the number of images.

    Args:
        cfg: generator parameters.
        seed: dataset seed.

    Yields:
        ``(image_id, split, image, points)`` with ids ``"000"``, ``"001"``... in order train,
        val, test.
    """
    cfg.validate()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"seed: expected a non-negative int, got {seed!r}")
    splits = ["train"] * cfg.num_train + ["val"] * cfg.num_val + ["test"] * cfg.num_test
    children = np.random.SeedSequence(int(seed)).spawn(len(splits))
    for i, (split, ss) in enumerate(zip(splits, children)):
        image, points = render_image(cfg, np.random.default_rng(ss))
        yield f"{i:03d}", split, image, points


def config_json(cfg: SyntheticConfig, seed: int) -> str:
    """Return the generator parameters and seed as canonical JSON (sorted keys)."""
    return json.dumps({"seed": int(seed), **asdict(cfg)}, sort_keys=True, indent=2) + "\n"
