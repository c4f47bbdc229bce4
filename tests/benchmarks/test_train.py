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


def test_each_cell_warms_up_untimed_and_records_its_own_setting(monkeypatch):
    from benchmarks import training

    jobs = []
    real_train = training.train

    def recording(job):
        jobs.append(job)
        return real_train(job)

    monkeypatch.setattr(training, "train", recording)
    result = benchmark(["tghem", "ohem"], data_dir=tiny_data_dir(), overrides=[*TINY, "train.iterations=3"], device="cpu",
                       quiet=True, settings=["bf16+cl", "fp32"], rounds=1)
    # one warm-up run per cell, all before the first timed run, then the timed runs in the same order
    assert [(j.method, j.out.name) for j in jobs] == [
        ("tghem", "warmup-bf16+cl-tghem"), ("ohem", "warmup-bf16+cl-ohem"), ("tghem", "warmup-fp32-tghem"),
        ("ohem", "warmup-fp32-ohem"), ("tghem", "bf16+cl-tghem-0"), ("ohem", "bf16+cl-ohem-0"), ("tghem", "fp32-tghem-0"),
        ("ohem", "fp32-ohem-0")]
    assert all(j.overrides[-3:] == training.WARMUP for j in jobs[:4])
    assert not any("tghem.warmup=1" in j.overrides for j in jobs[4:])
    assert all(c["iterations"] == 3 for c in result["cells"])  # the warm-up steps are not in the figures
    assert [(c["setting"], c["amp"], c["channels_last"]) for c in result["cells"]] == [
        ("bf16+cl", "bf16", True), ("bf16+cl", "bf16", True), ("fp32", "none", False), ("fp32", "none", False)]
    s = result["settings"]
    assert (s["train"]["amp"], s["eval"]["amp"], s["model"]["channels_last"]) == (None, None, None)
    assert s["train"]["iterations"] == 3 and s["train"]["val_every"] == 0
    assert result["versions"]["cpu_kind"] and "numba" in result["versions"]["packages"]


def test_a_precision_the_device_lacks_is_refused_before_any_run(monkeypatch):
    from benchmarks import training

    monkeypatch.setattr(training, "train", lambda job: pytest.fail("trained before checking the settings"))
    with pytest.raises(ValueError, match="^--settings fp16: fp16 autocast is offered on CUDA GPUs, but the device is cpu"):
        benchmark(["ohem"], data_dir=tiny_data_dir(), overrides=TINY, device="cpu", quiet=True, settings=["fp32", "fp16"])


@pytest.mark.parametrize("args, message", [
    (["--rounds", "0"], "argument --rounds: expected an int >= 1, got '0'"),
    (["--seed", "-1"], "argument --seed: expected an int in [0, 4294967295], got '-1'"),
    (["--settings", "fp64"], "argument --settings: expected fp32, bf16 or fp16, optionally with +cl (channels_last), got 'fp64'"),
    (["--settings", "fp32", "fp32"], "--settings: expected each setting once, got ['fp32', 'fp32']"),
    (["--json", "."], "--json: expected a file to write, got the existing folder ."),
])
def test_cli_usage_errors_exit_2_before_any_run(monkeypatch, capsys, args, message):
    from benchmarks import training

    monkeypatch.setattr(training, "train", lambda job: pytest.fail("trained before checking the options"))
    with pytest.raises(SystemExit) as code:
        bench_train.main(["--methods", "ohem", "--data-dir", str(tiny_data_dir()), *args])
    assert code.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m benchmarks.train: error: {message}"


def test_library_errors():
    with pytest.raises(ValueError, match="--rounds: expected an int >= 1, got 0"):
        benchmark(["ohem"], data_dir=tiny_data_dir(), rounds=0)
    with pytest.raises(ValueError, match="--settings: expected each setting once"):
        benchmark(["ohem"], data_dir=tiny_data_dir(), settings=["fp32", "fp32"])


def test_the_gpu_check_times_the_paper_studys_settings():
    import shlex

    from experiments.core.settings import load_params
    from tests.helpers.paths import ROOT

    text = (ROOT / "benchmarks" / "gpu.sh").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("python -m benchmarks.train "))
    argv = shlex.split(line.replace('"$out', '"OUT'))[3:]
    args = bench_train.build_parser().parse_args(argv)
    assert args.device == "cuda" and args.methods == ["tghem", "ohem"] and args.rounds == 2
    assert args.settings == ["fp32", "fp32+cl", "bf16", "bf16+cl"] and str(args.json) == "OUT/bench_gpu.json"
    cfg = load_params(ROOT / args.params, args.overrides, dataset="synthetic")
    paper = load_params(ROOT / "studies" / "paper" / "params.yaml", dataset="synthetic")
    assert (cfg["model"]["base_channels"], cfg["train"]["crop_size"], cfg["train"]["crops_per_image"]) == (64, 256, 8)
    assert cfg["ohem"]["min_kept"] == 15000 and cfg["tghem"]["topo_workers"] is None and cfg["train"]["iterations"] == 100
    cfg["train"]["iterations"] = paper["train"]["iterations"]
    assert cfg == paper  # nothing else differs from the paper study
