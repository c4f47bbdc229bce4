"""How often the comparison's intervals cover a known effect with few seeds (3, and 5): a simulation.

    python -m experiments.interval_coverage [--trials 2000] [--resamples 1000] [--seed 0]

A thin command line over :func:`experiments.analysis.coverage.interval_coverage`, which
documents the simulated design; prints, for each scenario of
:data:`experiments.analysis.coverage.SCENARIOS`, a line naming it and one line for each interval:
the coverage at nominal 0.95 of the hierarchical (seed, then image) bootstrap and of the paired
seed-level t-interval, with its Monte-Carlo standard error and mean width. Not a pipeline stage: it reads and writes no file.
"""

from __future__ import annotations

import argparse

from .analysis.coverage import SCENARIOS, interval_coverage
from .core.cli import int_at_least, run_stage, stage_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.interval_coverage",
        "Simulate two-level (seed, image) paired differences with a known effect and measure how often "
        "the hierarchical bootstrap and the paired seed-level t-interval contain it (nominal 0.95).",
        "examples:\n  python -m experiments.interval_coverage\n  python -m experiments.interval_coverage --trials 500",
    )
    p.add_argument("--trials", type=int_at_least(1), default=2000, help="simulated studies per scenario (default: 2000)")
    p.add_argument("--resamples", type=int_at_least(1), default=1000, help="bootstrap resamples per interval (default: 1000)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the simulation, >= 0 (default: 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Print the coverages; returns the exit status (argument errors exit with status 2 before anything is printed)."""
    args = build_parser().parse_args(argv)
    print(f"coverage of the true effect at nominal 0.95, {args.trials} trials, {args.resamples} bootstrap resamples")
    for scenario in SCENARIOS:
        r = interval_coverage(scenario, args.trials, args.resamples, args.seed)
        print(f"{scenario.name}, {r['n_seeds']} seeds:\n"
              f"  hierarchical bootstrap {r['hierarchical_bootstrap']:.3f} ± {r['hierarchical_bootstrap_se']:.3f} "
              f"(mean width {r['hierarchical_bootstrap_width']:.4f})\n"
              f"  seed-level t-interval  {r['t_interval']:.3f} ± {r['t_interval_se']:.3f} "
              f"(mean width {r['t_interval_width']:.4f})")
    return 0


if __name__ == "__main__":
    run_stage(main)
