"""The prepared format: where a prepared dataset lives, how it is written once, and how it is read.

Layout of ``<data-dir>/prepared/<name>/`` (:func:`prepared_dir`)::

    images/<image_id>.<ext>   the published image file, byte for byte (8-bit)
    points/<image_id>.csv     header ``x,y``; one point per row, 0-based pixels, 4 decimals
    split.csv                 header ``image_id,split``; split in train/val/test/unused
    meta.json                 source, content digest, counts, sizes, licence, citation

Coordinates as everywhere in the project (:mod:`experiments.core.points`): ``x`` = column,
``y`` = row, 0-based; every point satisfies ``0 <= x <= W-1`` and ``0 <= y <= H-1``. ``unused``
marks images of a development pool that the protocol did not draw (VGG cells). Nothing in the
folder depends on time or machine, so preparing twice gives identical bytes.

Writers (:func:`write_prepared`, the CSV texts) are used by ``prepare`` only; every later stage
reads through :func:`require_prepared`, :func:`load_split`, :func:`read_meta` and the readers
here, never by building paths of its own.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .fsutil import atomic_dir

READABLE_SPLITS = ("train", "val", "test", "unused", "all")
PREPARED = "prepared"
"""The folder of prepared datasets inside a data folder."""


@dataclass
class Record:
    """One published image and its annotation, as a parser reads it (the input of :func:`write_prepared`).

    Attributes:
        image_id: unique id within the dataset (used as the prepared file stem).
        image_path: the published image file.
        points: (N, 2) float64 array of x, y (0-based pixels), all inside the image.
        width: image width in pixels.
        height: image height in pixels.
        split_hint: the published split ("train"/"test"/...) where the layout defines one.
        clipped: number of points moved into the image by the parser.
    """

    image_id: str
    image_path: Path
    points: np.ndarray
    width: int
    height: int
    split_hint: str | None = None
    clipped: int = field(default=0)


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


def prepared_dir(data_dir: str | Path, name: str) -> Path:
    """``<data_dir>/prepared/<name>``: where dataset ``name`` is prepared (not checked)."""
    return Path(data_dir) / PREPARED / name


def require_prepared(data_dir: str | Path, name: str) -> Path:
    """:func:`prepared_dir`, checked to hold a prepared dataset.

    Raises:
        FileNotFoundError: not prepared yet (the message gives the command that prepares it).
    """
    path = prepared_dir(data_dir, name)
    if not (path / "split.csv").is_file():
        raise FileNotFoundError(
            f"--data-dir: {path} is not a prepared dataset; run "
            f"`python -m experiments.prepare --dataset {name} --data-dir {data_dir}` first"
        )
    return path


def points_csv_text(points: np.ndarray) -> str:
    """Serialise points as the prepared CSV (header ``x,y``, 4 decimals, ``\\n`` line ends)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return "x,y\n" + "".join(f"{x:.4f},{y:.4f}\n" for x, y in pts)


def read_points_csv(path: str | Path) -> np.ndarray:
    """Read a points CSV: header ``x,y`` (0-based pixels), one point per row.

    Raises:
        ValueError: missing ``x``/``y`` columns or a non-numeric value.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"x", "y"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with columns x,y, got {reader.fieldnames}")
        rows = [(float(r["x"]), float(r["y"])) for r in reader]
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def split_csv_text(assign: dict[str, str]) -> str:
    """Serialise an id -> split mapping as ``split.csv`` text, in the given id order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "split"])
    w.writerows(assign.items())
    return buf.getvalue()


def read_split_csv(path: str | Path) -> dict[str, str]:
    """Read a split file (header ``image_id,split``) into an id -> split mapping."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"image_id", "split"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header image_id,split, got {reader.fieldnames}")
        return {r["image_id"]: r["split"] for r in reader}


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


def read_meta(prepared: str | Path) -> dict:
    """Return the parsed ``meta.json`` of a prepared folder."""
    return json.loads((Path(prepared) / "meta.json").read_text())


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


def image_file(prepared: str | Path, image_id: str) -> Path:
    """The file of image ``image_id`` in a prepared folder.

    Raises:
        FileNotFoundError: no such image.
    """
    prepared = Path(prepared)
    found = sorted((prepared / "images").glob(f"{image_id}.*")) if (prepared / "images").is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"{prepared / 'images' / image_id}.*: no such image; prepare the dataset again with "
            f"`python -m experiments.prepare --dataset {prepared.name} --data-dir {prepared.parent.parent}`"
        )
    return found[0]


def load_split(prepared: str | Path, split: str) -> list[Sample]:
    """Load one split of a prepared dataset.

    Args:
        prepared: ``<data-dir>/prepared/<name>`` (:func:`prepared_dir`).
        split: ``"train"``, ``"val"``, ``"test"``, ``"unused"`` or ``"all"``.

    Returns:
        Samples in the order of ``split.csv`` (empty if the split has no images).

    Raises:
        ValueError: unknown split.
        FileNotFoundError: ``prepared`` is not a prepared dataset.
    """
    if split not in READABLE_SPLITS:
        raise ValueError(f"split: expected one of {READABLE_SPLITS}, got {split!r}")
    d = Path(prepared)
    split_file = d / "split.csv"
    if not split_file.is_file():
        raise FileNotFoundError(
            f"prepared_dir: {d} has no split.csv; run `python -m experiments.prepare --dataset NAME` first"
        )
    rows = read_split_csv(split_file)
    images = {p.stem: p for p in (d / "images").iterdir()}
    return [
        Sample(i, read_image(images[i]), read_points_csv(d / "points" / f"{i}.csv"))
        for i, s in rows.items()
        if split == "all" or s == split
    ]
