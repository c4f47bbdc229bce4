"""Stage ``report``: the study's tables and figures, rendered from what ``aggregate`` wrote.

    python -m experiments.report [--results results/synthetic] [--data-dir data] [--readme PAGE.md]

A thin command line over :func:`experiments.analysis.rendering.report`, which documents what it
reads and writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .analysis.rendering import FIGURES, embed_in_readme, report
from .core.cli import add_quiet_option, run_stage, stage_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = stage_parser(
        "python -m experiments.report",
        "Render the study's tables (Markdown and LaTeX/booktabs) and figures (PNG and PDF) from "
        "the files of python -m experiments.aggregate only (metrics.json, runs.csv, curves.csv, "
        "val_curves.csv, qualitative.json in --results) plus the prepared example image under --data-dir. "
        "Byte-identical output for identical inputs.",
        "writes:\n"
        "  RESULTS/tables/main.{md,tex}             dataset x method: F1, P, R, MAE, RMSE (mean ± std), best bold\n"
        "  RESULTS/tables/ablation_<name>.{md,tex}  the swept value vs the same metrics\n"
        "  RESULTS/tables/comparison.{md,tex}       tghem - baseline by seed: ΔF1, ΔMAE [95% t-CI], seeds won, t-test p;\n"
        "                                           per image (descriptive): bootstrap CI, Wilcoxon p\n"
        "  RESULTS/tables/dynamics.{md,tex}         what the crop weights did over training: means, Spearman correlations per crop\n"
        "  RESULTS/tables/convergence.{md,tex}      how much val F1 still moves at the end; failed, collapsed seeds\n"
        "  RESULTS/tables/anchors.{md,tex}          published count MAE and localization F1 beside the study's\n"
        "  RESULTS/tables/findings.md               the effects and failed runs in words, from metrics.json\n"
        "  RESULTS/headline/<dataset>.json          the DVC metrics (each method's and the oracle's mean F1 and MAE)\n"
        "  RESULTS/figures/<name>.{png,pdf}         " + ", ".join(FIGURES) + "\n\n"
        "examples:\n"
        "  python -m experiments.report\n"
        "  python -m experiments.report --results results/cells --data-dir data/cells --readme docs/studies/cells.md\n"
        "      # the real study, and refresh its page's blocks of results/cells/tables/{main,findings}.md",
    )
    p.add_argument("--results", type=Path, default=Path("results/synthetic"), help="folder written by experiments.aggregate (default: results/synthetic)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder with prepared/<dataset> (default: data)")
    p.add_argument("--readme", type=Path, default=None, metavar="PAGE",
                   help="also copy RESULTS/tables/main.md into the block of the Markdown page PAGE (the study's "
                        "page, docs/studies/<study>.md, or the README) between '<!-- RESULTS/tables/main.md -->' "
                        "and '<!-- /RESULTS/tables/main.md -->', and RESULTS/tables/findings.md likewise where the "
                        "page has its block")
    add_quiet_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.readme is not None and not args.readme.is_file():  # before rendering, not after
        parser.error(f"--readme: {args.readme} is not a file; name a Markdown page that holds the result blocks")
    written = report(args.results, args.data_dir)
    if args.readme is not None:
        embed_in_readme(args.readme, args.results)
    if not args.quiet:
        print(f"{args.results}: {len(written)} files in tables/, figures/ and headline/")
    return 0


if __name__ == "__main__":
    run_stage(main)
