"""Stage ``oracle``: the training target itself scored as a prediction (what a method can reach).

    python -m experiments.oracle --dataset NAME --data-dir DIR --out DIR [--params FILE] [--set data.KEY=VALUE]

A thin command line over :func:`experiments.evaluation.oracle.oracle_dataset`, which documents
what it writes (``metrics.json``, ``per_image_<split>.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.cli import add_quiet_option, add_settings_options, parsed_arguments, run_stage, stage_parser
from .core.settings import params_help
from .evaluation.oracle import ORACLE_SPLITS, oracle_dataset


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = stage_parser(
        "python -m experiments.oracle",
        "Score the ceiling of a dataset's training target: the ground-truth mask that training builds "
        "(disks of data.mask_radius around the dots, with data.mask_gap's background gap) taken as the "
        "prediction, one point per blob by eval.centroid_mode, Hungarian matching within the match radius "
        f"and the authors' greedy F1, on the {' and '.join(ORACLE_SPLITS)} splits. Writes metrics.json and "
        "per_image_<split>.csv.",
        "settings (the data and eval sections of params.yaml):\n"
        + params_help(sections=("data", "eval"))
        + "\n\nexamples:\n"
        "  python -m experiments.oracle --dataset vgg_cells --data-dir data --out evals/oracle/vgg_cells\n"
        "  python -m experiments.oracle --dataset vgg_cells --out /tmp/o --set data.mask_gap=false",
    )
    p.add_argument("--dataset", required=True, help="prepared dataset (<data-dir>/prepared/<dataset>)")
    p.add_argument("--data-dir", default=Path("data"), type=Path, help="data folder (default: data)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_settings_options(p, "override a data or eval setting (repeatable)", metavar="SECTION.KEY=VALUE")
    add_quiet_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        doc = oracle_dataset(args.data_dir, args.dataset, args.out, args.params, args.overrides)
    if not args.quiet:
        scores = ", ".join(f"{s}: F1 {doc[s]['f1']:.4f}, MAE {doc[s]['mae']:.2f}" for s in ORACLE_SPLITS if s in doc)
        print(f"oracle {args.dataset} (radius {doc['target']['radius']}, gap {doc['target']['gap']}): {scores}")
    return 0


if __name__ == "__main__":
    run_stage(main)
