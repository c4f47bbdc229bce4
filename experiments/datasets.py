"""The prepared format: writing it once, and reading it through :func:`load_split`.

Layout of ``<data-dir>/prepared/<name>/``::

    images/<image_id>.<ext>   the published image file, byte for byte (8-bit)
    points/<image_id>.csv     header ``x,y``; one point per row, 0-based pixels, 4 decimals
    split.csv                 header ``image_id,split``; split in train/val/test/unused
    meta.json                 source, content digest, counts, sizes, licence, citation

Coordinates: ``x`` = column, ``y`` = row, 0-based, the centre of pixel (row r, col c) being
(x=c, y=r); every point satisfies ``0 <= x <= W-1`` and ``0 <= y <= H-1``. ``unused`` marks
images of a development pool that the protocol did not draw (VGG cells). Nothing in the folder
depends on time or machine, so preparing twice gives identical bytes.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .fsutil import atomic_dir
from .parsers import Record, read_points_csv

READABLE_SPLITS = ("train", "val", "test", "unused", "all")


@dataclass
class Sample:
    """One prepared image.

    Attributes:
        image_id: id within the dataset.
        image: (H, W) or (H, W, C) uint8 array as published.
        points: (N, 2) float64 array of x (column), y (row), 0-based pixels.
    """

    image_id: str
    image: np.ndarray
    points: np.ndarray


def points_csv_text(points: np.ndarray) -> str:
    """Serialise points as the prepared CSV (header ``x,y``, 4 decimals, ``\\n`` line ends)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return "x,y\n" + "".join(f"{x:.4f},{y:.4f}\n" for x, y in pts)


def split_csv_text(assign: dict[str, str]) -> str:
    """Serialise an id -> split mapping as ``split.csv`` text, in the given id order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "split"])
    w.writerows(assign.items())
    return buf.getvalue()


def write_prepared(
    out_dir: str | Path, records: list[Record], splits: dict[str, list[str]], meta: dict
) -> dict:
    """Write a prepared dataset folder atomically (a temporary folder renamed into place).

    Args:
        out_dir: ``<data-dir>/prepared/<name>``; replaced if it exists.
        records: all parsed images.
        splits: ``{"train": [...], "val": [...], "test": [...]}``; ids in none are ``unused``.
        meta: entries for ``meta.json``; counts and image sizes are added here.

    Returns:
        The complete ``meta`` as written.

    Raises:
        ValueError: a split names an unknown id or an id is in two splits.
    """
    out_dir = Path(out_dir)
    ids = [r.image_id for r in records]
    known = set(ids)
    assign: dict[str, str] = {}
    for split, members in splits.items():
        for i in members:
            if i not in known:
                raise ValueError(f"splits[{split!r}]: unknown image id {i!r}")
            if i in assign:
                raise ValueError(f"splits: image {i!r} is in both {assign[i]!r} and {split!r}")
            assign[i] = split
    ordered = {i: assign.get(i, "unused") for i in ids}

    counts: dict[str, dict[str, int]] = {}
    for r in records:
        for key in (ordered[r.image_id], "all"):
            c = counts.setdefault(key, {"images": 0, "points": 0})
            c["images"] += 1
            c["points"] += int(len(r.points))
    sizes = Counter(f"{r.width}x{r.height}" for r in records)
    meta = dict(meta)
    meta["counts"] = {k: counts.get(k, {"images": 0, "points": 0}) for k in ("train", "val", "test", "unused", "all")}
    meta["image_sizes"] = dict(sorted(sizes.items()))
    meta["points_clipped_into_image"] = int(sum(r.clipped for r in records))

    with atomic_dir(out_dir) as tmp:
        (tmp / "images").mkdir()
        (tmp / "points").mkdir()
        for r in records:
            shutil.copyfile(r.image_path, tmp / "images" / f"{r.image_id}{r.image_path.suffix.lower()}")
            (tmp / "points" / f"{r.image_id}.csv").write_bytes(points_csv_text(r.points).encode())
        (tmp / "split.csv").write_bytes(split_csv_text(ordered).encode())
        (tmp / "meta.json").write_bytes((json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return meta


def read_meta(prepared_dir: str | Path) -> dict:
    """Return the parsed ``meta.json`` of a prepared folder."""
    return json.loads((Path(prepared_dir) / "meta.json").read_text())


def read_image(path: str | Path) -> np.ndarray:
    """Read an 8-bit image as (H, W) or (H, W, C) uint8 (palette images become RGB).

    Raises:
        ValueError: the image is not 8-bit.
    """
    with Image.open(path) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode == "1":
            im = im.convert("L")
        if im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
            raise ValueError(f"{path}: expected an 8-bit image, got PIL mode {im.mode!r}")
        if im.mode in ("CMYK", "YCbCr"):
            im = im.convert("RGB")
        return np.asarray(im).copy()


def load_split(prepared_dir: str | Path, split: str) -> list[Sample]:
    """Load one split of a prepared dataset.

    Args:
        prepared_dir: ``<data-dir>/prepared/<name>``.
        split: ``"train"``, ``"val"``, ``"test"``, ``"unused"`` or ``"all"``.

    Returns:
        Samples in the order of ``split.csv`` (empty if the split has no images).

    Raises:
        ValueError: unknown split.
        FileNotFoundError: ``prepared_dir`` is not a prepared dataset.
    """
    if split not in READABLE_SPLITS:
        raise ValueError(f"split: expected one of {READABLE_SPLITS}, got {split!r}")
    d = Path(prepared_dir)
    split_file = d / "split.csv"
    if not split_file.is_file():
        raise FileNotFoundError(
            f"prepared_dir: {d} has no split.csv; run `python -m experiments.prepare --dataset NAME` first"
        )
    with open(split_file, newline="") as f:
        rows = list(csv.DictReader(f))
    images = {p.stem: p for p in (d / "images").iterdir()}
    out = []
    for row in rows:
        if split != "all" and row["split"] != split:
            continue
        i = row["image_id"]
        out.append(Sample(i, read_image(images[i]), read_points_csv(d / "points" / f"{i}.csv")))
    return out
