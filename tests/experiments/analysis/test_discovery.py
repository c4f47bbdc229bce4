"""The study's runs as the analysis computes them from the settings: their settings and the stage names it
gives in messages, checked against DVC's own expansion of each study's dvc.yaml (which the analysis never reads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.analysis.discovery import StageHint, Wanted, study_folder, wanted_runs
from experiments.analysis.study import ABLATIONS, read_study, stage_name
from experiments.core.settings import PARAMS_PATH, flatten, load_params, read_params_file, validate
from tests.helpers.paths import ROOT

STUDIES = ["", "studies/cells", "studies/benchmark"]


def study_runs(study_dir: str) -> tuple:
    path = ROOT / study_dir / "params.yaml"
    raw, source = read_params_file(path)
    study = read_study(path)
    return study, wanted_runs(study, validate(raw, source), raw, source), path


@pytest.mark.parametrize("study_dir", STUDIES)
def test_each_run_has_the_settings_the_study_gives_it(study_dir):
    study, wanted, path = study_runs(study_dir)
    assert len(wanted) == len(study.main_runs()) + len(study.ablation_runs())
    main = [w for w in wanted if w.group == "main"]
    assert [(w.dataset, w.method, w.seed) for w in main] == study.main_runs()
    for w in main:
        assert w.config == flatten(load_params(path, dataset=w.dataset))  # the dataset's own values applied
    base = flatten(load_params(path, dataset=study.ablation_dataset))
    for w in wanted[len(main):]:
        # An ablation differs from the main runs of its dataset in its one swept setting, or not at all
        # where the value is the main one (then the main tghem run of that seed is the same experiment).
        assert (w.dataset, w.method) == (study.ablation_dataset, "tghem")
        differ = {k for k in base if base[k] != w.config[k]}
        assert differ <= {ABLATIONS[w.setting]} and w.config[ABLATIONS[w.setting]] == w.value


def test_the_benchmark_ablation_at_the_main_lambda_is_a_main_run():
    _, wanted, _ = study_runs("studies/benchmark")
    twin = next(w for w in wanted if w.setting == "lambda_pers" and w.value == 0.03 and w.seed == 0)
    main = next(w for w in wanted if (w.group, w.dataset, w.method, w.seed) == ("main", "vgg_cells", "tghem", 0))
    assert twin.config == main.config


@pytest.mark.parametrize("study_dir", STUDIES)
def test_the_stage_names_in_messages_are_dvcs_own(study_dir):
    """Every train and evaluate stage DVC expands is one the analysis names for exactly one run, and
    every oracle stage one of its targets'."""
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    study, wanted, path = study_runs(study_dir)
    assert study_folder(path.relative_to(ROOT) if study_dir else path) == study_dir
    assert {hint.study for w in wanted for hint in w.stages(study_dir)} == {study_dir}
    prefix = f"{study_dir}/dvc.yaml:" if study_dir else ""  # how DVC addresses a study's stages from the root
    ours = [prefix + hint.stage for w in wanted for hint in w.stages(study_dir)]
    oracles = [prefix + stage_name("oracle", d) for d in study.datasets]
    oracles += [prefix + stage_name(f"oracle_{name}", v) for name, values in study.ablation.items()
                if ABLATIONS[name].startswith("data.") for v in values]
    with Repo(str(ROOT)) as repo:
        theirs = {stage.addressing for stage in repo.index.stages
                  if (stage.addressing.startswith(prefix) if prefix else ":" not in stage.addressing)}
    assert len(set(ours)) == len(ours)
    assert {s for s in theirs if s[len(prefix):].startswith(("train", "evaluate"))} == set(ours)
    assert {s for s in theirs if s[len(prefix):].startswith("oracle")} == set(oracles)


def test_stage_names_and_hints():
    assert stage_name("oracle_mask_gap", False) == "oracle_mask_gap@False"  # DVC prints booleans as Python does
    assert stage_name("train_lambda_pers", 0.0, 2) == "train_lambda_pers@0.0-2"
    assert study_folder(None) == study_folder(PARAMS_PATH) == ""
    assert study_folder(Path("studies/cells/params.yaml")) == "studies/cells"
    w = Wanted("ablation", "d", "tghem", 1, "ohem_min_kept", 500, {})
    assert [h.how_to_make() for h in w.stages("studies/s")] == ["`dvc repro train_ohem_min_kept@500-1` in studies/s",
                                                                "`dvc repro evaluate_ohem_min_kept@500-1` in studies/s"]
    assert w.describe() == "d/tghem/seed 1 with ohem.min_kept=500"
    assert StageHint("train@d-m-0").how_to_make() == "`dvc repro train@d-m-0`"
