"""The tghem_count constant: closed-form means over hand-written crops, the warm-up left out, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.analysis.calibration import count_weight_constant
from experiments.calibrate_count import main as calibrate_main
from experiments.training.methods import warmup_iterations
from tests.helpers.errors import one_line_error


def _run(folder: Path, rows: list[tuple[int, int, int, float, float]], *, method: str = "tghem",
         lam: float = 0.1, warmup: float = 0, iterations: int = 4) -> Path:
    """A training folder whose crops.csv holds ``rows`` of (iteration, n_gt, n_pred, D, weight)."""
    folder.mkdir(parents=True)
    config = {"tghem": {"lambda_pers": lam, "warmup": warmup}, "train": {"iterations": iterations}}
    (folder / "train.json").write_text(json.dumps(
        {"method": method, "iterations": iterations, "total_iterations": iterations, "config": config}))
    lines = ["iteration,crop,n_gt,n_pred,discrepancy,weight"]
    lines += [f"{it},{k},{g},{p},{d},{w}" for k, (it, g, p, d, w) in enumerate(rows)]
    (folder / "crops.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_constant_matches_the_mean_weight_in_closed_form(tmp_path):
    # D: 10, 30, 20 -> mean 20; |n_pred - n_gt|: 2, 6, 4 -> mean 4; lambda 0.1 -> 0.1 * 20 / 4 = 0.5
    a = _run(tmp_path / "a", [(1, 5, 3, 10.0, 2.0), (2, 5, 11, 30.0, 4.0)])
    b = _run(tmp_path / "b", [(1, 7, 3, 20.0, 3.0)])
    r = count_weight_constant([a, b])
    assert r["lambda_count"] == pytest.approx(0.5)
    assert r["mean_discrepancy"] == pytest.approx(20.0) and r["mean_count_error"] == pytest.approx(4.0)
    assert r["mean_weight"] == pytest.approx(3.0) and r["lambda_pers"] == 0.1
    assert (r["n_runs"], r["n_crops"], r["n_warmup_crops"]) == (2, 3, 0)
    # the defining identity: the control's mean weight equals TG-HEM's 1 + lambda * mean D
    assert 1 + r["lambda_count"] * r["mean_count_error"] == pytest.approx(1 + 0.1 * r["mean_discrepancy"])


def test_warmup_crops_are_left_out(tmp_path):
    # warm-up 0.5 of 4 iterations = 2: iterations 1 and 2 are left out (their huge D would dominate)
    rows = [(1, 5, 0, 900.0, 1.0), (2, 5, 0, 900.0, 1.0), (3, 5, 3, 10.0, 2.0), (4, 5, 4, 30.0, 4.0)]
    run = _run(tmp_path / "run", rows, warmup=0.5)
    assert warmup_iterations({"tghem": {"warmup": 0.5}, "train": {"iterations": 4}}) == 2
    r = count_weight_constant([run], warmup_iterations)
    # kept: D 10, 30 (mean 20), errors 2, 1 (mean 1.5) -> 0.1 * 20 / 1.5
    assert r["lambda_count"] == pytest.approx(0.1 * 20 / 1.5)
    assert (r["n_crops"], r["n_warmup_crops"]) == (2, 2)
    everything = count_weight_constant([run])
    assert everything["n_crops"] == 4 and everything["lambda_count"] == pytest.approx(0.1 * 460 / 3.25)


def test_command_line_prints_the_constant_after_the_warmup(tmp_path, capsys):
    rows = [(1, 5, 0, 900.0, 1.0), (2, 5, 3, 10.0, 2.0)]
    run = _run(tmp_path / "run", rows, warmup=1, iterations=2)
    assert calibrate_main([str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lambda_count = 0.5 ") and "1 warm-up crops left out" in out


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="expected at least one TG-HEM training folder"):
        count_weight_constant([])
    ohem = _run(tmp_path / "ohem", [(1, 5, 3, 10.0, 1.0)], method="ohem")
    with pytest.raises(ValueError, match="expected a tghem run, got method 'ohem'"):
        count_weight_constant([ohem])
    a = _run(tmp_path / "a", [(1, 5, 3, 10.0, 2.0)], lam=0.1)
    b = _run(tmp_path / "b", [(1, 5, 3, 10.0, 2.0)], lam=0.2)
    with pytest.raises(ValueError, match=r"runs of one tghem.lambda_pers, got \[0.1, 0.2\]"):
        count_weight_constant([a, b])
    exact = _run(tmp_path / "exact", [(1, 5, 5, 10.0, 2.0)])
    with pytest.raises(ValueError, match="every crop's count is exact"):
        count_weight_constant([exact])
    young = _run(tmp_path / "young", [(1, 5, 3, 10.0, 1.0)], warmup=0.5, iterations=2)
    with pytest.raises(ValueError, match=r"no crop after the warm-up \(1 warm-up crops\)"):
        count_weight_constant([young], warmup_iterations)


def test_a_crop_without_its_discrepancy_is_refused(tmp_path, capsys):
    run = _run(tmp_path / "run", [(1, 5, 3, 10.0, 2.0), (2, 5, 11, 30.0, 4.0), (3, 5, 4, 20.0, 3.0)])
    crops = run / "crops.csv"
    crops.write_text(crops.read_text().replace(",30.0,", ",,"))
    message = one_line_error(lambda: calibrate_main([str(run)]), capsys)
    assert message == f"{crops}: line 3, discrepancy is empty, expected a finite number >= 0; train {run} again"


@pytest.mark.parametrize("key, value, shown", [
    ("lambda_pers", None, "missing"), ("lambda_pers", "abc", "'abc'"), ("lambda_pers", -0.1, "-0.1"),
    ("lambda_pers", [0.1], "[0.1]"), ("iterations", None, "missing"), ("iterations", "4", "'4'"),
    ("warmup", "half", "'half'"),
])
def test_a_setting_of_train_json_missing_or_wrong_is_named(tmp_path, capsys, key, value, shown):
    run = _run(tmp_path / "run", [(1, 5, 3, 10.0, 2.0), (2, 5, 11, 30.0, 4.0)])
    summary = json.loads((run / "train.json").read_text())
    section = "train" if key == "iterations" else "tghem"
    if value is None:
        del summary["config"][section][key]
    else:
        summary["config"][section][key] = value
    (run / "train.json").write_text(json.dumps(summary))
    expected = {"lambda_pers": "a number in [0, inf)", "iterations": "an int in [1, inf)", "warmup": "a number in [0, inf)"}[key]
    message = one_line_error(lambda: calibrate_main([str(run)]), capsys)
    assert message == f"{run / 'train.json'}: config.{section}.{key} is {shown}, expected {expected}; train {run} again"


def test_an_older_run_without_a_warmup_setting_has_none(tmp_path, capsys):
    run = _run(tmp_path / "run", [(1, 5, 3, 10.0, 2.0), (2, 5, 11, 30.0, 4.0)])
    summary = json.loads((run / "train.json").read_text())
    del summary["config"]["tghem"]["warmup"]
    (run / "train.json").write_text(json.dumps(summary))
    assert calibrate_main([str(run)]) == 0
    assert capsys.readouterr().out.startswith("lambda_count = 0.5 ")


def test_a_folder_given_twice_is_refused(tmp_path, capsys, monkeypatch):
    run = _run(tmp_path / "run", [(1, 5, 3, 10.0, 2.0)])
    (tmp_path / "link").symlink_to(run)
    monkeypatch.chdir(tmp_path)
    for again in (str(run), "run", "link", f"{run}/../run/"):
        message = one_line_error(lambda: calibrate_main([str(run), again]), capsys)
        assert message == (f"run_dirs: {Path(again)} is the folder {run} given again; expected each run once "
                           f"(its crops would count twice)")
