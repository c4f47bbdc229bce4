"""Each ablation beside the main runs: the main runs' setting, their scores, and the rows tables and figures show."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from experiments.analysis import figures, tables
from experiments.analysis.ablations import ablation_order, ablation_points, main_setting_values, same_value
from experiments.analysis.summary import ablation_reference

STUDY = SimpleNamespace(ablation={"lambda_pers": (0.0, 0.03), "warmup": (0,), "mask_gap": (False,), "mask_radius": (3,)},
                        ablation_dataset="cells", ablation_seeds=(0, 1), datasets=("cells", "crowd"), methods=("tghem", "ohem"))
SETTINGS = {"tghem": {"lambda_pers": 0.03, "warmup": 0.25}, "data": {"mask_gap": True, "mask_radius": None}}


def oracle_rows(radius):
    return pd.DataFrame([{"dataset": "crowd", "target": "study", "split": "test", "radius": 6, "gap": True},
                         {"dataset": "cells", "target": "study", "split": "test", "radius": radius, "gap": True},
                         {"dataset": "cells", "target": "mask_radius=3", "split": "test", "radius": 3, "gap": True}])


def test_main_values_are_the_resolved_settings_and_a_null_radius_is_the_oracles():
    # oracle.csv read back by pandas gives numpy scalars; read_oracle gives strings: both print the same.
    for radius in (np.int64(1), "1"):
        assert main_setting_values(SETTINGS, STUDY, oracle_rows(radius)) == {
            "lambda_pers": "0.03", "warmup": "0.25", "mask_gap": "true", "mask_radius": "1"}
    # Without an oracle row for the dataset, the radius the runs used is unknown: left out, never guessed.
    assert "mask_radius" not in main_setting_values(SETTINGS, STUDY, None)
    assert "mask_radius" not in main_setting_values(SETTINGS, STUDY, oracle_rows(1).iloc[[0]])
    # A radius the settings give is used as it is.
    given = {**SETTINGS, "data": {"mask_gap": True, "mask_radius": 2}}
    assert main_setting_values(given, STUDY, oracle_rows(1))["mask_radius"] == "2"


def run_rows():
    rows = []
    for seed, f1 in ((0, 0.90), (1, 0.94), (2, 0.10)):  # seed 2 is not an ablation seed
        rows.append({"group": "main", "dataset": "cells", "method": "tghem", "seed": seed, "f1": f1, "best_val_f1": f1 - 0.01})
    rows += [{"group": "main", "dataset": "cells", "method": "ohem", "seed": 0, "f1": 0.0, "best_val_f1": 0.0},
             {"group": "main", "dataset": "crowd", "method": "tghem", "seed": 0, "f1": 0.0, "best_val_f1": 0.0},
             {"group": "ablation", "dataset": "cells", "method": "tghem", "seed": 0, "f1": 0.0, "best_val_f1": 0.0}]
    return pd.DataFrame(rows)


def test_the_reference_is_the_main_tghem_runs_of_the_ablation_dataset_and_seeds():
    ref = ablation_reference(run_rows(), STUDY, ["f1"], {"mask_gap": "true"})
    assert ref["dataset"] == "cells" and ref["method"] == "tghem" and ref["seeds"] == [0, 1]
    assert ref["values"] == {"mask_gap": "true"}
    assert ref["scores"]["f1"]["mean"] == pytest.approx(0.92) and ref["scores"]["f1"]["n"] == 2
    assert ref["scores"]["f1"]["std"] == pytest.approx(np.std([0.90, 0.94], ddof=1), abs=1e-6)  # 6 digits, as logged
    assert ref["scores"]["best_val_f1"]["mean"] == pytest.approx(0.91)
    # No main TG-HEM runs on that dataset: the values are kept (a figure can still mark them), no scores.
    other = SimpleNamespace(**{**vars(STUDY), "ablation_dataset": "elsewhere"})
    assert ablation_reference(run_rows(), other, ["f1"], {"mask_gap": "true"}) == {"dataset": "elsewhere", "values": {"mask_gap": "true"}}
    assert ablation_reference(run_rows(), STUDY, ["f1"], {}) is None


def test_points_add_the_main_row_only_where_the_sweep_lacks_its_value():
    moments = lambda v: {"f1": {"mean": v, "std": 0.0, "n": 2}}  # noqa: E731
    metrics = {"ablation": {"lambda_pers": {"0.0": moments(0.8), "0.03": moments(0.9)}, "mask_radius": {"3": moments(0.7)}},
               "ablation_reference": {"values": {"lambda_pers": "0.030", "mask_radius": "1"}, "scores": moments(0.95)}}
    values, by_value, main, added = ablation_points(metrics, "lambda_pers")
    assert (values, main, added) == (["0.0", "0.03"], "0.03", False) and by_value["0.03"] == moments(0.9)
    values, by_value, main, added = ablation_points(metrics, "mask_radius")
    assert (values, main, added) == (["1", "3"], "1", True) and by_value["1"] == moments(0.95)
    # Without scores of the main runs a value the sweep lacks is neither added nor marked.
    del metrics["ablation_reference"]["scores"]
    assert ablation_points(metrics, "mask_radius") == (["3"], {"3": moments(0.7)}, None, False)
    assert ablation_order(["true", "false"]) == ["false", "true"] and same_value("3", "3.0") and not same_value("true", "1")


def gap_metrics():
    cols = ("best_val_f1", "f1", "precision", "recall", "mae", "rmse")
    row = lambda *v: {k: {"mean": x, "std": 0.01, "n": 3} for k, x in zip(cols, v)}  # noqa: E731
    return {"main": {"cells": {"tghem": {}}}, "failed": {"runs": []},
            "ablation": {"mask_gap": {"false": row(0.937, 0.940, 1.0, 0.886, 19.47, 24.5)}},
            "ablation_reference": {"dataset": "cells", "values": {"mask_gap": "true"}, "method": "tghem", "seeds": [0, 1, 2],
                                   "scores": row(0.959, 0.961, 1.0, 0.925, 12.64, 16.1)},
            "oracle": {"cells": {"f1": 0.998}, "ablation": {"mask_gap": {"false": {"f1": 0.971}}}}}


def test_the_table_shows_the_main_row_and_each_targets_oracle():
    runs = pd.DataFrame({"group": ["ablation"] * 3, "setting": ["mask_gap"] * 3, "dataset": ["cells"] * 3, "seed": [0, 1, 2]})
    md = tables.render_markdown(tables.ablation_table(gap_metrics(), runs, "mask_gap"))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in md.splitlines()
            if line.startswith("|") and "---" not in line}
    assert rows["data.mask_gap"][:3] == ["Oracle F1", "Val F1", "F1"]
    assert md.splitlines()[1].count(":|") == 8  # every column right-aligned
    assert rows["false"][:3] == ["0.971", "0.937 ± 0.010", "0.940 ± 0.010"]
    assert rows["true (main)"][:3] == ["0.998", "**0.959 ± 0.010**", "**0.961 ± 0.010**"]
    assert "(main): the main runs' value, its row the main TG-HEM runs themselves" in md
    assert "Oracle F1: the value's training target taken as the prediction" in md
    # An ablation that does not change the target has no oracle column.
    m = gap_metrics()
    m["ablation"] = {"warmup": m["ablation"].pop("mask_gap")}
    m["ablation_reference"]["values"] = {"warmup": "0.25"}
    md = tables.render_markdown(tables.ablation_table(m, runs.assign(setting="warmup"), "warmup"))
    assert "Oracle F1" not in md and " 0.25 (main) |" in md


def test_the_figure_draws_the_main_point_and_marks_it():
    runs = pd.DataFrame({"group": ["ablation"] * 3, "setting": ["mask_gap"] * 3, "dataset": ["cells"] * 3, "seed": [0, 1, 2]})
    fig = figures.ablation_figure(gap_metrics(), runs, "mask_gap")
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["false", "true"]
    test_line = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]
    assert list(test_line.get_ydata()) == pytest.approx([0.940, 0.961])
    dotted = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_xdata()) == [1, 1]


def test_lambda_selection_breaks_ties_toward_the_smallest_lambda():
    from experiments.analysis.summary import lambda_selection

    scored = {v: {"best_val_f1": {"mean": m}} for v, m in (("0", 0.95), ("0.1", 0.9), ("0.01", 0.9), ("1.0", 0.8))}
    out = lambda_selection({"lambda_pers": scored}, configured=0.1)
    assert (out["best_value"], out["best_mean"], out["matches"]) == (0.01, 0.9, False)
    assert out["zero_mean"] == 0.95 and out["zero_at_least_as_good"] is True
