"""The committed settings files and the committed results of both studies (results/synthetic, results/cells)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from experiments.analysis.study import read_study
from tests.helpers.paths import MIRROR, ROOT, mirror_layout


@pytest.mark.parametrize("name", ["params.yaml", "params.paper.yaml", "studies/cells/params.yaml"])
def test_params_files_validate_with_the_same_keys(name):
    from experiments.core.settings import read_params

    read_params(ROOT / name)
    study = read_study(ROOT / name)
    assert study.methods[0] == "tghem"
    default, other = (yaml.safe_load((ROOT / n).read_text()) for n in ("params.yaml", name))
    # The same sections and keys; the real study's `study` may add threads and prepare (dvc.yaml reads them).
    assert set(default) == set(other)
    for section in default:
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
    # The real study's example comes from vgg_cells: prepared here from the mirror, as its pipeline does.
    from experiments.data.preparation import prepare

    mirror_layout("vgg_cells/cells")
    prepare("vgg_cells", tmp_path / "data", mirror=MIRROR, quiet=True, n_train=32, n_val=32)
    return tmp_path / "data"


@pytest.mark.parametrize("study", ["synthetic", "cells"])
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
