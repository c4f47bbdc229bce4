"""The study design of params.yaml: parsing and error messages."""
import pytest
import yaml

from experiments.analysis.study import ABLATIONS, format_value, parse_study, read_study
from experiments.core.settings import SCHEMA, ConfigError, read_params, validate
from experiments.training.methods import METHODS

from tests.helpers.paths import ROOT


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
    assert study.ablation["lambda_pers"] == (0.0, 0.5, 2.0)
    assert study.ablation["ohem_min_kept"] == (500, 4000)


def test_run_settings_ignore_the_study_sections(raw):
    cfg = validate(raw)
    assert "study" not in cfg and "ablation" not in cfg
    assert read_params(ROOT / "params.yaml") == cfg


def test_ablations_sweep_settings_of_the_schema():
    assert list(ABLATIONS) == ["lambda_pers", "ohem_min_kept", "top_dimension", "warmup", "mask_gap", "mask_radius"]
    assert all(setting in SCHEMA for setting in ABLATIONS.values())
    # dvc writes a YAML float as Python's str does: 1.0 stays "1.0"
    assert [format_value(v) for v in (0.0, 1.0, 0.25, 500, True)] == ["0.0", "1.0", "0.25", "500", "true"]


def test_ablation_runs_in_order(raw):
    study = parse_study(raw)
    seeds = raw["ablation"]["seeds"]
    assert study.ablation_runs() == [("lambda_pers", v, s) for v in raw["ablation"]["lambda_pers"] for s in seeds] + [
        ("ohem_min_kept", v, s) for v in raw["ablation"]["ohem_min_kept"] for s in seeds] + [
        ("top_dimension", True, s) for s in seeds]
    raw["ablation"]["seeds"] = [0, 1]
    assert parse_study(raw).ablation_runs()[:2] == [("lambda_pers", raw["ablation"]["lambda_pers"][0], 0),
                                                     ("lambda_pers", raw["ablation"]["lambda_pers"][0], 1)]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r["study"].update(methods=["tghem", "unet"]), r"study.methods: unknown \['unet'\]"),
        (lambda r: r["study"].update(methods=["ohem", "focal"]), "must include 'tghem'"),
        (lambda r: r["study"].update(seeds=[0, 0]), "seeds: values repeat"),
        (lambda r: r["study"].update(seeds=[0, -1]), "seeds: expected a non-empty list of ints >= 0"),
        (lambda r: r["study"].update(seeds=[]), "seeds: expected a non-empty list"),
        (lambda r: r["study"].update(datasets="synthetic"), "datasets: expected a non-empty list of names"),
        (lambda r: r["study"].update(epochs=3), r"section 'study': unknown keys \['epochs'\]$"),
        (lambda r: r["study"].pop("seeds"), r"section 'study': missing keys \['seeds'\]$"),
        (lambda r: r["study"].update(epochs=3) or r["study"].pop("seeds"),
         r"section 'study': unknown keys \['epochs'\], missing keys \['seeds'\]$"),
        (lambda r: r.pop("ablation"), "section 'ablation': expected a mapping"),
        (lambda r: r["ablation"].update(lambda_pers=[0.1, "x"]), "lambda_pers: expected a non-empty list of numbers >= 0"),
        (lambda r: r["ablation"].update(ohem_min_kept=[500, 0.5]), "ohem_min_kept: expected a non-empty list of ints >= 1"),
        (lambda r: r["ablation"].update(seeds=[True]), "ablation.seeds: expected a non-empty list of ints >= 0"),
        (lambda r: r["ablation"].update(top_dimension=[1]), "ablation.top_dimension: expected a non-empty list of distinct true/false"),
        (lambda r: r["study"].update(threads=2, gpus=1), r"unknown keys \['gpus'\]"),
    ],
)
def test_errors_name_the_key(raw, edit, message):
    edit(raw)
    with pytest.raises(ConfigError, match=message):
        parse_study(raw, known_methods=METHODS)


def test_method_names_are_checked_only_against_a_given_registry(raw):
    raw["study"]["methods"] = ["tghem", "my_loss"]
    assert parse_study(raw).methods == ("tghem", "my_loss")  # the training stage rejects it itself


def test_read_study_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_study(tmp_path / "nope.yaml")


def test_a_study_sweeps_any_ablations_but_at_least_one(raw):
    raw = {**raw, "ablation": {"dataset": "synthetic", "seeds": [0], "warmup": [0, 0.25], "mask_gap": [False]}}
    study = parse_study(raw)
    assert study.ablation == {"warmup": (0, 0.25), "mask_gap": (False,)}
    assert study.ablation_runs() == [("warmup", 0, 0), ("warmup", 0.25, 0), ("mask_gap", False, 0)]
    with pytest.raises(ConfigError, match=r"ablation.mask_gap: expected a non-empty list of distinct true/false, got \[1\]"):
        parse_study({**raw, "ablation": {**raw["ablation"], "mask_gap": [1]}})
    with pytest.raises(ConfigError, match=r"section 'ablation': expected at least one of"):
        parse_study({**raw, "ablation": {"dataset": "synthetic", "seeds": [0]}})
