"""The committed settings files and the committed results of the studies (results/synthetic, results/cells,
results/benchmark)."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
import yaml

from experiments.analysis.study import ABLATIONS, read_study
from tests.helpers.paths import MIRROR, ROOT, mirror_layout


@pytest.mark.parametrize("name", ["params.yaml", "params.paper.yaml", "studies/cells/params.yaml",
                                  "studies/benchmark/params.yaml"])
def test_params_files_validate_with_the_same_keys(name):
    from experiments.core.settings import read_params

    read_params(ROOT / name)
    study = read_study(ROOT / name)
    assert study.methods[0] == "tghem"
    default, other = (yaml.safe_load((ROOT / n).read_text()) for n in ("params.yaml", name))
    # The same sections and keys; a real study's `study` may add prepare (dvc.yaml reads it), and its
    # `ablation` sweeps any of the known ablations (at least one), not necessarily the default's; it may
    # add per_dataset, with an entry for every study dataset (its stages depend on per_dataset.<dataset>).
    assert set(default) == set(other) - {"per_dataset"}
    if "per_dataset" in other:
        assert set(other["per_dataset"]) == set(study.datasets), "per_dataset: one entry per study dataset"
        assert ("per_dataset" in (ROOT / name).with_name("dvc.yaml").read_text())
    for section in default:
        if section == "ablation":
            assert {"dataset", "seeds"} <= set(other[section]) <= {"dataset", "seeds", *ABLATIONS}, section
            assert set(other[section]) & set(ABLATIONS), section
            continue
        extra = {"threads", "prepare"} if section == "study" else set()
        assert set(default[section]) <= set(other[section]) <= set(default[section]) | extra, section


def test_paper_scale_study():
    study = read_study(ROOT / "params.paper.yaml")
    assert set(study.datasets) == {"vgg_cells", "mbm", "adi"} and len(study.seeds) == 5
    cfg = yaml.safe_load((ROOT / "params.paper.yaml").read_text())
    assert cfg["model"]["base_channels"] == 64 and cfg["train"]["crop_size"] == 256
    assert cfg["ohem"]["min_kept"] == 15000


def _study_data(study: str, tmp_path):
    """The data folder holding the qualitative example's prepared dataset of ``study``."""
    if study == "synthetic":
        return ROOT / "data"
    # A real study's example comes from vgg_cells: prepared here from the mirror with the study's own
    # arguments (its splits and target radius), as its pipeline's prepare stage does.
    from experiments import prepare

    mirror_layout("vgg_cells/cells")
    arguments = yaml.safe_load((ROOT / "studies" / study / "params.yaml").read_text())["study"]["prepare"]["vgg_cells"]
    data_dir = tmp_path / "data"
    assert prepare.main(["--dataset", "vgg_cells", *shlex.split(arguments), "--data-dir", str(data_dir),
                         "--mirror", str(MIRROR), "--quiet"]) == 0
    return data_dir


@pytest.mark.parametrize("study", ["synthetic", "cells", "benchmark"])
def test_committed_results_regenerate_identically(study, tmp_path):
    """results/<study>/tables and figures are exactly what report renders from its logged numbers."""
    from experiments.analysis.rendering import RESULT_FILES, report

    results = ROOT / "results" / study
    if not (results / "metrics.json").is_file():
        pytest.skip(f"results/{study}/ has not been generated in this checkout")
    qualitative = json.loads((results / "qualitative.json").read_text())
    data_dir = _study_data(study, tmp_path)
    if not (data_dir / "prepared" / qualitative["dataset"]).is_dir():
        pytest.skip(f"{data_dir}/prepared/{qualitative['dataset']} is absent (run `dvc repro prepare`)")
    copy = tmp_path / "results"
    copy.mkdir()
    for name in RESULT_FILES.values():
        shutil.copy2(results / name, copy / name)
    written = report(copy, data_dir)
    assert written
    for path in written:
        relative = path.relative_to(copy)
        assert path.read_bytes() == (results / relative).read_bytes(), f"{relative} differs from the committed file"
    committed = {p.relative_to(results) for sub in ("tables", "figures", "headline") if (results / sub).is_dir()
                 for p in (results / sub).iterdir() if p.name != ".tghem-output"}  # the folder's owner marker, not a rendered file
    assert committed == {p.relative_to(copy) for p in written}
