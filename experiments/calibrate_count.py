"""The constant of the ``tghem_count`` control from TG-HEM's training logs (a tool, not a stage).

    python -m experiments.calibrate_count RUN_DIR [RUN_DIR ...]

A thin command line over :func:`experiments.analysis.calibration.count_weight_constant`: prints
``lambda_count`` such that ``1 + lambda_count * mean |n_pred - n_gt|`` equals TG-HEM's mean crop
weight ``1 + lambda * mean D`` over the crops of the given TG-HEM runs after their warm-up
(``tghem.warmup``, when neither loss weights), and the means it used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.cli import parsed_arguments, run_stage, stage_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.calibrate_count",
        "Read the crops.csv of TG-HEM training runs (one lambda) and print the tghem_count "
        "constant lambda_count = lambda * mean(D) / mean(|n_pred - n_gt|), which gives the "
        "control the same mean crop weight as TG-HEM over those crops.",
        "example (the real study's value in studies/cells/params.yaml):\n"
        "  python -m experiments.calibrate_count runs/cells/ablation/lambda_pers/0.001/seed{0,1,2}",
    )
    p.add_argument("runs", nargs="+", type=Path, help="TG-HEM training folders (train.json, crops.csv), each once")
    return p


def main(argv: list[str] | None = None) -> int:
    """Print the constant; returns the exit status."""
    from .analysis.calibration import count_weight_constant
    from .training.methods import warmup_iterations

    with parsed_arguments(build_parser(), argv) as args:
        result = count_weight_constant(args.runs, warmup_iterations)
    print(f"lambda_count = {result['lambda_count']:.6g}   (tghem.lambda_pers {result['lambda_pers']:g}: "
          f"mean D {result['mean_discrepancy']:.6g}, mean |n_pred - n_gt| {result['mean_count_error']:.6g}, "
          f"mean weight {result['mean_weight']:.6g}; {result['n_crops']} crops of {result['n_runs']} runs after "
          f"their warm-up, {result['n_warmup_crops']} warm-up crops left out)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_stage(main))
