"""The tables: pandas frames of formatted cells, Markdown (tabulate) and booktabs LaTeX (Styler)."""

from __future__ import annotations

import copy

import pandas as pd

from experiments.analysis import tables

METRICS = {
    "main": {
        "ds_1": {
            "tghem": {"f1": {"mean": 0.9004, "std": 0.012, "n": 2}, "precision": {"mean": 0.8, "std": 0.01, "n": 2},
                      "recall": {"mean": 0.95, "std": 0.02, "n": 2}, "mae": {"mean": 2.5, "std": 0.5, "n": 2},
                      "rmse": {"mean": 3.0, "std": 0.25, "n": 2}},
            "dice_bce": {"f1": {"mean": 0.85, "std": 0.0, "n": 2}, "precision": {"mean": 0.8001, "std": 0.03, "n": 2},
                         "recall": {"mean": 0.9, "std": 0.01, "n": 2}, "mae": {"mean": 1.25, "std": 0.125, "n": 2},
                         "rmse": {"mean": 3.5, "std": 0.5, "n": 2}},
        },
        "ds2": {
            "tghem": {k: {"mean": 0.5, "std": None, "n": 1} for k in ("f1", "precision", "recall", "mae", "rmse")},
            "dice_bce": {k: {"mean": 0.4, "std": None, "n": 1} for k in ("f1", "precision", "recall", "mae", "rmse")},
        },
    },
    "ablation": {
        "lambda_pers": {
            "0.0": {k: {"mean": v, "std": 0.01, "n": 3} for k, v in
                    {"best_val_f1": 0.69, "f1": 0.7, "precision": 0.9, "recall": 0.6, "mae": 3.0, "rmse": 4.0}.items()},
            "0.5": {k: {"mean": v, "std": None if v is None else 0.02, "n": 3} for k, v in
                    {"best_val_f1": 0.79, "f1": 0.8, "precision": 0.9, "recall": 0.7, "mae": None, "rmse": 3.5}.items()}},
        "ohem_min_kept": {},
    },
    "lambda_selection": {"metric": "best_val_f1 (mean over seeds)", "best_value": 0.5, "best_mean": 0.79, "configured": 0.5,
                         "configured_mean": 0.79, "matches": True, "zero_mean": 0.69, "zero_at_least_as_good": False},
    "comparison": {"ds_1": {
        "dice_bce": {
            "reference": "tghem", "baseline": "dice_bce", "kind": "method", "n_seeds": 2, "excluded_seeds": [], "notes": [],
            "f1": {"n_pairs": 6, "mean_diff": -0.0384, "ci95_low": -0.0591, "ci95_high": 0.0176, "p_value": 0.0003, "note": None},
            "abs_count_error": {"n_pairs": 6, "mean_diff": 2.0, "ci95_low": None, "ci95_high": None, "p_value": None,
                                "note": "1 pair, fewer than 2: no test and no interval"},
            "seed_level": {"f1": {"n_seeds": 2, "mean_diff": -0.04, "ci95_low": -0.0812, "ci95_high": 0.0301,
                                  "p_value": 0.21, "wins": 0, "losses": 2, "note": None},
                           "mae": {"n_seeds": 2, "mean_diff": -1.5, "ci95_low": -1.5, "ci95_high": -1.5, "p_value": None,
                                   "wins": 2, "losses": 0, "note": "all differences are equal (sd 0): the t-test is undefined, no p-value"}},
        },
        "tghem_lambda0": {
            "reference": "tghem", "baseline": "tghem_lambda0", "kind": "ablation", "n_seeds": 1, "excluded_seeds": [1],
            "notes": ["left out, failed runs: seed 1 (tghem_lambda0)", "image level: the per-image rows of these runs were not logged"],
            "f1": None, "abs_count_error": None,
            "seed_level": {q: {"n_seeds": 1, "mean_diff": 0.01, "ci95_low": None, "ci95_high": None, "p_value": None,
                               "wins": 1, "losses": 0, "note": "1 seed, fewer than 2: no spread, no test and no interval"}
                           for q in ("f1", "mae")},
        },
    }},
    "failed": {"rule": "val F1 0 at every validation", "n_failed": 1, "n_runs": 12, "runs": [
        {"group": "main", "dataset": "ds3", "method": "dice_bce", "seed": 1, "setting": None, "value": None}]},
}
METRICS["main"]["ds3"] = {
    m: {k: {"mean": v, "std": 0.1, "n": 2} for k, v in zip(("f1", "precision", "recall", "mae", "rmse"), values)}
    for m, values in (("tghem", (0.5, 0.5, 0.5, 9.0, 9.0)), ("dice_bce", (0.6, 0.6, 0.6, 1.0, 1.0)),
                      ("focal", (0.4, 0.4, 0.4, 10.0, 10.0)))
}


def md_row(text: str, *first_cells: str) -> list[str]:
    line = next(l for l in text.splitlines() if l.replace(" ", "").startswith("|" + "|".join(first_cells).replace(" ", "") + "|"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_main_table_bold_marks_the_best_mean_per_dataset_and_column():
    md = tables.render_markdown(tables.main_table(METRICS))
    assert md_row(md, "Dataset")[2:] == ["F1", "Precision", "Recall", "MAE", "RMSE"]
    # F1, recall and RMSE: tghem; MAE (lowest): dice_bce; precision 0.800 vs 0.800 as printed: both.
    assert md_row(md, "ds_1", "tghem")[2:] == [
        "**0.900 ± 0.012**", "**0.800 ± 0.010**", "**0.950 ± 0.020**", "2.50 ± 0.50", "**3.00 ± 0.25**"]
    assert md_row(md, "ds_1", "dice_bce")[2:] == [
        "0.850 ± 0.000", "**0.800 ± 0.030**", "0.900 ± 0.010", "**1.25 ± 0.12**", "3.50 ± 0.50"]
    # One seed: a dash for the std; each dataset is judged on its own.
    assert md_row(md, "ds2", "tghem")[2:4] == ["**0.500 ± -**", "**0.500 ± -**"]
    assert md_row(md, "ds2", "dice_bce")[5] == "**0.40 ± -**"
    assert md.splitlines()[1].replace(" ", "").startswith("|:-")  # text left, numbers right
    assert md.splitlines()[1].replace(" ", "").endswith("-:|")
    assert "(-: no spread with a single seed)" in md and "over 1 or 2 seeds" in md
    # The caption names the matching radius of each dataset, where metrics.json records it.
    assert "pool the matches of all test images;" in md
    radii = tables.main_table({**METRICS, "match_radius": {"ds_1": 5.0, "ds2": 8.0}}).caption
    assert "pool the matches of all test images (one-to-one matching within 5 px (ds_1), 8 px (ds2));" in radii


def test_a_row_with_a_failed_run_is_named_and_never_bold():
    md = tables.render_markdown(tables.main_table(METRICS))
    # dice_bce has the best means of ds3 but a failed seed: named, not bold; tghem leads the others.
    assert md_row(md, "ds3", "dice_bce (failed: seed 1)")[2:] == [
        "0.600 ± 0.100", "0.600 ± 0.100", "0.600 ± 0.100", "1.00 ± 0.10", "1.00 ± 0.10"]
    assert md_row(md, "ds3", "tghem")[2:] == ["**0.500 ± 0.100**"] * 3 + ["**9.00 ± 0.10**"] * 2
    assert "1 of the study's 12 runs failed" in md and "val F1 0 at every validation" in md
    assert tables.failed_text([0, 2]) == " (failed: seeds 0, 2)" and tables.failed_text([]) == ""


def test_a_nonzero_seed_sd_below_the_last_digit_is_not_printed_as_0():
    # 0.880 ± 0.000 read as seeds that agree to the last digit; an sd of 0.0004 prints as <0.001.
    metrics = {"main": {"ds": {m: {k: {"mean": 0.88, "std": sd, "n": 3} for k in ("f1", "precision", "recall", "mae", "rmse")}
                               for m, sd in (("tghem", 0.0004), ("dice_bce", 0.0))}},
               "failed": {"rule": "r", "runs": [], "n_failed": 0, "n_runs": 6}}
    table = tables.main_table(metrics)
    assert table.cells["F1"].tolist() == ["0.880 ± <0.001", "0.880 ± 0.000"]
    assert table.cells["MAE"].tolist() == ["0.88 ± <0.01", "0.88 ± 0.00"]
    assert r"0.880 $\pm$ $<$0.001" in tables.render_latex(table)
    metrics = copy.deepcopy(METRICS)
    for moments in metrics["ablation"]["lambda_pers"]["0.0"].values():
        moments["std"] = 0.0004
    ablation = tables.ablation_table(metrics, pd.DataFrame(columns=["group", "setting"]), "lambda_pers")
    assert ablation.cells.iloc[0, 1:].tolist() == [
        "0.690 ± <0.001", "0.700 ± <0.001", "0.900 ± <0.001", "0.600 ± <0.001", "3.00 ± <0.01", "4.00 ± <0.01"]


def test_main_table_latex_is_booktabs_with_a_rule_between_datasets():
    tex = tables.render_latex(tables.main_table(METRICS))
    lines = tex.splitlines()
    assert lines[0].startswith("% Generated by python -m experiments.report") and "booktabs" in lines[0]
    assert lines[2] == r"\begin{tabular}{llrrrrr}" and lines[-1] == r"\end{tabular}"
    assert lines[3] == r"\toprule" and lines[-2] == r"\bottomrule"
    assert r"ds\_1 & dice\_bce & 0.850 $\pm$ 0.000 & \textbf{0.800 $\pm$ 0.030} & 0.900 $\pm$ 0.010 & " \
           r"\textbf{1.25 $\pm$ 0.12} & 3.50 $\pm$ 0.50 \\" in lines
    assert r"ds2 & tghem & \textbf{0.500 $\pm$ --} & \textbf{0.500 $\pm$ --} & \textbf{0.500 $\pm$ --} & " \
           r"0.50 $\pm$ -- & 0.50 $\pm$ -- \\" in lines
    assert "dice_bce" not in tex.replace(r"dice\_bce", "")  # every underscore escaped
    # One rule under the header and one between the two datasets, before ds2's first row.
    assert tex.count(r"\midrule") == 3
    assert lines[lines.index(r"\midrule", 6) + 1].startswith("ds2 & tghem")


def test_ablation_table_sorts_values_and_marks_the_best():
    table = tables.ablation_table(METRICS, pd.DataFrame({"group": ["ablation"] * 2, "setting": ["lambda_pers"] * 2,
                                                         "dataset": ["ds_1"] * 2, "seed": [3, 1]}), "lambda_pers")
    md = tables.render_markdown(table)
    assert md_row(md, "tghem.lambda_pers")[1:] == ["Val F1", "F1", "Precision", "Recall", "MAE", "RMSE"]
    assert md_row(md, "0.0") == ["0.0", "0.690 ± 0.010", "0.700 ± 0.010", "**0.900 ± 0.010**", "0.600 ± 0.010",
                                 "3.00 ± 0.01", "4.00 ± 0.01"]
    # A missing value prints as a dash and is never best; one value left in the column is not bold.
    assert md_row(md, "0.5") == ["0.5", "**0.790 ± 0.020**", "**0.800 ± 0.020**", "**0.900 ± 0.020**",
                                 "**0.700 ± 0.020**", "-", "**3.50 ± 0.02**"]
    assert "TG-HEM on ds_1, seeds 1, 3, with tghem.lambda_pers set to each value" in md
    assert "Validation picks λ = 0.5 among λ > 0 (mean val F1 0.790): the value the main runs use." in md
    assert "λ = 0 (no topological weighting) scores 0.690 on val, below the best λ > 0." in md
    empty = tables.render_latex(tables.ablation_table(METRICS, pd.DataFrame(columns=["group", "setting"]), "ohem_min_kept"))
    assert r"ohem.min\_kept & Val F1 & F1" in empty and r"\bottomrule" in empty


def test_an_ablation_value_with_a_failed_run_is_named_and_never_bold():
    failed = {"rule": "val F1 0 at every validation", "n_failed": 1, "n_runs": 12, "runs": [
        {"group": "ablation", "dataset": "ds_1", "method": "tghem", "seed": 3, "setting": "lambda_pers", "value": "0.5"}]}
    runs = pd.DataFrame({"group": ["ablation"], "setting": ["lambda_pers"], "dataset": ["ds_1"], "seed": [3]})
    md = tables.render_markdown(tables.ablation_table({**METRICS, "failed": failed}, runs, "lambda_pers"))
    assert md_row(md, "0.5 (failed: seed 3)")[1:3] == ["0.790 ± 0.020", "0.800 ± 0.020"]
    assert md_row(md, "0.0")[1] == "0.690 ± 0.010"  # the only value left: nothing is best
    assert "their values are never bold" in md


def test_comparison_table_shows_seed_level_intervals_wins_and_descriptive_image_columns():
    table = tables.comparison_table(METRICS)
    md = tables.render_markdown(table)
    assert md_row(md, "Dataset")[2:8] == ["Seeds", "ΔF1 [95% t-CI]", "won, p", "ΔMAE [95% t-CI]", "won, p",
                                          "image ΔF1 [CI], p"]
    assert md_row(md, "ds_1", "dice_bce")[2:] == ["2", "-0.040 [-0.081, +0.030]", "0/2, p 0.210", "-1.50 [-1.50, -1.50]",
                                                  "2/2, p -", "-0.038 [-0.059, +0.018], p <0.001", "+2.00, p -"]
    # lambda = 0 is a row of its own, its failed seed counted, its missing per-image rows a dash.
    assert md_row(md, "ds_1", "tghem, λ = 0")[2:] == ["1 (1 failed)", "+0.010", "1/1, p -", "+0.01", "1/1, p -", "-", "-"]
    assert "*ds_1, tghem, λ = 0: left out, failed runs: seed 1 (tghem_lambda0).*" in md
    assert r"*ds_1, dice_bce: image \|count error\|: 1 pair, fewer than 2: no test and no interval.*" in md
    assert "*ds_1, dice_bce: seed-level MAE: all differences are equal (sd 0)" in md
    assert "descriptive only" in md and "paired t-interval over seeds" in md
    tex = tables.render_latex(table)
    assert r"$-$0.040 [$-$0.081, +0.030] & 0/2, p 0.210 & $-$1.50 [$-$1.50, $-$1.50] & 2/2, p - & " in tex
    assert r"ds\_1 & tghem, $\lambda$ = 0 & 1 (1 failed) & " in tex


def test_latex_escape():
    assert tables.latex_escape("a_b & 50% #1 {x}") == r"a\_b \& 50\% \#1 \{x\}"
    assert tables.latex_escape("-0.038 [-0.059, +0.018]") == "$-$0.038 [$-$0.059, +0.018]"  # minus, not hyphen
    assert tables.latex_escape("dice-bce") == "dice-bce" and tables.latex_escape("-") == "--"
