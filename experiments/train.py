"""Stage ``train``: a U-Net trained on random crops with one of the registered losses.

    python -m experiments.train --dataset NAME --method METHOD --seed S --data-dir DIR --out RUN_DIR
        [--set key=value ...] [--resume] [--stop-after N] [--device auto] [--amp none|bf16|fp16]

A thin command line over :func:`experiments.training.loop.train`, which documents the training
and the files of the run folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.cli import (add_device_option, add_quiet_option, add_settings_options, int_at_least, parsed_arguments, run_stage,
                       stage_parser)
from .core.runtime import AMP_CHOICES
from .core.settings import ConfigError, params_help, read_params
from .training.loop import MAX_SEED, TrainJob, train
from .training.stopping import TrainingInterrupted
from .training.methods import METHODS


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage (the settings are listed in the epilog)."""
    try:
        defaults = read_params()
    except ConfigError:
        defaults = None
    p = stage_parser(
        "python -m experiments.train",
        "Train a U-Net on K random crops of one training image per mini-batch with one of the "
        "registered losses; Adam with weight decay and polynomial LR decay for a fixed number of "
        "iterations; validation on the val split by detection F1 every train.val_every "
        "iterations, keeping best.pt. Seeded end to end; resumable (--resume); distributed "
        "with torchrun (DDP, gloo on CPU, nccl on GPU). Writes log.csv, crops.csv, val.csv, last.pt, "
        "best.pt, train.json and settings.json into --out (tracked by DVC), and timing.csv and "
        "environment.json (machine-dependent, untracked).",
        "methods (the settings sections each reads): "
        + ", ".join(f"{name} ({', '.join(m.sections)})" for name, m in METHODS.items()) + "\n\n"
        "settings (params.yaml, current values; override with --set KEY=VALUE):\n"
        + params_help(defaults)
        + "\n\nexamples:\n"
        "  python -m experiments.train --dataset synthetic --method tghem --seed 0 --out runs/synthetic/tghem/0\n"
        "  python -m experiments.train --dataset synthetic --method ohem --seed 1 --out runs/o1 --set train.iterations=50\n"
        "  python -m experiments.train ... --out runs/x --resume           # continue from runs/x/last.pt\n"
        "  torchrun --nproc_per_node 2 -m experiments.train --dataset synthetic --method tghem --seed 0 --out runs/ddp",
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="prepared dataset under DATA_DIR/prepared/ (see python -m experiments.prepare --help)")
    p.add_argument("--method", required=True, choices=list(METHODS), help="loss, by registry name")
    p.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0,
                   help=f"seed of initialisation, crops and augmentation, 0..{MAX_SEED} (default 0)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder with prepared/NAME (default: data)")
    p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder (created)")
    add_settings_options(p, "override a setting, e.g. --set train.iterations=50 (repeatable; unknown keys are errors)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last.pt")
    p.add_argument("--stop-after", type=int_at_least(1), default=None, metavar="N",
                   help="stop after N iterations of this invocation (writes last.pt; continue with --resume)")
    add_device_option(p)
    p.add_argument("--amp", default=None, choices=AMP_CHOICES,
                   help="autocast dtype of training and validation, short for --set train.amp=X --set eval.amp=X "
                        "(default: the settings'; bf16 on the CPU or CUDA, fp16 on CUDA)")
    add_quiet_option(p, "no progress bar and no summary line")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (setting errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        overrides = [*args.overrides, *([f"train.amp={args.amp}", f"eval.amp={args.amp}"] if args.amp else [])]
        try:
            summary = train(TrainJob(args.dataset, args.method, args.seed, args.out, args.data_dir, args.params,
                                     tuple(overrides), resume=args.resume, stop_after=args.stop_after,
                                     device=args.device, quiet=args.quiet))
        except TrainingInterrupted as stopped:
            print(f"interrupted: {stopped}", file=sys.stderr)
            return stopped.exit_code
    if summary and not args.quiet:
        best = summary["best_val_f1"]
        best_text = f"best val F1 {best:.4f} at iteration {summary['best_iteration']}" if best is not None else "no validation"
        print(f"{args.out}: {summary['iterations']}/{summary['total_iterations']} iterations, "
              f"{summary['it_per_s']} it/s, {best_text}")
    return 0


if __name__ == "__main__":
    run_stage(main)
