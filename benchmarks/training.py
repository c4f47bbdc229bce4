"""Training throughput per method and per precision / memory format, with the ratios that matter.

:func:`benchmark` (what ``python -m benchmarks.train`` runs) trains each method under each
*setting* (a precision and a memory format, e.g. ``fp32``, ``bf16+cl``) on the same dataset,
seed and settings (``params.yaml`` plus overrides), into a temporary folder with validation
switched off, and reports the training-step throughput each run recorded (sampling the crops,
forward, loss, backward and optimizer step; no validation, no checkpoint writing). A whole run is
timed, not a few steps: TG-HEM's topological term is much slower on the noisy predictions of the
first iterations than later, so its cost depends on the phase of training.

Before the timed runs, every (setting, method) trains a few untimed iterations (:data:`WARMUP`):
what a process pays once (loading the compiled topology kernels, oneDNN building its kernels for
a precision and shape) would otherwise fall on whichever cell ran first. The runs are then
interleaved: ``rounds`` passes, each training every (setting, method) once, so that a machine's
drift (another process, thermal limits) touches every cell alike; the figures of a cell pool the
steps of all its rounds. Per cell it reports the mean step (summed step time /
steps, what a whole run costs) and the median step (which occasional stalls do not move), and
the ratios: the setting's speed-up over float32 NCHW (``fp32``) for the same method, and each
method's step time over OHEM's (TG-HEM's overhead) for the same setting.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.environment import benchmark_environment, environment_line
from experiments.core.runtime import check_amp, select_device
from experiments.core.settings import load_params
from experiments.training.loop import TrainJob, train
from experiments.training.methods import METHODS, build_method


@dataclass(frozen=True)
class Setting:
    """A precision and memory format of the network: ``fp32``, ``fp32+cl``, ``bf16``, ``bf16+cl``, ``fp16``..."""

    amp: str
    channels_last: bool

    @classmethod
    def parse(cls, name: str) -> "Setting":
        """``'bf16+cl'`` -> ``Setting('bf16', True)``; ``fp32`` is ``amp='none'``.

        Raises:
            ValueError: an unknown precision or suffix.
        """
        precision, _, suffix = name.partition("+")
        amp = {"fp32": "none", "bf16": "bf16", "fp16": "fp16"}.get(precision)
        if amp is None or suffix not in ("", "cl"):
            raise ValueError(f"--settings: expected fp32, bf16 or fp16, optionally with +cl (channels_last), got {name!r}")
        return cls(amp, suffix == "cl")

    @property
    def name(self) -> str:
        return {"none": "fp32"}.get(self.amp, self.amp) + ("+cl" if self.channels_last else "")

    def overrides(self) -> list[str]:
        """The ``--set`` overrides of this setting (training and evaluation alike)."""
        return [f"train.amp={self.amp}", f"eval.amp={self.amp}", f"model.channels_last={str(self.channels_last).lower()}"]


DEFAULT_SETTINGS = ("fp32", "fp32+cl", "bf16", "bf16+cl")
BASELINE = Setting("none", False)
WARMUP = ("train.iterations=4", "train.checkpoint_every=4", "tghem.warmup=1")
"""Overrides of the untimed warm-up run of each cell: 4 iterations, the last 3 with the crop
weights (so the topology runs too)."""
PER_CELL = ("train.amp", "eval.amp", "model.channels_last")
"""The settings a cell's :class:`Setting` chooses: null in the result's ``settings``, each cell's
in its own ``amp`` and ``channels_last``."""


def _cell(steps: list[float]) -> dict:
    total = sum(steps)
    return {"iterations": len(steps), "train_seconds": total, "it_per_s": len(steps) / total,
            "seconds_per_it": total / len(steps), "median_seconds_per_it": statistics.median(steps)}


def benchmark(
    methods: list[str],
    dataset: str = "synthetic",
    data_dir: str | Path = "data",
    seed: int = 0,
    params_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    device: str = "auto",
    quiet: bool = False,
    settings: list[str] | tuple[str, ...] | None = None,
    rounds: int = 1,
) -> dict:
    """Train each method under each setting, ``rounds`` times interleaved, and collect the throughput.

    Args:
        methods: registry names, each once.
        settings: names accepted by :meth:`Setting.parse`; None: the settings file's own
            precision and memory format only.
        rounds: passes over all (setting, method) cells, >= 1.
        (the others as for ``python -m experiments.train``).

    Returns:
        ``{"cells": [{"setting", "method", "amp", "channels_last", "iterations", "train_seconds",
        "it_per_s", "seconds_per_it", "median_seconds_per_it", "speedup_over_fp32", "over_ohem",
        "over_ohem_median"}...], "tghem_over_ohem"`` (mean-step ratio of the first setting, None
        unless both ran) ``, "tghem_over_ohem_median", "device", "torch_threads", "topology",
        "settings"`` (the settings every cell shares; :data:`PER_CELL` null) ``, "versions"}``
        (:func:`benchmarks.environment.benchmark_environment`).

    Raises:
        ValueError: an unknown or repeated method or setting, ``rounds < 1``, or a precision the
            device does not offer (fp16 on the CPU); checked before any run.
    """
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"--methods: expected names from {sorted(METHODS)}, got {name!r}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"--methods: expected each method once, got {methods}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"--rounds: expected an int >= 1, got {rounds!r}")
    # Validation and intermediate checkpoints are not training steps: keep them out of the run.
    overrides = [*overrides, "train.val_every=0"]
    cfg = load_params(params_path, overrides, dataset=dataset)
    overrides.append(f"train.checkpoint_every={cfg['train']['iterations']}")
    if settings is None:
        grid = [Setting(cfg["train"]["amp"], cfg["model"]["channels_last"])]
    else:
        grid = [Setting.parse(name) for name in settings]
    if len({s.name for s in grid}) != len(grid):
        raise ValueError(f"--settings: expected each setting once, got {[s.name for s in grid]}")
    where = select_device(device)
    for setting in grid:
        check_amp(setting.amp, where, f"--settings {setting.name}")
    steps: dict[tuple[str, str], list[float]] = {(s.name, m): [] for s in grid for m in methods}
    summary = {}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for setting in grid:
            for name in methods:
                train(TrainJob(dataset, name, seed, Path(tmp) / f"warmup-{setting.name}-{name}", data_dir, params_path,
                               (*overrides, *setting.overrides(), *WARMUP), device=device, quiet=True))
        for r in range(rounds):
            for setting in grid:
                for name in methods:
                    out = Path(tmp) / f"{setting.name}-{name}-{r}"
                    summary = train(TrainJob(dataset, name, seed, out, data_dir, params_path,
                                             (*overrides, *setting.overrides()), device=device, quiet=True))
                    with open(out / "timing.csv", newline="") as f:
                        run_steps = [float(row["seconds"]) for row in csv.DictReader(f)]
                    steps[setting.name, name] += run_steps
                    if not quiet:
                        c = _cell(run_steps)
                        print(f"round {r + 1}/{rounds} {setting.name:<8} {name:<9} {c['iterations']:>5} it  "
                              f"mean {1000 * c['seconds_per_it']:>8.1f} ms  median {1000 * c['median_seconds_per_it']:>8.1f} ms",
                              flush=True)
    cells = {key: _cell(value) for key, value in steps.items()}
    for (setting_name, name), c in cells.items():
        base = cells.get((BASELINE.name, name))
        c["speedup_over_fp32"] = base["seconds_per_it"] / c["seconds_per_it"] if base else None
        ohem = cells.get((setting_name, "ohem"))
        c["over_ohem"] = c["seconds_per_it"] / ohem["seconds_per_it"] if ohem else None
        c["over_ohem_median"] = c["median_seconds_per_it"] / ohem["median_seconds_per_it"] if ohem else None
    first = grid[0].name
    tghem, ohem = cells.get((first, "tghem")), cells.get((first, "ohem"))
    run_settings = load_params(params_path, overrides, dataset=dataset)
    topo = repr(build_method("tghem", run_settings).criterion.topo)
    for key in PER_CELL:
        section, name = key.split(".")
        run_settings[section][name] = None
    by_name = {s.name: s for s in grid}
    versions = benchmark_environment()
    out = {
        "cells": [{"setting": s, "method": m, "amp": by_name[s].amp, "channels_last": by_name[s].channels_last, **c}
                  for (s, m), c in cells.items()],
        "tghem_over_ohem": tghem["over_ohem"] if tghem and ohem else None,
        "tghem_over_ohem_median": tghem["over_ohem_median"] if tghem and ohem else None,
        "rounds": rounds, "dataset": dataset, "seed": seed, "device": summary["device"],
        "torch_threads": versions["torch_threads"], "topology": topo, "settings": run_settings,
        "versions": versions,
    }
    if not quiet:
        print(format_table(out))
    return out


def format_table(result: dict) -> str:
    """The benchmark's figures as a Markdown table (one row per setting and method) and a summary line."""
    def ratio(value):
        return "" if value is None else f"{value:.2f}x"

    s = result["settings"]
    lines = [
        environment_line(result["versions"]),
        f"device {result['device']}, {result['torch_threads']} torch threads, {result['rounds']} interleaved round(s) "
        f"after an untimed warm-up run of each cell; "
        f"U-Net base {s['model']['base_channels']}, {s['train']['crops_per_image']} crops of {s['train']['crop_size']}^2, "
        f"{s['train']['iterations']} iterations per run; {result['topology']}",
        "",
        "| setting | method | it/s | mean ms/step | median ms/step | speed-up over fp32 | / ohem (mean) | / ohem (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["cells"]:
        lines.append(f"| {c['setting']} | {c['method']} | {c['it_per_s']:.2f} | {1000 * c['seconds_per_it']:.1f} | "
                     f"{1000 * c['median_seconds_per_it']:.1f} | {ratio(c['speedup_over_fp32'])} | {ratio(c['over_ohem'])} | "
                     f"{ratio(c['over_ohem_median'])} |")
    return "\n".join(lines)
