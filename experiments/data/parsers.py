"""Parsers: read each published dataset layout into image records with 0-based point lists.

Coordinates as everywhere in the project (:mod:`tghem.points`): ``x`` = column,
``y`` = row, 0-based, in pixels.

Each parser has two methods: ``files(root)`` lists the published files it uses (the set the
content digest covers) and ``parse(root)`` returns :class:`Record` objects sorted by id.
"""

from __future__ import annotations

import abc
import re
from pathlib import Path

import numpy as np

from ..core.prepared import Record, name_some, read_points_csv, read_split_csv
from .annotations import (
    clip_points,
    dot_image_mask,
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
        return dot_image_mask(annotation)


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
FOLDER_SPLITS = ("train", "val", "test")
"""The split names a user's ``split.csv`` may hold."""


class FolderParser:
    """A user's folder: ``images/<id>.<ext>`` and per image ``points/<id>.csv`` or ``dots/<id>.png``.

    Optional ``split.csv`` (``image_id,split``) fixes the split of the images it lists; the
    others are drawn with the seed. Points outside the image raise, since a user's own file is
    most likely wrong then; so do annotations and split rows naming images that ``images/``
    lacks, and images without an annotation.
    """

    def _images(self, root: Path) -> list[Path]:
        d = Path(root) / "images"
        if not d.is_dir():
            raise FileNotFoundError(f"folder dataset: expected an images/ folder in {root}")
        # Hidden files (.x.png: editor or OS leftovers) are skipped here as every reader skips them.
        images = sorted((p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")),
                        key=natural_key)
        if not images:
            raise ValueError(f"folder dataset: no images ({', '.join(IMAGE_EXTENSIONS)}) in {d}")
        return images

    def _annotation(self, root: Path, stem: str) -> Path:
        root = Path(root)
        for cand in (root / "points" / f"{stem}.csv", root / "dots" / f"{stem}.png"):
            if cand.is_file():
                return cand
        raise ValueError(
            f"folder dataset: image {root / 'images' / stem}.* has neither points/{stem}.csv nor "
            f"dots/{stem}.png in {root}; add its annotation or remove the image"
        )

    def files(self, root: Path) -> list[Path]:
        root = Path(root)
        out = []
        for img in self._images(root):
            out += [img, self._annotation(root, img.stem)]
        if (root / "split.csv").is_file():
            out.append(root / "split.csv")
        return sorted(out)

    def split_hints(self, root: Path, ids: list[str]) -> dict[str, str]:
        """The split of each image ``split.csv`` lists (empty without one).

        Raises:
            ValueError: a bad row, or rows naming images that ``images/`` lacks.
        """
        path = Path(root) / "split.csv"
        if not path.is_file():
            return {}
        hints = read_split_csv(path, FOLDER_SPLITS)
        unknown = [i for i in hints if i not in set(ids)]
        if unknown:
            raise ValueError(
                f"{path}: names images that {Path(root) / 'images'} lacks: {name_some(unknown)}; "
                f"remove those rows or add the images"
            )
        return hints

    def _check_orphans(self, root: Path, ids: set[str]) -> None:
        for sub, suffix in (("points", ".csv"), ("dots", ".png")):
            d = Path(root) / sub
            orphans = sorted(p.name for p in d.glob(f"*{suffix}") if p.stem not in ids and not p.name.startswith(".")) \
                if d.is_dir() else []
            if orphans:
                raise ValueError(
                    f"{d}: annotations of images that {Path(root) / 'images'} lacks: {name_some(orphans)}; "
                    f"add the images or remove those files"
                )

    def parse(self, root: Path) -> list[Record]:
        root = Path(root)
        images = self._images(root)
        stems: dict[str, Path] = {}
        for img in images:
            if img.stem in stems:
                raise ValueError(
                    f"folder dataset: {stems[img.stem].name} and {img.name} in {root / 'images'} share the id "
                    f"{img.stem!r}; rename or remove one"
                )
            stems[img.stem] = img
        self._check_orphans(root, set(stems))
        hints = self.split_hints(root, list(stems))
        out = []
        for img in images:
            ann = self._annotation(root, img.stem)
            w, h = image_size(img)
            if ann.suffix == ".csv":
                # Half a pixel of slack: a point still falls on a pixel of the image, and is clipped.
                pts = read_points_csv(ann, size=(w, h), slack=0.5)
            else:
                mask = dot_image_mask(ann)
                if mask.shape != (h, w):
                    raise ValueError(
                        f"{ann}: the dot image is {mask.shape[1]}x{mask.shape[0]}, its image {img.name} "
                        f"{w}x{h}; expected the same size"
                    )
                pts = points_from_dot_mask(mask)
            pts, moved = clip_points(pts, w, h)
            out.append(Record(img.stem, img, pts, w, h, hints.get(img.stem), moved))
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
