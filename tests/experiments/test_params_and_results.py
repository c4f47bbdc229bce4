"""The committed settings files and the committed results of the default study."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from experiments.analysis.study import read_study
from tests.helpers.paths import ROOT


@pytest.mark.parametrize("name", ["params.yaml", "params.paper.yaml"])
def test_params_files_validate_with_the_same_keys(name):
    from experiments.core.settings import read_params

    read_params(ROOT / name)
    study = read_study(ROOT / name)
    assert study.methods[0] == "tghem"
    default, other = (yaml.safe_load((ROOT / n).read_text()) for n in ("params.yaml", name))
    assert {s: set(v) for s, v in default.items()} == {s: set(v) for s, v in other.items()}


def test_paper_scale_study():
    study = read_study(ROOT / "params.paper.yaml")
    assert set(study.datasets) == {"vgg_cells", "mbm", "adi"} and len(study.seeds) == 5
    cfg = yaml.safe_load((ROOT / "params.paper.yaml").read_text())
    assert cfg["model"]["base_channels"] == 64 and cfg["train"]["crop_size"] == 256
    assert cfg["ohem"]["min_kept"] == 15000


def test_committed_results_regenerate_identically(tmp_path):
    """results/tables and results/figures are exactly what report renders from results/*.json|csv."""
    from experiments.analysis.rendering import report

    results = ROOT / "results"
    if not (results / "metrics.json").is_file():
        pytest.skip("results/ has not been generated in this checkout (run `dvc repro`)")
    qualitative = json.loads((results / "qualitative.json").read_text())
    if not (ROOT / "data" / "prepared" / qualitative["dataset"]).is_dir():
        pytest.skip(f"data/prepared/{qualitative['dataset']} is absent (run `dvc repro prepare`)")
    for name in ("metrics.json", "runs.csv", "curves.csv", "qualitative.json"):
        shutil.copy2(results / name, tmp_path / name)
    written = report(tmp_path, ROOT / "data")
    assert written
    for path in written:
        relative = path.relative_to(tmp_path)
        assert path.read_bytes() == (results / relative).read_bytes(), f"{relative} differs from the committed file"
    committed = {p.relative_to(results) for sub in ("tables", "figures") for p in (results / sub).iterdir()}
    assert committed == {p.relative_to(tmp_path) for p in written}
