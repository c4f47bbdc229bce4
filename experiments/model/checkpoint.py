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
    run             {"dataset", "dataset_digest", "method", "seed", "world_size", "config",
                     "versions", "environment"}; dataset_digest: the prepared dataset's content
                     digest (its meta.json), None where it records none; environment: the
                     determinism environment (experiments.core.runtime.determinism_environment)

``best.pt`` holds ``format``, ``kind = "best"``, ``iteration``, ``model``, ``best`` and ``run``.
Everything is made of tensors, numbers, strings, lists, tuples and dicts, so the files load
with ``torch.load(..., weights_only=True)``: no code runs when a checkpoint is read. Nothing in a
checkpoint depends on the clock, the host or the git commit (``versions`` are the package
versions only); of the machine it records the determinism environment (``environment``: torch's
thread count, the CPU model, kind and flags). The same run with the same software writes equal
weights on one CPU kind and the same bytes on one CPU model (the model name is in the file), so
DVC's hashes of two runs of the same settings agree there.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import torch

from ..core.fsutil import atomic_write_bytes
from .unet import UNet

CHECKPOINT_FORMAT = 1
KINDS = ("best", "last")
COMMON_KEYS = ("format", "kind", "iteration", "model", "best", "run")
KIND_KEYS = {"best": COMMON_KEYS, "last": (*COMMON_KEYS, "optimizer", "scheduler", "scaler", "rng")}
RUN_KEYS = ("dataset", "method", "seed", "world_size", "config", "versions")
"""Keys a checkpoint's ``run`` must hold (``dataset_digest`` is absent from older checkpoints)."""


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


def damaged_advice(path: Path) -> str:
    """What to do about a damaged checkpoint of the run in ``path.parent``."""
    run = path.parent
    other = "; `--checkpoint last` evaluates last.pt instead" if path.name == "best.pt" else \
        "; --resume cannot continue from it"
    return (f"delete {run} and run its training command again (`python -m experiments.train ... --out {run}`, "
            f"or `dvc repro` of its stage){other}")


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU, and check its content.

    Args:
        path: the file.
        kind: ``'best'`` or ``'last'``, what the file must be (default: either).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is damaged (empty, truncated, not a torch file, or holding code
            that ``weights_only`` refuses) or not a checkpoint of this project's format and
            ``kind``; the message names the file and says what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint: {path} is damaged (empty, 0 bytes); {damaged_advice(path)}")
    try:
        with warnings.catch_warnings():
            # Its notes on a foreign pickle point at weights_only=False; the error below says what to do.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types here; its pickle advice is unsafe
        raise ValueError(
            f"checkpoint: {path} is damaged (truncated, overwritten, or not a checkpoint of this project: "
            f"torch.load raised {type(err).__name__}); {damaged_advice(path)}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint: {path}: expected format {CHECKPOINT_FORMAT}, got {found!r}; {damaged_advice(path)}")
    check_checkpoint(state, path, kind)
    return state


def check_checkpoint(state: dict, path: Path, kind: str | None = None) -> None:
    """Check a loaded checkpoint's kind, keys, run record and weights (see :func:`load_checkpoint`).

    Raises:
        ValueError: what is wrong, naming ``path`` and what to do.
    """
    fix = damaged_advice(path)
    found = state.get("kind")
    if found not in KINDS or (kind is not None and found != kind):
        expected = repr(kind) if kind is not None else f"one of {KINDS}"
        raise ValueError(f"checkpoint: {path}: kind {found!r}, expected {expected} (a renamed or copied file?); {fix}")
    missing = [k for k in KIND_KEYS[found] if k not in state]
    run = state.get("run")
    missing += [f"run.{k}" for k in RUN_KEYS if isinstance(run, dict) and k not in run]
    if missing or not isinstance(run, dict):
        raise ValueError(f"checkpoint: {path}: keys {missing or ['run']} missing or wrong; {fix}")
    it = state["iteration"]
    if isinstance(it, bool) or not isinstance(it, int) or it < 0:
        raise ValueError(f"checkpoint: {path}: iteration {it!r}, expected an int >= 0; {fix}")
    model = state["model"]
    if not isinstance(model, dict) or not model or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise ValueError(f"checkpoint: {path}: 'model' is not a state dict of tensors; {fix}")
    for name, tensor in model.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(
                f"checkpoint: {path}: weight {name!r} holds NaN or inf (the training diverged); "
                f"delete {path.parent} and train it again, with a lower train.lr for example"
            )
    best = state["best"]
    f1 = best.get("f1") if isinstance(best, dict) else "missing"
    if f1 is not None and (isinstance(f1, bool) or not isinstance(f1, (int, float)) or not 0 <= f1 <= 1):
        raise ValueError(f"checkpoint: {path}: best.f1 {f1!r}, expected null or a number in [0, 1]; {fix}")


def build_model(cfg: dict) -> UNet:
    """The U-Net the run settings ``cfg`` describe (``data.channels``, ``model.*``), on the CPU."""
    m = cfg["model"]
    return UNet(in_channels=cfg["data"]["channels"], base_channels=m["base_channels"], norm=m["norm"])


def model_from_checkpoint(state: dict, device: torch.device, source: str | Path = "checkpoint") -> tuple[UNet, dict]:
    """The network of a checkpoint, on ``device`` in eval mode, and the run's settings.

    Args:
        state: a checkpoint (:func:`load_checkpoint`).
        device: where the network goes.
        source: the checkpoint's file, for the messages.

    Raises:
        ValueError: the run's settings do not describe the saved weights.
    """
    cfg = state["run"]["config"]
    try:
        model = build_model(cfg)
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        # torch's first line only says that loading failed; the next names the first mismatch
        first = "; ".join(lines[:2]).replace("\t", " ") if lines else type(err).__name__
        raise ValueError(f"checkpoint: {source}: its weights do not fit its run settings ({first}); "
                         f"{damaged_advice(Path(source))}") from None
    model.to(device)
    if cfg["model"]["channels_last"]:
        model.to(memory_format=torch.channels_last)
    return model.eval(), cfg
