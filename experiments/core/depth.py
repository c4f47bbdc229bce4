"""Images deeper than 8 bits (16-bit microscopy, 32-bit integers, floats) made 8-bit at prepare
time, by one stated rule (:func:`to_8bit`), since every later stage reads 8-bit images
(:func:`experiments.core.prepared.read_image`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .readers import decoded_image

EIGHT_BIT_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr")
"""PIL modes :func:`read_image` reads (8 bits per channel)."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_depth(path: Path) -> tuple[int, int] | None:
    """``(bit depth, colour type)`` from a PNG file's header, None for a file that is not a PNG.

    Pillow opens a 16-bit colour PNG as 8-bit ``"RGB"``/``"RGBA"`` (keeping each sample's high
    byte), so its mode alone cannot tell such a file from an 8-bit one.
    """
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def to_8bit(values: np.ndarray) -> np.ndarray:
    """An image of more than 8 bits (16-bit or 32-bit integers, floats) as uint8: its own range
    ``[min, max]`` stretched linearly onto ``[0, 255]`` and rounded (a constant image gives 0).

    Example:
        >>> to_8bit(np.array([[1000, 3000], [2000, 1000]], np.uint16)).tolist()
        [[0, 255], [128, 0]]
    """
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).all():
        raise ValueError("the image holds NaN or infinite pixels")
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def copy_as_8bit(src: Path, folder: Path, image_id: str) -> Path:
    """Copy image ``src`` into ``folder`` as ``<image_id><suffix>``; one that is not 8-bit (16-bit
    microscopy, float) is converted by :func:`to_8bit` and written as ``<image_id>.png``, since
    the later stages read 8-bit images (:func:`read_image`).

    Raises:
        ValueError: the image cannot be converted (NaN pixels, a multi-channel high-depth mode or
            16-bit colour PNG); the message names it.
    """
    with decoded_image(src, f"fix or remove {src}") as im:
        mode = im.mode
        depth = png_depth(src)
        if depth is not None and depth[0] == 16 and depth[1] != 0:  # colour type 0: grey, PIL mode I;16
            raise ValueError(f"{src}: a 16-bit colour PNG (colour type {depth[1]}), which this project does not "
                             f"convert (only single-channel images deeper than 8 bits are); convert it to 8-bit "
                             f"(PNG) first")
        if mode in EIGHT_BIT_MODES:
            dst = folder / f"{image_id}{src.suffix.lower()}"
            shutil.copyfile(src, dst)
            return dst
        if not (mode.startswith("I") or mode == "F"):
            raise ValueError(f"{src}: PIL mode {mode!r} is neither 8-bit nor a single-channel 16-bit, 32-bit or float "
                             f"image; convert it to 8-bit (PNG) first")
        try:
            pixels = to_8bit(np.asarray(im))
        except ValueError as err:
            raise ValueError(f"{src}: {err}; fix or remove it") from None
    dst = folder / f"{image_id}.png"
    Image.fromarray(pixels, mode="L").save(dst, format="PNG")
    return dst
