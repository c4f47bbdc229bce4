"""Checked readers of image and CSV files: one-line errors naming the file, the line and what to do.

Every reader checks values, not only syntax: an image must decode completely, a coordinate must
be a finite number (inside the image where its size is given), a split name must be a known
one and an id must appear once. Each error ends with ``fix``, the caller's advice (fix the row;
prepare the dataset again...). Used by :mod:`experiments.core.prepared` and by the parsers of
published layouts.
"""

from __future__ import annotations

import csv
import math
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

PREPARED_SPLITS = ("train", "val", "test", "unused")
"""The split names a prepared ``split.csv`` may hold."""
ROW_FIX = "fix or remove that row"
"""What to do about a bad row of a user's CSV file (the default advice of the readers)."""

# What a damaged image file raises inside PIL (missing and unreadable files are not among them:
# those keep their own FileNotFoundError / PermissionError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


def name_some(names, limit: int = 5) -> str:
    """``a, b, c`` for up to ``limit`` names, then ``and N more``.

    Example:
        >>> name_some(["003", "007"])
        '003, 007'
        >>> name_some(range(8), limit=3)
        '0, 1, 2 and 5 more'
    """
    names = list(names)
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------- images
@contextmanager
def decoded_image(path: str | Path, fix: str) -> Iterator[Image.Image]:
    """Open an image and decode all of its pixels, so a damaged file fails here and not later.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is held False meanwhile: a truncated file must fail, never
    come back padded with grey.

    Args:
        path: the image file.
        fix: what the user should do about a damaged file (ends the message).

    Yields:
        The loaded PIL image (closed when the block ends).

    Raises:
        ValueError: the file is empty, not an image PIL can identify, or truncated or corrupt
            (one line: the file, what is wrong, ``fix``).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    im = None
    saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        im = Image.open(path)
        im.load()
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except _DECODE_ERRORS as err:
        if im is not None:
            im.close()
        if path.is_file() and path.stat().st_size == 0:
            what = "the file is empty (0 bytes)"
        elif isinstance(err, UnidentifiedImageError):
            what = "not an image file PIL can identify"
        else:
            what = f"the image does not decode completely ({' '.join(str(err).split()) or type(err).__name__})"
        raise ValueError(f"{path}: {what}; {fix}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    with im:
        yield im


# --------------------------------------------------------------------------- points
def _coordinate(path: Path, line: int, axis: str, text: str | None, fix: str) -> float:
    if text is None or not text.strip():
        raise ValueError(f"{path}, line {line}: no {axis} value; {fix}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}, line {line}: {axis} = {text.strip()!r} is not a number; {fix}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}, line {line}: {axis} = {text.strip()!r} is not a finite number; {fix}")
    return value


def read_points_csv(
    path: str | Path, fix: str = ROW_FIX, size: tuple[int, int] | None = None, slack: float = 0.0
) -> np.ndarray:
    """Read a points CSV: header ``x,y`` (0-based pixels; more columns are ignored), one point per row.

    Args:
        path: the CSV file.
        fix: what the user should do about a bad row or file (ends the message).
        size: ``(width, height)`` of the image the points belong to: then every point must lie
            in ``[-slack, W-1+slack] x [-slack, H-1+slack]``.
        slack: how far outside the pixel centres a point may lie (0: exactly inside).

    Returns:
        (N, 2) float64 x, y.

    Raises:
        ValueError: no ``x,y`` header, not UTF-8 text, or a row with a missing, non-numeric,
            non-finite or out-of-image value (the message names the file and the line).
    """
    path = Path(path)
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"x", "y"} <= set(reader.fieldnames):
                raise ValueError(
                    f"{path}: expected a header line with columns x,y, got {reader.fieldnames}; {fix}"
                )
            for r in reader:
                line = reader.line_num
                rows.append((_coordinate(path, line, "x", r["x"], fix), _coordinate(path, line, "y", r["y"], fix)))
                lines.append(line)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; {fix}") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file ({err}); {fix}") from None
    pts = np.array(rows, dtype=np.float64).reshape(-1, 2)
    if size is not None and len(pts):
        w, h = size
        bad = (pts[:, 0] < -slack) | (pts[:, 0] > w - 1 + slack) | (pts[:, 1] < -slack) | (pts[:, 1] > h - 1 + slack)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"{path}, line {lines[k]}: point x={pts[k, 0]:g}, y={pts[k, 1]:g} lies outside the "
                f"{w}x{h} image (expected 0 <= x <= {w - 1}, 0 <= y <= {h - 1}, 0-based pixels); {fix}"
            )
    return pts


# --------------------------------------------------------------------------- split.csv
def read_split_csv(
    path: str | Path, allowed: tuple[str, ...] = PREPARED_SPLITS, fix: str = ROW_FIX
) -> dict[str, str]:
    """Read a split file (header ``image_id,split``) into an id -> split mapping.

    Args:
        path: the CSV file.
        allowed: the split names it may use.
        fix: what the user should do about a bad row or file (ends the message).

    Raises:
        ValueError: no ``image_id,split`` header, not UTF-8 text, an empty id, a split name not in
            ``allowed`` or an id listed twice (the message names the file and the line).
    """
    path = Path(path)
    out: dict[str, str] = {}
    line_of: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"image_id", "split"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: expected a header line image_id,split, got {reader.fieldnames}; {fix}")
            for r in reader:
                line, image_id, split = reader.line_num, (r["image_id"] or "").strip(), (r["split"] or "").strip()
                if not image_id:
                    raise ValueError(f"{path}, line {line}: no image_id; {fix}")
                if split not in allowed:
                    raise ValueError(
                        f"{path}, line {line}: split {split!r} of image {image_id!r} is not one of "
                        f"{', '.join(allowed)}; {fix}"
                    )
                if image_id in out:
                    raise ValueError(
                        f"{path}, line {line}: image {image_id!r} is listed again (first on line "
                        f"{line_of[image_id]}); {fix}"
                    )
                out[image_id], line_of[image_id] = split, line
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; {fix}") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file ({err}); {fix}") from None
    return out
