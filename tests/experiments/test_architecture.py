"""The layout tells the architecture: layers that import only downwards, thin stages, small modules."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from tests.helpers.imports import direct_imports, module_file, project_modules
from tests.helpers.paths import ROOT

STAGES = ("prepare", "train", "evaluate", "oracle", "aggregate", "report")
"""The pipeline's stage entry points (``python -m experiments.<stage>``)."""
TOOLS = ("compare_studies", "calibrate_count", "interval_coverage", "probe")
"""Entry points that are neither stages nor benchmarks (not in dvc.yaml)."""
LAYERS = {
    "core": set(),
    "data": {"core"},
    "model": {"core"},
    "evaluation": {"core", "model"},
    "training": {"core", "model", "evaluation"},
    "analysis": {"core", "evaluation"},
}
"""Each subpackage of experiments and the subpackages it may import besides itself."""
MAX_MODULE_LINES = 400


def subpackage(module: str) -> str | None:
    """The layer of an ``experiments`` module, None for a stage module or the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "experiments" and len(parts) > 1 and parts[1] in LAYERS else None


def test_the_folders_are_the_layers():
    folders = {p.name for p in (ROOT / "experiments").iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(LAYERS)
    entry_points = {p.stem for p in (ROOT / "experiments").glob("*.py")} - {"__init__"}
    assert entry_points == set(STAGES) | set(TOOLS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_the_layers_below_it_and_never_a_stage(layer):
    for module in project_modules(f"experiments/{layer}"):
        for imported in direct_imports(module):
            if not imported.startswith("experiments."):
                continue
            target = subpackage(imported)
            assert target is not None, f"{module} imports the stage module {imported}"
            assert target == layer or target in LAYERS[layer], f"{module} ({layer}) imports {imported} ({target})"


@pytest.mark.parametrize("stage", STAGES + TOOLS)
def test_a_stage_is_a_thin_command_line_importing_no_other_stage(stage):
    name = f"experiments.{stage}"
    for imported in direct_imports(name):
        if imported.startswith("experiments"):
            assert subpackage(imported) is not None or imported == "experiments", f"{name} imports the stage {imported}"
    tree = ast.parse(module_file(name).read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if stage in STAGES:
        assert {"build_parser", "main"} <= functions
        assert not [n.name for n in tree.body if isinstance(n, ast.ClassDef)], f"{name} defines classes"
        assert len(module_file(name).read_text().splitlines()) <= 120, f"{name} is not thin"


def test_the_loss_library_never_imports_the_experiments_or_the_benchmarks():
    for package in ("tghem", "baselines"):
        for module in project_modules(package):
            assert not [m for m in direct_imports(module) if m.startswith(("experiments", "benchmarks"))], module


def test_every_module_class_of_the_loss_packages_is_a_pixel_loss():
    """Every ``nn.Module`` that ``tghem`` and ``baselines`` define derives from ``tghem.base.PixelLoss``
    (the shared checks, ``reduction`` and the ``(pred_logits, gt_mask, gt_dots)`` call); the walk
    finds a new module's classes without a list."""
    from torch import nn

    from tghem.base import PixelLoss

    found = {}
    for package in ("tghem", "baselines"):
        for module in project_modules(package):
            for name, obj in vars(importlib.import_module(module)).items():
                if inspect.isclass(obj) and obj.__module__ == module and issubclass(obj, nn.Module):
                    found[f"{module}.{name}"] = issubclass(obj, PixelLoss)
    assert {"tghem.loss.TGHEM", "baselines.focal.FocalLoss", "baselines.controls.CountWeightedOHEM"} <= set(found)
    assert all(found.values()), sorted(n for n, ok in found.items() if not ok)


def test_nothing_imports_the_benchmarks_and_the_library_holds_none():
    """Performance scripts live in the top-level ``benchmarks/``, the pipeline generator in
    ``pipelines/``: outside the installed package, and no stage or layer depends on them."""
    for package in ("tghem", "baselines", "experiments"):
        for module in project_modules(package):
            assert not [m for m in direct_imports(module) if m.startswith(("benchmarks", "pipelines"))], module
    assert not [p.name for p in (ROOT / "tghem").glob("*bench*")]


def test_no_module_is_over_400_lines():
    sizes = {p.relative_to(ROOT): len(p.read_text().splitlines())
             for package in ("experiments", "tghem", "baselines") for p in (ROOT / package).rglob("*.py")}
    too_long = {str(p): n for p, n in sizes.items() if n > MAX_MODULE_LINES and p.parts[0] == "experiments"}
    assert not too_long
