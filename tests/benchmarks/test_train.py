"""benchmarks.train: the settings axis, the interleaved cells and the ratios of its table (no timing asserted)."""
from __future__ import annotations

import pytest

from benchmarks import train as bench_train
from benchmarks.training import Setting, benchmark, format_table
from tests.helpers.tiny_run import TINY, tiny_data_dir


@pytest.mark.parametrize("name, amp, channels_last", [("fp32", "none", False), ("fp32+cl", "none", True),
                                                      ("bf16", "bf16", False), ("bf16+cl", "bf16", True),
                                                      ("fp16+cl", "fp16", True)])
def test_setting_names_round_trip(name, amp, channels_last):
    setting = Setting.parse(name)
    assert (setting.amp, setting.channels_last, setting.name) == (amp, channels_last, name)
    assert setting.overrides() == [f"train.amp={amp}", f"eval.amp={amp}", f"model.channels_last={str(channels_last).lower()}"]


@pytest.mark.parametrize("name", ["fp64", "bf16+nhwc", "", "cl"])
def test_unknown_settings_are_refused(name):
    with pytest.raises(ValueError, match=r"--settings: expected fp32, bf16 or fp16, optionally with \+cl"):
        Setting.parse(name)


def test_interleaved_cells_and_ratios():
    overrides = [*TINY, "train.iterations=3"]
    result = benchmark(["tghem", "ohem"], data_dir=tiny_data_dir(), overrides=overrides, device="cpu", quiet=True,
                       settings=["fp32", "bf16+cl"], rounds=2)
    cells = {(c["setting"], c["method"]): c for c in result["cells"]}
    assert list(cells) == [("fp32", "tghem"), ("fp32", "ohem"), ("bf16+cl", "tghem"), ("bf16+cl", "ohem")]
    for (setting, method), c in cells.items():
        assert c["iterations"] == 6  # 3 steps in each of 2 rounds, pooled
        assert c["seconds_per_it"] == pytest.approx(c["train_seconds"] / 6)
        assert c["it_per_s"] == pytest.approx(1 / c["seconds_per_it"])
        assert c["speedup_over_fp32"] == pytest.approx(cells["fp32", method]["seconds_per_it"] / c["seconds_per_it"])
        assert c["over_ohem"] == pytest.approx(c["seconds_per_it"] / cells[setting, "ohem"]["seconds_per_it"])
    assert cells["fp32", "ohem"]["speedup_over_fp32"] == 1.0 and cells["bf16+cl", "ohem"]["over_ohem"] == 1.0
    assert result["tghem_over_ohem"] == cells["fp32", "tghem"]["over_ohem"]
    table = format_table(result)
    assert table.count("\n| ") == 5  # header and four cells
    assert "| bf16+cl | tghem |" in table and "2 interleaved round(s)" in table


def test_default_setting_is_the_settings_files(capsys):
    result = benchmark(["ohem"], data_dir=tiny_data_dir(), overrides=[*TINY, "train.iterations=2", "train.amp=none",
                                                                    "model.channels_last=false"], device="cpu", quiet=True)
    assert [c["setting"] for c in result["cells"]] == ["fp32"]
    assert result["tghem_over_ohem"] is None


def test_cli_errors(capsys):
    with pytest.raises(ValueError, match="--rounds: expected an int >= 1, got 0"):
        bench_train.main(["--methods", "ohem", "--rounds", "0", "--data-dir", str(tiny_data_dir())])
    with pytest.raises(ValueError, match="--settings: expected each setting once"):
        bench_train.main(["--methods", "ohem", "--settings", "fp32", "fp32", "--data-dir", str(tiny_data_dir())])
