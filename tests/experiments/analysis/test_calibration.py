"""The tghem_count constant: closed-form means over hand-written crops, the warm-up left out, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.analysis.calibration import count_weight_constant
from experiments.calibrate_count import main as calibrate_main
from experiments.training.methods import warmup_iterations


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
