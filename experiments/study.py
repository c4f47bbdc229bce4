"""The study design: which runs the pipeline makes and where each one's files live.

``params.yaml`` holds, beside the run settings of :mod:`experiments.config`, two sections that
describe the study rather than one run:

* ``study``: ``datasets``, ``methods`` and ``seeds``; the main comparison trains and evaluates
  every combination; ``launcher`` starts the training stages (``python``, or e.g.
  ``torchrun --standalone --nproc_per_node 8`` on a multi-GPU machine);
* ``ablation``: one ``dataset`` and ``seed``, and the values of the TG-HEM settings that are swept
  one at a time (``lambda_pers``: the weight of the topological discrepancy; ``ohem_min_kept``: the
  OHEM top-k, the number of hard pixels kept at least per crop), every other setting as in
  ``params.yaml``.

``dvc.yaml`` expands these lists into its stage matrices; :func:`main_run` and
:func:`ablation_run` give the folders its commands write, so the aggregation reads exactly the
runs the study defines (never a stale folder left from an earlier study).

Folders (relative to the repository root)::

    runs/main/<dataset>/<method>/seed<seed>/      training run  (experiments.train --out)
    evals/main/<dataset>/<method>/seed<seed>/     its evaluation on the test split
    runs/ablation/<setting>/<value>/              TG-HEM with tghem.<setting>=<value>
    evals/ablation/<setting>/<value>/
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, read_params_file

ABLATION_SETTINGS = ("lambda_pers", "ohem_min_kept")
"""TG-HEM settings (keys of the ``tghem`` section) that the ablation sweeps."""

BASELINE_REFERENCE = "tghem"
"""The method the paired comparisons test against every other method."""


@dataclass(frozen=True)
class RunPaths:
    """Folders of one run: ``train`` (experiments.train's ``--out``), ``eval`` (experiments.evaluate's)."""

    train: Path
    eval: Path


@dataclass(frozen=True)
class Study:
    """The runs of the study, as ``params.yaml``'s ``study`` and ``ablation`` sections give them.

    Attributes:
        launcher: command that runs ``-m experiments.train`` (``python`` or a torchrun line).
        datasets: prepared dataset names of the main comparison.
        methods: loss names (keys of :data:`experiments.methods.METHODS`).
        seeds: seeds; each (dataset, method) is trained once per seed.
        ablation_dataset: dataset of the ablation runs.
        ablation_seed: seed of the ablation runs.
        ablation: ``{setting: values}`` for each of :data:`ABLATION_SETTINGS`.
    """

    launcher: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    ablation_dataset: str
    ablation_seed: int
    ablation: dict[str, tuple]

    def main_runs(self) -> list[tuple[str, str, int]]:
        """Every (dataset, method, seed) of the main comparison, in dvc.yaml's matrix order."""
        return [(d, m, s) for d in self.datasets for m in self.methods for s in self.seeds]


def format_value(value: Any) -> str:
    """A swept value as dvc writes it into a stage's paths (``0.1``, ``2.0``, ``500``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main_run(dataset: str, method: str, seed: int, root: str | Path = ".") -> RunPaths:
    """Folders of one run of the main comparison."""
    tail = Path("main") / dataset / method / f"seed{seed}"
    return RunPaths(Path(root) / "runs" / tail, Path(root) / "evals" / tail)


def ablation_run(setting: str, value: Any, root: str | Path = ".") -> RunPaths:
    """Folders of the ablation run with ``tghem.<setting>=<value>``."""
    if setting not in ABLATION_SETTINGS:
        raise ValueError(f"setting: expected one of {ABLATION_SETTINGS}, got {setting!r}")
    tail = Path("ablation") / setting / format_value(value)
    return RunPaths(Path(root) / "runs" / tail, Path(root) / "evals" / tail)


def _name_list(section: str, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v for v in raw):
        raise ConfigError(f"params: {section}.{key}: expected a non-empty list of names, got {raw!r}")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"params: {section}.{key}: names repeat in {raw!r}")
    return tuple(raw)


def _number_list(section: str, key: str, raw: Any, kind: type, low: float) -> tuple:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if kind is int and not isinstance(v, int):
            return False
        return math.isfinite(v) and v >= low

    if not isinstance(raw, list) or not raw or not all(ok(v) for v in raw):
        what = "ints" if kind is int else "numbers"
        raise ConfigError(f"params: {section}.{key}: expected a non-empty list of {what} >= {low:g}, got {raw!r}")
    if len({format_value(v) for v in raw}) != len(raw):
        raise ConfigError(f"params: {section}.{key}: values repeat in {raw!r}")
    return tuple(raw)


def parse_study(raw: dict, source: str = "params") -> Study:
    """Check the ``study`` and ``ablation`` sections of a parsed ``params.yaml``.

    Raises:
        ConfigError: a section or key is missing or unknown, or a value has the wrong type.
    """
    from .methods import METHODS  # a late import keeps `experiments.config` free of torch

    expected = {
        "study": {"launcher", "datasets", "methods", "seeds"},
        "ablation": {"dataset", "seed", *ABLATION_SETTINGS},
    }
    for section, keys in expected.items():
        values = raw.get(section) if isinstance(raw, dict) else None
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r}: expected a mapping with keys {sorted(keys)}, got {values!r}")
        if set(values) != keys:
            extra, missing = sorted(set(values) - keys), sorted(keys - set(values))
            raise ConfigError(f"{source}: section {section!r}: unknown keys {extra}, missing keys {missing}")
    s, a = raw["study"], raw["ablation"]
    methods = _name_list("study", "methods", s["methods"])
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"{source}: study.methods: unknown {unknown}; known methods: {sorted(METHODS)}")
    if BASELINE_REFERENCE not in methods:
        raise ConfigError(f"{source}: study.methods: must include {BASELINE_REFERENCE!r}, the method the others are compared with")
    seeds = _number_list("study", "seeds", s["seeds"], int, 0)
    if not isinstance(s["launcher"], str) or not s["launcher"].strip():
        raise ConfigError(f"{source}: study.launcher: expected a command such as 'python', got {s['launcher']!r}")
    if not isinstance(a["dataset"], str) or not a["dataset"]:
        raise ConfigError(f"{source}: ablation.dataset: expected a dataset name, got {a['dataset']!r}")
    if isinstance(a["seed"], bool) or not isinstance(a["seed"], int) or a["seed"] < 0:
        raise ConfigError(f"{source}: ablation.seed: expected an int >= 0, got {a['seed']!r}")
    return Study(
        launcher=s["launcher"],
        datasets=_name_list("study", "datasets", s["datasets"]),
        methods=methods,
        seeds=seeds,
        ablation_dataset=a["dataset"],
        ablation_seed=a["seed"],
        ablation={
            "lambda_pers": _number_list("ablation", "lambda_pers", a["lambda_pers"], float, 0),
            "ohem_min_kept": _number_list("ablation", "ohem_min_kept", a["ohem_min_kept"], int, 1),
        },
    )


def read_study(path: str | Path | None = None) -> Study:
    """The study of a ``params.yaml`` (default: the repository's)."""
    return parse_study(*read_params_file(path))
