"""Training throughput per method: iterations per second and the TG-HEM / OHEM time ratio.

:func:`benchmark` (what ``python -m experiments.bench_train`` runs) trains each method once, one
after the other in this process, on the same dataset, seed and settings (``params.yaml`` plus
overrides), into a temporary folder with validation switched off, and reports the training-step
throughput each run recorded (sampling the crops, forward, loss, backward and optimizer step; no
validation, no checkpoint writing). A whole run is timed, not a few steps: TG-HEM's topological
term is much slower on the noisy predictions of the first iterations than later, so its cost
depends on the phase of training. Besides the mean throughput of the run (iterations / summed
step time) it reports the median step time, which a busy machine's occasional stalls do not move.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
from pathlib import Path

import torch

from ..core.runtime import software_versions
from ..core.settings import load_params
from .loop import TrainJob, train
from .methods import METHODS, build_method


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
            summary = train(TrainJob(dataset, name, seed, Path(tmp) / name, data_dir, params_path, tuple(overrides),
                                     device=device, quiet=True))
            with open(Path(tmp) / name / "timing.csv", newline="") as f:
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
