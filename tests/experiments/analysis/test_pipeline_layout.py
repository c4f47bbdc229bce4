"""The run folders and stage commands, read from dvc.yaml: the same as DVC's own expansion of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.analysis.pipeline import Pipeline
from experiments.analysis.study import ABLATIONS, read_study
from tests.helpers.paths import ROOT


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_main_and_ablation_folders(params):
    p = Pipeline.read(params)
    train = p.main_training("synthetic", "focal", 2)
    assert train.stage == "train@synthetic-focal-2"
    assert train.folder == Path("runs/main/synthetic/focal/seed2")
    assert train.command.startswith("OMP_NUM_THREADS=2 python -m experiments.train --dataset synthetic --method focal --seed 2")
    assert p.main_evaluation("synthetic", "focal", 2).folder == Path("evals/main/synthetic/focal/seed2")
    run = p.ablation_training("lambda_pers", 0.1, 0)
    assert (run.stage, run.folder) == ("train_lambda_pers@0.1-0", Path("runs/ablation/lambda_pers/0.1/seed0"))
    assert "--set tghem.lambda_pers=0.1" in run.command and "--seed 0" in run.command
    assert "--set ohem.min_kept=500" in p.ablation_training("ohem_min_kept", 500, 3).command
    assert p.ablation_evaluation("ohem_min_kept", 500, 3).folder == Path("evals/ablation/ohem_min_kept/500/seed3")
    # DVC names a boolean item True, and its command gets YAML's true.
    flag = p.ablation_training("top_dimension", True, 0)
    assert flag.stage == "train_top_dimension@True-0" and "--set tghem.top_dimension=true" in flag.command
    assert p.preparation("synthetic").stage == "prepare@synthetic" and p.preparation("synthetic").folder is None
    hint = train.how_to_make()
    assert hint.startswith("`dvc repro train@synthetic-focal-2` or `OMP_NUM_THREADS=2 python -m experiments.train")


def test_the_launcher_and_the_layout_follow_params_and_dvc_yaml(params, tmp_path):
    changed = dict(params, study=dict(params["study"], launcher="torchrun --standalone --nproc_per_node 2"))
    assert Pipeline.read(changed).main_training("d", "tghem", 0).command.startswith(
        "OMP_NUM_THREADS=2 torchrun --standalone --nproc_per_node 2 -m experiments.train --dataset d")
    # Another layout in dvc.yaml is followed without any edit of the analysis.
    text = (ROOT / "dvc.yaml").read_text().replace("--out runs/main/", "--out /scratch/runs/")
    (tmp_path / "dvc.yaml").write_text(text)
    assert Pipeline.read(params, tmp_path / "dvc.yaml").main_training("d", "m", 1).folder == Path("/scratch/runs/d/m/seed1")


def test_errors_name_the_file_and_the_group(params, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml does not exist"):
        Pipeline.read(params, tmp_path / "nope.yaml")
    p = Pipeline.read(params)
    with pytest.raises(ValueError, match="expected a stage group 'train_lr'"):
        p.ablation_training("lr", 0.1, 0)
    with pytest.raises(ValueError, match=r"expands over \['dataset', 'method', 'seed'\]"):
        p.stage("train", {"dataset": "d"})
    broken = Pipeline({"train": {"matrix": {"x": [1]}, "cmd": "run ${nowhere.key}"}}, params, "my.yaml")
    with pytest.raises(ValueError, match=r"my.yaml: stage 'train': \$\{nowhere.key\} has no value"):
        broken.stage("train", {"x": 1})


@pytest.mark.parametrize("study_dir", ["", "studies/cells", "studies/benchmark"])
def test_every_stage_equals_dvcs_own_expansion(study_dir):
    """Names, commands and --out folders of every expanded stage, as DVC 3 itself resolves each dvc.yaml."""
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    folder = ROOT / study_dir
    params = yaml.safe_load((folder / "params.yaml").read_text())
    study, p = read_study(folder / "params.yaml"), Pipeline.read(params, folder / "dvc.yaml")
    ours = [p.preparation(d) for d in study.datasets]
    for d, m, s in study.main_runs():
        ours += [p.main_training(d, m, s), p.main_evaluation(d, m, s)]
    for name, v, s in study.ablation_runs():
        ours += [p.ablation_training(name, v, s), p.ablation_evaluation(name, v, s)]
    if p.has_group("oracle"):
        ours += [p.stage("oracle", d) for d in study.datasets]
    for name in study.ablation:
        if p.has_group(f"oracle_{name}"):
            ours += [p.stage(f"oracle_{name}", v) for v in study.ablation[name]]
    prefix = f"{study_dir}/dvc.yaml:" if study_dir else ""
    with Repo(str(ROOT)) as repo:
        theirs = {stage.addressing[len(prefix):]: stage.cmd for stage in repo.index.stages
                  if (stage.addressing.startswith(prefix) if prefix else ":" not in stage.addressing)}
    for run in ours:
        assert theirs[run.stage] == run.command, run.stage
    expanded = {name for name in theirs if "@" in name}
    assert expanded == {run.stage for run in ours}
    assert set(study.ablation) == {name.split("@")[0][len("train_"):] for name in expanded if name.startswith("train_")}
