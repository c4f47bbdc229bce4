"""The network's input: an 8-bit image normalised per image and channel, as (C, H, W) float32.

Training crops and inference tiles are cut from the same normalised image, so the network sees
the same statistics in both.
"""

from __future__ import annotations

import numpy as np


def normalise_image(image: np.ndarray, channels: int | None = None) -> np.ndarray:
    """Per-image normalisation to (C, H, W) float32 with zero mean and unit std per channel.

    Args:
        image: (H, W) or (H, W, C) uint8 image.
        channels: output channels: None keeps them (alpha dropped), 1 converts colour to
            luminance, 3 repeats a grey channel.

    Returns:
        (C, H, W) float32.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"image: expected (H, W) or (H, W, C), got shape {a.shape}")
    if a.shape[2] in (2, 4):
        a = a[..., :-1]
    a = a.astype(np.float32) / 255.0
    if channels is not None:
        if channels not in (1, 3):
            raise ValueError(f"channels: expected None, 1 or 3, got {channels!r}")
        if channels == 1 and a.shape[2] == 3:
            a = (a @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        elif channels == 3 and a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
    mean = a.mean(axis=(0, 1), keepdims=True)
    # A flat channel has std 0; the floor keeps it finite instead of blowing noise up.
    std = np.maximum(a.std(axis=(0, 1), keepdims=True), 1.0 / 255.0)
    return np.ascontiguousarray(((a - mean) / std).transpose(2, 0, 1), dtype=np.float32)
