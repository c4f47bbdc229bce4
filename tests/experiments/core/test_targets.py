"""The study's target rule: the setting, else the dataset's radius (the disks themselves: tests/tghem/test_targets.py)."""

from experiments.core.targets import target_rule


def test_target_rule_setting_else_the_datasets_radius():
    cfg = {"data": {"mask_radius": None, "mask_gap": True}}
    assert target_rule(cfg, {"mask_radius": "adaptive"}) == {"radius": "adaptive", "gap": True}
    assert target_rule(cfg, {}) == {"radius": 3, "gap": True}
    cfg = {"data": {"mask_radius": 2.0, "mask_gap": False}}
    assert target_rule(cfg, {"mask_radius": 5}) == {"radius": 2.0, "gap": False}
