"""experiments.compare_studies: runs paired by dataset, method and seed; differences B - A with the project's statistics."""
from __future__ import annotations

import pandas as pd
import pytest

from experiments import compare_studies as cli
from experiments.analysis.statistics import paired_statistics
from experiments.analysis.study_comparison import compare_studies, read_runs_csv


def _runs(f1: dict, mae: dict) -> pd.DataFrame:
    rows = [{"group": "main", "dataset": "d", "method": m, "seed": s, "f1": f1[m, s], "mae": mae[m, s]} for m, s in f1]
    rows.append({"group": "ablation", "dataset": "d", "method": "tghem", "seed": 0, "f1": 0.0, "mae": 99.0})
    return pd.DataFrame(rows)


def test_pairs_by_run_and_reports_differences_and_seed_noise(tmp_path):
    keys = [(m, s) for m in ("tghem", "ohem") for s in (0, 1, 2)]
    f1_a = dict(zip(keys, [0.80, 0.84, 0.82, 0.70, 0.72, 0.74]))
    f1_b = dict(zip(keys, [0.81, 0.83, 0.85, 0.70, 0.73, 0.71]))
    mae = dict(zip(keys, [10.0, 12.0, 11.0, 20.0, 21.0, 22.0]))
    a, b = _runs(f1_a, mae), _runs(f1_b, {k: v + 1 for k, v in mae.items()})
    a.to_csv(tmp_path / "a.csv", index=False)
    b.sample(frac=1.0, random_state=0).to_csv(tmp_path / "b.csv", index=False)  # row order must not matter
    table = compare_studies(read_runs_csv(tmp_path / "a.csv"), read_runs_csv(tmp_path / "b.csv"))
    rows = table.set_index("method")
    assert list(rows.index) == ["tghem", "ohem", "all"]
    assert rows.loc["tghem", "n_pairs"] == 3 and rows.loc["all", "n_pairs"] == 6
    assert rows.loc["tghem", "f1_diff"] == pytest.approx((0.01 - 0.01 + 0.03) / 3)
    assert rows.loc["all", "mae_diff"] == pytest.approx(1.0)
    expected = paired_statistics([f1_b[k] for k in keys], [f1_a[k] for k in keys])
    assert rows.loc["all", "f1_ci95_low"] == expected["ci95_low"] and rows.loc["all", "f1_p"] == expected["p_value"]
    # seed noise: std over seeds per method (0.02 for both methods in A), averaged
    assert rows.loc["all", "f1_seed_sd_a"] == pytest.approx(0.02)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.csv: no such runs.csv"):
        read_runs_csv(tmp_path / "nothing.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"x.csv: not an aggregated runs.csv \(missing columns"):
        read_runs_csv(tmp_path / "x.csv")
    one = _runs({("tghem", 0): 0.5}, {("tghem", 0): 1.0})
    other = one.assign(dataset="e")
    with pytest.raises(ValueError, match="share no"):
        compare_studies(one, other)


def test_cli_prints_markdown_and_writes_csv(tmp_path, capsys):
    keys = [("tghem", s) for s in (0, 1)]
    _runs(dict(zip(keys, [0.5, 0.6])), dict(zip(keys, [3.0, 4.0]))).to_csv(tmp_path / "a.csv", index=False)
    _runs(dict(zip(keys, [0.6, 0.6])), dict(zip(keys, [3.0, 5.0]))).to_csv(tmp_path / "b.csv", index=False)
    assert cli.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| dataset") and "| tghem" in out
    written = pd.read_csv(tmp_path / "c.csv")
    assert written.loc[written["method"] == "all", "f1_diff"].item() == pytest.approx(0.05)
