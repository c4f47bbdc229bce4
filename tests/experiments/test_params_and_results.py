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


STUDY_FILES = ["params.yaml", "studies/cells/params.yaml", "studies/benchmark/params.yaml", "studies/paper/params.yaml"]


@pytest.mark.parametrize("name", STUDY_FILES)
def test_params_files_validate_and_define_a_study(name):
    from experiments.core.settings import read_params, read_params_file

    read_params(ROOT / name)
    study = read_study(ROOT / name)
    assert study.methods[0] == "tghem"
    raw, _ = read_params_file(ROOT / name)
    # A study's `study` may add prepare (its pipeline reads it) and threads; its `ablation` sweeps any of the
    # known ablations (at least one); it may add per_dataset, with an entry for every study dataset (its
    # stages depend on per_dataset.<dataset>).
    assert set(raw["study"]) <= {"launcher", "datasets", "methods", "seeds", "threads", "prepare"}
    assert {"dataset", "seeds"} <= set(raw["ablation"]) <= {"dataset", "seeds", *ABLATIONS}
    assert set(raw["ablation"]) & set(ABLATIONS)
    if "per_dataset" in raw:
        assert set(raw["per_dataset"]) == set(study.datasets), "per_dataset: one entry per study dataset"
        assert "per_dataset" in (ROOT / name).with_name("dvc.yaml").read_text()


@pytest.mark.parametrize("name", STUDY_FILES[1:])
def test_a_study_file_writes_only_what_differs_from_the_base(name):
    """Every setting is written once per study that changes it: the study's file extends params.yaml
    and holds no key whose value is the base's."""
    from experiments.core.settings import SCHEMA, read_own_settings, read_params, validate

    own = yaml.safe_load((ROOT / name).read_text())
    assert own["extends"] == "../../params.yaml"
    merged, base = read_params(ROOT / name), read_params(ROOT / "params.yaml")
    written = read_own_settings(ROOT / name)
    assert written, "a study that changes no setting"
    for section, values in written.items():
        for key in values:
            assert f"{section}.{key}" in SCHEMA
            assert merged[section][key] != base[section][key], f"{name}: {section}.{key} repeats the base's value"
    for section, values in merged.items():  # everything else is the base's
        for key, value in values.items():
            if key not in written.get(section, {}):
                assert value == base[section][key]
    assert validate(merged) == merged


def test_the_base_holds_every_setting_and_extends_nothing():
    from experiments.core.settings import SCHEMA, read_own_settings

    own = read_own_settings(ROOT / "params.yaml")
    assert "extends" not in yaml.safe_load((ROOT / "params.yaml").read_text())
    assert {f"{s}.{k}" for s, values in own.items() for k in values} == set(SCHEMA)


def test_paper_scale_study():
    from experiments.core.settings import read_params

    study = read_study(ROOT / "studies/paper/params.yaml")
    assert set(study.datasets) == {"vgg_cells", "mbm", "adi"} and len(study.seeds) == 5
    cfg = read_params(ROOT / "studies/paper/params.yaml")
    assert cfg["model"]["base_channels"] == 64 and cfg["train"]["crop_size"] == 256
    assert cfg["ohem"]["min_kept"] == 15000 and cfg["train"]["lr"] == 0.001  # the last: the base's


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
