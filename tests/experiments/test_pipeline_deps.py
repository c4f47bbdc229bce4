"""dvc.yaml's dependencies are complete: every file a stage's command imports, every setting it reads.

A stage whose dependencies miss a file it runs would let ``dvc repro`` say "up to date" over
stale results after an edit of that file. Each stage's command is ``python -m <module>``; the
module's import closure (every import, late ones included, :mod:`tests.helpers.imports`) must
lie inside the files and folders the stage declares.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from experiments.analysis.study import ABLATIONS
from experiments.core.settings import SCHEMA
from experiments.training.methods import METHODS
from tests.helpers.imports import closure_files
from tests.helpers.paths import ROOT

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def body(group: str) -> dict:
    definition = PIPELINE[group]
    return definition.get("do", definition)


def entry_module(group: str) -> str:
    words = shlex.split(body(group)["cmd"].replace("${study.launcher}", "python"))
    return words[words.index("-m") + 1]


def declared_files(group: str) -> list[str]:
    """The stage's dependencies that are repository files or folders (no interpolated data paths)."""
    return [d for d in body(group)["deps"] if "${" not in d and (ROOT / d).exists()]


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("group", sorted(PIPELINE))
def test_every_imported_file_is_a_dependency(group):
    module = entry_module(group)
    deps = declared_files(group)
    missing = sorted(str(p.relative_to(ROOT)) for p in closure_files(module) if not covered(p, deps))
    assert not missing, f"stage {group} ({module}) runs {missing} but does not depend on them"


@pytest.mark.parametrize("group", sorted(PIPELINE))
def test_code_dependencies_are_folders_or_entry_points(group):
    """Whole subpackages, never hand-picked modules: a new import inside them cannot escape."""
    for dep in declared_files(group):
        path = ROOT / dep
        if path.is_file() and path.suffix == ".py":
            assert path.parent == ROOT / "experiments", f"stage {group}: {dep} is a single module; depend on its folder"


def test_the_import_walk_sees_late_and_relative_imports():
    files = {p.relative_to(ROOT).as_posix() for p in closure_files("experiments.train")}
    assert {"experiments/__init__.py", "experiments/core/__init__.py", "experiments/core/cli.py",
            "experiments/core/runtime.py",  # imported inside a function of core/cli.py
            "experiments/training/distributed.py",  # `from . import distributed`
            "tghem/flag_persistence.py", "baselines/cldice.py"} <= files
    assert not any(f.startswith("experiments/data/") or f.startswith("experiments/analysis/") for f in files)
    report = {p.relative_to(ROOT).as_posix() for p in closure_files("experiments.report")}
    # The report reads the settings, whose allowed values are tghem's constants; it trains and infers nothing.
    assert "tghem/topology.py" in report
    assert not any(f.startswith(("baselines/", "experiments/training/", "experiments/model/", "experiments/evaluation/"))
                   for f in report)


def declared_params(group: str, item: dict) -> set[str]:
    out = set()
    for entry in body(group).get("params", []):
        out.add(re.sub(r"\$\{item\.(\w+)\}", lambda m: str(item[m.group(1)]), entry))
    return out


def reads(declared: set[str], key: str) -> bool:
    return key in declared or key.split(".")[0] in declared


@pytest.mark.parametrize("method", list(METHODS))
def test_training_declares_every_section_its_method_reads(method):
    declared = declared_params("train", {"method": method})
    for section in (*METHODS[method].sections, "data", "model", "train", "eval"):
        assert section in declared, f"train@...-{method}-... reads {section} but does not declare it"


@pytest.mark.parametrize("name", [n for n in ABLATIONS if f"train_{n}" in PIPELINE])
def test_an_ablation_declares_everything_but_the_swept_key(name):
    declared = declared_params(f"train_{name}", {})
    swept = ABLATIONS[name]
    # dice_bce: TG-HEM's warm-up loss where tghem.warmup_loss is dice_bce
    needed = [k for k in SCHEMA if k.split(".")[0] in ("data", "model", "train", "eval", "dice_bce", *METHODS["tghem"].sections)]
    missing = [k for k in needed if k != swept and not reads(declared, k)]
    assert not missing, f"train_{name} does not declare {missing}"
    assert not reads(declared, swept), f"train_{name} declares {swept}, which its command sets"
    assert f"--set {swept}=${{item.value}}" in body(f"train_{name}")["cmd"]
