"""Training throughput per method: iterations per second and the TG-HEM / OHEM time ratio.

    python -m experiments.bench_train [--methods tghem ohem ...] [--set key=value ...]

A thin command line over :func:`experiments.training.benchmark.benchmark` (a benchmark, not a
pipeline stage): see there for what is timed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.cli import add_device_option, add_settings_options, parsed_arguments, run_stage, stage_parser
from .core.fsutil import atomic_write_json
from .training.benchmark import benchmark
from .training.methods import METHODS


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.bench_train",
        "Train every method once on the same data, seed and settings (params.yaml plus --set; "
        "validation off) and print each one's training iterations per second and the ratio of "
        "TG-HEM's iteration time to OHEM's.",
        "examples:\n"
        "  python -m experiments.bench_train                      # the CPU default configuration\n"
        "  python -m experiments.bench_train --methods tghem ohem --set train.iterations=50\n"
        "  python -m experiments.bench_train --set model.base_channels=64 --set train.crop_size=256  # GPU",
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                   help=f"methods to time (default: all: {' '.join(METHODS)})")
    p.add_argument("--dataset", default="synthetic", help="prepared dataset (default: synthetic)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder (default: data)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    add_settings_options(p, "override a setting")
    add_device_option(p)
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    with parsed_arguments(build_parser(), argv) as args:
        result = benchmark(args.methods, args.dataset, args.data_dir, args.seed, args.params, args.overrides, args.device)
    if args.json is not None:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    run_stage(main)
