"""Checkpoints of a training run, written atomically and read back with ``weights_only``.

``last.pt`` (the resumable state) holds::

    format          CHECKPOINT_FORMAT
    kind            "last"
    iteration       completed iterations
    model           state dict of the bare network (not the DDP wrapper)
    optimizer       Adam state dict
    scheduler       learning-rate scheduler state dict
    scaler          GradScaler state dict (fp16 autocast; empty otherwise)
    rng             every global RNG state (experiments.runtime.rng_states)
    best            {"f1", "iteration", "metrics"} of the best validation so far
    train_seconds   accumulated time of the training steps
    run             {"dataset", "method", "seed", "world_size", "amp", "config", "versions"}

``best.pt`` holds ``format``, ``kind = "best"``, ``iteration``, ``model``, ``best`` and ``run``.
Everything is made of tensors, numbers, strings, lists, tuples and dicts, so the files load
with ``torch.load(..., weights_only=True)``: no code runs when a checkpoint is read.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from .fsutil import atomic_write_bytes

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Serialise ``state`` and write it atomically (a reader sees the old or the new file, never half)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this project's format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint: {path}: expected format {CHECKPOINT_FORMAT}, got {found!r}")
    return state
