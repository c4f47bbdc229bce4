"""experiments.compare_studies: runs paired by dataset, method and seed; differences B - A with the project's statistics."""
from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from experiments import compare_studies as cli
from experiments.analysis.statistics import paired_statistics
from experiments.analysis.study_comparison import compare_studies, read_runs_csv
from tests.helpers.errors import one_line_error


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


def _study(path, f1=(0.5, 0.6, 0.7), mae=(3.0, 4.0, 5.0)):
    keys = [("tghem", s) for s in range(len(f1))]
    frame = _runs(dict(zip(keys, f1)), dict(zip(keys, mae))).assign(cpu_kind="Intel Xeon / AMX-BF16", failed=False)
    frame.to_csv(path, index=False)
    return path


def test_out_never_overwrites_an_input_nor_a_file_it_did_not_write(tmp_path, capsys):
    a, b = _study(tmp_path / "a.csv"), _study(tmp_path / "b.csv", f1=(0.6, 0.6, 0.8))
    before = a.read_bytes()
    (tmp_path / "link.csv").symlink_to(a)
    os.link(b, tmp_path / "hard.csv")
    for out, which in ((a, a), (tmp_path / "link.csv", a), (tmp_path / "hard.csv", b), (b, b)):
        message = one_line_error(lambda: cli.main([str(a), str(b), "--out", str(out)]), capsys)
        assert message == f"--out: {out} is the input {which}; writing the table there would destroy it: name a new file"
    notes = tmp_path / "notes.csv"
    notes.write_text("x,y\n1,2\n")
    message = one_line_error(lambda: cli.main([str(a), str(b), "--out", str(notes)]), capsys)
    assert re.fullmatch(rf"--out: {re.escape(str(notes))} exists and is not a comparison table of compare_studies "
                        r"\(its header: x,y; expected dataset,method,n_pairs,<metric>_a,\.\.\.\); it never overwrites "
                        rf"a file it did not write: name a new file, or move {re.escape(str(notes))} away", message)
    message = one_line_error(lambda: cli.main([str(a), str(b), "--out", str(tmp_path)]), capsys)
    assert message == f"--out: {tmp_path} is an existing folder; name a file (a new one, or an earlier table)"
    assert a.read_bytes() == before and notes.read_text() == "x,y\n1,2\n"
    # an earlier table of the tool (another metric set) is replaced
    table = tmp_path / "table.csv"
    assert cli.main([str(a), str(b), "--metrics", "mae", "--out", str(table)]) == 0
    assert cli.main([str(a), str(b), "--out", str(table)]) == 0
    written = pd.read_csv(table)
    assert list(written.columns[:5]) == ["dataset", "method", "n_pairs", "f1_a", "f1_b"]
    assert written.loc[written["method"] == "all", "f1_diff"].item() == pytest.approx(0.2 / 3)


@pytest.mark.parametrize("side, value, shown", [("a", np.nan, "empty or NaN"), ("b", np.inf, "inf"), ("b", -np.inf, "-inf")])
def test_a_metric_that_is_not_finite_is_refused_naming_file_run_and_column(tmp_path, capsys, side, value, shown):
    paths = {"a": _study(tmp_path / "a.csv"), "b": _study(tmp_path / "b.csv")}
    frame = pd.read_csv(paths[side])
    frame.loc[(frame["group"] == "main") & (frame["seed"] == 1), "mae"] = value
    frame.to_csv(paths[side], index=False)
    argv = [str(paths["a"]), str(paths["b"]), "--out", str(tmp_path / "c.csv")]
    message = one_line_error(lambda: cli.main(argv), capsys)
    assert message == (f"{paths[side]}: run d/tghem/seed 1: mae is {shown}, expected a finite number; compare a metric "
                       f"every main run has, or aggregate the study again (python -m experiments.aggregate)")
    assert not (tmp_path / "c.csv").exists()
    with pytest.raises(ValueError, match=rf"^{side}: run d/tghem/seed 1: mae is {shown}, expected a finite number$"):
        compare_studies(*(frame[frame["group"] == "main"] if s == side else read_runs_csv(paths[s]) for s in "ab"))


def test_a_text_cell_among_numbers_is_named(tmp_path, capsys):
    a = _study(tmp_path / "a.csv")
    a.write_text(a.read_text().replace("0.7,5.0", "abc,5.0"))
    message = one_line_error(lambda: cli.main([str(a), str(a)]), capsys)
    assert message.startswith(f"{a}: run d/tghem/seed 2: f1 is 'abc', expected a finite number; ")


@pytest.mark.parametrize("metric, what", [
    ("seed", "a key column of {a} (runs are paired by dataset, method and seed), not a metric"),
    ("method", "a key column of {a} (runs are paired by dataset, method and seed), not a metric"),
    ("group", "the group column of {a} (runs are paired by dataset, method and seed), not a metric"),
    ("cpu_kind", "a text column of {a} (e.g. 'Intel Xeon / AMX-BF16'), not a number"),
    ("failed", "a True/False column of {a}, not a number"),
    ("f2", "no such column in {a}"),
])
def test_only_numeric_metric_columns_are_compared(tmp_path, capsys, metric, what):
    a = _study(tmp_path / "a.csv")
    expected = f"--metrics {metric}: {what.format(a=a)}; expected one of its numeric columns: f1, mae"
    if metric in ("seed", "method", "group"):  # never a metric, whatever the file: a usage error (exit 2)
        with pytest.raises(SystemExit) as code:
            cli.main([str(a), str(a), "--metrics", "f1", metric])
        assert code.value.code == 2 and capsys.readouterr().err.endswith(f"error: {expected}\n")
    else:
        assert one_line_error(lambda: cli.main([str(a), str(a), "--metrics", "f1", metric]), capsys) == expected


@pytest.mark.parametrize("content, damage", [
    (b"", "damaged (empty, no header)"),
    (b"\xff\xfe\x00garbage\x81\n", "damaged or truncated ('utf-8' codec can't decode byte 0xff in position 0"),
])
def test_a_damaged_runs_csv_is_named(tmp_path, capsys, content, damage):
    bad, good = tmp_path / "bad.csv", _study(tmp_path / "good.csv")
    bad.write_bytes(content)
    message = one_line_error(lambda: cli.main([str(good), str(bad)]), capsys)
    assert message.startswith(f"{bad}: {damage}") and message.endswith(
        "; give the runs.csv of an aggregated study (python -m experiments.aggregate writes it)")


def test_a_metric_named_twice_is_a_usage_error(tmp_path, capsys):
    a = _study(tmp_path / "a.csv")
    with pytest.raises(SystemExit) as code:
        cli.main([str(a), str(a), "--metrics", "f1", "mae", "f1"])
    assert code.value.code == 2
    assert capsys.readouterr().err.endswith("error: --metrics: f1 given more than once; name each metric once\n")
