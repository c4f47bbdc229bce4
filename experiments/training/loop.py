"""Training one run: a U-Net on random crops with one of the registered losses.

:func:`train` (what ``python -m experiments.train`` runs, and every process of a torchrun job)
takes a :class:`TrainJob`. A mini-batch is K random crops of one training image (the paper's
construction); Adam with weight decay and polynomial learning-rate decay run a fixed number of
iterations; the val split is evaluated every ``train.val_every`` iterations by detection F1
(:mod:`experiments.evaluation.inference`, as the evaluation stage does), keeping ``best.pt``: the
model of the highest validation F1, ties going to the later iteration (:func:`is_new_best`), so a
run whose F1 stays at 0 keeps its last model rather than its first, barely trained one.
Everything random is seeded: the model's initialisation from the seed, and the batch of each
iteration as a pure function of (seed, rank, iteration)
(:meth:`experiments.training.crops.CropSampler.batch_at`), which makes resumed and distributed
runs exact without replaying any generator.

Writes into the run folder (rank 0 only):

* ``log.csv``, ``crops.csv``, ``val.csv`` (:mod:`experiments.training.logs`), ``last.pt`` (atomically, every
  ``train.checkpoint_every`` iterations and at the end) and ``best.pt``
  (:mod:`experiments.model.checkpoint`), ``train.json`` (the run's summary, settings and
  package versions) and ``settings.json`` (the settings resolved against the dataset, radii
  included: :func:`experiments.core.resolution.settings_record`, written when the run starts):
  the outputs DVC tracks. None depends on the clock, the host or the git commit; of the
  machine they record its determinism environment (thread count; CPU model, kind and flags):
  runs of the same settings on one CPU kind agree in every weight and log, and on one CPU
  model in every byte (``train.json`` and the checkpoints name the model).
* ``timing.csv`` (seconds per step) and ``environment.json`` (wall and step time, it/s, this
  invocation's start, host, platform, torch threads, git commit, and the sha256 of the
  ``train.json`` it belongs to): what varies between runs; no DVC hash covers them.
* ``.run.lock`` while the run is being written (:mod:`experiments.core.runlock`): a second
  process aiming at the folder fails at once; gone when training ends.
* ``.tghem-run``, the mark of a run's folder (:mod:`experiments.core.runfolder`): without
  ``--resume`` a folder holding files of these names without it is refused, not overwritten.

``train.json`` and the checkpoints record the determinism environment
(:func:`experiments.core.runtime.determinism_environment`); ``--resume`` in another is refused.
SIGTERM/SIGINT and a non-finite loss stop a run as :mod:`experiments.training.stopping` describes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..core.fsutil import atomic_write_json, json_text, atomic_write_text, remove_leftovers
from ..core.outputs import check_not_an_output
from ..core.prepared import load_split, read_meta, require_prepared
from ..core.resolution import SETTINGS_FILE, settings_record
from ..core.runfolder import RUN_OUTPUTS, check_run_folder, mark_run_folder
from ..core.runlock import run_lock
from ..core.runtime import (
    autocast,
    check_amp,
    configure_determinism,
    determinism_environment,
    host_environment,
    package_versions,
    rng_states,
    seed_everything,
    set_rng_states,
)
from ..core.settings import load_params
from ..core.targets import target_rule
from ..evaluation.inference import eval_settings, evaluate_samples
from ..evaluation.metrics import summarize
from ..model.checkpoint import CHECKPOINT_FORMAT, build_model, load_checkpoint, save_checkpoint
from . import distributed
from .crops import CropSampler
from .logs import CROP_FIELDS, LOG_FIELDS, TIMING_FIELDS, VAL_FIELDS, CsvLog
from .methods import METHODS, build_method, check_method_settings
from .resume import check_resumable
from .stopping import TrainingInterrupted, catch_stop_signals, diverged, non_finite_loss, restore_signals

MAX_SEED = 2 ** 32 - 1
"""The largest seed: numpy's global generator takes seeds below 2**32."""


@dataclass(frozen=True)
class TrainJob:
    """What to train and how: the arguments of ``python -m experiments.train``.

    Attributes:
        dataset: name of the prepared dataset (``<data_dir>/prepared/<dataset>``).
        method: registry name (:data:`experiments.training.methods.METHODS`).
        seed: seed of the run, >= 0.
        out: run folder.
        data_dir: data folder.
        params_path: settings file (default: the repository's ``params.yaml``).
        overrides: ``section.key=value`` overrides.
        resume: continue from ``out/last.pt``.
        stop_after: stop after this many iterations of this invocation (writing ``last.pt``), to
            be continued with ``resume``; None runs to ``train.iterations``.
        device: one of :data:`experiments.core.runtime.DEVICE_CHOICES`.
        quiet: no progress bar and no summary line.
    """

    dataset: str
    method: str
    seed: int
    out: Path
    data_dir: Path = Path("data")
    params_path: Path | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    resume: bool = False
    stop_after: int | None = None
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"--method: expected one of {sorted(METHODS)}, got {self.method!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed: expected an int in [0, {MAX_SEED}] (2**32 - 1, numpy's seed range), got {self.seed!r}")
        stop = self.stop_after
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 1):
            raise ValueError(f"--stop-after: expected an int >= 1, got {stop!r}")
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "overrides", tuple(self.overrides))


def is_new_best(f1: float, best_f1: float | None) -> bool:
    """Whether a validation of F1 ``f1`` replaces the best one so far (``best_f1``; None before the first).

    The rule: the highest validation F1 wins, and a tie goes to the **later** iteration
    (``f1 >= best_f1``). With equal F1 the later model has trained longer; in particular a run
    whose validation F1 is 0 throughout keeps its final model, not the one of the first
    validation. (The authors select by validation loss after a minimum number of epochs; this
    study selects by the metric it reports.)

    Example:
        >>> is_new_best(0.5, None), is_new_best(0.5, 0.5), is_new_best(0.4, 0.5), is_new_best(0.0, 0.0)
        (True, True, False, True)
    """
    return best_f1 is None or f1 >= best_f1


class Trainer:
    """The state of one run on one process: data, model, loss, optimiser, logs and the loop."""

    def __init__(self, job: TrainJob, cfg: dict, ctx: distributed.DistContext):
        self.job, self.cfg, self.ctx = job, cfg, ctx
        t = cfg["train"]
        self.autocast_dtype = check_amp(t["amp"], ctx.device, "train.amp")
        self.eval_autocast_dtype = check_amp(cfg["eval"]["amp"], ctx.device, "eval.amp")
        prepared = require_prepared(job.data_dir, job.dataset)
        meta = read_meta(prepared)
        self.train_samples = load_split(prepared, "train")
        if not self.train_samples:
            raise ValueError(f"--dataset: {prepared} has no train images")
        self.val_samples = load_split(prepared, "val")
        self.eval_settings = eval_settings(cfg, meta)
        configure_determinism(ctx.device, t["deterministic"])
        self.run_info = {"dataset": job.dataset, "dataset_digest": meta.get("content_digest"), "method": job.method,
                         "seed": job.seed, "world_size": ctx.world_size, "config": cfg,
                         "versions": package_versions(), "environment": determinism_environment(ctx.device)}
        self.settings_record = settings_record(cfg, meta, job.dataset)
        target = target_rule(cfg, meta)
        self.sampler = CropSampler(t["crop_size"], t["crops_per_image"], radius=target["radius"], gap=target["gap"],
                                   flips=t["flips"],
                                   rot90=t["rot90"], channels=cfg["data"]["channels"], seed=job.seed)
        # Same initial weights on every rank (DDP also broadcasts rank 0's at wrapping).
        seed_everything(job.seed)
        self.memory_format = torch.channels_last if cfg["model"]["channels_last"] else torch.contiguous_format
        self.model = build_model(cfg).to(ctx.device).to(memory_format=self.memory_format)
        self.criterion = build_method(job.method, cfg)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
        self.scheduler = torch.optim.lr_scheduler.PolynomialLR(self.optimizer, total_iters=t["iterations"], power=t["poly_power"])
        self.scaler = torch.amp.GradScaler("cuda", enabled=t["amp"] == "fp16")
        self.start = 0
        self.best = {"f1": None, "iteration": None, "metrics": None}
        self.validates = t["val_every"] > 0 and len(self.val_samples) > 0

    # ----------------------------------------------------------------- checkpoints
    def restore(self) -> None:
        """Load ``last.pt`` (rank 0 reads it, every rank receives it) and check it is this run's."""
        state = load_checkpoint(self.job.out / "last.pt", "last") if self.ctx.is_main else None
        state = distributed.broadcast_object(self.ctx, state)
        check_resumable(state, self.run_info)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_states(state["rng"])
        self.start, self.best = state["iteration"], state["best"]

    def last_state(self, done: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "kind": "last", "iteration": done, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": rng_states(), "best": self.best, "run": self.run_info}

    def best_state(self, done: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "kind": "best", "iteration": done, "model": self.model.state_dict(),
                "best": self.best, "run": self.run_info}

    # ----------------------------------------------------------------- one step, one validation
    def step(self, net: torch.nn.Module, iteration: int) -> tuple[dict, list[dict], float]:
        """One optimiser step on the batch of ``iteration``: the logged values, the crops' rows (rank 0), the lr used."""
        ctx = self.ctx
        batch = self.sampler.batch_at(self.train_samples, iteration, ctx.rank, ctx.world_size)
        image, mask, dots = (x.to(ctx.device, non_blocking=True) for x in batch.tensors())
        image = image.contiguous(memory_format=self.memory_format)
        self.criterion.set_iteration(iteration)
        with autocast(ctx.device, self.autocast_dtype):
            logits = net(image)
        try:
            loss = self.criterion(logits, mask, dots)
        except ValueError:  # the loss's input check names no iteration: a diverged network is said as such
            if not bool(torch.isfinite(logits).all()):
                raise diverged(iteration, self.job.method) from None
            raise
        if not math.isfinite(self.criterion.last_stats.get("loss", 0.0)):
            raise non_finite_loss(iteration, self.job.method, self.criterion)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        rows = [row for part in distributed.gather_objects(ctx, self.criterion.last_crops) for row in part]
        stats = distributed.reduce_stats(ctx, self.criterion.last_stats, max_keys=("weight_max",))
        return stats, rows, lr

    def validate(self, net: torch.nn.Module) -> dict:
        """Detection metrics on the val split, each rank taking every world_size-th image."""
        ctx = self.ctx
        core = net.module if isinstance(net, DistributedDataParallel) else net
        distributed.broadcast_buffers(ctx, core)
        shard = list(range(ctx.rank, len(self.val_samples), ctx.world_size))
        results, _ = evaluate_samples(core, [self.val_samples[i] for i in shard], self.eval_settings, ctx.device,
                                      self.cfg["model"]["channels_last"], self.eval_autocast_dtype)
        gathered = distributed.gather_objects(ctx, list(zip(shard, results)))
        ordered = [r for _, r in sorted((pair for part in gathered for pair in part), key=lambda p: p[0])]
        core.train()
        return summarize(ordered, self.eval_settings["match_radius"])

    # ----------------------------------------------------------------- the loop
    def run(self, wall_start: float) -> dict:
        """Train from :attr:`start` to the end (or ``stop_after``); rank 0 writes the run folder.

        Returns:
            On rank 0 the ``train.json`` summary merged with the timing of ``environment.json``;
            ``{}`` on the other ranks.
        """
        job, ctx, t = self.job, self.ctx, self.cfg["train"]
        out, total = job.out, t["iterations"]
        stop = total if job.stop_after is None else min(total, self.start + job.stop_after)
        net = self.model
        if ctx.distributed:
            net = DistributedDataParallel(self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        logs = None
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            logs = {"log": CsvLog(out / "log.csv", LOG_FIELDS, self.start),
                    "val": CsvLog(out / "val.csv", VAL_FIELDS, self.start),
                    "crops": CsvLog(out / "crops.csv", CROP_FIELDS, self.start),
                    "timing": CsvLog(out / "timing.csv", TIMING_FIELDS, self.start)}
        train_seconds = sum(float(r["seconds"]) for r in logs["timing"].kept) if logs else 0.0
        bar = tqdm(total=total, initial=self.start, desc=f"{job.method} s{job.seed}", unit="it", dynamic_ncols=True,
                   disable=True if (job.quiet or not ctx.is_main) else None)
        self.model.train()
        done = self.start
        stop_signal: list[int] = []
        previous = catch_stop_signals(stop_signal) if not ctx.distributed else None
        try:
            for it in range(self.start, stop):
                step_start = time.perf_counter()
                stats, crops, lr = self.step(net, it)
                seconds = time.perf_counter() - step_start
                train_seconds += seconds
                done = it + 1
                if ctx.is_main:
                    logs["log"].write({"iteration": done, **stats, "lr": lr})
                    for k, crop in enumerate(crops):
                        logs["crops"].write({"iteration": done, "crop": k, **crop})
                    logs["timing"].write({"iteration": done, "seconds": seconds})
                    bar.set_postfix(loss=f"{stats['loss']:.4f}", w=f"{stats['weight_mean']:.3f}", refresh=False)
                    bar.update(1)
                if self.validates and (done % t["val_every"] == 0 or done == total):
                    metrics = self.validate(net)
                    if ctx.is_main:
                        logs["val"].write({"iteration": done, **{k: metrics[k] for k in VAL_FIELDS[1:]}})
                        if is_new_best(metrics["f1"], self.best["f1"]):
                            self.best = {"f1": metrics["f1"], "iteration": done, "metrics": metrics}
                            save_checkpoint(out / "best.pt", self.best_state(done))
                if ctx.is_main and (done % t["checkpoint_every"] == 0 or done == stop or stop_signal):
                    save_checkpoint(out / "last.pt", self.last_state(done))
                if stop_signal:
                    break
        finally:
            if previous is not None:
                restore_signals(previous)
            bar.close()
            for log in (logs or {}).values():
                log.close()
        if not ctx.is_main:
            return {}
        summary = self._write_summary(done, total, train_seconds, wall_start)
        if stop_signal and done < stop:
            name = signal.Signals(stop_signal[0]).name
            raise TrainingInterrupted(
                f"{name}: training stopped at iteration {done} of {total}, {out / 'last.pt'} saved; continue "
                f"with --resume (bitwise the uninterrupted run)", 128 + stop_signal[0])
        return summary

    def _write_summary(self, done: int, total: int, train_seconds: float, wall_start: float) -> dict:
        finished = done == total
        if finished and not self.validates:
            # No validation: the final model is the one to evaluate.
            save_checkpoint(self.job.out / "best.pt", self.best_state(done))
        job, t = self.job, self.cfg["train"]
        summary = {
            "dataset": job.dataset, "dataset_digest": self.run_info["dataset_digest"], "method": job.method,
            "seed": job.seed, "iterations": done, "total_iterations": total,
            "finished": finished, "best_val_f1": self.best["f1"],
            "best_iteration": self.best["iteration"] if self.validates else (done if finished else None),
            "validated": self.validates, "device": self.ctx.device.type, "world_size": self.ctx.world_size,
            "amp": t["amp"], "crops_per_iteration": t["crops_per_image"] * self.ctx.world_size,
            "config": self.cfg, "versions": self.run_info["versions"], "environment": self.run_info["environment"],
        }
        text = json_text(summary)
        atomic_write_text(job.out / "train.json", text)
        timing = {
            "wall_seconds": round(time.perf_counter() - wall_start, 3),
            "train_seconds": round(train_seconds, 3),
            "it_per_s": round(done / train_seconds, 4) if train_seconds > 0 else None,
            "iterations_this_invocation": done - self.start, "resumed_from": self.start or None,
            "device": str(self.ctx.device), **host_environment(),
            "train_json_sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        atomic_write_json(job.out / "environment.json", timing)
        return {**summary, **timing}


def train(job: TrainJob) -> dict:
    """Train one run (every process of a torchrun job calls this).

    Rank 0 owns the run folder while it works (:func:`experiments.core.runlock.run_lock`): a
    second process aiming at the same ``out`` fails at once, naming the owner.

    Returns:
        On rank 0, the summary written to ``train.json`` merged with the timing of
        ``environment.json``; ``{}`` on the other ranks.

    Raises:
        ValueError: a bad argument or setting, a folder that already holds a run (without
            ``resume``), a checkpoint of another run or of other data (with ``resume``), a
            damaged checkpoint, or a folder another process is writing
            (:class:`~experiments.core.runlock.RunInUseError`).
        FileNotFoundError: the dataset is not prepared, or ``resume`` without ``last.pt``.
        PermissionError: the run folder cannot be written (the message names it).
    """
    wall_start = time.perf_counter()
    cfg = load_params(job.params_path, job.overrides, dataset=job.dataset)
    check_method_settings(cfg)  # every loss section builds its loss, before any work starts
    # Only rank 0 reads or writes the run folder (on several machines it need not be shared).
    main = os.environ.get("RANK", "0") == "0"
    if main:
        check_not_an_output(job.out, "--out")  # another stage's folder: never mix a run into it
    with run_lock(job.out) if main else contextlib.nullcontext():
        if main:
            last = job.out / "last.pt"
            if job.resume and not last.is_file():
                raise FileNotFoundError(f"--resume: {last} does not exist; start the run without --resume")
            if not job.resume:
                check_run_folder(job.out)  # someone's own log.csv or train.json: never overwritten
            if not job.resume and last.is_file():
                raise ValueError(f"--out: {job.out} already holds a run (last.pt); pass --resume to continue it, "
                                 f"or choose another folder")
            for name in RUN_OUTPUTS:  # what a killed write left (the lock proves no one else writes here)
                remove_leftovers(job.out, name, locked=True)
        ctx = distributed.setup(job.device)
        try:
            if cfg["model"]["norm"] == "sync" and ctx.distributed and ctx.device.type != "cuda":
                raise ValueError("model.norm: 'sync' (SyncBatchNorm) needs CUDA under torchrun; use 'batch' or 'group' on CPU")
            trainer = Trainer(job, cfg, ctx)
            if job.resume:
                trainer.restore()
            if ctx.is_main:
                mark_run_folder(job.out)
                atomic_write_json(job.out / SETTINGS_FILE, trainer.settings_record)
            summary = trainer.run(wall_start)
        except BaseException:
            # No barrier: the other ranks may be blocked in a collective this one will never join;
            # torchrun stops them when this process exits with an error.
            distributed.abort(ctx)
            raise
        distributed.cleanup(ctx)
    return summary
