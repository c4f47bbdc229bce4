"""The prepared format: where a prepared dataset lives, how it is written once, and how it is read.

Layout of ``<data-dir>/prepared/<name>/`` (:func:`prepared_dir`)::

    images/<image_id>.<ext>   the published image file, byte for byte (8-bit)
    points/<image_id>.csv     header ``x,y``; one point per row, 0-based pixels, 4 decimals
    split.csv                 header ``image_id,split``; split in train/val/test/unused
    meta.json                 source, content digest, counts, sizes, licence, citation

Coordinates as everywhere in the project (:mod:`tghem.points`): ``x`` = column,
``y`` = row, 0-based; every point satisfies ``0 <= x <= W-1`` and ``0 <= y <= H-1``. ``unused``
marks images of a development pool that the protocol did not draw (VGG cells). Nothing in the
folder depends on time or machine, so preparing twice gives identical bytes.

Writers (:func:`write_prepared`, the CSV texts) are used by ``prepare`` only; every later stage
reads through :func:`require_prepared`, :func:`load_split`, :func:`read_meta` and the readers
here, never by building paths of its own. The readers check values, not only syntax (finite
points inside the image, known split names and ids, images that decode completely) and fail
with one line naming the file and what to do.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .depth import copy_as_8bit
from .outputs import atomic_dir
# The checked readers are part of the prepared format: callers import them from here.
from .readers import PREPARED_SPLITS, ROW_FIX, decoded_image, name_some, read_points_csv, read_split_csv  # noqa: F401

READABLE_SPLITS = ("train", "val", "test", "unused", "all")
PREPARED = "prepared"
"""The folder of prepared datasets inside a data folder."""
PREPARED_ENTRIES = frozenset({"images", "points", "split.csv", "meta.json"})
"""What a prepared folder holds (besides its marker): how one written before markers is recognised."""
DATASET_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
"""A dataset's name: one folder name below ``prepared/`` (no path: ``../x`` would leave it)."""


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


def prepared_dir(data_dir: str | Path, name: str, option: str = "--dataset") -> Path:
    """``<data_dir>/prepared/<name>``: where dataset ``name`` is prepared (the name checked against
    :data:`DATASET_NAME`, ``option`` naming it in the error; the folder not)."""
    if not isinstance(name, str) or not re.fullmatch(DATASET_NAME, name):
        raise ValueError(f"{option}: expected a folder name of letters, digits, '.', '_' or '-', got {name!r}")
    return Path(data_dir) / PREPARED / name


def reprepare_hint(prepared: str | Path) -> str:
    """The advice for a damaged prepared folder: the command that prepares it again."""
    prepared = Path(prepared)
    return (f"prepare it again: python -m experiments.prepare --dataset {prepared.name} "
            f"--data-dir {prepared.parent.parent} (with the --source/--mirror it came from)")


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


# --------------------------------------------------------------------------- files
def points_csv_text(points: np.ndarray) -> str:
    """Serialise points as the prepared CSV (header ``x,y``, 4 decimals, ``\\n`` line ends)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return "x,y\n" + "".join(f"{x:.4f},{y:.4f}\n" for x, y in pts)


def split_csv_text(assign: dict[str, str]) -> str:
    """Serialise an id -> split mapping as ``split.csv`` text, in the given id order."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([("image_id", "split"), *assign.items()])
    return buf.getvalue()


def read_image(path: str | Path, fix: str | None = None) -> np.ndarray:
    """Read an 8-bit image as (H, W) or (H, W, C) uint8 (palette images become RGB).

    Args:
        path: image file (in a prepared folder unless ``fix`` says otherwise).
        fix: advice for a damaged file (default: prepare the dataset again).

    Raises:
        ValueError: the image is damaged (see :func:`decoded_image`) or not 8-bit.
    """
    path = Path(path)
    fix = fix or reprepare_hint(path.parent.parent)
    with decoded_image(path, fix) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode == "1":
            im = im.convert("L")
        if im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
            raise ValueError(f"{path}: expected an 8-bit image, got PIL mode {im.mode!r}")
        if im.mode in ("CMYK", "YCbCr"):
            im = im.convert("RGB")
        return np.asarray(im).copy()


# --------------------------------------------------------------------------- writing
def _check_records(records: list[Record]) -> None:
    seen: dict[str, Path] = {}
    for r in records:
        if r.image_id.startswith(".") or "/" in r.image_id or not r.image_id:
            raise ValueError(f"records: image id {r.image_id!r} of {r.image_path} would be a hidden or misplaced "
                             f"file; rename the image")
        if r.image_id in seen:
            raise ValueError(f"records: image id {r.image_id!r} of {r.image_path} is also the id of {seen[r.image_id]}")
        seen[r.image_id] = r.image_path
        pts = np.asarray(r.points, np.float64).reshape(-1, 2)
        bad = ~np.isfinite(pts).all(axis=1) | (pts[:, 0] < 0) | (pts[:, 0] > r.width - 1) | (pts[:, 1] < 0) | (pts[:, 1] > r.height - 1)
        if bad.any():
            raise ValueError(
                f"{r.image_path}: point {pts[bad][0].tolist()} of its annotation is not a finite point of the "
                f"{r.width}x{r.height} image; fix the annotation"
            )


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
        ValueError: a split names an unknown id or an id is in two splits, two records share
            an id, or a record holds a non-finite point or one outside its image.
    """
    out_dir = Path(out_dir)
    _check_records(records)
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

    with atomic_dir(out_dir, "prepare", "--data-dir", PREPARED_ENTRIES.__eq__) as tmp:
        (tmp / "images").mkdir()
        (tmp / "points").mkdir()
        for r in records:
            copy_as_8bit(r.image_path, tmp / "images", r.image_id)
            (tmp / "points" / f"{r.image_id}.csv").write_bytes(points_csv_text(r.points).encode())
        (tmp / "split.csv").write_bytes(split_csv_text(ordered).encode())
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"
        (tmp / "meta.json").write_bytes(text.encode())
    return meta


# --------------------------------------------------------------------------- reading
def _reject_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_meta(path: Path, meta: dict, fix: str) -> None:
    """The values later stages use: radii, the content digest, the counts."""
    def bad(key, value, expected):
        raise ValueError(f"{path}: {key} = {value!r}, expected {expected}; {fix}")

    if "match_radius" in meta and not (_is_number(meta["match_radius"]) and meta["match_radius"] > 0):
        bad("match_radius", meta["match_radius"], "a positive number of pixels")
    m = meta.get("mask_radius", DEFAULT_MASK_RADIUS)
    if m != "adaptive" and not (_is_number(m) and m >= 0):
        bad("mask_radius", m, "a non-negative number of pixels or 'adaptive'")
    d = meta.get("content_digest", "0" * 64)
    if not (isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d)):
        bad("content_digest", d, "64 lowercase hex digits (a sha256)")
    for split, c in (meta.get("counts") or {}).items():
        ok = isinstance(c, dict) and all(
            isinstance(c.get(k), int) and not isinstance(c.get(k), bool) and c[k] >= 0 for k in ("images", "points")
        )
        if not ok:
            bad(f"counts.{split}", c, "{'images': N, 'points': M} with non-negative ints")


DEFAULT_MASK_RADIUS = 3
"""The mask radius of a dataset whose ``meta.json`` records none (the registry's default too)."""


def setting_or_dataset(value, meta: dict, key: str, setting: str, default=None):
    """A setting that defaults to its dataset's value: ``value`` when set (not None), else ``meta[key]``,
    else ``default``.

    The one rule for ``data.mask_radius`` (default :data:`DEFAULT_MASK_RADIUS`, for a ``meta.json``
    that records none) and ``eval.match_radius`` (no default: an error).

    Raises:
        ValueError: neither the setting nor the dataset gives a value, and there is no default.

    Example:
        >>> setting_or_dataset(None, {"match_radius": 8.0}, "match_radius", "eval.match_radius")
        8.0
        >>> setting_or_dataset(2, {"mask_radius": 5}, "mask_radius", "data.mask_radius")
        2
        >>> setting_or_dataset(None, {}, "mask_radius", "data.mask_radius", default=DEFAULT_MASK_RADIUS)
        3
    """
    if value is not None:
        return value
    if key in meta:
        return meta[key]
    if default is not None:
        return default
    raise ValueError(f"{setting}: the dataset's meta.json records none; set {setting}")


def read_meta(prepared: str | Path) -> dict:
    """Return the parsed ``meta.json`` of a prepared folder, checked.

    Raises:
        FileNotFoundError: no ``meta.json``.
        ValueError: not UTF-8 JSON holding an object, a NaN or infinite number, or a radius,
            content digest or count of the wrong type or range (one line naming the file and the
            command that prepares the dataset again).
    """
    prepared = Path(prepared)
    path, fix = prepared / "meta.json", reprepare_hint(prepared)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; {fix}")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; {fix}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); {fix}") from None
    except ValueError as err:
        raise ValueError(f"{path}: {err}; {fix}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}; {fix}")
    _check_meta(path, meta, fix)
    return meta


def image_file(prepared: str | Path, image_id: str) -> Path:
    """The file of image ``image_id`` in a prepared folder: ``images/<image_id>.<suffix>``, the id
    matched exactly (not as a pattern: ids ``a`` and ``a.b``, or ``img[1]``, are told apart).

    Raises:
        FileNotFoundError: no such image.
    """
    prepared = Path(prepared)
    images = prepared / "images"
    found = sorted(p for p in images.iterdir() if p.stem == image_id and not p.name.startswith(".")) \
        if images.is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"{prepared / 'images' / image_id}.*: no such image; prepare the dataset again with "
            f"`python -m experiments.prepare --dataset {prepared.name} --data-dir {prepared.parent.parent}`"
        )
    return found[0]


def _files_by_id(folder: Path, fix: str, suffix: str | None = None) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; {fix}")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or (suffix is not None and p.suffix != suffix):
            continue
        if p.stem in out:
            raise ValueError(f"{folder}: two files for image {p.stem!r} ({out[p.stem].name}, {p.name}); {fix}")
        out[p.stem] = p
    return out


def _check_listing(d: Path, rows: dict[str, str], images: dict, points: dict, fix: str) -> None:
    """split.csv, images/ and points/ name the same ids."""
    checks = (
        (d / "split.csv", "names images that", d / "images", [i for i in rows if i not in images]),
        (d / "images", "holds images that", d / "split.csv", [i for i in images if i not in rows]),
        (d / "split.csv", "names images whose points files", d / "points", [i for i in rows if i not in points]),
        (d / "points", "holds points files of images that", d / "split.csv", [i for i in points if i not in rows]),
    )
    for where, what, other, ids in checks:
        if ids:
            raise ValueError(f"{where}: {what} {other} lacks: {name_some(ids)}; {fix}")


def load_split(prepared: str | Path, split: str) -> list[Sample]:
    """Load one split of a prepared dataset, checked.

    Args:
        prepared: ``<data-dir>/prepared/<name>`` (:func:`prepared_dir`).
        split: ``"train"``, ``"val"``, ``"test"``, ``"unused"`` or ``"all"``.

    Returns:
        Samples in the order of ``split.csv`` (empty if the split has no images).

    Raises:
        ValueError: unknown split; a ``split.csv`` row with an unknown split name or an id
            listed twice; ids that ``split.csv``, ``images/`` and ``points/`` do not all hold; an
            image that does not decode; a points row that is not a finite point inside its
            image. Each message names the file and the command that prepares the dataset again.
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
    fix = reprepare_hint(d)
    rows = read_split_csv(split_file, PREPARED_SPLITS, fix)
    images = _files_by_id(d / "images", fix)
    points = _files_by_id(d / "points", fix, ".csv")
    _check_listing(d, rows, images, points, fix)
    out = []
    for i, s in rows.items():
        if split == "all" or s == split:
            image = read_image(images[i], fix)
            h, w = image.shape[:2]
            out.append(Sample(i, image, read_points_csv(points[i], fix, size=(w, h))))
    return out
