"""Settings resolved against the dataset: each value left to it filled in by one rule, which every stage reads."""

import copy
import json

import pytest

from experiments.core.resolution import FROM_DATASET, resolve_eval, resolve_settings, settings_record
from experiments.core.settings import load_params
from experiments.core.targets import target_rule
from experiments.data.registry import REGISTRY
from experiments.evaluation.inference import eval_settings
from tests.helpers.paths import ROOT

STUDY_FILES = [ROOT / "params.yaml", *sorted((ROOT / "studies").glob("*/params.yaml"))]


def test_every_null_is_filled_from_the_dataset_and_nothing_else_changes():
    cfg = load_params(ROOT / "params.yaml")
    cfg["data"]["mask_radius"] = None
    cfg["eval"].update(match_radius=None, mean_f1_max_radius=None, tile_size=None)
    before = copy.deepcopy(cfg)
    out = resolve_settings(cfg, {"mask_radius": 5, "match_radius": 8.0})
    assert cfg == before  # a copy: the loaded settings are left as they are
    assert out["data"]["mask_radius"] == 5
    assert out["eval"]["match_radius"] == 8.0 and isinstance(out["eval"]["match_radius"], float)
    assert out["eval"]["mean_f1_max_radius"] == 8 and out["eval"]["tile_size"] == cfg["train"]["crop_size"]
    for key in FROM_DATASET:
        section, name = key.split(".")
        out[section][name] = before[section][name]
    assert out == before


def test_values_set_in_the_settings_win_over_the_dataset():
    cfg = load_params(ROOT / "params.yaml")
    cfg["data"]["mask_radius"] = 2
    cfg["eval"].update(match_radius=4, mean_f1_max_radius=3, tile_size=64)
    record = settings_record(cfg, {"mask_radius": 5, "match_radius": 8.0}, "x")
    assert record["from_dataset"] == []
    assert record["settings"]["data"]["mask_radius"] == 2
    assert {k: record["settings"]["eval"][k] for k in ("match_radius", "mean_f1_max_radius", "tile_size")} == \
        {"match_radius": 4.0, "mean_f1_max_radius": 3, "tile_size": 64}


@pytest.mark.parametrize(("radius", "expected"), [(0.5, 1), (1.0, 1), (4.9, 4), (8.0, 8)])
def test_mean_f1_radius_is_the_floor_of_the_match_radius_and_at_least_one(radius, expected):
    cfg = {"train": {"crop_size": 96}, "eval": {"match_radius": radius, "mean_f1_max_radius": None, "tile_size": None}}
    assert resolve_eval(cfg, {})["mean_f1_max_radius"] == expected


def test_a_dataset_without_a_match_radius_names_the_setting():
    cfg = load_params(ROOT / "params.yaml")
    cfg["eval"]["match_radius"] = None
    with pytest.raises(ValueError, match=r"eval\.match_radius: the dataset's meta.json records none; set eval\.match_radius"):
        resolve_settings(cfg, {"mask_radius": 3})


def test_the_adaptive_mask_radius_stays_adaptive_and_a_meta_without_one_gets_the_default():
    cfg = load_params(ROOT / "params.yaml")
    cfg["data"]["mask_radius"] = None
    assert resolve_settings(cfg, {"mask_radius": "adaptive", "match_radius": 8.0})["data"]["mask_radius"] == "adaptive"
    assert resolve_settings(cfg, {"match_radius": 5.0})["data"]["mask_radius"] == 3


@pytest.mark.parametrize("params", STUDY_FILES, ids=lambda p: p.parent.name or "root")
def test_every_study_and_dataset_resolves_as_training_and_evaluation_use_it(params):
    """The record is what the stages ran with: the target rule's radius and the evaluation's settings."""
    for name, spec in REGISTRY.items():
        cfg = load_params(params, dataset=name)
        meta = {"mask_radius": spec.mask_radius, "match_radius": spec.match_radius}
        record = settings_record(cfg, meta, name)
        resolved = record["settings"]
        assert resolved["data"]["mask_radius"] == target_rule(cfg, meta)["radius"]
        e, used = resolved["eval"], eval_settings(cfg, meta)
        assert (e["match_radius"], e["mean_f1_max_radius"], e["tile_size"]) == \
            (used["match_radius"], used["max_radius"], used["tile"])
        assert all(resolved[s][k] is not None for s, k in (key.split(".") for key in FROM_DATASET))
        assert record["from_dataset"] == [k for k in FROM_DATASET if cfg[k.split(".")[0]][k.split(".")[1]] is None]
        json.dumps(record, allow_nan=False)  # what settings.json holds is strict JSON
