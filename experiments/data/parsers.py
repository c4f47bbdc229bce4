"""Parsers: read each published dataset layout into image records with 0-based point lists.

Coordinates as everywhere in the project (:mod:`experiments.core.points`): ``x`` = column,
``y`` = row, 0-based, in pixels.

Each parser has two methods: ``files(root)`` lists the published files it uses (the set the
content digest covers) and ``parse(root)`` returns :class:`Record` objects sorted by id.
"""

from __future__ import annotations

import abc
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.prepared import Record, read_points_csv, read_split_csv
from .annotations import (
    clip_points,
    image_size,
    natural_key,
    points_from_dot_mask,
    points_from_lossy_dots,
    read_rgb,
    redness,
)
from .crowd import ShanghaiTechParser, UcfQnrfParser

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


# --------------------------------------------------------------------------- cell sets
class _DotImageParser(abc.ABC):
    """A flat folder of images, each with a lossless dot image of its own (one point per dot pixel).

    Subclasses give ``name``, ``image_pattern`` (a regex of the image file names), ``description``
    (of the files, for errors), :meth:`annotation_name`, :meth:`image_id` and :meth:`dot_mask`.
    """

    name = ""
    image_pattern: re.Pattern
    description = ""

    @abc.abstractmethod
    def annotation_name(self, match: re.Match) -> str:
        """The file name of the dot image of the image ``match`` matched."""

    @abc.abstractmethod
    def image_id(self, match: re.Match, path: Path) -> str:
        """The id of the image at ``path``."""

    @abc.abstractmethod
    def dot_mask(self, annotation: Path) -> np.ndarray:
        """Boolean (H, W): the annotated pixels."""

    def _pairs(self, root: Path):
        for path in sorted(Path(root).iterdir()):
            match = self.image_pattern.match(path.name)
            if match:
                yield path, match, path.with_name(self.annotation_name(match))

    def files(self, root: Path) -> list[Path]:
        return sorted(f for image, _, annotation in self._pairs(root) for f in (image, annotation) if f.is_file())

    def parse(self, root: Path) -> list[Record]:
        out = []
        for image, match, annotation in self._pairs(root):
            if not annotation.is_file():
                raise ValueError(f"{self.name}: {image.name} has no annotation {annotation.name}")
            w, h = image_size(image)
            out.append(Record(self.image_id(match, image), image, points_from_dot_mask(self.dot_mask(annotation)), w, h))
        if not out:
            raise ValueError(f"{self.name}: no {self.description} in {root}")
        return out


class VggCellsParser(_DotImageParser):
    """VGG synthetic cells: ``NNNcell.png`` with ``NNNdots.png`` (single red pixels)."""

    name, description = "vgg_cells", "NNNcell.png files"
    image_pattern = re.compile(r"^(\d{3})cell\.png$")

    def annotation_name(self, match: re.Match) -> str:
        return f"{match.group(1)}dots.png"

    def image_id(self, match: re.Match, path: Path) -> str:
        return match.group(1)

    def dot_mask(self, annotation: Path) -> np.ndarray:
        # Dots are pure red (255, 0, 0) and lossless: any red-dominant pixel is one dot.
        return redness(read_rgb(annotation)) > 0


class MbmParser(_DotImageParser):
    """MBM: ``BM_GRAZ_HE_XXXX_YY_ZZZ.png`` with ``..._dots_ZZZ.png`` (non-zero = cell centre)."""

    name, description = "mbm", "BM_GRAZ_HE_*.png images"
    image_pattern = re.compile(r"^(BM_GRAZ_HE_\d+_\d+)_(\d+)\.png$")

    def annotation_name(self, match: re.Match) -> str:
        return f"{match.group(1)}_dots_{match.group(2)}.png"

    def image_id(self, match: re.Match, path: Path) -> str:
        return path.stem

    def dot_mask(self, annotation: Path) -> np.ndarray:
        with Image.open(annotation) as im:
            dots = np.asarray(im)
        return (dots.max(axis=2) if dots.ndim == 3 else dots) > 0


class AdiParser:
    """Adipocytes: ``images/*.jpeg`` with ``annotations/*.jpeg`` (red dots stored as JPEG)."""

    def files(self, root: Path) -> list[Path]:
        root = Path(root)
        return sorted(
            p for sub in ("images", "annotations") for p in (root / sub).glob("*.jpeg")
        )

    def parse(self, root: Path) -> list[Record]:
        root = Path(root)
        out = []
        for p in sorted((root / "images").glob("*.jpeg")):
            ann = root / "annotations" / p.name
            if not ann.is_file():
                raise ValueError(f"adi: {p.name} has no annotation annotations/{p.name}")
            pts = points_from_lossy_dots(redness(read_rgb(ann)))
            w, h = image_size(p)
            out.append(Record(p.stem, p, pts, w, h))
        if not out:
            raise ValueError(f"adi: no images/*.jpeg in {root}")
        return out


# --------------------------------------------------------------------------- user folders
class FolderParser:
    """A user's folder: ``images/<id>.<ext>`` and per image ``points/<id>.csv`` or ``dots/<id>.png``.

    Optional ``split.csv`` (``image_id,split``) fixes the split; otherwise it is drawn with the
    seed. Points outside the image raise, since a user's own file is most likely wrong then.
    """

    def _images(self, root: Path) -> list[Path]:
        d = Path(root) / "images"
        if not d.is_dir():
            raise FileNotFoundError(f"folder dataset: expected an images/ folder in {root}")
        return sorted((p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=natural_key)

    def _annotation(self, root: Path, stem: str) -> Path:
        root = Path(root)
        for cand in (root / "points" / f"{stem}.csv", root / "dots" / f"{stem}.png"):
            if cand.is_file():
                return cand
        raise ValueError(f"folder dataset: image {stem} has neither points/{stem}.csv nor dots/{stem}.png")

    def files(self, root: Path) -> list[Path]:
        root = Path(root)
        out = []
        for img in self._images(root):
            out += [img, self._annotation(root, img.stem)]
        if (root / "split.csv").is_file():
            out.append(root / "split.csv")
        return sorted(out)

    def parse(self, root: Path) -> list[Record]:
        root = Path(root)
        hints = read_split_csv(root / "split.csv") if (root / "split.csv").is_file() else {}
        out = []
        for img in self._images(root):
            ann = self._annotation(root, img.stem)
            w, h = image_size(img)
            if ann.suffix == ".csv":
                pts = read_points_csv(ann)
            else:
                with Image.open(ann) as im:
                    a = np.asarray(im)
                pts = points_from_dot_mask(a.max(axis=2) > 0 if a.ndim == 3 else a > 0)
            bad = (pts[:, 0] < -0.5) | (pts[:, 0] >= w - 0.5) | (pts[:, 1] < -0.5) | (pts[:, 1] >= h - 0.5)
            if bad.any():
                raise ValueError(
                    f"folder dataset: {ann.name}: point {pts[bad][0].tolist()} outside the "
                    f"{w}x{h} image (x in [0, {w - 1}], y in [0, {h - 1}], 0-based)"
                )
            pts, moved = clip_points(pts, w, h)
            out.append(Record(img.stem, img, pts, w, h, hints.get(img.stem), moved))
        if not out:
            raise ValueError(f"folder dataset: no images in {root / 'images'}")
        if len({r.image_id for r in out}) != len(out):
            raise ValueError(f"folder dataset: duplicate image stems in {root / 'images'}")
        return out


PARSERS = {
    "vgg_cells": VggCellsParser(),
    "mbm": MbmParser(),
    "adi": AdiParser(),
    "shanghaitech_a": ShanghaiTechParser("A"),
    "shanghaitech_b": ShanghaiTechParser("B"),
    "ucf_qnrf": UcfQnrfParser(),
    "folder": FolderParser(),
}
