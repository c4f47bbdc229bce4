"""The study design of params.yaml: parsing, error messages and the run folders."""
from pathlib import Path

import pytest
import yaml

from experiments.config import ConfigError, read_params, validate
from experiments.study import ablation_run, format_value, main_run, parse_study, read_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_default_study(raw):
    study = parse_study(raw)
    assert study.datasets == ("synthetic",)
    assert study.methods == ("tghem", "ohem", "focal", "cldice", "dice_bce")
    assert study.seeds == (0, 1, 2)
    assert len(study.main_runs()) == 15
    assert study.main_runs()[0] == ("synthetic", "tghem", 0)
    assert study.ablation["lambda_pers"] == (0.0, 0.1, 0.5, 1.0, 2.0)


def test_run_settings_ignore_the_study_sections(raw):
    cfg = validate(raw)
    assert "study" not in cfg and "ablation" not in cfg
    assert read_params(ROOT / "params.yaml") == cfg


def test_folders():
    assert main_run("vgg_cells", "focal", 3) == main_run("vgg_cells", "focal", 3, ".")
    paths = main_run("vgg_cells", "focal", 3, "/x")
    assert paths.train == Path("/x/runs/main/vgg_cells/focal/seed3")
    assert paths.eval == Path("/x/evals/main/vgg_cells/focal/seed3")
    assert ablation_run("lambda_pers", 0.1).train == Path("runs/ablation/lambda_pers/0.1")
    assert ablation_run("ohem_min_kept", 500).eval == Path("evals/ablation/ohem_min_kept/500")
    # dvc writes a YAML float as Python's str does: 1.0 stays "1.0"
    assert [format_value(v) for v in (0.0, 1.0, 0.25, 500, True)] == ["0.0", "1.0", "0.25", "500", "true"]
    with pytest.raises(ValueError, match="setting: expected one of"):
        ablation_run("lr", 0.1)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r["study"].update(methods=["tghem", "unet"]), r"study.methods: unknown \['unet'\]"),
        (lambda r: r["study"].update(methods=["ohem", "focal"]), "must include 'tghem'"),
        (lambda r: r["study"].update(seeds=[0, 0]), "seeds: values repeat"),
        (lambda r: r["study"].update(seeds=[0, -1]), "seeds: expected a non-empty list of ints >= 0"),
        (lambda r: r["study"].update(seeds=[]), "seeds: expected a non-empty list"),
        (lambda r: r["study"].update(datasets="synthetic"), "datasets: expected a non-empty list of names"),
        (lambda r: r["study"].update(epochs=3), r"unknown keys \['epochs'\]"),
        (lambda r: r.pop("ablation"), "section 'ablation': expected a mapping"),
        (lambda r: r["ablation"].update(lambda_pers=[0.1, "x"]), "lambda_pers: expected a non-empty list of numbers >= 0"),
        (lambda r: r["ablation"].update(ohem_min_kept=[500, 0.5]), "ohem_min_kept: expected a non-empty list of ints >= 1"),
        (lambda r: r["ablation"].update(seed=True), "ablation.seed: expected an int >= 0, got True"),
    ],
)
def test_errors_name_the_key(raw, edit, message):
    edit(raw)
    with pytest.raises(ConfigError, match=message):
        parse_study(raw)


def test_read_study_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_study(tmp_path / "nope.yaml")
