"""Stage ``evaluate``: detection and counting metrics of a trained run on whole images.

    python -m experiments.evaluate --run RUN_DIR --data-dir DIR [--split test] [--out EVAL_DIR]

A thin command line over :func:`experiments.evaluation.run.evaluate_run`, which documents what
it writes (``metrics.json``, ``per_image.csv``, ``points/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.cli import add_device_option, add_quiet_option, add_settings_options, parsed_arguments, run_stage, stage_parser
from .core.resolution import EVAL_OVERRIDES
from .core.settings import params_help
from .evaluation.run import CHECKPOINT_CHOICES, TRAINING_FINISHED, evaluate_run


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = stage_parser(
        "python -m experiments.evaluate",
        "Evaluate a training run on whole images: tiled inference (tiles of the training crop "
        "size, overlapping and blended), sigmoid >= 0.5, one point per predicted blob "
        "(tghem's component_centroids, as TopoGuide), Hungarian matching to the ground truth "
        "within the dataset's match radius; detection (precision, recall, F1 micro and per "
        "image, mean F1 over radii 1..R) and counting (MAE, RMSE, mean relative error, "
        "GAME 0-3) metrics. Writes metrics.json, per_image.csv and points/<image_id>.csv.",
        "settings (the eval section of params.yaml; override with --set eval.KEY=VALUE):\n"
        + params_help(sections=("eval",))
        + "\n\nexamples:\n"
        "  python -m experiments.evaluate --run runs/synthetic/tghem/0 --data-dir data\n"
        "  python -m experiments.evaluate --run runs/x --split val --checkpoint last --out runs/x/val\n"
        "  python -m experiments.evaluate --run runs/x --set eval.tile_overlap=0.5",
    )
    p.add_argument("--run", required=True, type=Path, metavar="RUN_DIR", help="output folder of experiments.train")
    p.add_argument("--data-dir", default=Path("data"), type=Path, help="data folder with prepared/<dataset> (default: data)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate (default: test)")
    p.add_argument("--out", type=Path, default=None, metavar="EVAL_DIR", help="output folder (default: RUN_DIR/eval/<split>)")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINT_CHOICES,
                   help="best.pt (best validation F1; the final model when there was no validation) or last.pt")
    p.add_argument("--dataset", default=None, help="evaluate on this prepared dataset instead of the run's")
    p.add_argument("--allow-unfinished", action="store_true",
                   help="evaluate a run that stopped before its last iteration (refused otherwise); "
                        "metrics.json then says \"training_finished\": false")
    add_settings_options(p, "override an eval setting (repeatable)", metavar="eval.KEY=VALUE")
    add_device_option(p)
    add_quiet_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    with parsed_arguments(build_parser(), argv) as args:
        m, seconds = evaluate_run(
            args.run, args.data_dir, args.split, args.out, args.checkpoint, args.params, args.overrides,
            args.device, args.dataset, args.allow_unfinished,
        )
    if not args.quiet:
        print(
            f"{args.run} [{m['split']}, {m['n_images']} images, r = {m['match_radius']:g}]: "
            f"F1 {m['f1']:.4f} (P {m['precision']:.4f}, R {m['recall']:.4f}), MAE {m['mae']:.2f}, "
            f"RMSE {m['rmse']:.2f}; {seconds:.1f} s" if m["n_images"] else f"{args.run}: the {args.split} split has no images"
        )
        if m.get(TRAINING_FINISHED) is False:
            print(f"  note: {args.run} had not finished training (metrics.json: {TRAINING_FINISHED} false)")
        if m.get(EVAL_OVERRIDES):
            changed = ", ".join(f"eval.{key}={value}" for key, value in m[EVAL_OVERRIDES].items())
            print(f"  with eval settings other than the run trained with: {changed} (metrics.json: {EVAL_OVERRIDES})")
    return 0


if __name__ == "__main__":
    run_stage(main)
