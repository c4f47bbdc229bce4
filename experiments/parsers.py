"""Parsers: read each published dataset layout into image records with 0-based point lists.

Coordinate convention everywhere: ``x`` = column, ``y`` = row, 0-based, in pixels, where the
centre of pixel ``(row r, col c)`` is ``(x=c, y=r)``. A point's pixel is ``floor(v + 0.5)``.

Each parser has two methods: ``files(root)`` lists the published files it uses (the set the
content digest covers) and ``parse(root)`` returns :class:`Record` objects sorted by id.
"""

from __future__ import annotations

import abc

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class Record:
    """One published image and its annotation.

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


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def _as_points(arr, what: str) -> np.ndarray:
    pts = np.asarray(arr, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2), np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise ValueError(f"{what}: expected an (N, 2) array of x, y, got shape {pts.shape}")
    return pts[:, :2].copy()


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


# --------------------------------------------------------------------------- dot images
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
            r = int(np.floor((rr * comp).sum() / w + 0.5)) + sl[0].start
            c = int(np.floor((cc * comp).sum() / w + 0.5)) + sl[1].start
            pts.append((c, r))
        else:
            flat = np.argsort(-comp, axis=None, kind="stable")[:k]
            for rr, cc in zip(*np.unravel_index(flat, comp.shape)):
                pts.append((cc + sl[1].start, rr + sl[0].start))
    return np.array(sorted(pts, key=lambda p: (p[1], p[0])), dtype=np.float64).reshape(-1, 2)


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------- cell sets
class VggCellsParser:
    """VGG synthetic cells: ``NNNcell.png`` with ``NNNdots.png`` (single red pixels)."""

    _pat = re.compile(r"^(\d{3})cell\.png$")

    def files(self, root: Path) -> list[Path]:
        root = Path(root)
        return sorted(
            [p for p in root.iterdir() if re.match(r"^\d{3}(cell|dots)\.png$", p.name)]
        )

    def parse(self, root: Path) -> list[Record]:
        root = Path(root)
        out = []
        for p in sorted(root.iterdir()):
            m = self._pat.match(p.name)
            if not m:
                continue
            dots_path = root / f"{m.group(1)}dots.png"
            if not dots_path.is_file():
                raise ValueError(f"vgg_cells: {p.name} has no annotation {dots_path.name}")
            dots = _read_rgb(dots_path)
            # Dots are pure red (255, 0, 0) and lossless: any red-dominant pixel is one dot.
            pts = points_from_dot_mask(redness(dots) > 0)
            w, h = _image_size(p)
            out.append(Record(m.group(1), p, pts, w, h))
        if not out:
            raise ValueError(f"vgg_cells: no NNNcell.png files in {root}")
        return out


class MbmParser:
    """MBM: ``BM_GRAZ_HE_XXXX_YY_ZZZ.png`` with ``..._dots_ZZZ.png`` (non-zero = cell centre)."""

    _pat = re.compile(r"^(BM_GRAZ_HE_\d+_\d+)_(\d+)\.png$")

    def files(self, root: Path) -> list[Path]:
        root = Path(root)
        return sorted(p for p in root.iterdir() if p.name.startswith("BM_GRAZ_HE_") and p.suffix == ".png")

    def parse(self, root: Path) -> list[Record]:
        root = Path(root)
        out = []
        for p in sorted(root.iterdir()):
            m = self._pat.match(p.name)
            if not m:
                continue
            dots_path = root / f"{m.group(1)}_dots_{m.group(2)}.png"
            if not dots_path.is_file():
                raise ValueError(f"mbm: {p.name} has no annotation {dots_path.name}")
            with Image.open(dots_path) as im:
                dots = np.asarray(im)
            if dots.ndim == 3:
                dots = dots.max(axis=2)
            pts = points_from_dot_mask(dots > 0)
            w, h = _image_size(p)
            out.append(Record(p.stem, p, pts, w, h))
        if not out:
            raise ValueError(f"mbm: no BM_GRAZ_HE_*.png images in {root}")
        return out


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
            pts = points_from_lossy_dots(redness(_read_rgb(ann)))
            w, h = _image_size(p)
            out.append(Record(p.stem, p, pts, w, h))
        if not out:
            raise ValueError(f"adi: no images/*.jpeg in {root}")
        return out


# --------------------------------------------------------------------------- crowd sets
def load_mat_points(path: Path, key_path: str) -> np.ndarray:
    """Read an (N, 2) x, y array from a MATLAB v5 .mat file.

    Args:
        path: the .mat file.
        key_path: ``"image_info"`` (ShanghaiTech: ``image_info[0,0][0,0][0]``) or a plain
            variable name such as ``"annPoints"`` (UCF-QNRF).

    Returns:
        (N, 2) float64 x, y exactly as stored (1-based MATLAB coordinates).
    """
    from scipy.io import loadmat

    mat = loadmat(path)
    if key_path not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path.name}: expected variable {key_path!r}, found {keys}")
    v = mat[key_path]
    if key_path == "image_info":
        v = v[0, 0][0, 0][0]
    return _as_points(v, path.name)


def matlab_to_pixel(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """Convert MATLAB 1-based coordinates to this project's 0-based ones, kept in the image.

    MATLAB tools place pixel ``(1, 1)`` at the top-left centre, so subtracting 1 maps a pixel
    centre onto ours. Annotations at the very edge can fall up to about a pixel outside
    (e.g. ``x = 0.5`` or ``x = W + 0.3``); those are clipped onto the border, never dropped, so
    the count stays the published one.
    """
    return clip_points(np.asarray(points, np.float64) - 1.0, width, height)


def resolve_shanghaitech_root(path: Path, part: str) -> Path:
    """Find the ``part_X`` folder (holding ``train_data`` and ``test_data``) under ``path``.

    Accepts the ``part_X`` folder itself, a ``ShanghaiTech`` folder holding it, a parent
    holding ``ShanghaiTech/``, and the ``part_X_final`` spelling of some copies.

    Raises:
        FileNotFoundError: nothing matching below ``path``.
    """
    path = Path(path)
    names = (f"part_{part}", f"part_{part}_final")
    cands = [path]
    for base in (path, path / "ShanghaiTech", path / "ShanghaiTech_Crowd_Counting_Dataset"):
        cands += [base / n for n in names]
    for c in cands:
        if (c / "train_data").is_dir() or (c / "test_data").is_dir():
            return c
    raise FileNotFoundError(
        f"shanghaitech part {part}: no folder with train_data/ and test_data/ found in {path}; "
        f"expected ShanghaiTech/part_{part}/{{train_data,test_data}}/{{images,ground-truth}}"
    )


class _MatAnnotatedParser(abc.ABC):
    """Shared part of the crowd parsers: (split, image, .mat) pairs -> records.

    Subclasses give ``name``, ``mat_key`` (the path to the (N, 2) array inside the .mat)
    and ``_pairs(root)``.
    """

    name = ""
    mat_key = ""

    @abc.abstractmethod
    def _pairs(self, root: Path):
        """Yield ``(split, image_path, mat_path)`` for every image under ``root``."""

    def files(self, root: Path) -> list[Path]:
        return sorted(p for _, img, gt in self._pairs(root) for p in (img, gt))

    def parse(self, root: Path) -> list[Record]:
        out = []
        for split, img, gt in self._pairs(root):
            if not gt.is_file():
                raise ValueError(f"{self.name}: {img.name} has no annotation {gt.name}")
            w, h = _image_size(img)
            pts, moved = matlab_to_pixel(load_mat_points(gt, self.mat_key), w, h)
            out.append(Record(f"{split}_{img.stem}", img, pts, w, h, split, moved))
        if not out:
            raise ValueError(f"{self.name}: no images found under {root}")
        return out


class ShanghaiTechParser(_MatAnnotatedParser):
    """ShanghaiTech part A or B: ``{train,test}_data/images/IMG_n.jpg`` + ``ground-truth/GT_IMG_n.mat``.

    ``root`` may be a parent of ``ShanghaiTech/``, ``ShanghaiTech/``, the ``part_X`` folder, or
    a single ``train_data``/``test_data`` folder. Each .mat holds ``image_info[0,0][0,0][0]``,
    an (N, 2) array of x, y in MATLAB's 1-based convention; see :func:`matlab_to_pixel`. Ids
    are ``train_IMG_n`` / ``test_IMG_n`` because numbering restarts in each split.
    """

    mat_key = "image_info"

    def __init__(self, part: str):
        if part not in ("A", "B"):
            raise ValueError(f"part: expected 'A' or 'B', got {part!r}")
        self.part = part
        self.name = f"shanghaitech part {part}"

    def _pairs(self, root: Path):
        root = Path(root)
        if (root / "images").is_dir() and (root / "ground-truth").is_dir():
            # A single split folder (e.g. only test_data/ of a held-out copy).
            split = "train" if root.name.startswith("train") else "test"
            dirs = [(split, root)]
        else:
            root = resolve_shanghaitech_root(root, self.part)
            dirs = [(s, root / f"{s}_data") for s in ("train", "test")]
        for split, d in dirs:
            for img in sorted((d / "images").glob("IMG_*.jpg"), key=_natural_key):
                yield split, img, d / "ground-truth" / f"GT_{img.stem}.mat"


class UcfQnrfParser(_MatAnnotatedParser):
    """UCF-QNRF: ``{Train,Test}/img_XXXX.jpg`` with ``img_XXXX_ann.mat`` (``annPoints``)."""

    name = "ucf_qnrf"
    mat_key = "annPoints"

    def _pairs(self, root: Path):
        root = Path(root)
        if not (root / "Train").is_dir() and (root / "UCF-QNRF_ECCV18").is_dir():
            root = root / "UCF-QNRF_ECCV18"
        for split in ("Train", "Test"):
            for img in sorted((root / split).glob("img_*.jpg")):
                yield split.lower(), img, img.with_name(f"{img.stem}_ann.mat")


# --------------------------------------------------------------------------- user folders
def read_points_csv(path: Path) -> np.ndarray:
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


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def read_split_csv(path: Path) -> dict[str, str]:
    """Read a split file (header ``image_id,split``) into an id -> split mapping."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"image_id", "split"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header image_id,split, got {reader.fieldnames}")
        return {r["image_id"]: r["split"] for r in reader}


class FolderParser:
    """A user's folder: ``images/<id>.<ext>`` and per image ``points/<id>.csv`` or ``dots/<id>.png``.

    Optional ``split.csv`` (``image_id,split``) fixes the split; otherwise it is drawn with the
    seed. Points outside the image raise, since a user's own file is most likely wrong then.
    """

    def _images(self, root: Path) -> list[Path]:
        d = Path(root) / "images"
        if not d.is_dir():
            raise FileNotFoundError(f"folder dataset: expected an images/ folder in {root}")
        return sorted((p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key)

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
            w, h = _image_size(img)
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
