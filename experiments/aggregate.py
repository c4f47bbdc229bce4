"""Stage ``aggregate``: every number of the study, gathered from exactly the runs it defines.

    python -m experiments.aggregate [--params params.yaml] [--root .] [--data-dir ROOT/data] [--out results/synthetic]
    python -m experiments.aggregate --from-tables [--params params.yaml] --out results/<study>

The second form recomputes the summaries and comparisons from the tables a first run logged
(:func:`experiments.analysis.aggregation.reaggregate`), where the runs are not at hand.

A thin command line over :func:`experiments.analysis.aggregation.aggregate`, which documents the
files it writes (:data:`~experiments.analysis.aggregation.OUTPUT_FILES`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .analysis.aggregation import OUTPUT_FILES, aggregate, reaggregate
from .core.cli import add_quiet_option, parsed_arguments, run_stage, stage_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = stage_parser(
        "python -m experiments.aggregate",
        "Gather the study's results: read exactly the runs that the study and ablation sections "
        "of --params define, found below --evals by their own records (each evaluation's metrics.json names "
        "its run, whose train.json holds the settings it trained with; a missing run is an error naming the "
        "stages that make it), summarise the test metrics over seeds (mean, sample "
        "std), compare tghem with every other method (by seed, the primary comparison: paired "
        "t-interval, t-test, seeds won; by test image, descriptive: Wilcoxon signed-rank test, paired "
        "bootstrap 95% CI; differences are tghem minus baseline), compute the qualitative example "
        "(detections, persistence diagrams, matchings, D) and write metrics.json, runs.csv, "
        "per_image.csv, curves.csv, val_curves.csv, comparison.csv, qualitative.json and oracle.csv into --out. "
        "Deterministic: no timing, fixed bootstrap seed.",
        "reads (below ROOT/EVALS, and the training folders their records name):\n"
        "  training runs      train.json, log.csv, val.csv, crops.csv\n"
        "  evaluations        metrics.json, per_image.csv, points/\n"
        "  oracles            metrics.json of the oracle stages (the target scored as a prediction), if any\n"
        "  DATA_DIR/prepared/<dataset>/   split.csv (split sizes), points/ of every evaluated test image (the F1 at\n"
        "                    a stricter radius); the first dataset's ground truth (qualitative example)\n"
        "writes (OUT/):\n"
        "  metrics.json      main (mean, std, n over seeds), comparison (paired tests), ablation,\n"
        "                    lambda_selection, convergence, dynamics, oracle, splits (images per split)\n"
        "  runs.csv          one row per run: group, dataset, method, seed, setting, value, metrics, failed\n"
        "  per_image.csv     main runs (and tghem_lambda0), one row per test image: counts, f1, abs_count_error\n"
        "  curves.csv        training logs thinned to 100 points per run (loss, seg_loss, weights, D, count error)\n"
        "  val_curves.csv    every run's validation curve (val F1, precision, recall, MAE by iteration)\n"
        "  comparison.csv    tghem - baseline per dataset and quantity: by seed (t-interval, wins, p), by image\n"
        "  qualitative.json  example image: points, TP/FP/FN, persistence crop, diagrams, matchings, D, w\n"
        "  oracle.csv        the training target scored as a prediction, per dataset and split\n\n"
        "examples:\n"
        "  python -m experiments.aggregate\n"
        "  python -m experiments.aggregate --params params.yaml --root . --evals evals/main evals/ablation evals/oracle --out results\n"
        "  python -m experiments.aggregate --from-tables --params studies/cells/params.yaml --out results/cells",
    )
    p.add_argument("--params", type=Path, default=None, help="params.yaml defining the study (default: the repository's)")
    p.add_argument("--evals", type=Path, nargs="+", default=None, metavar="EVALS",
                   help="folders holding the study's evaluations and oracles, searched recursively, relative to "
                        "ROOT (default: ROOT/evals)")
    p.add_argument("--root", type=Path, default=Path("."),
                   help="folder the commands ran in: the records name their runs relative to it (default: .)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data folder with prepared/<dataset> of every study dataset: split sizes, ground-truth points, the "
                        "qualitative example (default: ROOT/data)")
    p.add_argument("--out", type=Path, default=Path("results/synthetic"), help="output folder (default: results/synthetic, the default study's)")
    p.add_argument("--from-tables", action="store_true",
                   help="recompute metrics.json, comparison.csv and runs.csv's failed column from OUT's runs.csv, "
                        "per_image.csv and val_curves.csv instead of reading the runs (other files untouched); with "
                        "--evals, the oracle rows from the oracle records there (oracle.csv written again)")
    add_quiet_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        if args.from_tables:
            metrics = reaggregate(args.params, args.out, args.root, args.evals, args.data_dir)
        else:
            metrics = aggregate(args.params, args.root, args.out, args.data_dir, args.evals)
    if not args.quiet:
        n = sum(len(by_method) for by_method in metrics["main"].values())
        print(f"{args.out}: {n} dataset x method summaries, {len(OUTPUT_FILES)} files")
    return 0


if __name__ == "__main__":
    run_stage(main)
