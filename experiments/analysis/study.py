"""The study design: which runs the pipeline makes.

``params.yaml`` holds, beside the run settings of :mod:`experiments.core.settings`, two sections
that describe the study rather than one run:

* ``study``: ``datasets``, ``methods`` and ``seeds``; the main comparison trains and evaluates
  every combination; ``launcher`` starts the training stages (``python``, or e.g.
  ``torchrun --standalone --nproc_per_node 8`` on a multi-GPU machine);
  (optional) ``threads``, the torch threads of every stage, and ``prepare``, the split arguments of
  each dataset (read by ``dvc.yaml`` only);
* ``ablation``: one ``dataset``, its ``seeds``, and the values of the TG-HEM settings that are swept
  one at a time (:data:`ABLATIONS`: ``lambda_pers``, the weight of the topological discrepancy;
  ``ohem_min_kept``, the number of hard pixels TG-HEM's OHEM pixel term keeps per crop;
  ``top_dimension``, the definition's persistence diagrams instead of the reference code's;
  ``warmup``, the iterations on the pixel term alone; ``mask_gap`` and ``mask_radius``, the
  training target), every other setting as in ``params.yaml``; each value is trained once per seed.

``dvc.yaml`` expands these lists into its stage matrices (its stages named by
:func:`stage_name`); the analysis finds each run from its own records
(:mod:`experiments.analysis.discovery`), so it reads exactly the runs the study defines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection

from ..core.settings import ConfigError, read_params_file

ABLATIONS = {"lambda_pers": "tghem.lambda_pers", "ohem_min_kept": "ohem.min_kept", "top_dimension": "tghem.top_dimension",
             "warmup": "tghem.warmup", "mask_gap": "data.mask_gap", "mask_radius": "data.mask_radius"}
"""Swept setting of each ablation: ``ablation.<name>`` lists the values of setting ``ABLATIONS[name]``
(the ablation trains TG-HEM with ``--set <setting>=<value>``). A study sweeps any of them (at least
one); the others it leaves out."""

_ABLATION_VALUES = {"lambda_pers": (float, 0), "ohem_min_kept": (int, 1), "top_dimension": (bool, None),
                    "warmup": (float, 0), "mask_gap": (bool, None), "mask_radius": (float, 0)}
"""The kind of each ablation's values and their lower bound."""

BASELINE_REFERENCE = "tghem"
"""The method the paired comparisons test against every other method."""


@dataclass(frozen=True)
class Study:
    """The runs of the study, as ``params.yaml``'s ``study`` and ``ablation`` sections give them.

    Attributes:
        launcher: command that runs ``-m experiments.train`` (``python`` or a torchrun line).
        datasets: prepared dataset names of the main comparison.
        methods: loss names (keys of :data:`experiments.training.methods.METHODS`).
        seeds: seeds; each (dataset, method) is trained once per seed.
        ablation_dataset: dataset of the ablation runs.
        ablation_seeds: seeds of the ablation runs (each value is trained once per seed).
        ablation: ``{name: values}`` for each ablation of :data:`ABLATIONS` the study sweeps, in
            that order.
    """

    launcher: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    ablation_dataset: str
    ablation_seeds: tuple[int, ...]
    ablation: dict[str, tuple]

    def main_runs(self) -> list[tuple[str, str, int]]:
        """Every (dataset, method, seed) of the main comparison, in dvc.yaml's matrix order."""
        return [(d, m, s) for d in self.datasets for m in self.methods for s in self.seeds]

    def ablation_runs(self) -> list[tuple[str, Any, int]]:
        """Every (ablation name, value, seed), ablation by ablation in :data:`ABLATIONS` order, in dvc.yaml's matrix order."""
        return [(name, v, s) for name in self.ablation for v in self.ablation[name] for s in self.ablation_seeds]


def format_value(value: Any) -> str:
    """A value as DVC writes it into a stage's name and command (``0.1``, ``2.0``, ``500``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stage_name(group: str, *values: Any) -> str:
    """DVC's name of the stage of ``group`` for one matrix item or ``foreach`` value (``values`` in the
    matrix's key order): ``train@synthetic-tghem-0``, ``train_lambda_pers@0.5-0``, ``oracle_mask_gap@False``
    (DVC names booleans as Python prints them, while its commands get YAML's ``false``).

    Example:
        >>> stage_name("train_top_dimension", True, 0), stage_name("evaluate", "synthetic", "ohem", 2)
        ('train_top_dimension@True-0', 'evaluate@synthetic-ohem-2')
    """
    return f"{group}@" + "-".join(str(v) if isinstance(v, bool) else format_value(v) for v in values)


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


def parse_study(raw: dict, source: str = "params", known_methods: Collection[str] | None = None) -> Study:
    """Check the ``study`` and ``ablation`` sections of a parsed ``params.yaml``.

    Args:
        raw: the parsed file.
        source: its name, for error messages.
        known_methods: the method names to accept (e.g. the keys of
            :data:`experiments.training.methods.METHODS`); None accepts any name (the training
            stage rejects an unknown one itself). The analysis does not import the training
            code, so neither its results nor its pipeline dependencies change with it.

    Raises:
        ConfigError: a section or key is missing or unknown, or a value has the wrong type.
    """
    expected = {
        "study": {"launcher", "datasets", "methods", "seeds"},
        "ablation": {"dataset", "seeds"},
    }
    optional = {"study": {"threads", "prepare"}, "ablation": set(ABLATIONS)}
    for section, keys in expected.items():
        values = raw.get(section) if isinstance(raw, dict) else None
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r}: expected a mapping with keys {sorted(keys)}, got {values!r}")
        if not keys <= set(values) <= keys | optional[section]:
            extra, missing = sorted(set(values) - keys - optional[section]), sorted(keys - set(values))
            wrong = [f"{what} keys {keys}" for what, keys in (("unknown", extra), ("missing", missing)) if keys]
            raise ConfigError(f"{source}: section {section!r}: {', '.join(wrong)}")
    s, a = raw["study"], raw["ablation"]
    methods = _name_list("study", "methods", s["methods"])
    unknown = [m for m in methods if known_methods is not None and m not in known_methods]
    if unknown:
        raise ConfigError(f"{source}: study.methods: unknown {unknown}; known methods: {sorted(known_methods)}")
    if BASELINE_REFERENCE not in methods:
        raise ConfigError(f"{source}: study.methods: must include {BASELINE_REFERENCE!r}, the method the others are compared with")
    seeds = _number_list("study", "seeds", s["seeds"], int, 0)
    if not isinstance(s["launcher"], str) or not s["launcher"].strip():
        raise ConfigError(f"{source}: study.launcher: expected a command such as 'python', got {s['launcher']!r}")
    if not isinstance(a["dataset"], str) or not a["dataset"]:
        raise ConfigError(f"{source}: ablation.dataset: expected a dataset name, got {a['dataset']!r}")
    swept = [name for name in ABLATIONS if name in a]
    if not swept:
        raise ConfigError(f"{source}: section 'ablation': expected at least one of {sorted(ABLATIONS)}")
    ablation = {}
    for name in swept:
        kind, low = _ABLATION_VALUES[name]
        if kind is bool:
            values = a[name]
            if not isinstance(values, list) or not values or not all(isinstance(v, bool) for v in values) \
                    or len(set(values)) != len(values):
                raise ConfigError(f"{source}: ablation.{name}: expected a non-empty list of distinct true/false, got {values!r}")
            ablation[name] = tuple(values)
        else:
            ablation[name] = _number_list("ablation", name, a[name], kind, low)
    return Study(
        launcher=s["launcher"],
        datasets=_name_list("study", "datasets", s["datasets"]),
        methods=methods,
        seeds=seeds,
        ablation_dataset=a["dataset"],
        ablation_seeds=_number_list("ablation", "seeds", a["seeds"], int, 0),
        ablation=ablation,
    )


def read_study(path: str | Path | None = None, known_methods: Collection[str] | None = None) -> Study:
    """The study of a ``params.yaml`` (default: the repository's); see :func:`parse_study`."""
    return parse_study(*read_params_file(path), known_methods=known_methods)
