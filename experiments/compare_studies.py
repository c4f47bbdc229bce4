"""Compare two runs of the same study run by run (same dataset, method and seed), e.g. fp32 vs bf16.

    python -m experiments.compare_studies A/runs.csv B/runs.csv [--metrics f1 mae] [--out FILE.csv]

A thin command line over :func:`experiments.analysis.study_comparison.compare_studies` (a tool,
not a pipeline stage): prints a Markdown table of the paired differences B - A with their 95%
interval, Wilcoxon p-value and each study's seed noise. The metrics must be numeric columns of
both files, finite in every main run; ``--out`` is a new file or an earlier table of this tool,
never one of the inputs nor any other file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.cli import parsed_arguments, run_stage, stage_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = stage_parser(
        "python -m experiments.compare_studies",
        "Pair the main runs of two aggregated studies by dataset, method and seed and print, per "
        "method and over all runs, the mean test metrics of each, the paired difference B - A "
        "with its bootstrap 95% interval and Wilcoxon p-value, and the seed noise of each study "
        "(std over seeds, averaged over methods).",
        "examples:\n"
        "  git show 84afdb1:results/runs.csv > /tmp/fp32_runs.csv   # the study before a change (then at results/)\n"
        "  python -m experiments.compare_studies /tmp/fp32_runs.csv results/synthetic/runs.csv",
    )
    p.add_argument("a", type=Path, help="runs.csv of study A (the reference)")
    p.add_argument("b", type=Path, help="runs.csv of study B (differences are B - A)")
    p.add_argument("--metrics", nargs="+", default=["f1", "mae"],
                   help="numeric runs.csv columns to compare, not the keys dataset, method, seed (default: f1 mae)")
    p.add_argument("--out", type=Path, default=None,
                   help="also write the table as CSV: a new file, or an earlier table of this tool (never an input)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Print the comparison; returns the exit status."""
    from .analysis.study_comparison import check_out, compare_studies, read_runs_csv
    from .core.fsutil import atomic_write_text

    with parsed_arguments(build_parser(), argv) as args:
        if args.out is not None:
            check_out(args.out, (args.a, args.b))
        table = compare_studies(read_runs_csv(args.a, args.metrics), read_runs_csv(args.b, args.metrics), args.metrics)
    print(table.to_markdown(index=False))
    if args.out is not None:
        atomic_write_text(args.out, table.to_csv(index=False, lineterminator="\n"))
    return 0


if __name__ == "__main__":
    run_stage(main)
