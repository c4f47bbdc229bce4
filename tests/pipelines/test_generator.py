"""The studies' dvc.yaml files are generated from their settings (``pipelines``): the committed ones
are the generator's output, every setting is declared from the file that writes it, and one template
makes every ablation."""

from __future__ import annotations

import shutil

import pytest
import yaml

from experiments.analysis.study import ABLATIONS
from experiments.core.settings import SCHEMA
from pipelines import __main__ as pipeline
from pipelines.dvcfile import pipeline_text
from pipelines.layout import layout
from pipelines.stages import declare
from tests.helpers.paths import ROOT


@pytest.mark.parametrize("study", pipeline.STUDIES)
def test_the_committed_pipeline_is_the_generated_one(study):
    committed = (ROOT / layout(study).pipeline_file).read_text()
    assert committed == pipeline_text(study, ROOT), (
        f"{layout(study).pipeline_file} is not generated from its settings: run `python -m pipelines`")


def test_check_mode_reports_a_stale_pipeline_and_writes_nothing(tmp_path, monkeypatch, capsys):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    stale = pipeline_text(".", ROOT).split("\nstages:\n")[0] + "\nstages: {}\n"  # generated, from older settings
    (tmp_path / "dvc.yaml").write_text(stale)
    monkeypatch.chdir(tmp_path)
    assert pipeline.main([".", "--check"]) == 1
    assert "not the generated pipeline: dvc.yaml" in capsys.readouterr().err
    assert (tmp_path / "dvc.yaml").read_text() == stale
    assert pipeline.main(["."]) == 0 and pipeline.main([".", "--check"]) == 0
    assert (tmp_path / "dvc.yaml").read_text() == pipeline_text(".", ROOT)


def _study(tmp_path, text: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "studies" / "s").mkdir(parents=True)
    (tmp_path / "studies" / "s" / "params.yaml").write_text(
        "extends: ../../params.yaml\nstudy: {launcher: python, threads: 1, datasets: [a, b], methods: [tghem, ohem], "
        "seeds: [0, 1]}\n" + text)
    return yaml.safe_load(pipeline_text("studies/s", tmp_path))["stages"]


def _params(stage: dict) -> dict:
    body = stage.get("do", stage)
    return {f: keys for entry in body.get("params", []) for f, keys in entry.items()}


def test_each_setting_is_declared_from_the_file_that_writes_it(tmp_path):
    stages = _study(tmp_path, "ablation: {dataset: a, seeds: [0], lambda_pers: [0.0, 0.1]}\ntrain: {iterations: 9}\n")
    train = _params(stages["train"])
    assert train["studies/s/params.yaml"] == ["study.threads", "train"]
    base = train["params.yaml"]
    assert "train" not in base and "train.iterations" not in base and "train.lr" in base  # split key by key
    assert {"data", "model", "eval", "tghem", "ohem", "focal", "cldice", "dice_bce", "tghem_count"} <= set(base)
    # The swept setting is not declared: the command sets it.
    ablation = _params(stages["train_lambda_pers"])
    assert "tghem.lambda_pers" not in sum(ablation.values(), []) and "tghem.warmup" in ablation["params.yaml"]
    assert "--set tghem.lambda_pers=${item.value}" in stages["train_lambda_pers"]["cmd"]
    # Moving a setting into the study's file moves its declaration with it.
    moved = _params(_study(tmp_path / "2", "ablation: {dataset: a, seeds: [0], lambda_pers: [0.0]}\ntghem: {lambda_pers: 0.1}\n")
                    ["train"])
    assert "tghem" in moved["studies/s/params.yaml"] and "tghem.lambda_pers" not in moved["params.yaml"]


def test_one_template_makes_every_ablation(tmp_path):
    """Adding an ablation to a study's settings adds its stages; no Python and no dvc.yaml edit."""
    sweeps = {"lambda_pers": "[0.0]", "ohem_min_kept": "[500]", "top_dimension": "[true]", "warmup": "[0]",
              "mask_gap": "[false]", "mask_radius": "[3]"}
    text = "ablation: {dataset: a, seeds: [0], " + ", ".join(f"{k}: {v}" for k, v in sweeps.items()) + "}\n"
    stages = _study(tmp_path, text)
    for name, key in ABLATIONS.items():
        train, evaluate = stages[f"train_{name}"], stages[f"evaluate_{name}"]
        assert train["matrix"] == {"value": f"${{ablation.{name}}}", "seed": "${ablation.seeds}"}
        assert f"--set {key}=${{item.value}}" in train["cmd"]
        assert train["outs"][0] == f"runs/s/ablation/{name}/${{item.value}}/seed${{item.seed}}/best.pt"
        assert evaluate["outs"] == [f"evals/s/ablation/{name}/${{item.value}}/seed${{item.seed}}"]
        # The target-changing ablations get the oracle of their target.
        assert (f"oracle_{name}" in stages) == key.startswith("data.")
    aggregate = stages["aggregate"]["cmd"]
    assert "--evals evals/s/main evals/s/ablation evals/s/oracle evals/s/oracle_mask_gap evals/s/oracle_mask_radius" in aggregate


def test_every_training_declares_every_setting_its_train_json_records_but_the_swept_one(tmp_path):
    """train.json (an output) records every setting, and aggregate takes a run only when that record
    equals the study's settings: a training that left one undeclared would not rerun when it changes,
    and its run would then be refused (the ablations once left out focal, cldice and tghem_count)."""
    sweeps = {"lambda_pers": "[0.0]", "ohem_min_kept": "[500]", "top_dimension": "[true]", "warmup": "[0]",
              "mask_gap": "[false]", "mask_radius": "[3]"}
    stages = _study(tmp_path, "ablation: {dataset: a, seeds: [0], " + ", ".join(f"{k}: {v}" for k, v in sweeps.items()) + "}\n")

    def undeclared(stage):
        declared = set(sum(_params(stage).values(), []))
        return {key for key in SCHEMA if key not in declared and key.split(".", 1)[0] not in declared}

    assert undeclared(stages["train"]) == set()
    for name, key in ABLATIONS.items():
        assert undeclared(stages[f"train_{name}"]) == {key}, name


def test_declare_without_a_base_keeps_the_default_study_s_plain_list():
    assert declare(["study.threads", "eval"], layout("."), {}, None) == ["study.threads", "eval"]
    whole = declare(["data"], layout("studies/x"), {"data": {k.split(".")[1]: 0 for k in SCHEMA if k.startswith("data.")}},
                    "params.yaml")
    assert whole == [{"studies/x/params.yaml": ["data"]}]  # a section the study writes whole: nothing from the base


KEPT_FROM_REVISION_1 = {f"{kind}_lambda_pers@{value}-{seed}" for kind in ("train", "evaluate")
                        for value in ("0.001", "0.003") for seed in range(3)}
"""The benchmark's lock entries of two lambdas it left out after its first revision: its settings
cite their validation F1 as the reason (``studies/benchmark/params.yaml``, ``ablation.lambda_pers``)."""


@pytest.mark.parametrize("study,kept", [(".", set()), ("studies/benchmark", KEPT_FROM_REVISION_1),
                                        ("studies/cells", set())])
def test_each_committed_lock_holds_exactly_its_pipeline_s_stages(study, kept):
    """Every stage DVC expands from a generated study pipeline has an entry in its committed lock (the
    stage names that carry the results did not change), and every entry names one of them: runs
    removed from a study leave its lock, except the benchmark's documented revision-1 entries."""
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    lock = yaml.safe_load((ROOT / layout(study).lock_file).read_text())["stages"]
    with Repo(str(ROOT)) as repo:
        names = {s.addressing.split(":", 1)[1] if ":" in s.addressing else s.addressing
                 for s in repo.index.stages if s.path_in_repo == layout(study).pipeline_file}
    assert len(names) > 40 and names == set(lock) - kept, (sorted(names ^ (set(lock) - kept))[:5])
    assert kept <= set(lock)
