"""Training-time crops: K random crops of ONE training image per mini-batch.

This is the paper's mini-batch construction. Targets are built once per image (dilated mask
and dot map of the whole, padded image) and cut with the same window as the image, so a disk
whose centre lies just outside a crop still shows inside it and crop targets agree with the
crop's points. Flips and 90-degree rotations are applied to image, targets and points alike.

Contract of a batch (:class:`CropBatch`), matching ``loss(pred_logits (B,1,H,W), gt_mask (B,H,W),
gt_dots (B,H,W))``:

* ``image`` (K, C, S, S) float32, normalised per image and channel (zero mean, unit std over
  the unpadded image); padding is 0.
* ``mask`` (K, S, S) float32: 1 inside a disk, 0 outside, :data:`IGNORE_INDEX` on padding.
* ``dots`` (K, S, S) float32: number of points per pixel (2 where two dots share a pixel), 0 on
  padding; ``dots.sum()`` over a crop equals its number of points.
* ``points``: per crop an (n, 2) float64 array of x, y at the dots' pixel centres (integer
  values) in crop coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from tghem.points import dot_map, point_pixels
from tghem.targets import dilated_mask

from ..model.inputs import normalise_image

IGNORE_INDEX = 255
"""Mask value of pixels excluded from the loss (padding). Never a valid {0, 1} target."""


@dataclass
class CropBatch:
    """K crops of one image (see the module docstring for the contract).

    Attributes:
        image: (K, C, S, S) float32.
        mask: (K, S, S) float32 in {0, 1, IGNORE_INDEX}.
        dots: (K, S, S) float32 counts.
        points: K arrays (n_k, 2) of x, y in crop coordinates.
        origins: (K, 2) int64 x, y of each crop's top-left corner in the padded image.
        transforms: K tuples (hflip, vflip, rot90 quarter turns) applied after cutting.
    """

    image: np.ndarray
    mask: np.ndarray
    dots: np.ndarray
    points: list
    origins: np.ndarray
    transforms: list

    def tensors(self):
        """Return ``(image, mask, dots)`` as torch tensors (sharing memory)."""
        import torch

        return torch.from_numpy(self.image), torch.from_numpy(self.mask), torch.from_numpy(self.dots)


def transform_points(points: np.ndarray, size: int, hflip: bool, vflip: bool, rot: int) -> np.ndarray:
    """Apply the array transforms of :func:`_transform_array` to points in a square crop.

    Order: horizontal flip, vertical flip, then ``rot`` counter-clockwise quarter turns
    (``np.rot90`` on the (row, col) axes), with pixel centres at integer coordinates.
    """
    p = np.asarray(points, np.float64).reshape(-1, 2).copy()
    if hflip:
        p[:, 0] = size - 1 - p[:, 0]
    if vflip:
        p[:, 1] = size - 1 - p[:, 1]
    for _ in range(rot % 4):
        p = np.stack([p[:, 1], size - 1 - p[:, 0]], axis=1)
    return p


def _transform_array(a: np.ndarray, hflip: bool, vflip: bool, rot: int) -> np.ndarray:
    if hflip:
        a = a[..., :, ::-1]
    if vflip:
        a = a[..., ::-1, :]
    return np.rot90(a, rot % 4, axes=(-2, -1))


class CropSampler:
    """Deterministic sampler of K random crops from one image.

    Args:
        crop_size: side S of the square crops (paper: 256).
        crops_per_image: K, crops per mini-batch (all from one image).
        radius: dilated-mask radius (pixels) or ``"adaptive"``.
        gap: a one-pixel background gap between neighbouring disks (:func:`~tghem.targets.separate_disks`).
        flips: random horizontal and vertical flips.
        rot90: random quarter turns.
        channels: passed to :func:`normalise_image`.
        seed: seed of all random choices.

    Two ways to draw: :meth:`sample` / :meth:`batches` consume the sampler's own generator
    (``self.rng``), so a batch depends on every batch drawn before it; :meth:`batch_at` draws
    the batch of one training iteration as a pure function of ``(seed, rank, iteration)``, so a
    resumed run or any rank of a distributed run gets its batches without replaying others.
    """

    def __init__(
        self,
        crop_size: int = 256,
        crops_per_image: int = 4,
        radius: float | str = 3,
        gap: bool = False,
        flips: bool = True,
        rot90: bool = True,
        channels: int | None = None,
        seed: int = 0,
    ):
        for name, v in (("crop_size", crop_size), ("crops_per_image", crops_per_image)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if isinstance(radius, str) and radius != "adaptive":
            raise ValueError(f"radius: expected a number or 'adaptive', got {radius!r}")
        self.crop_size = int(crop_size)
        self.crops_per_image = int(crops_per_image)
        self.radius = radius
        self.gap = bool(gap)
        self.flips = flips
        self.rot90 = rot90
        self.channels = channels
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._cache: dict = {}

    def targets(self, image: np.ndarray, points: np.ndarray):
        """Normalised image and targets of the whole image, padded to at least the crop size.

        Returns:
            ``(image (C, H', W'), mask (H', W'), dots (H', W'))`` with ``H' = max(H, S)`` and
            ``W' = max(W, S)``; padding (bottom and right) is 0 / IGNORE_INDEX / 0.
        """
        img = normalise_image(image, self.channels)
        _, h, w = img.shape
        mask = dilated_mask(points, (h, w), self.radius, gap=self.gap)
        dots = dot_map(points, (h, w))
        s = self.crop_size
        ph, pw = max(0, s - h), max(0, s - w)
        if ph or pw:
            img = np.pad(img, ((0, 0), (0, ph), (0, pw)))
            mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
            dots = np.pad(dots, ((0, ph), (0, pw)))
        return img, mask, dots

    def sample(self, image: np.ndarray, points: np.ndarray, key=None, rng: np.random.Generator | None = None) -> CropBatch:
        """Draw K crops of one image.

        Args:
            image: (H, W[, C]) uint8.
            points: (N, 2) x, y inside the image.
            key: optional hashable id under which the image's targets are cached.
            rng: generator of the crop positions and augmentations (default: ``self.rng``).

        Returns:
            The :class:`CropBatch`.
        """
        if key is not None and key in self._cache:
            img, mask, dots = self._cache[key]
        else:
            img, mask, dots = self.targets(image, points)
            if key is not None:
                self._cache[key] = (img, mask, dots)
        rng = self.rng if rng is None else rng
        s, k = self.crop_size, self.crops_per_image
        _, hp, wp = img.shape
        rows, cols, inside = point_pixels(points, (hp, wp))
        rows, cols = rows[inside], cols[inside]
        out_img, out_mask, out_dots, out_pts, origins, tfs = [], [], [], [], [], []
        for _ in range(k):
            y0 = int(rng.integers(0, hp - s + 1))
            x0 = int(rng.integers(0, wp - s + 1))
            hf = bool(rng.integers(2)) if self.flips else False
            vf = bool(rng.integers(2)) if self.flips else False
            rot = int(rng.integers(4)) if self.rot90 else 0
            sl = (slice(y0, y0 + s), slice(x0, x0 + s))
            out_img.append(_transform_array(img[(slice(None),) + sl], hf, vf, rot))
            out_mask.append(_transform_array(mask[sl], hf, vf, rot))
            out_dots.append(_transform_array(dots[sl], hf, vf, rot))
            sel = (rows >= y0) & (rows < y0 + s) & (cols >= x0) & (cols < x0 + s)
            local = np.stack([cols[sel] - x0, rows[sel] - y0], axis=1).astype(np.float64)
            out_pts.append(transform_points(local, s, hf, vf, rot))
            origins.append((x0, y0))
            tfs.append((hf, vf, rot))
        return CropBatch(
            np.ascontiguousarray(np.stack(out_img), dtype=np.float32),
            np.ascontiguousarray(np.stack(out_mask), dtype=np.float32),
            np.ascontiguousarray(np.stack(out_dots), dtype=np.float32),
            out_pts,
            np.array(origins, np.int64),
            tfs,
        )

    def batches(self, samples: Sequence, num_batches: int) -> Iterator[CropBatch]:
        """Yield ``num_batches`` mini-batches, each K crops of one training image.

        Images are visited in a seeded random order, reshuffled after each pass.

        Args:
            samples: objects with ``.image``, ``.points`` and ``.image_id`` (e.g. from
                :func:`experiments.core.prepared.load_split`).
            num_batches: number of mini-batches.
        """
        if not samples:
            raise ValueError("samples: expected at least one training image, got none")
        order: list[int] = []
        for _ in range(num_batches):
            if not order:
                order = list(self.rng.permutation(len(samples)))
            s = samples[order.pop(0)]
            yield self.sample(s.image, s.points, key=s.image_id)

    def image_index_at(self, num_images: int, iteration: int, rank: int = 0, world_size: int = 1) -> int:
        """Index of the training image of ``rank`` at ``iteration`` (see :meth:`batch_at`).

        Draw ``g = iteration * world_size + rank`` of an endless sequence of passes over the
        images, each pass a permutation seeded by ``(seed, pass)``: within a pass every image is
        used once, and at one iteration the ranks use different images (as a distributed sampler
        would) while none depends on the others' draws.
        """
        for name, v in (("num_images", num_images), ("world_size", world_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        for name, v in (("iteration", iteration), ("rank", rank)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name}: expected a non-negative int, got {v!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed: per-iteration batches need a non-negative int seed, got {self.seed!r}")
        if rank >= world_size:
            raise ValueError(f"rank: expected < world_size = {world_size}, got {rank}")
        draw = int(iteration) * int(world_size) + int(rank)
        epoch, position = divmod(draw, int(num_images))
        # Distinct leading tags keep the image-order and crop streams of one seed apart.
        order = np.random.default_rng([self.seed, 0, epoch]).permutation(int(num_images))
        return int(order[position])

    def batch_at(self, samples: Sequence, iteration: int, rank: int = 0, world_size: int = 1) -> CropBatch:
        """The mini-batch of ``rank`` at training ``iteration``: K crops of one image.

        A pure function of ``(seed, rank, iteration)`` and the samples: the image comes from
        :meth:`image_index_at`, the crops and augmentations from a generator seeded with
        ``(seed, 1, rank, iteration)``. Resuming at any iteration, or running as one of several
        ranks, therefore reproduces exactly the batches of an uninterrupted run.

        Args:
            samples: objects with ``.image``, ``.points`` and ``.image_id``.
            iteration: 0-based iteration.
            rank: this process's rank in a distributed run.
            world_size: number of ranks.
        """
        if not samples:
            raise ValueError("samples: expected at least one training image, got none")
        s = samples[self.image_index_at(len(samples), iteration, rank, world_size)]
        rng = np.random.default_rng([self.seed, 1, int(rank), int(iteration)])
        return self.sample(s.image, s.points, key=s.image_id, rng=rng)
