"""Stage ``train``: a U-Net trained on random crops with one of the registered losses.

    python -m experiments.train --dataset NAME --method METHOD --seed S --data-dir DIR --out RUN_DIR
        [--set key=value ...] [--resume] [--stop-after N] [--device auto] [--amp none|bf16|fp16]

A mini-batch is K random crops of one training image (the paper's construction); Adam with
weight decay and polynomial learning-rate decay run a fixed number of iterations; the val split
is evaluated every ``train.val_every`` iterations by detection F1 (the evaluation stage's code),
keeping ``best.pt``. Everything random is seeded: the model's initialisation from ``--seed``, and
the batch of each iteration as a pure function of (seed, rank, iteration)
(:meth:`experiments.crops.CropSampler.batch_at`), which makes resumed and distributed runs
exact without replaying any generator.

Writes into RUN_DIR (rank 0 only): ``log.csv`` (one row per iteration), ``val.csv`` (one row per
validation), ``last.pt`` (atomically, every ``train.checkpoint_every`` iterations and at the end),
``best.pt`` and ``train.json`` (summary, settings and software versions).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import textwrap
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import distributed
from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from .cli import run_stage
from .config import ConfigError, flatten, load_params, params_help
from .crops import CropSampler
from .datasets import load_split, read_meta
from .evaluate import eval_settings, evaluate_samples, prepared_dir
from .fsutil import atomic_write_text
from .methods import METHODS, build_method
from .metrics import summarize
from .model import UNet
from .registry import REGISTRY
from .runtime import (
    AMP_CHOICES,
    DEVICE_CHOICES,
    check_amp,
    configure_determinism,
    rng_states,
    seed_everything,
    set_rng_states,
    software_versions,
)

LOG_FIELDS = ("iteration", "loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean", "lr", "seconds")
VAL_FIELDS = ("iteration", "f1", "precision", "recall", "f1_mean", "mae", "rmse", "n_images")


class CsvLog:
    """An append-only CSV file (rank 0), cut back to ``start`` iterations on resume.

    Rows logged after the checkpoint a run resumes from are dropped, so a resumed run's log
    has each iteration exactly once, as an uninterrupted run's.
    """

    def __init__(self, path: Path, fields: tuple[str, ...], start: int) -> None:
        self.path = path
        self.fields = fields
        kept = []
        if start > 0 and path.is_file():
            with open(path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["iteration"]) <= start]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, buf.getvalue())
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fields, lineterminator="\n")

    def write(self, row: dict) -> None:
        self._writer.writerow({k: _fmt(row[k]) for k in self.fields})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _check_resumable(state: dict, run: dict) -> None:
    """Refuse to resume a checkpoint of a different run (other settings, seed, method...)."""
    saved = state["run"]
    diffs = [k for k in ("dataset", "method", "seed", "world_size", "amp") if saved[k] != run[k]]
    a, b = flatten(saved["config"]), flatten(run["config"])
    diffs += [k for k in a if a[k] != b[k]]
    if diffs:
        detail = ", ".join(
            f"{k}: {a[k] if k in a else saved[k]!r} in last.pt, {b[k] if k in b else run[k]!r} now" for k in diffs
        )
        raise ValueError(f"--resume: last.pt belongs to a different run ({detail}); resume with the same settings")


def _validate(model, ctx, samples, settings, channels_last, autocast_dtype) -> dict:
    """Detection metrics on the val split, each rank taking every world_size-th image."""
    core = _unwrap(model)
    distributed.broadcast_buffers(ctx, core)
    shard = list(range(ctx.rank, len(samples), ctx.world_size))
    results, _ = evaluate_samples(core, [samples[i] for i in shard], settings, ctx.device, channels_last, autocast_dtype)
    gathered = distributed.gather_objects(ctx, list(zip(shard, results)))
    ordered = [r for _, r in sorted((pair for part in gathered for pair in part), key=lambda p: p[0])]
    core.train()
    return summarize(ordered, settings["match_radius"])


def train(
    dataset: str,
    method: str,
    seed: int,
    out: str | Path,
    data_dir: str | Path = "data",
    params_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    resume: bool = False,
    stop_after: int | None = None,
    device: str = "auto",
    amp: str = "none",
    quiet: bool = False,
) -> dict:
    """Train one run (every process of a torchrun job calls this).

    Args:
        dataset: name of the prepared dataset (``<data_dir>/prepared/<dataset>``).
        method: registry name (:data:`experiments.methods.METHODS`).
        seed: seed of the run, >= 0.
        out: run folder.
        data_dir: data folder.
        params_path: settings file (default: the repository's ``params.yaml``).
        overrides: ``section.key=value`` overrides.
        resume: continue from ``out/last.pt``.
        stop_after: stop after this many iterations of this invocation (writing ``last.pt``), to
            be continued with ``resume``; None runs to ``train.iterations``.
        device: one of :data:`experiments.runtime.DEVICE_CHOICES`.
        amp: ``'none'``, ``'bf16'`` or ``'fp16'`` (CUDA only).
        quiet: no progress bar and no summary line.

    Returns:
        The summary written to ``train.json``.
    """
    wall_start = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"--method: expected one of {sorted(METHODS)}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed: expected an int >= 0, got {seed!r}")
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 1):
        raise ValueError(f"--stop-after: expected an int >= 1, got {stop_after!r}")
    cfg = load_params(params_path, overrides)
    out = Path(out)
    # Only rank 0 reads or writes the run folder (on several machines it need not be shared).
    if os.environ.get("RANK", "0") == "0":
        if resume and not (out / "last.pt").is_file():
            raise FileNotFoundError(f"--resume: {out / 'last.pt'} does not exist; start the run without --resume")
        if not resume and (out / "last.pt").is_file():
            raise ValueError(f"--out: {out} already holds a run (last.pt); pass --resume to continue it, or choose another folder")
    pdir = prepared_dir(data_dir, dataset)
    meta = read_meta(pdir)
    train_samples = load_split(pdir, "train")
    if not train_samples:
        raise ValueError(f"--dataset: {pdir} has no train images")
    val_samples = load_split(pdir, "val")
    settings = eval_settings(cfg, meta)

    ctx = distributed.setup(device)
    try:
        autocast_dtype = check_amp(amp, ctx.device)
        if cfg["model"]["norm"] == "sync" and ctx.distributed and ctx.device.type != "cuda":
            raise ValueError("model.norm: 'sync' (SyncBatchNorm) needs CUDA under torchrun; use 'batch' or 'group' on CPU")
        summary = _train(
            ctx, cfg, dataset, method, seed, out, meta, train_samples, val_samples, settings,
            resume, stop_after, amp, autocast_dtype, quiet, wall_start,
        )
    except BaseException:
        # No barrier: the other ranks may be blocked in a collective this one will never join;
        # torchrun stops them when this process exits with an error.
        distributed.abort(ctx)
        raise
    distributed.cleanup(ctx)
    return summary


def _train(ctx, cfg, dataset, method, seed, out, meta, train_samples, val_samples, settings,
           resume, stop_after, amp, autocast_dtype, quiet, wall_start) -> dict:
    t, m = cfg["train"], cfg["model"]
    configure_determinism(ctx.device, t["deterministic"])
    run = {"dataset": dataset, "method": method, "seed": seed, "world_size": ctx.world_size, "amp": amp,
           "config": cfg, "versions": software_versions()}
    mask_radius = cfg["data"]["mask_radius"] if cfg["data"]["mask_radius"] is not None else meta.get("mask_radius", 3)
    sampler = CropSampler(t["crop_size"], t["crops_per_image"], radius=mask_radius, flips=t["flips"],
                          rot90=t["rot90"], channels=cfg["data"]["channels"], seed=seed)
    # Same initial weights on every rank (DDP also broadcasts rank 0's at wrapping).
    seed_everything(seed)
    model = UNet(in_channels=cfg["data"]["channels"], base_channels=m["base_channels"], norm=m["norm"]).to(ctx.device)
    memory_format = torch.channels_last if m["channels_last"] else torch.contiguous_format
    model.to(memory_format=memory_format)
    criterion = build_method(method, cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=t["iterations"], power=t["poly_power"])
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    start, train_seconds = 0, 0.0
    best = {"f1": None, "iteration": None, "metrics": None}
    if resume:
        state = load_checkpoint(out / "last.pt") if ctx.is_main else None
        state = distributed.broadcast_object(ctx, state)
        _check_resumable(state, run)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_states(state["rng"])
        start, train_seconds, best = state["iteration"], state["train_seconds"], state["best"]
        del state
    net = model
    if ctx.distributed:
        net = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    total = t["iterations"]
    stop = total if stop_after is None else min(total, start + stop_after)
    validate = t["val_every"] > 0 and len(val_samples) > 0

    def checkpoint_state(done: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "kind": "last", "iteration": done, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rng_states(), "best": best,
                "train_seconds": train_seconds, "run": run}

    def best_state(done: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "kind": "best", "iteration": done, "model": model.state_dict(),
                "best": best, "run": run}

    log = val_log = None
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        log = CsvLog(out / "log.csv", LOG_FIELDS, start)
        val_log = CsvLog(out / "val.csv", VAL_FIELDS, start)
    bar = tqdm(total=total, initial=start, desc=f"{method} s{seed}", unit="it", dynamic_ncols=True,
               disable=True if (quiet or not ctx.is_main) else None)
    autocast = (lambda: torch.autocast(ctx.device.type, dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext
    model.train()
    done = start
    try:
        for it in range(start, stop):
            step_start = time.perf_counter()
            batch = sampler.batch_at(train_samples, it, ctx.rank, ctx.world_size)
            image, mask, dots = (x.to(ctx.device, non_blocking=True) for x in batch.tensors())
            image = image.contiguous(memory_format=memory_format)
            with autocast():
                logits = net(image)
            loss = criterion(logits, mask, dots)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            stats = distributed.reduce_stats(ctx, criterion.last_stats, max_keys=("weight_max",))
            seconds = time.perf_counter() - step_start
            train_seconds += seconds
            done = it + 1
            if ctx.is_main:
                log.write({"iteration": done, **stats, "lr": lr, "seconds": seconds})
                bar.set_postfix(loss=f"{stats['loss']:.4f}", w=f"{stats['weight_mean']:.3f}", refresh=False)
                bar.update(1)
            if validate and (done % t["val_every"] == 0 or done == total):
                metrics = _validate(net, ctx, val_samples, settings, m["channels_last"], autocast_dtype)
                if ctx.is_main:
                    val_log.write({"iteration": done, **{k: metrics[k] for k in VAL_FIELDS[1:]}})
                    if best["f1"] is None or metrics["f1"] > best["f1"]:
                        best = {"f1": metrics["f1"], "iteration": done, "metrics": metrics}
                        save_checkpoint(out / "best.pt", best_state(done))
            if ctx.is_main and (done % t["checkpoint_every"] == 0 or done == stop):
                save_checkpoint(out / "last.pt", checkpoint_state(done))
    finally:
        bar.close()
        if ctx.is_main:
            log.close()
            val_log.close()
    if not ctx.is_main:
        return {}
    finished = done == total
    if finished and not validate:
        # No validation: the final model is the one to evaluate.
        save_checkpoint(out / "best.pt", best_state(done))
    iterations_now = done - start
    summary = {
        "dataset": dataset, "method": method, "seed": seed, "iterations": done, "total_iterations": total,
        "finished": finished, "iterations_this_invocation": iterations_now, "resumed_from": start if start else None,
        "wall_seconds": round(time.perf_counter() - wall_start, 3),
        "train_seconds": round(train_seconds, 3),
        "it_per_s": round(done / train_seconds, 4) if train_seconds > 0 else None,
        "best_val_f1": best["f1"], "best_iteration": best["iteration"] if validate else (done if finished else None),
        "validated": validate, "device": str(ctx.device), "world_size": ctx.world_size, "amp": amp,
        "crops_per_iteration": t["crops_per_image"] * ctx.world_size,
        "config": cfg, "versions": run["versions"],
    }
    atomic_write_text(out / "train.json", json.dumps(summary, indent=2) + "\n")
    if not quiet:
        best_text = f"best val F1 {best['f1']:.4f} at iteration {best['iteration']}" if best["f1"] is not None else "no validation"
        print(f"{out}: {done}/{total} iterations, {summary['it_per_s']} it/s, {best_text}")
    return summary


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage (the settings are listed in the epilog)."""
    try:
        from .config import read_params

        defaults = read_params()
    except ConfigError:
        defaults = None
    p = argparse.ArgumentParser(
        prog="python -m experiments.train",
        description=textwrap.fill(
            "Train a U-Net on K random crops of one training image per mini-batch with one of the "
            "registered losses; Adam with weight decay and polynomial LR decay for a fixed number of "
            "iterations; validation on the val split by detection F1 every train.val_every "
            "iterations, keeping best.pt. Seeded end to end; resumable (--resume); distributed "
            "with torchrun (DDP, gloo on CPU, nccl on GPU). Writes log.csv, val.csv, last.pt, "
            "best.pt and train.json into --out.",
            width=88,
        ),
        epilog=(
            "methods: " + ", ".join(METHODS) + " (the loss settings are the section of the same name)\n\n"
            "settings (params.yaml, current values; override with --set KEY=VALUE):\n"
            + params_help(defaults)
            + "\n\nexamples:\n"
            "  python -m experiments.train --dataset synthetic --method tghem --seed 0 --out runs/synthetic/tghem/0\n"
            "  python -m experiments.train --dataset synthetic --method ohem --seed 1 --out runs/o1 --set train.iterations=50\n"
            "  python -m experiments.train ... --out runs/x --resume           # continue from runs/x/last.pt\n"
            "  torchrun --nproc_per_node 2 -m experiments.train --dataset synthetic --method tghem --seed 0 --out runs/ddp"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="prepared dataset under DATA_DIR/prepared/ (registry: " + ", ".join(REGISTRY) + ", or a --name you gave)")
    p.add_argument("--method", required=True, choices=list(METHODS), help="loss, by registry name")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, crops and augmentation (default 0)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder with prepared/NAME (default: data)")
    p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder (created)")
    p.add_argument("--params", type=Path, default=None, help="settings file (default: the repository's params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.iterations=50 (repeatable; unknown keys are errors)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last.pt")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stop after N iterations of this invocation (writes last.pt; continue with --resume)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="auto: cuda, then mps, then cpu")
    p.add_argument("--amp", default="none", choices=AMP_CHOICES, help="autocast dtype on CUDA (default none: float32)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (setting errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        train(
            args.dataset, args.method, args.seed, args.out, args.data_dir, args.params, args.overrides,
            resume=args.resume, stop_after=args.stop_after, device=args.device, amp=args.amp, quiet=args.quiet,
        )
    except ConfigError as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    run_stage(main)
