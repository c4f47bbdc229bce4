"""Checkpoints of a training run, written atomically and read back with ``weights_only``.

``last.pt`` (the resumable state) holds::

    format          CHECKPOINT_FORMAT
    kind            "last"
    iteration       completed iterations
    model           state dict of the bare network (not the DDP wrapper)
    optimizer       Adam state dict
    scheduler       learning-rate scheduler state dict
    scaler          GradScaler state dict (fp16 autocast; empty otherwise)
    rng             every global RNG state (experiments.core.runtime.rng_states)
    best            {"f1", "iteration", "metrics"} of the best validation so far
    run             {"dataset", "method", "seed", "world_size", "config", "versions"}

``best.pt`` holds ``format``, ``kind = "best"``, ``iteration``, ``model``, ``best`` and ``run``.
Everything is made of tensors, numbers, strings, lists, tuples and dicts, so the files load
with ``torch.load(..., weights_only=True)``: no code runs when a checkpoint is read. Nothing in a
checkpoint depends on the clock, the machine or the git commit (``versions`` are the package
versions only), so the same run on the same software writes the same bytes, and DVC's hashes
of two runs of the same settings agree.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

from ..core.fsutil import atomic_write_bytes
from .unet import UNet

CHECKPOINT_FORMAT = 1


def canonical(value):
    """``value`` with its containers rebuilt and every string interned, so it pickles by value alone.

    Pickle writes an object it has seen before as a back-reference, keyed by the object's
    identity. A state restored from a checkpoint holds fresh string objects where a live run
    holds shared ones, which would make a resumed run's file differ from an uninterrupted one's
    in bytes although not in content; interned strings and unshared containers remove that.
    """
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {canonical(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, tuple):
        return tuple(canonical(v) for v in value)
    return value


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Serialise ``state`` (:func:`canonical`) and write it atomically (a reader sees the old or the new file)."""
    buffer = io.BytesIO()
    torch.save(canonical(state), buffer)
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


def build_model(cfg: dict) -> UNet:
    """The U-Net the run settings ``cfg`` describe (``data.channels``, ``model.*``), on the CPU."""
    m = cfg["model"]
    return UNet(in_channels=cfg["data"]["channels"], base_channels=m["base_channels"], norm=m["norm"])


def model_from_checkpoint(state: dict, device: torch.device) -> tuple[UNet, dict]:
    """The network of a checkpoint, on ``device`` in eval mode, and the run's settings."""
    cfg = state["run"]["config"]
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    model.to(device)
    if cfg["model"]["channels_last"]:
        model.to(memory_format=torch.channels_last)
    return model.eval(), cfg
