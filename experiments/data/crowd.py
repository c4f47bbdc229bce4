"""Parsers of the crowd sets: head points in MATLAB ``.mat`` files (ShanghaiTech, UCF-QNRF).

MATLAB's coordinates are 1-based; :func:`matlab_to_pixel` maps them onto the project's 0-based
pixels and keeps every point (clipping the few that fall just outside onto the border), so the
published counts stay.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from ..core.prepared import Record
from .annotations import annotation_points, clip_points, image_size, natural_key


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

    try:
        mat = loadmat(path)
    except Exception as err:  # scipy's MatReadError, or whatever its reader trips on in a cut file (IndexError...)
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err}); "
                         f"replace it with the published file") from None
    if key_path not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path.name}: expected variable {key_path!r}, found {keys}")
    v = mat[key_path]
    if key_path == "image_info":
        v = v[0, 0][0, 0][0]
    return annotation_points(v, path.name)


def matlab_to_pixel(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """Convert MATLAB 1-based coordinates to this project's 0-based ones, kept in the image.

    MATLAB tools place pixel ``(1, 1)`` at the top-left centre, so subtracting 1 maps a pixel
    centre onto ours. Points that then fall outside the image are clipped onto the border, never
    dropped, so the count stays the published one. ShanghaiTech B's heads fit another reading
    better (see ``docs/datasets.md``, "Coordinates"): they fill ``[0, W) x [0, H)`` (x from 0.118
    to 1023.949 on 1024-wide images, none beyond ``W``), as a 0-based frame in which pixel ``k``
    spans ``[k, k + 1)`` would, where subtracting 0.5 would map them onto ours; this rule puts
    them half a pixel up and left of that and clips 279 onto the border. The benchmark study was
    prepared with it, so it stays until that study is rerun.
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

    def _complete_pairs(self, root: Path):
        """:meth:`_pairs`, each image's annotation checked to exist.

        Raises:
            ValueError: an image without its ``.mat`` (both named).
        """
        for split, img, gt in self._pairs(root):
            if not gt.is_file():
                raise ValueError(f"{self.name}: {img.name} has no annotation {gt.name} (expected {gt})")
            yield split, img, gt

    def files(self, root: Path) -> list[Path]:
        return sorted(p for _, img, gt in self._complete_pairs(root) for p in (img, gt))

    def parse(self, root: Path) -> list[Record]:
        out = []
        for split, img, gt in self._complete_pairs(root):
            w, h = image_size(img)
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
            for img in sorted((d / "images").glob("IMG_*.jpg"), key=natural_key):
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
