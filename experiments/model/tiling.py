"""Tiled inference over whole images: overlapping tiles of the training crop size, blended.

The network is trained on crops of side S; at test time it sees tiles of the same side, so
its receptive field and normalisation statistics match training. Images smaller than a tile
are padded with zeros at the bottom and right (the value of padding in training crops, where
images are normalised to zero mean). Tiles start every ``stride = S - overlap`` pixels, the
last one flush with the border; every pixel's logit is the weighted mean of the logits of
all tiles covering it, with a separable tent window that favours tile centres (where the
network sees the most context) and is positive everywhere (so border pixels covered by one
tile keep that tile's logit).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.runtime import autocast
from .unet import SIZE_MULTIPLE


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``[0, length)``, every ``stride`` pixels.

    The last tile ends exactly at ``length`` (for ``length >= tile``); a ``length`` smaller
    than ``tile`` gives one tile at 0 (the image is padded).

    Example:
        >>> tile_starts(100, 32, 24)
        [0, 24, 48, 68]
    """
    if tile < 1 or stride < 1:
        raise ValueError(f"tile, stride: expected positive ints, got {tile}, {stride}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def blend_window(tile: int) -> np.ndarray:
    """(tile, tile) float64 tent window: ``min(i + 1, tile - i)`` per axis, outer product."""
    ramp = np.minimum(np.arange(1, tile + 1), np.arange(tile, 0, -1)).astype(np.float64)
    return np.outer(ramp, ramp)


def _check_tiling(tile: int, overlap: float) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < SIZE_MULTIPLE or tile % SIZE_MULTIPLE:
        raise ValueError(f"tile: expected a multiple of {SIZE_MULTIPLE} (>= {SIZE_MULTIPLE}), got {tile!r}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap: expected a fraction in [0, 1), got {overlap!r}")
    return max(1, int(tile) - int(round(overlap * tile)))


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    image: np.ndarray | torch.Tensor,
    tile: int,
    overlap: float = 0.25,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Blended logits of a whole image from overlapping tiles.

    Args:
        model: network mapping (B, C, tile, tile) to (B, 1, tile, tile) logits, in eval mode.
        image: (C, H, W) float image, normalised as in training.
        tile: tile side, a multiple of 16 (the training crop size).
        overlap: overlap of neighbouring tiles as a fraction of ``tile``, in [0, 1).
        batch_size: tiles per forward pass.
        device: device of the model.
        autocast_dtype: run the network under autocast with this dtype (bf16 on the CPU or CUDA, fp16 on CUDA), or None.
        channels_last: feed the tiles in NHWC memory format.

    Returns:
        (H, W) float32 logits.
    """
    stride = _check_tiling(tile, overlap)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    x = torch.as_tensor(image, dtype=torch.float32)
    if x.dim() != 3:
        raise ValueError(f"image: expected shape (C, H, W), got {tuple(x.shape)}")
    _, h, w = x.shape
    ph, pw = max(h, tile), max(w, tile)
    if (ph, pw) != (h, w):
        x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h))
    origins = [(y, x0) for y in tile_starts(ph, tile, stride) for x0 in tile_starts(pw, tile, stride)]
    window = blend_window(tile)
    total = np.zeros((ph, pw), np.float64)
    weight = np.zeros((ph, pw), np.float64)
    device = torch.device(device)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        batch = torch.stack([x[:, y : y + tile, x0 : x0 + tile] for y, x0 in chunk]).to(device)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast(device, autocast_dtype):
            logits = model(batch)
        logits = logits[:, 0].float().cpu().numpy().astype(np.float64)
        for (y, x0), tile_logits in zip(chunk, logits):
            total[y : y + tile, x0 : x0 + tile] += window * tile_logits
            weight[y : y + tile, x0 : x0 + tile] += window
    return (total / weight)[:h, :w].astype(np.float32)


def predict_probability(model: torch.nn.Module, image, tile: int, **kwargs) -> np.ndarray:
    """Sigmoid of :func:`predict_logits` (same arguments): (H, W) float32 in [0, 1]."""
    logits = predict_logits(model, image, tile, **kwargs)
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
