"""Training throughput per method and precision / memory format, and the TG-HEM / OHEM time ratio.

    python -m benchmarks.train [--methods tghem ohem ...] [--settings fp32 bf16+cl ...]
        [--rounds R] [--set key=value ...]

A thin command line over :func:`benchmarks.training.benchmark` (a benchmark, not a
pipeline stage): see there for what is timed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.core.cli import (add_device_option, add_settings_options, int_at_least, parsed_arguments, run_stage,
                                  stage_parser)
from experiments.core.fsutil import atomic_write_json
from benchmarks.training import Setting, benchmark
from experiments.training.loop import MAX_SEED
from experiments.training.methods import METHODS


def setting_name(text: str) -> str:
    """An argparse ``type``: a name :meth:`Setting.parse` accepts (a bad one is a usage error, exit 2)."""
    try:
        return Setting.parse(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--settings: ")) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m benchmarks.train",
        "Train every method under every precision / memory format (--settings) on the same data, "
        "seed and settings (params.yaml plus --set; validation off), --rounds times interleaved, "
        "and print a table: it/s, mean and median ms per step, the speed-up over float32 NCHW "
        "and each method's step time over OHEM's (TG-HEM's overhead).",
        "settings: fp32, bf16, fp16 (CUDA), each optionally +cl (channels_last), e.g. bf16+cl\n\n"
        "examples:\n"
        "  python -m benchmarks.train                      # the default configuration, as params.yaml sets it\n"
        "  python -m benchmarks.train --methods tghem ohem --settings fp32 fp32+cl bf16 bf16+cl --rounds 3\n"
        "  python -m benchmarks.train --methods ohem --settings fp32 bf16+cl --rounds 3 \\\n"
        "      --set model.base_channels=16 --set train.crop_size=128 --set train.iterations=40\n"
        "  bash benchmarks/gpu.sh                          # the prepared GPU check (base 64, 8 x 256^2)",
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                   help=f"methods to time (default: all: {' '.join(METHODS)})")
    p.add_argument("--settings", nargs="+", type=setting_name, default=None, metavar="SETTING",
                   help="precisions / memory formats to time, e.g. fp32 fp32+cl bf16 bf16+cl "
                        "(default: the one of the settings file: train.amp, model.channels_last)")
    p.add_argument("--rounds", type=int_at_least(1), default=1, help="interleaved passes over all settings and methods (default 1)")
    p.add_argument("--dataset", default="synthetic", help="prepared dataset (default: synthetic)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder (default: data)")
    p.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0, help=f"seed of every run, 0..{MAX_SEED} (default 0)")
    add_settings_options(p, "override a setting")
    add_device_option(p)
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = build_parser()
    with parsed_arguments(parser, argv) as args:
        if args.json is not None and args.json.is_dir():  # found now, not after the whole benchmark has run
            parser.error(f"--json: expected a file to write, got the existing folder {args.json}")
        if args.settings is not None and len(set(args.settings)) != len(args.settings):
            parser.error(f"--settings: expected each setting once, got {args.settings}")
        result = benchmark(args.methods, args.dataset, args.data_dir, args.seed, args.params, args.overrides, args.device,
                           settings=args.settings, rounds=args.rounds)
    if args.json is not None:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    run_stage(main)
