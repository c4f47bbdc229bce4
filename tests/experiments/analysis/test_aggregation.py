"""The aggregate stage and the analysis behind it: numbers checked against values worked out by hand."""

from __future__ import annotations

import re

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments import aggregate as agg_cli
from experiments.analysis import aggregation, collect, convergence, diagnostics, localization, qualitative, statistics, summary
from experiments.analysis.study import read_study
from experiments.core.cli import run_stage
from experiments.evaluation.metrics import Counts
from tests.helpers import reference_topology as ref
from tests.helpers.paths import ROOT
from tests.helpers.fake_study import (ablation_run, copy_run, located, log_rows, main_run, oracle_folder, write_oracle, write_params,
                                     write_prepared, write_run)

N_GT = {"a": 10, "b": 20, "c": 5}
# (tp, fp, fn) per image; fn = n_gt - tp. tghem beats ohem on F1 on all six (seed, image) pairs.
COUNTS = {
    ("tghem", 0): {"a": (8, 0, 2), "b": (18, 1, 2), "c": (5, 0, 0)},
    ("ohem", 0): {"a": (5, 1, 5), "b": (10, 2, 10), "c": (4, 1, 1)},
    ("tghem", 1): {"a": (9, 0, 1), "b": (19, 0, 1), "c": (5, 1, 0)},
    ("ohem", 1): {"a": (6, 0, 4), "b": (15, 5, 5), "c": (3, 0, 2)},
}
SCORES = {
    ("tghem", 0): {"f1": 0.8, "precision": 0.9, "recall": 0.7, "mae": 2.0, "rmse": 3.0, "game0": 2.0},
    ("tghem", 1): {"f1": 0.9, "precision": 0.95, "recall": 0.85, "mae": 1.0, "rmse": 1.5, "game0": 1.0},
    ("ohem", 0): {"f1": 0.6, "precision": 0.7, "recall": 0.5, "mae": 4.0, "rmse": 5.0, "game0": 4.0},
    ("ohem", 1): {"f1": 0.6, "precision": 0.8, "recall": 0.4, "mae": 3.0, "rmse": 4.0, "game0": 3.0},
}
ABLATION_F1 = {("lambda_pers", 0.0): 0.7, ("lambda_pers", 0.5): None, ("ohem_min_kept", 500): 0.75, ("top_dimension", True): 0.72}
ABLATION_VAL_F1 = {("lambda_pers", 0.0): 0.61, ("ohem_min_kept", 500): 0.6, ("top_dimension", True): 0.65}
"""The ablation runs' test and validation F1; lambda = 0.5 is the main lambda: that run is the main tghem run of seed 0."""
MAIN_VAL_F1 = 0.5
"""The validation F1 every main run records (:func:`tests.helpers.fake_study.write_run`'s default)."""


ORACLE_SCORES = {"f1": 0.99, "precision": 1.0, "recall": 0.98, "mae": 0.5, "rmse": 0.7, "f1_authors": 0.985}


def per_image_rows(method: str, seed: int, n_gt=N_GT) -> list[dict]:
    counts = COUNTS[(method, seed)]
    return [{"image_id": i, "n_gt": n_gt[i], "n_pred": tp + fp, "tp": tp, "fp": fp, "fn": fn}
            for i, (tp, fp, fn) in counts.items()]


def predicted(gt: dict, method: str, seed: int) -> dict:
    """Points of COUNTS: tp points 0.71 px (half a pixel in x and y) from their ground truth, fp points far from all."""
    return {i: np.concatenate([gt[i][:tp] + 0.5, np.full((fp, 2), -50.0)]) for i, (tp, fp, _) in COUNTS[(method, seed)].items()}


def pooled_f1(method: str, seed: int) -> float:
    tp, fp, fn = (sum(c[k] for c in COUNTS[(method, seed)].values()) for k in range(3))
    return 2 * tp / (2 * tp + fp + fn)


def build_study(tmp_path: Path, seeds=(0, 1)) -> tuple[Path, Path, Path]:
    """params.yaml, root and data folder of a study: synthetic, tghem and ohem, ``seeds``."""
    root, data_dir = tmp_path / "study", tmp_path / "data"
    params = write_params(tmp_path / "params.yaml", ["synthetic"], ["tghem", "ohem"], seeds,
                          lambda_pers=(0.0, 0.5), ohem_min_kept=(500,))
    rng = np.random.default_rng(0)
    gt = {i: np.round(rng.uniform(0, [79, 63], (n, 2)), 1) for i, n in N_GT.items()}
    write_prepared(data_dir, "synthetic", gt)
    write_oracle(params, "synthetic", root, ORACLE_SCORES)
    for (method, seed), scores in SCORES.items():
        if seed not in seeds:
            continue
        write_run(main_run(params, "synthetic", method, seed, root), "synthetic", method, seed,
                  per_image_rows(method, seed), scores, log_rows(4, 1.0 + seed, 1.5 if method == "tghem" else None),
                  predicted(gt, method, seed))
    for (name, value), f1 in ABLATION_F1.items():
        paths, main = ablation_run(params, name, value, root), main_run(params, "synthetic", "tghem", 0, root)
        if paths.config == main.config:  # lambda = 0.5, the main runs' value: the same experiment as the main run
            copy_run(main, paths)
            continue
        scores = dict(SCORES[("tghem", 0)], f1=f1)
        write_run(paths, "synthetic", "tghem", 0, per_image_rows("tghem", 0), scores,
                  log_rows(3, 2.0, 1.2), predicted(gt, "tghem", 0), best_val_f1=ABLATION_VAL_F1[(name, value)])
    return params, root, data_dir


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The two-seed study, aggregated once: (params, root, data_dir, out, metrics.json)."""
    tmp = tmp_path_factory.mktemp("aggregate")
    params, root, data_dir = build_study(tmp)
    out = tmp / "results"
    aggregation.aggregate(params, root, out, data_dir)
    return params, root, data_dir, out, json.loads((out / "metrics.json").read_text())


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn)


# --------------------------------------------------------------------------- statistics


def test_image_f1_convention():
    assert Counts(0, 0, 0).f1 == 1.0  # nothing to find and nothing found
    assert Counts(2, 1, 1).f1 == pytest.approx(4 / 6)
    assert Counts(0, 3, 0).f1 == 0.0
    assert Counts(0, 0, 4).f1 == 0.0
    assert collect.image_f1([0, 2, 0], [0, 1, 3], [0, 1, 0]) == [1.0, pytest.approx(4 / 6), 0.0]


def test_seed_moments_mean_and_sample_std():
    moments = lambda values: summary.seed_moments(pd.Series(values, dtype=object))  # noqa: E731
    assert moments([0.8, 0.9]) == {"mean": 0.85, "std": 0.0707107, "n": 2}  # |0.9 - 0.8| / sqrt(2), 6 digits
    assert moments([1.0, 2.0, 6.0]) == {"mean": 3.0, "std": round(math.sqrt(7.0), 5), "n": 3}
    assert moments([0.6]) == {"mean": 0.6, "std": None, "n": 1}
    assert moments([None, 1.0, 3.0])["n"] == 2
    assert moments([]) == {"mean": None, "std": None, "n": 0}


def test_wilcoxon_exact_p_of_six_positive_differences():
    # All 6 differences positive with distinct magnitudes: W- = 0, reached by 1 of the 2^6 sign
    # patterns on each side: two-sided p = 2 / 64.
    result = statistics.wilcoxon_signed_rank([0.3, 0.1, 0.6, 0.2, 0.5, 0.4])
    assert result["p_value"] == 2 / 64
    assert result["statistic"] == 0.0 and result["test"] == "exact" and result["n_nonzero"] == 6
    assert statistics.wilcoxon_signed_rank([-0.3, -0.1, -0.6, -0.2, -0.5, -0.4])["p_value"] == 2 / 64


def test_wilcoxon_zero_differences_are_dropped_and_all_zero_gives_p_one():
    result = statistics.wilcoxon_signed_rank([0.0, 0.0, 0.0])
    assert result["p_value"] == 1.0 and result["n_nonzero"] == 0 and "zero" in result["note"]
    # Zeros are dropped: the same p as the six non-zero differences alone.
    assert statistics.wilcoxon_signed_rank([0, 1, 2, 3, 0, 4, 5, 6])["p_value"] == 2 / 64


def test_wilcoxon_with_ties_enumerates_sign_flips():
    d = [-2.0, -7.0, -3.0, 1.0, -1.0]  # |1| twice: tied ranks
    result = statistics.wilcoxon_signed_rank(d)
    assert result["test"] == "permutation"
    # Exact by enumeration: W+ = 1.5 (the +1 has rank 1.5); count the 32 sign patterns whose W+
    # is at least as far from its mean 7.5.
    ranks = stats.rankdata(np.abs(d))
    patterns = np.array(np.meshgrid(*[[0, 1]] * 5)).reshape(5, -1).T
    w_plus = patterns @ ranks
    assert result["p_value"] == pytest.approx(np.mean(np.abs(w_plus - 7.5) >= abs(1.5 - 7.5)), abs=1e-12)


def test_wilcoxon_large_samples_use_the_normal_approximation():
    d = np.arange(1, 61, dtype=float)
    d[::4] *= -1
    result = statistics.wilcoxon_signed_rank(d)
    assert result["test"] == "normal approximation"
    assert result["p_value"] == pytest.approx(stats.wilcoxon(d, method="asymptotic").pvalue, rel=1e-12)


def test_bootstrap_interval_is_deterministic_and_contains_the_mean():
    d = np.array([0.26, 0.30, 0.20, 0.197, 0.224, 0.159, -0.05, 0.4])
    low, high = statistics.bootstrap_mean_interval(d)
    assert (low, high) == statistics.bootstrap_mean_interval(d)  # fixed seed
    assert low < d.mean() < high
    assert d.min() < low and high < d.max()
    assert statistics.bootstrap_mean_interval([0.25, 0.25, 0.25]) == (0.25, 0.25)
    # Another seed gives another (close) interval: the seed is what makes it reproducible.
    other = statistics.bootstrap_mean_interval(d, seed=1)
    assert other != (low, high) and other == pytest.approx((low, high), abs=0.02)


def test_paired_statistics_degenerate_cases():
    empty = statistics.paired_statistics([], [])
    assert empty["n_pairs"] == 0 and empty["mean_diff"] is None and empty["p_value"] is None and empty["note"]
    single = statistics.paired_statistics([0.9], [0.5])
    assert single["mean_diff"] == 0.4 and single["ci95_low"] is None and single["p_value"] is None
    assert "fewer than 2" in single["note"]
    same = statistics.paired_statistics([0.5, 1.0, 0.25], [0.5, 1.0, 0.25])
    assert same["p_value"] == 1.0 and same["mean_diff"] == 0.0 and same["ci95_low"] == same["ci95_high"] == 0.0
    assert "zero" in same["note"]


# --------------------------------------------------------------------------- the stage


def test_main_summary(study):
    *_, metrics = study
    main = metrics["main"]["synthetic"]
    assert list(main) == ["tghem", "ohem"]
    assert main["tghem"]["f1"] == {"mean": 0.85, "std": 0.0707107, "n": 2}
    assert main["tghem"]["mae"] == {"mean": 1.5, "std": 0.707107, "n": 2}
    assert main["ohem"]["f1"] == {"mean": 0.6, "std": 0.0, "n": 2}
    assert main["ohem"]["precision"] == {"mean": 0.75, "std": 0.0707107, "n": 2}
    assert main["ohem"]["rmse"] == {"mean": 4.5, "std": 0.707107, "n": 2}
    assert main["tghem"]["game0"]["mean"] == 1.5  # carried along where the evaluations have it
    assert "mre" not in main["tghem"]  # and left out where none has it


def test_split_sizes_are_counted_in_each_prepared_split_csv(study, tmp_path):
    params, root, data_dir, out, metrics = study
    # write_prepared puts every image in the test split.
    assert metrics["splits"] == {"synthetic": {"train": 0, "val": 0, "test": len(N_GT)}}
    (data_dir / "prepared" / "synthetic" / "split.csv").write_text("image_id,split\na,train\nb,val\nc,test\n")
    try:
        again = aggregation.aggregate(params, root, tmp_path / "results", data_dir)
    finally:
        (data_dir / "prepared" / "synthetic" / "split.csv").write_text(
            "image_id,split\n" + "".join(f"{i},test\n" for i in N_GT))
    assert again["splits"] == {"synthetic": {"train": 1, "val": 1, "test": 1}}


def test_split_sizes_of_a_dataset_not_prepared_name_the_command(tmp_path):
    study = SimpleNamespace(datasets=("nowhere",))  # split_sizes reads only the study's datasets
    with pytest.raises(FileNotFoundError, match=r"prepared/nowhere is not a prepared dataset; run "
                                                 r"`python -m experiments.prepare --dataset nowhere"):
        aggregation.split_sizes(study, tmp_path)


def test_paired_comparison(study):
    *_, out, metrics = study
    c = metrics["comparison"]["synthetic"]["ohem"]
    assert c["reference"] == "tghem" and c["difference"] == "tghem minus ohem"
    assert c["n_seeds"] == 2 and c["n_images"] == 3
    diffs = [f1(*COUNTS[("tghem", s)][i]) - f1(*COUNTS[("ohem", s)][i]) for s in (0, 1) for i in "abc"]
    assert all(d > 0 for d in diffs) and len(set(np.round(diffs, 9))) == 6
    f = c["f1"]
    assert f["n_pairs"] == 6 and f["n_nonzero"] == 6
    assert f["p_value"] == 2 / 64 and f["test"] == "exact"
    assert f["mean_diff"] == pytest.approx(np.mean(diffs), rel=1e-5)
    assert f["median_diff"] == pytest.approx(np.median(diffs), rel=1e-5)
    assert f["ci95_low"] <= f["mean_diff"] <= f["ci95_high"]
    assert min(diffs) <= f["ci95_low"] and f["ci95_high"] <= max(diffs)
    # |n_pred - n_gt|: tghem 2, 1, 0 | 1, 1, 1; ohem 4, 8, 0 | 4, 0, 2 -> differences -2, -7, 0, -3, 1, -1.
    e = c["abs_count_error"]
    assert (e["n_pairs"], e["n_nonzero"], e["mean_diff"], e["median_diff"]) == (6, 5, -2.0, -1.5)
    assert e["test"] == "permutation" and e["ci95_low"] <= -2.0 <= e["ci95_high"]
    # Seed level, the runs' F1 and MAE: tghem 0.8, 0.9 vs ohem 0.6, 0.6; MAE 2, 1 vs 4, 3 (lower is better).
    sf, sm = c["seed_level"]["f1"], c["seed_level"]["mae"]
    assert (sf["n_seeds"], sf["mean_diff"], sf["wins"], sf["losses"]) == (2, 0.25, 2, 0)
    half = stats.t.ppf(0.975, 1) * np.std([0.2, 0.3], ddof=1) / math.sqrt(2)
    assert (sf["ci95_low"], sf["ci95_high"]) == pytest.approx((0.25 - half, 0.25 + half), rel=1e-5)
    assert (sm["mean_diff"], sm["wins"], sm["losses"], sm["p_value"]) == (-2.0, 2, 0, None)  # both seeds -2: sd 0
    assert c["kind"] == "method" and c["seeds"] == [0, 1] and c["excluded_seeds"] == [] and c["notes"] == []
    rows = read_csv(out / "comparison.csv")
    assert list(rows[0]) == list(summary.COMPARISON_COLUMNS)
    assert [(r["dataset"], r["baseline"], r["kind"], r["quantity"], r["seed_metric"]) for r in rows] == [
        ("synthetic", "ohem", "method", "f1", "f1"), ("synthetic", "ohem", "method", "count_error", "mae"),
        ("synthetic", "tghem_lambda0", "ablation", "f1", "f1"),
        ("synthetic", "tghem_lambda0", "ablation", "count_error", "mae")]
    assert float(rows[0]["image_p_value"]) == 0.03125 and float(rows[0]["seed_mean_diff"]) == 0.25
    assert float(rows[1]["image_mean_diff"]) == -2.0 and rows[1]["seed_wins"] == "2"


def test_lambda_zero_is_compared_on_the_seeds_it_shares_with_the_main_runs(study):
    *_, metrics = study
    # The ablation has seed 0 only, the main runs 0 and 1: paired on seed 0, and said so.
    c = metrics["comparison"]["synthetic"]["tghem_lambda0"]
    assert (c["kind"], c["seeds"], c["n_seeds"], c["n_images"]) == ("ablation", [0], 1, 3)
    assert c["notes"] == ["the lambda ablation's seed 0 differ from the main seeds 0, 1: paired on the common seed 0"]
    assert c["seed_level"]["f1"]["mean_diff"] == pytest.approx(0.8 - 0.7) and c["seed_level"]["f1"]["ci95_low"] is None
    # Its per-image rows (those of tghem's seed 0 in this fake study) are in per_image.csv: every difference 0.
    assert c["f1"]["n_pairs"] == 3 and c["f1"]["mean_diff"] == 0.0 and c["f1"]["p_value"] == 1.0


def _runs_frame(rows):
    columns = ["group", "dataset", "method", "seed", "setting", "value", "f1", "mae", "best_val_f1"]
    return pd.DataFrame(rows, columns=columns)


def test_lambda_zero_without_a_shared_seed_has_no_row_and_failed_seeds_are_left_out():
    from experiments.analysis.study import Study

    study = Study("python", ("d",), ("tghem", "ohem"), (0, 1, 2), "d", (5,),
                  {"lambda_pers": (0.0, 0.5), "ohem_min_kept": (500,), "top_dimension": (True,)})
    runs = _runs_frame([
        *[("main", "d", "tghem", s, None, None, 0.8 + 0.01 * s, 3.0, 0.7) for s in (0, 1, 2)],
        *[("main", "d", "ohem", s, None, None, 0.7, 4.0 + s, 0.0 if s == 1 else 0.6) for s in (0, 1, 2)],
        ("ablation", "d", "tghem", 5, "lambda_pers", "0.0", 0.75, 3.5, 0.6),
    ])
    assert summary.failed_runs(runs).tolist() == [False] * 4 + [True, False, False]
    per_image = pd.DataFrame(columns=collect.PER_IMAGE_COLUMNS)
    comparison = summary.compare_methods(per_image, runs, study)["d"]
    assert list(comparison) == ["ohem"]  # lambda = 0 was trained with seed 5 only: nothing to pair
    c = comparison["ohem"]
    assert (c["seeds"], c["excluded_seeds"]) == ([0, 2], [1])
    assert c["notes"] == ["left out, failed runs: seed 1 (ohem)"]
    assert c["seed_level"]["f1"]["mean_diff"] == pytest.approx(0.11) and c["seed_level"]["mae"]["wins"] == 2
    # Without validation a run fails when its test F1 is 0.
    assert summary.failed_runs(_runs_frame([("main", "d", "x", 0, None, None, 0.0, 9.0, None),
                                            ("main", "d", "x", 1, None, None, 0.1, 9.0, None)])).tolist() == [True, False]


def test_tables_recomputed_from_the_logged_files_equal_the_aggregation(study, tmp_path):
    params, _, _, out, metrics = study
    copy = tmp_path / "results"
    copy.mkdir()
    for name in aggregation.OUTPUT_FILES:
        (copy / name).write_bytes((out / name).read_bytes())
    assert agg_cli.main(["--from-tables", "--params", str(params), "--out", str(copy), "--quiet"]) == 0
    for name in aggregation.OUTPUT_FILES:
        assert (copy / name).read_bytes() == (out / name).read_bytes(), name
    # A run that never detected (val F1 0 throughout) is marked failed and left out of the comparison.
    runs = pd.read_csv(copy / "runs.csv")
    runs.loc[(runs["method"] == "ohem") & (runs["seed"] == 1), "best_val_f1"] = 0.0
    runs.to_csv(copy / "runs.csv", index=False)
    again = aggregation.reaggregate(params, copy)
    assert again["failed"]["n_failed"] == 1 and again["failed"]["runs"][0]["method"] == "ohem"
    assert read_csv(copy / "runs.csv")[3]["failed"] == "True"
    c = again["comparison"]["synthetic"]["ohem"]
    assert c["seeds"] == [0] and c["excluded_seeds"] == [1] and c["f1"]["n_pairs"] == 3
    assert again["convergence"]["synthetic"]["ohem"]["failed_seeds"] == [1]
    assert again["convergence"]["synthetic"]["ohem"]["converged"] is False  # a failed seed: no, not "not judged"


def _drop_line(path: Path, line: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:line - 1] + lines[line:]))


def _repeat_line(path: Path, line: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:line] + lines[line - 1:]))


def _cut_last_row(path: Path) -> None:
    """The file cut in the middle of its last row (a killed copy)."""
    text = path.read_text()
    start = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[:start + (len(text) - start) // 3])


@pytest.mark.parametrize("name, damage, message", [
    # A runs.csv cut at a row boundary parses: once it summarised the study with n = 1 instead of 2.
    ("runs.csv", lambda p: _drop_line(p, 3), r"runs\.csv: does not hold the study's \d+ runs: 1 missing \(e\.g\. main synthetic "),
    ("runs.csv", lambda p: _repeat_line(p, 2), r"runs\.csv: does not hold the study's \d+ runs: 1 not of the study or repeated"),
    ("runs.csv", lambda p: replace_cell(p, 0, "seed", "zero"), r"runs\.csv: line 2, seed is 'zero', expected a finite number"),
    ("per_image.csv", lambda p: _drop_line(p, 2), r"per_image\.csv: \d+ row\(s\) of synthetic/\w+/seed \d, whose "
                                                   r"evaluation scored \d+ images \(runs\.csv\)"),
    ("per_image.csv", lambda p: p.write_bytes(b'garbage\x00,,\n"'), r"per_image\.csv: damaged or truncated \("),
    ("val_curves.csv", lambda p: p.write_text("a,b\n1,2\n"), r"val_curves\.csv: columns \['group', .*missing from the header "
                                                            r"\['a', 'b'\]"),
    ("val_curves.csv", lambda p: replace_cell(p, 0, "f1", "abc"), r"val_curves\.csv: line 2, f1 is 'abc', expected a finite number"),
    # A NaN (written or an empty cell) and a row cut mid-line once passed: the intervals became null, a seed was lost.
    ("per_image.csv", lambda p: replace_cell(p, 3, "abs_count_error", "nan"), r"per_image\.csv: line 5, abs_count_error is "
                                                                               r"empty or NaN, expected a finite number"),
    ("per_image.csv", lambda p: replace_cell(p, 0, "f1", ""), r"per_image\.csv: line 2, f1 is empty or NaN, expected a finite number"),
    ("val_curves.csv", lambda p: _cut_last_row(p), r"val_curves\.csv: damaged or truncated \(line \d+ has \d+ fields, the "
                                                    r"header \d+\)"),
])
def test_logged_tables_that_do_not_hold_the_study_are_refused(study, tmp_path, capsys, name, damage, message):
    params, _, _, out, _ = study
    copy = tmp_path / "results"
    copy.mkdir()
    for file in aggregation.OUTPUT_FILES:
        (copy / file).write_bytes((out / file).read_bytes())
    damage(copy / name)
    before = {file: (copy / file).read_bytes() for file in aggregation.OUTPUT_FILES}
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: agg_cli.main(["--from-tables", "--params", str(params), "--out", str(copy), "--quiet"]))
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1 and "aggregate from the runs" in err, err
    assert {file: (copy / file).read_bytes() for file in aggregation.OUTPUT_FILES} == before  # nothing written


def test_ablation_summary(study):
    *_, metrics = study
    a = metrics["ablation"]
    assert list(a) == ["lambda_pers", "ohem_min_kept", "top_dimension"]
    assert list(a["lambda_pers"]) == ["0.0", "0.5"] and list(a["ohem_min_kept"]) == ["500"]
    assert list(a["top_dimension"]) == ["true"]
    assert a["lambda_pers"]["0.0"]["f1"] == {"mean": 0.7, "std": None, "n": 1}
    assert a["lambda_pers"]["0.5"]["best_val_f1"] == {"mean": MAIN_VAL_F1, "std": None, "n": 1}
    assert a["lambda_pers"]["0.5"]["f1"]["mean"] == SCORES[("tghem", 0)]["f1"]  # the main run of seed 0
    assert {k: v["mean"] for k, v in a["ohem_min_kept"]["500"].items()} == {
        "f1": 0.75, "precision": 0.9, "recall": 0.7, "mae": 2.0, "rmse": 3.0, "game0": 2.0, "best_val_f1": 0.6,
        "f1_r4": round(pooled_f1("tghem", 0), 6)}
    # The main lambda is the one of the best mean validation F1 among lambda > 0: 0.5 here, as params.yaml has
    # it; lambda = 0 validates better (0.61 against 0.5).
    assert metrics["lambda_selection"] == {"metric": "best_val_f1 (mean over seeds)", "best_value": 0.5,
                                           "best_mean": MAIN_VAL_F1, "configured": 0.5, "configured_mean": MAIN_VAL_F1,
                                           "matches": True, "zero_mean": 0.61, "zero_at_least_as_good": True}


def test_convergence_and_dynamics(study):
    params, root, *_, metrics = study
    # Convergence is judged from 3/4 of params' train.iterations (300: from 225); these fake runs stop at 4,
    # so no seed has a validation there: not judged.
    assert metrics["convergence"]["synthetic"]["tghem"] == {
        "last_quarter_from": 225, "n_seeds": 0, "max_range": None, "max_abs_change": None,
        "failed_seeds": [], "collapsed_seeds": [], "min_validations": 0, "converged": None}
    d = metrics["dynamics"]["synthetic"]
    expected = []
    for seed in (0, 1):
        crops = pd.read_csv(main_run(params, "synthetic", "tghem", seed, root).train / "crops.csv")
        error = (crops["n_pred"] - crops["n_gt"]).abs()
        expected.append(crops["weight"].corr(error, method="spearman"))  # pandas' own rank correlation
    assert d["tghem"]["crops_weight_count_spearman"]["mean"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert d["ohem"]["crops_weight_count_spearman"]["mean"] is None  # constant weights: no correlation
    assert d["tghem"]["crops_count_error_mean"] == {"mean": 2.0, "std": 0.0, "n": 2}


def _curve(seed, f1s, iterations=(100, 150, 175, 200), group="main"):
    return pd.DataFrame({"group": group, "dataset": "d", "method": "m", "seed": seed,
                         "iteration": list(iterations)[-len(f1s):], "f1": f1s})


@pytest.mark.parametrize("curves, verdict, n", [
    ([[0.3, 0.80, 0.805, 0.80], [0.2, 0.70, 0.709, 0.701]], True, 3),    # every seed within 0.01 over 150..200
    ([[0.3, 0.80, 0.805, 0.80], [0.2, 0.70, 0.72, 0.73]], False, 3),     # seed 1 still rises: range 0.03
    ([[0.3, 0.80, 0.805, 0.80], [0.70, 0.709]], None, 2),                # seed 1 validated twice: not judged
    ([[0.3, 0.80, 0.805, 0.0], [0.2, 0.70, 0.709, 0.701]], False, 3),    # seed 0 collapsed: no, however few points
    ([[0.80], [0.70]], None, 1),                                          # one point: a range of 0 means nothing
])
def test_convergence_needs_enough_validations_in_the_last_quarter(curves, verdict, n):
    val = pd.concat([_curve(seed, f1s) for seed, f1s in enumerate(curves)], ignore_index=True)
    runs = pd.DataFrame({"group": "main", "dataset": "d", "method": "m", "seed": [0, 1], "failed": False})
    c = convergence.convergence_summary(val, runs, 200)["d"]["m"]
    assert c["last_quarter_from"] == 150 and c["min_validations"] == n
    assert c["converged"] is verdict
    table = diagnostics.convergence_table({"convergence": {"d": {"m": c}}, "failed": {"rule": "r"}})
    expected = {True: "yes", False: "no", None: f"not judged ({n} validation{'s' if n != 1 else ''})"}[verdict]
    assert table.cells["converged"].tolist() == [expected]
    assert "Not judged: a seed has fewer than 3 validations" in table.caption


def test_the_convergence_table_prints_a_nonzero_range_below_its_last_digit_as_a_bound():
    c = {"last_quarter_from": 150, "max_range": 0.0004, "max_abs_change": 0.0, "converged": True, "min_validations": 3,
         "failed_seeds": [], "collapsed_seeds": []}
    table = diagnostics.convergence_table({"convergence": {"d": {"m": c}}, "failed": {"rule": "r"}})
    assert table.cells.iloc[0, 2:4].tolist() == ["<0.001", "0.000"]


def test_convergence_takes_each_dataset_s_own_schedule():
    # The same curve (validations at 100..200) judged on a 200-iteration and a 400-iteration schedule.
    curve = _curve(0, [0.3, 0.80, 0.805, 0.80])
    val = pd.concat([curve.assign(dataset="short"), curve.assign(dataset="long")], ignore_index=True)
    runs = pd.DataFrame({"group": "main", "dataset": ["short", "long"], "method": "m", "seed": 0, "failed": False})
    c = convergence.convergence_summary(val, runs, {"short": 200, "long": 400})
    assert c["short"]["m"]["last_quarter_from"] == 150 and c["short"]["m"]["converged"] is True
    # On 400 iterations the last quarter starts at 300: no validation there, not judged.
    assert c["long"]["m"]["last_quarter_from"] == 300 and c["long"]["m"]["min_validations"] == 0
    assert c["long"]["m"]["converged"] is None
    # The table's caption names each dataset's start where the schedules differ.
    table = diagnostics.convergence_table({"convergence": c, "failed": {"rule": "r"}})
    assert "(validations from iteration 150 (short), 300 (long) on)" in table.caption


def test_f1_at_4_px_is_recomputed_from_the_logged_points(study, tmp_path):
    *_, out, metrics = study
    runs = [r for r in read_csv(out / "runs.csv") if r["group"] == "main"]
    # The true positives lie 0.71 px from their dots: at 4 px every one matches, as at the evaluation's 5 px.
    assert [float(r["f1_r4"]) for r in runs] == [round(pooled_f1(r["method"], int(r["seed"])), 6) for r in runs]
    assert metrics["main"]["synthetic"]["tghem"]["f1_r4"]["mean"] == pytest.approx(
        (pooled_f1("tghem", 0) + pooled_f1("tghem", 1)) / 2, abs=1e-6)
    # Below 0.71 px nothing matches: the radius is the one asked for.
    params, root, data_dir, *_ = study
    run = collect.read_runs(located(params, root))[0][0]
    assert localization.strict_f1([run], data_dir, radius=0.7) == [0.0]
    assert localization.strict_f1([run], data_dir) == [pytest.approx(pooled_f1(run.method, run.seed))]


def test_runs_per_image_and_curves_csv(study):
    *_, out, _ = study
    runs = read_csv(out / "runs.csv")
    assert [(r["group"], r["method"], r["seed"], r["setting"], r["value"]) for r in runs] == [
        ("main", "tghem", "0", "", ""), ("main", "tghem", "1", "", ""), ("main", "ohem", "0", "", ""),
        ("main", "ohem", "1", "", ""), ("ablation", "tghem", "0", "lambda_pers", "0.0"),
        ("ablation", "tghem", "0", "lambda_pers", "0.5"), ("ablation", "tghem", "0", "ohem_min_kept", "500"),
        ("ablation", "tghem", "0", "top_dimension", "true")]
    assert float(runs[1]["f1"]) == 0.9 and float(runs[3]["mae"]) == 3.0 and runs[0]["checkpoint_iteration"] == "4"
    assert {r["cpu_kind"] for r in runs} == {"Test CPU / AVX2"}  # which machine made the study
    per_image = read_csv(out / "per_image.csv")
    assert len(per_image) == 12 + 3 and list(per_image[0]) == list(collect.PER_IMAGE_COLUMNS)
    assert [r["method"] for r in per_image[12:]] == ["tghem_lambda0"] * 3  # the lambda = 0 ablation run's images
    assert list(runs[0])[-1] == "failed" and {r["failed"] for r in runs} == {"False"}
    row = next(r for r in per_image if (r["method"], r["seed"], r["image_id"]) == ("ohem", "1", "b"))
    assert (row["n_gt"], row["n_pred"], row["tp"], row["fp"], row["fn"]) == ("20", "20", "15", "5", "5")
    assert float(row["f1"]) == 0.75 and row["abs_count_error"] == "0"
    curves = read_csv(out / "curves.csv")
    assert "seconds" not in curves[0] and "lr" not in curves[0]
    assert len(curves) == 4 * 4 + 3 * 3 + 4  # main runs: 4 iterations; ablation: 3, but lambda = 0.5's is the main run's
    first = curves[0]
    assert (first["group"], first["method"], first["seed"], first["iteration"]) == ("main", "tghem", "0", "1")
    assert float(first["loss"]) == round(0.5 ** 0.25, 6) and float(first["weight_mean"]) == 1.5
    ohem = next(r for r in curves if r["method"] == "ohem")
    assert ohem["discrepancy_mean"] == "" and float(ohem["weight_mean"]) == 1.0
    ablation = [r for r in curves if r["group"] == "ablation"]
    assert {(r["setting"], r["value"]) for r in ablation} == {("lambda_pers", "0.0"), ("lambda_pers", "0.5"),
                                                               ("ohem_min_kept", "500"), ("top_dimension", "true")}


def test_qualitative_example(study):
    params, root, data_dir, out, _ = study
    q = json.loads((out / "qualitative.json").read_text())
    assert (q["dataset"], q["split"], q["seed"]) == ("synthetic", "test", 0)
    assert q["image_id"] == "a"  # counts 5 (c), 10 (a), 20 (b): the median
    assert q["image_shape"] == [64, 80] and q["image_file"] == "images/a.png"
    assert q["match_radius"] == 5.0
    gt = np.loadtxt(data_dir / "prepared" / "synthetic" / "points" / "a.csv", delimiter=",", skiprows=1)
    assert np.array_equal(np.array(q["gt"]), gt)
    assert list(q["pred"]) == ["tghem", "ohem"]
    assert np.array_equal(np.array(q["pred"]["ohem"]), np.concatenate([gt[:5] + 0.5, [[-50.0, -50.0]]]))  # 5 TP + 1 FP
    assert q["counts"]["ohem"] == {"n_pred": 6, "tp": 5, "fp": 1, "fn": 5}
    p = q["persistence"]
    assert (p["epsilon"], p["lambda_pers"], p["reduction"]) == (50.0, 0.5, "sum")  # params.yaml's tghem
    assert p["crop"] == {"x0": 0, "y0": 0, "width": 80, "height": 64}  # train.crop_size 96 > the image
    # TG-HEM and the best baseline, with the evaluation's TP/FP/FN (ohem, seed 0, image a: 5, 1, 5).
    assert q["shown"] == ["tghem", "ohem"]
    d = q["detections"]["ohem"]
    assert (len(d["tp"]), len(d["fp"]), len(d["fn"])) == (5, 1, 5) and d["f1"] == pytest.approx(10 / 16)
    assert np.array_equal(np.array(d["tp"]), gt[:5] + 0.5) and d["fp"] == [[-50.0, -50.0]]
    # D of the crop, recomputed here from the diagrams with the independent reference solver.
    assert p["discrepancy"] == pytest.approx(p["w_h0"] + p["w_h1"]) and p["weight"] == pytest.approx(1 + 0.5 * p["discrepancy"])
    assert p["w_h0"] == pytest.approx(ref.wasserstein1(np.array(p["pred_h0"]), np.array(p["gt_h0"])), abs=1e-9)
    assert p["w_h1"] == pytest.approx(ref.wasserstein1(np.array(p["pred_h1"]), np.array(p["gt_h1"])), abs=1e-9)


def test_outputs_are_identical_on_a_second_run_and_carry_no_timing(study, tmp_path):
    params, root, data_dir, out, _ = study
    aggregation.aggregate(params, root, tmp_path / "again", data_dir)
    for name in aggregation.OUTPUT_FILES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
        text = (out / name).read_text()
        assert "seconds" not in text and "12.5" not in text and "3.21" not in text, name


def test_metrics_json_is_strict_with_null_std_for_one_seed(tmp_path):
    params, root, data_dir = build_study(tmp_path, seeds=(0,))
    aggregation.aggregate(params, root, tmp_path / "out", data_dir)

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(), parse_constant=reject)
    assert metrics["main"]["synthetic"]["tghem"]["f1"] == {"mean": 0.8, "std": None, "n": 1}
    assert '"std": null' in (tmp_path / "out" / "metrics.json").read_text()
    assert metrics["comparison"]["synthetic"]["ohem"]["f1"]["n_pairs"] == 3


def test_stale_folders_are_ignored(tmp_path):
    params, root, data_dir = build_study(tmp_path)
    aggregation.aggregate(params, root, tmp_path / "before", data_dir)
    # Leftovers of a larger study: another method, another seed, another ablation value.
    (root / "runs" / "main" / "synthetic" / "focal" / "seed0").mkdir(parents=True)
    (root / "evals" / "main" / "synthetic" / "tghem" / "seed7").mkdir(parents=True)
    (root / "evals" / "ablation" / "lambda_pers" / "2.0").mkdir(parents=True)
    aggregation.aggregate(params, root, tmp_path / "after", data_dir)
    for name in aggregation.OUTPUT_FILES:
        assert (tmp_path / "after" / name).read_bytes() == (tmp_path / "before" / name).read_bytes()


def test_a_missing_run_is_an_error_naming_the_run_and_the_stages(tmp_path, capsys):
    params, root, data_dir = build_study(tmp_path)
    missing = main_run(params, "synthetic", "ohem", 1, root).eval / "metrics.json"
    kept = missing.read_text()
    missing.unlink()
    with pytest.raises(FileNotFoundError) as err:
        aggregation.aggregate(params, root, tmp_path / "out", data_dir)
    message, where = str(err.value), f" in {params.parent.as_posix()}"
    assert message.startswith(f"no evaluation of synthetic/ohem/seed 1 below {root / 'evals'}")
    assert f"`dvc repro train@synthetic-ohem-1`{where} and `dvc repro evaluate@synthetic-ohem-1`{where}" in message
    assert not (tmp_path / "out").exists()  # nothing written
    # The entry point: a one-line error and exit status 1.
    argv = ["--params", str(params), "--root", str(root), "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--quiet"]
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: agg_cli.main(argv))
    assert code.value.code == 1
    assert capsys.readouterr().err.startswith("error: no evaluation of synthetic/ohem/seed 1 below ")
    # A missing ablation training log names the file and the ablation's own stage.
    (ablation_run(params, "ohem_min_kept", 500, root).train / "log.csv").unlink()
    missing.write_text(kept)
    with pytest.raises(FileNotFoundError, match=r"ohem_min_kept/500/seed0/log.csv does not exist; make it with "
                                                r"`dvc repro train_ohem_min_kept@500-0` in /"):
        aggregation.aggregate(params, root, tmp_path / "out", data_dir)


def test_runs_are_found_by_their_settings_wherever_they_lie(tmp_path):
    """Discovery reads the records, not a layout: moved folders are found; a run of other settings is not this
    study's run; two records of the same settings must agree."""
    params, root, data_dir = build_study(tmp_path)
    aggregation.aggregate(params, root, tmp_path / "before", data_dir)
    # Moved anywhere below the evaluations' folder, with its training folder elsewhere: the same results.
    run = main_run(params, "synthetic", "ohem", 1, root)
    run.eval.rename(root / "evals" / "moved")
    run.train.rename(root / "elsewhere")
    m = json.loads((root / "evals" / "moved" / "metrics.json").read_text())
    (root / "evals" / "moved" / "metrics.json").write_text(json.dumps(dict(m, run_dir="elsewhere")))
    aggregation.aggregate(params, root, tmp_path / "after", data_dir)
    for name in aggregation.OUTPUT_FILES:
        assert (tmp_path / "after" / name).read_bytes() == (tmp_path / "before" / name).read_bytes(), name
    # The main tghem run of seed 0 and the lambda = 0.5 ablation run are one experiment: they must agree.
    twin = ablation_run(params, "lambda_pers", 0.5, root).eval / "metrics.json"
    twin.write_text(json.dumps(dict(json.loads(twin.read_text()), f1=0.1)))
    with pytest.raises(ValueError, match=r"evaluate runs of the same settings \(synthetic/tghem/seed 0\) but their "
                                         r"metrics.json differ"):
        aggregation.aggregate(params, root, tmp_path / "again", data_dir)


@pytest.mark.parametrize("damage, error, message", [
    ("wrong_method", FileNotFoundError, r"^no evaluation of synthetic/ohem/seed 0 below"),
    ("unfinished", ValueError, r"training stopped at iteration 2 of 4; finish it with the command that trained it plus "
                               r"--resume, or `dvc repro train@synthetic-ohem-0` in "),
    ("ablation_value", FileNotFoundError, r"no evaluation of synthetic/tghem/seed 0 with tghem.lambda_pers=0.0 below .*"
                                          r"lambda_pers/0.0/seed0 was trained with tghem.lambda_pers=0.1 \(the study: 0.0\)"),
    ("eval_overrides", FileNotFoundError, r"no evaluation of synthetic/ohem/seed 0 below .*ohem/seed0 was evaluated with "
                                          r"eval.threshold=0.3 \(the study: 0.5\)"),
    ("per_image_rows", ValueError, r"per_image.csv has 2 rows, metrics.json n_images 3"),
])
def test_inconsistent_runs_are_errors(tmp_path, damage, error, message):
    params, root, data_dir = build_study(tmp_path)
    run = main_run(params, "synthetic", "ohem", 0, root)
    if damage == "wrong_method":
        m = json.loads((run.eval / "metrics.json").read_text())
        (run.eval / "metrics.json").write_text(json.dumps(dict(m, method="focal")))
    elif damage == "unfinished":
        s = json.loads((run.train / "train.json").read_text())
        (run.train / "train.json").write_text(json.dumps(dict(s, finished=False, iterations=2)))
    elif damage == "eval_overrides":  # evaluated with another threshold than the run (and the study) has
        m = json.loads((run.eval / "metrics.json").read_text())
        (run.eval / "metrics.json").write_text(json.dumps(dict(m, eval_overrides={"threshold": 0.3})))
    elif damage == "ablation_value":
        path = ablation_run(params, "lambda_pers", 0.0, root).train / "train.json"
        s = json.loads(path.read_text())
        s["config"]["tghem"]["lambda_pers"] = 0.1
        path.write_text(json.dumps(s))
    else:
        lines = (run.eval / "per_image.csv").read_text().splitlines()
        (run.eval / "per_image.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(error, match=message):
        aggregation.aggregate(params, root, tmp_path / "out", data_dir)


def test_help_names_inputs_and_outputs():
    text = agg_cli.build_parser().format_help()
    for name in (*aggregation.OUTPUT_FILES, "--params", "--evals", "--root", "--out"):
        assert name in text


def replace_cell(path: Path, row: int, column: str, value: str) -> None:
    rows = read_csv(path)
    rows[row][column] = value
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def set_metric(path: Path, key: str, value) -> None:
    m = json.loads(path.read_text())
    path.write_text(json.dumps(dict(m, **{key: value})))  # json writes NaN/Infinity for non-finite floats


@pytest.mark.parametrize("file, damage, what", [
    ("metrics.json", "truncate", "damaged or truncated, not valid JSON (Expecting ':' delimiter at line 2 column 13)"),
    ("metrics.json", "empty", "damaged or truncated, empty"),
    ("metrics.json", ("f1", float("nan")), "f1 is nan, expected a finite number"),
    ("metrics.json", ("recall", float("inf")), "recall is inf, expected a finite number"),
    ("metrics.json", ("precision", 1.5), "precision is 1.5, expected a number in [0, 1]"),
    ("metrics.json", ("f1", None), "f1 is null (an evaluation without images?)"),
    ("metrics.json", ("f1", "0.6"), "f1 is '0.6', expected a number in [0, 1]"),
    ("metrics.json", ("n_images", -3), "n_images is -3, expected an int >= 0"),
    ("metrics.json", ("mae", -1.0), "mae is -1.0, expected a finite number >= 0"),
    ("metrics.json", ("match_radius", 0), "match_radius is 0, expected a finite number > 0"),
    ("per_image.csv", (1, "tp", "abc"), "line 3, tp is 'abc', expected an int >= 0"),
    ("per_image.csv", (0, "fp", "-1"), "line 2, fp is '-1', expected an int >= 0"),
    ("per_image.csv", (2, "n_gt", "nan"), "line 4, n_gt is 'nan', expected an int >= 0"),
    ("per_image.csv", (0, "n_pred", "99"), "line 2 (a): tp + fp = 6, but n_pred = 99"),
    ("per_image.csv", (1, "image_id", "a"), "line 3, image_id is 'a', a duplicate"),
    ("per_image.csv", "truncate", "columns ['n_gt', 'n_pred', 'tp', 'fp', 'fn'] missing from the header ['image_id']"),
    ("log.csv", (1, "loss", ""), "line 3, loss is empty, expected a finite number"),
    ("log.csv", (2, "weight_max", "inf"), "line 4, weight_max is 'inf', expected a finite number >= 0"),
    ("log.csv", (0, "discrepancy_mean", "nan"), "line 2, discrepancy_mean is 'nan', expected a finite number >= 0"),
    ("log.csv", (3, "iteration", "2"), "line 5, iteration 2 does not follow 3"),
    ("log.csv", "empty", "damaged (empty, no header)"),
    ("train.json", "truncate", "damaged or truncated, not valid JSON (Expecting value at line 2 column 13)"),
    ("train.json", ("iterations", 2.5), "iterations is 2.5, expected an int >= 0"),
])
def test_damaged_or_out_of_range_files_are_one_line_errors_naming_file_and_fix(tmp_path, capsys, file, damage, what):
    params, root, data_dir = build_study(tmp_path)
    run = main_run(params, "synthetic", "ohem", 0, root)
    path = (run.eval if file in ("metrics.json", "per_image.csv") else run.train) / file
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:14 if file.endswith(".json") else 8])
    elif damage == "empty":
        path.write_bytes(b"")
    elif file.endswith(".json"):
        set_metric(path, *damage)
    else:
        replace_cell(path, *damage)
    stage = "evaluate" if file in ("metrics.json", "per_image.csv") else "train"
    where = f" in {params.parent.as_posix()}"
    fix = (f"evaluate again: `dvc repro evaluate@synthetic-ohem-0`{where}" if stage == "evaluate"
           else f"train the run again: `dvc repro train@synthetic-ohem-0`{where}")
    if file == "metrics.json" and ("damaged" in what or what.endswith("expected a finite number")):
        # Not JSON (the reader refuses NaN and inf too): whose record it is cannot be read, so the fix names the folder.
        fix = (f"evaluate again (`dvc repro` the stage whose output is {run.eval}), or move it away if no stage of "
               f"the study writes it")
    argv = ["--params", str(params), "--root", str(root), "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--quiet"]
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: agg_cli.main(argv))
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: {what}; {fix}")
    assert err.count("\n") == 1
    if stage == "train":
        assert err.endswith(f"(by hand, delete {run.train} first)\n")
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_oracle_is_logged_and_summarised(tmp_path):
    params, root, data_dir = build_study(tmp_path)
    out = tmp_path / "results"
    metrics = aggregation.aggregate(params, root, out, data_dir)
    assert metrics["oracle"]["synthetic"] == {**ORACLE_SCORES, "radius": "3", "gap": True}
    rows = read_csv(out / "oracle.csv")
    assert [(r["dataset"], r["target"], r["split"]) for r in rows] == [("synthetic", "study", "val"), ("synthetic", "study", "test")]
    assert float(rows[1]["f1_authors"]) == ORACLE_SCORES["f1_authors"]
    # --from-tables reads it back: the same summary.
    assert aggregation.reaggregate(params, out)["oracle"] == metrics["oracle"]
    # ... and with --evals it reads the oracle records again (the oracle needs no run).
    write_oracle(params, "synthetic", root, {**ORACLE_SCORES, "f1": 0.5})
    again = aggregation.reaggregate(params, out, root, ["evals"], data_dir)
    assert again["oracle"]["synthetic"]["f1"] == 0.5 and float(read_csv(out / "oracle.csv")[1]["f1"]) == 0.5


def test_a_missing_oracle_names_the_stage_that_makes_it(tmp_path):
    params, root, data_dir = build_study(tmp_path)
    (oracle_folder(params, "synthetic", root) / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no oracle of synthetic with the target radius 3, gap True \(study\), scored "
                                                r"with centroid_mode contour, match_radius 5.0, below .*; make it with "
                                                r"`dvc repro oracle@synthetic` in /"):
        aggregation.aggregate(params, root, tmp_path / "results", data_dir)


def test_an_oracle_scored_with_other_eval_settings_is_not_the_study_s(tmp_path):
    """An oracle of the study's target but another match radius or centroid mode once filled the oracle row."""
    params, root, data_dir = build_study(tmp_path)
    folder = oracle_folder(params, "synthetic", root)
    study_row = json.loads((folder / "metrics.json").read_text())
    other = folder.parent / "a_strict"
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps({**study_row, "match_radius": 1.0, "test": {**study_row["test"], "f1": 0.5}}))
    results = aggregation.aggregate(params, root, tmp_path / "results", data_dir)
    assert results["oracle"]["synthetic"]["f1"] == study_row["test"]["f1"]
    # Two records of the study's target and scoring that differ: refused, both named.
    (other / "metrics.json").write_text(json.dumps({**study_row, "test": {**study_row["test"], "f1": 0.5}}))
    with pytest.raises(ValueError, match=r"are oracles of the same target and scoring \(synthetic, study\) but differ"):
        aggregation.aggregate(params, root, tmp_path / "results2", data_dir)


def test_a_data_folder_without_the_study_s_datasets_is_named_first(tmp_path):
    params, root, data_dir = build_study(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"^--data-dir: {tmp_path / 'none'}/prepared/synthetic is not a prepared "
                                                rf"dataset; run `python -m experiments.prepare --dataset synthetic"):
        aggregation.aggregate(params, root, tmp_path / "results", tmp_path / "none")
    assert not (tmp_path / "results").exists()
