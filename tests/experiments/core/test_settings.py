"""params.yaml and --set overrides: typed, complete, unknown keys rejected with a clear error."""

import pytest
import yaml

from experiments.core.settings import (
    PARAMS_PATH,
    SCHEMA,
    ConfigError,
    apply_overrides,
    dataset_settings,
    flatten,
    load_params,
    params_help,
    parse_override,
    read_params,
    validate,
)
from tghem import TopoGuide


def test_repository_params_load_and_have_the_stable_names():
    cfg = read_params()
    flat = flatten(cfg)
    for key in ("train.iterations", "train.crops_per_image", "train.crop_size", "model.base_channels",
                "tghem.lambda_pers", "ohem.min_kept", "ohem.thresh"):
        assert key in flat
    assert set(flat) == set(SCHEMA)
    assert isinstance(cfg["train"]["lr"], float) and isinstance(cfg["train"]["iterations"], int)
    # The evaluation extracts points as TopoGuide does by default, with the library's own backend.
    assert cfg["eval"]["centroid_mode"] == cfg["tghem"]["centroid_mode"] == TopoGuide().centroid_mode
    assert cfg["tghem"]["topo_backend"] is None
    assert cfg["train"]["crop_size"] % 16 == 0


def test_overrides_are_typed():
    cfg = load_params(overrides=["train.iterations=7", "train.lr=1e-3", "tghem.lambda_pers=2", "train.flips=no",
                                 "model.norm=group", "eval.tile_size=null", "tghem.topo_backend=gudhi"])
    assert cfg["train"]["iterations"] == 7 and isinstance(cfg["train"]["iterations"], int)
    assert cfg["train"]["lr"] == 0.001 and cfg["tghem"]["lambda_pers"] == 2.0
    assert isinstance(cfg["tghem"]["lambda_pers"], float)
    assert cfg["train"]["flips"] is False and cfg["model"]["norm"] == "group"
    assert cfg["eval"]["tile_size"] is None and cfg["tghem"]["topo_backend"] == "gudhi"
    assert parse_override(" train.rot90 = TRUE ") == ("train.rot90", True)


@pytest.mark.parametrize("text, message", [
    ("train.iteratons=5", "--set train.iteratons: unknown key; did you mean 'train.iterations'?"),
    ("nosuch=1", "--set nosuch: unknown key"),
    ("train.iterations", "expected section.key=value"),
    ("train.iterations=1.5", "--set: train.iterations: expected an int in [1, inf), got '1.5'"),
    ("train.iterations=0", "--set: train.iterations: expected an int in [1, inf), got 0"),
    ("train.lr=fast", "--set: train.lr: expected a number in (0, inf), got 'fast'"),
    ("train.flips=maybe", "--set: train.flips: expected true or false, got 'maybe'"),
    ("model.norm=layer", "--set: model.norm: expected one of batch, group, sync, got 'layer'"),
    ("ohem.thresh=1", "ohem.thresh: expected a number in (0, 1), got 1.0"),
    ("train.crop_size=100", "expected an int in [16, 4096], a multiple of 16, got 100"),
    # Upper bounds where a value past them only exhausts memory or never finishes (65536: a 48 GiB crop;
    # a match radius of 1e308: one mean-F1 matching per pixel of radius).
    ("train.crop_size=65536", "train.crop_size: expected an int in [16, 4096], a multiple of 16, got 65536"),
    ("eval.tile_size=8192", "eval.tile_size: expected an int in [16, 4096], a multiple of 16 or null, got 8192"),
    ("eval.match_radius=1e308", "eval.match_radius: expected a number in (0, 256] or null, got 1e+308"),
    ("eval.mean_f1_max_radius=100000", "eval.mean_f1_max_radius: expected an int in [1, 256] or null, got 100000"),
    ("model.base_channels=null", "model.base_channels: expected an int in [1, inf), got 'null'"),
    ("data.channels=2", "--set: data.channels: expected one of 1, 3, got 2"),
])
def test_bad_overrides_are_named(text, message):
    with pytest.raises(ConfigError) as err:
        load_params(overrides=[text])
    assert message in str(err.value)


def test_bad_files(tmp_path):
    cfg = yaml.safe_load(PARAMS_PATH.read_text())
    cfg["train"]["iteration"] = 3
    with pytest.raises(ConfigError, match="unknown key 'train.iteration'; did you mean 'train.iterations'"):
        validate(cfg, "p.yaml")
    cfg = yaml.safe_load(PARAMS_PATH.read_text())
    del cfg["model"]["norm"]
    with pytest.raises(ConfigError, match="missing keys \\['model.norm'\\]"):
        validate(cfg)
    cfg = yaml.safe_load(PARAMS_PATH.read_text())
    cfg["trian"] = {}
    with pytest.raises(ConfigError, match="unknown section 'trian'; did you mean 'train'"):
        validate(cfg)
    cfg = yaml.safe_load(PARAMS_PATH.read_text())
    cfg["train"]["lr"] = "1e-4"  # YAML 1.1 reads this as a string: accepted as a number
    cfg["train"]["iterations"] = 10.0
    out = validate(cfg)
    assert out["train"]["lr"] == 1e-4 and out["train"]["iterations"] == 10
    cfg["train"]["flips"] = 1
    with pytest.raises(ConfigError, match="train.flips: expected true or false, got 1"):
        validate(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        read_params(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_params(tmp_path / "bad.yaml")


def test_overrides_do_not_touch_the_input_and_help_lists_every_key():
    cfg = read_params()
    out = apply_overrides(cfg, ["train.iterations=3"])
    assert cfg["train"]["iterations"] != 3 == out["train"]["iterations"]
    text = params_help(cfg)
    assert all(key in text for key in SCHEMA)
    assert "tghem.topo_backend = null" in text


def _with_per_dataset(tmp_path, per_dataset):
    raw = yaml.safe_load(PARAMS_PATH.read_text())
    raw["per_dataset"] = per_dataset
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_per_dataset_settings_apply_to_their_dataset_only_after_the_file_and_before_set(tmp_path):
    path = _with_per_dataset(tmp_path, {"crowd": {"train": {"crop_size": 256, "iterations": 40}, "eval": {"threshold": 0.3}},
                                        "cells": {}})
    base = load_params(path)
    assert base == read_params(PARAMS_PATH)  # the section changes no run of another dataset
    crowd = load_params(path, dataset="crowd")
    changed = {k: v for k, v in flatten(crowd).items() if v != flatten(base)[k]}
    assert changed == {"train.crop_size": 256, "train.iterations": 40, "eval.threshold": 0.3}
    assert isinstance(crowd["eval"]["threshold"], float) and isinstance(crowd["train"]["iterations"], int)
    assert load_params(path, dataset="cells") == base and load_params(path, dataset="elsewhere") == base
    # --set comes last: it overrides the dataset's value too.
    assert load_params(path, ["train.crop_size=64"], dataset="crowd")["train"]["crop_size"] == 64
    assert dataset_settings(yaml.safe_load(path.read_text()), "crowd") == {
        "train": {"crop_size": 256, "iterations": 40}, "eval": {"threshold": 0.3}}


@pytest.mark.parametrize("per_dataset, message", [
    ({"crowd": {"train": {"crop_sise": 256}}}, r"per_dataset.crowd: unknown key 'train.crop_sise'; did you mean 'train.crop_size'\?"),
    ({"crowd": {"train": {"crop_size": 250}}}, r"per_dataset.crowd: train.crop_size: expected an int in \[16, 4096\], a multiple of 16, got 250"),
    ({"crowd": {"eval": {"threshold": 1.0}}}, r"per_dataset.crowd: eval.threshold: expected a number in \(0, 1\), got 1.0"),
    ({"crowd": {"train": 256}}, r"per_dataset.crowd: section 'train': expected a mapping of keys, got 256"),
    ({"crowd": [1]}, r"per_dataset.crowd: expected a mapping of sections"),
    (["crowd"], r"section 'per_dataset': expected a mapping of dataset names to settings, got \['crowd'\]"),
])
def test_per_dataset_errors_name_the_dataset_and_key_whichever_dataset_runs(tmp_path, per_dataset, message):
    path = _with_per_dataset(tmp_path, per_dataset)
    for dataset in (None, "crowd", "cells"):
        with pytest.raises(ConfigError, match=message):
            load_params(path, dataset=dataset)


def test_detection_threshold_and_warm_up_loss_settings():
    cfg = read_params()
    assert cfg["eval"]["threshold"] == 0.5  # the reference's binarisation
    assert cfg["tghem"]["warmup_loss"] == "pixel"
    assert load_params(overrides=["eval.threshold=0.35"])["eval"]["threshold"] == 0.35
    for text, message in [("eval.threshold=0", r"eval.threshold: expected a number in \(0, 1\), got 0.0"),
                          ("tghem.warmup_loss=focal", "tghem.warmup_loss: expected one of pixel, dice_bce, got 'focal'")]:
        with pytest.raises(ConfigError, match=message):
            load_params(overrides=[text])


# --------------------------------------------------------------------------- a study over a base


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_study_file_extends_its_base_key_by_key_in_the_base_order(tmp_path):
    from experiments.core.settings import PARAMS_PATH, read_own_settings, read_params, read_params_file

    base = _write(tmp_path / "params.yaml", PARAMS_PATH.read_text())
    study = _write(tmp_path / "studies" / "s" / "params.yaml",
                   "extends: ../../params.yaml\nstudy: {launcher: python, datasets: [a], methods: [tghem], seeds: [0]}\n"
                   "ablation: {dataset: a, seeds: [0], lambda_pers: [0.0]}\ntrain: {iterations: 9}\ntghem: {warmup: 0}\n")
    merged, own = read_params(study), read_params(base)
    assert merged["train"]["iterations"] == 9 and merged["tghem"]["warmup"] == 0.0
    assert {s: {k: v for k, v in values.items() if (s, k) not in {("train", "iterations"), ("tghem", "warmup")}}
            for s, values in merged.items()} == {s: {k: v for k, v in values.items() if (s, k) not in
                                                      {("train", "iterations"), ("tghem", "warmup")}} for s, values in own.items()}
    assert list(merged["train"]) == list(own["train"])  # the base's order: train.json and checkpoints keep it
    raw, _ = read_params_file(study)
    assert raw["study"]["datasets"] == ["a"] and "extends" not in raw  # the study sections are the study's own
    assert read_own_settings(study) == {"train": {"iterations": 9}, "tghem": {"warmup": 0}}


@pytest.mark.parametrize("text, message", [
    ("extends: ../nowhere.yaml\n", r"nowhere.yaml does not exist"),
    ("extends: 3\n", r"extends: expected the path of the base settings file, got 3"),
    ("extends: chained.yaml\n", r"its base .*chained.yaml extends another file; a base must hold every setting"),
    ("extends: ../../params.yaml\ntrain: {iteratons: 9}\n", r"unknown key 'train.iteratons'; did you mean 'train.iterations'"),
])
def test_a_bad_extension_is_an_error_naming_it(tmp_path, text, message):
    from experiments.core.settings import PARAMS_PATH, read_params

    _write(tmp_path / "params.yaml", PARAMS_PATH.read_text())
    _write(tmp_path / "studies" / "s" / "chained.yaml", "extends: ../../params.yaml\n")
    study = _write(tmp_path / "studies" / "s" / "params.yaml", text)
    with pytest.raises(ValueError, match=message):
        read_params(study)


def test_invalid_yaml_is_one_line_naming_the_place(tmp_path):
    from experiments.core.settings import ConfigError, read_params_file

    bad = tmp_path / "params.yaml"
    bad.write_text("study: [\n")
    with pytest.raises(ConfigError) as err:
        read_params_file(bad)
    assert str(err.value) == (f"params: {bad} is not valid YAML: while parsing a flow node expected the node content, "
                              f"but found '<stream end>' in \"{bad}\", line 2, column 1")
