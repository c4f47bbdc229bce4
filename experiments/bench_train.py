"""Training throughput per method: iterations per second and the TG-HEM / OHEM time ratio.

    python -m experiments.bench_train [--methods tghem ohem ...] [--set key=value ...]

Runs :func:`experiments.train.train` once per method, one after the other in this process, on
the same dataset, seed and settings (``params.yaml`` plus overrides), into a temporary folder
with validation switched off, and reports the training-step throughput each run recorded
(sampling the crops, forward, loss, backward and optimizer step; no validation, no checkpoint
writing). A whole run is timed, not a few steps: TG-HEM's topological term is much slower on
the noisy predictions of the first iterations than later, so its cost depends on the phase of
training. Besides the mean throughput of the run (iterations / summed step time) it reports the
median step time, which a busy machine's occasional stalls do not move.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import textwrap
from pathlib import Path

import torch

from .cli import run_stage
from .config import ConfigError, load_params
from .fsutil import atomic_write_text
from .methods import METHODS, build_method
from .runtime import DEVICE_CHOICES, software_versions
from .train import train


def benchmark(
    methods: list[str],
    dataset: str = "synthetic",
    data_dir: str | Path = "data",
    seed: int = 0,
    params_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    device: str = "auto",
    quiet: bool = False,
) -> dict:
    """Train each method once and collect its throughput.

    Returns:
        ``{"methods": {name: {"iterations", "train_seconds", "it_per_s", "seconds_per_it"}},
        "tghem_over_ohem": ratio of mean iteration times (None unless both ran),
        "tghem_over_ohem_median": the same for median step times, "settings", "versions"}``.
    """
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"--methods: expected names from {sorted(METHODS)}, got {name!r}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"--methods: expected each method once, got {methods}")
    # Validation and intermediate checkpoints are not training steps: keep them out of the run.
    overrides = [*overrides, "train.val_every=0"]
    cfg = load_params(params_path, overrides)
    overrides.append(f"train.checkpoint_every={cfg['train']['iterations']}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for name in methods:
            summary = train(dataset, name, seed, Path(tmp) / name, data_dir, params_path, overrides,
                            device=device, quiet=True)
            with open(Path(tmp) / name / "log.csv", newline="") as f:
                steps = [float(row["seconds"]) for row in csv.DictReader(f)]
            results[name] = {
                "iterations": summary["iterations"],
                "train_seconds": summary["train_seconds"],
                "it_per_s": summary["it_per_s"],
                "seconds_per_it": summary["train_seconds"] / summary["iterations"],
                "median_seconds_per_it": statistics.median(steps),
            }
            if not quiet:
                r = results[name]
                print(f"{name:<9} {r['iterations']:>6} it  {r['train_seconds']:>8.1f} s  {r['it_per_s']:>7.2f} it/s  "
                      f"mean {1000 * r['seconds_per_it']:>7.1f} ms/it  median {1000 * r['median_seconds_per_it']:>7.1f} ms/it",
                      flush=True)
    ratio = median_ratio = None
    if "tghem" in results and "ohem" in results:
        ratio = results["tghem"]["seconds_per_it"] / results["ohem"]["seconds_per_it"]
        median_ratio = results["tghem"]["median_seconds_per_it"] / results["ohem"]["median_seconds_per_it"]
    settings = load_params(params_path, overrides)
    topo = repr(build_method("tghem", settings).criterion.topo)
    out = {"methods": results, "tghem_over_ohem": ratio, "tghem_over_ohem_median": median_ratio, "dataset": dataset,
           "seed": seed, "device": summary["device"], "torch_threads": torch.get_num_threads(), "topology": topo,
           "settings": settings, "versions": software_versions()}
    if not quiet:
        print(f"device {out['device']}, {out['torch_threads']} torch threads; {topo}")
    if not quiet and ratio is not None:
        print(f"tghem / ohem iteration time: {ratio:.2f}x (mean over the run), {median_ratio:.2f}x (median step)")
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.bench_train",
        description=textwrap.fill(
            "Train every method once on the same data, seed and settings (params.yaml plus --set; "
            "validation off) and print each one's training iterations per second and the ratio of "
            "TG-HEM's iteration time to OHEM's.",
            width=88,
        ),
        epilog=(
            "examples:\n"
            "  python -m experiments.bench_train                      # the CPU default configuration\n"
            "  python -m experiments.bench_train --methods tghem ohem --set train.iterations=50\n"
            "  python -m experiments.bench_train --set model.base_channels=64 --set train.crop_size=256  # GPU"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                   help=f"methods to time (default: all: {' '.join(METHODS)})")
    p.add_argument("--dataset", default="synthetic", help="prepared dataset (default: synthetic)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder (default: data)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--params", type=Path, default=None, help="settings file (default: the repository's params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="auto: cuda, then mps, then cpu")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = benchmark(args.methods, args.dataset, args.data_dir, args.seed, args.params, args.overrides, args.device)
    except ConfigError as err:
        parser.error(str(err))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_stage(main)
