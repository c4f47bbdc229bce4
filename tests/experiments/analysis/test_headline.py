"""The DVC headline: the main table's F1 and MAE means, as printed, for every row of the table."""
import json

import pytest

from experiments.analysis.headline import HEADLINE_KEYS, ORACLE_KEY, headline_metrics
from experiments.analysis.tables import COLUMNS, ORACLE_LABEL, main_table
from tests.helpers.paths import ROOT


@pytest.mark.parametrize("study", ["synthetic", "cells"])
def test_headline_is_the_main_tables_means(study):
    path = ROOT / "results" / study / "metrics.json"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    metrics = json.loads(path.read_text())
    headline = headline_metrics(metrics)
    cells = main_table(metrics).cells
    rows = [(d, ORACLE_LABEL if m == ORACLE_KEY else m) for d, by_method in headline.items() for m in by_method]
    methods = cells["Method"].str.replace(r" \(failed: .*\)$", "", regex=True)  # a failed run's note
    assert rows == list(zip(cells["Dataset"], methods))  # every row of the table, in its order
    assert all(next(iter(headline[d])) == ORACLE_KEY for d in metrics.get("oracle", {}))
    labels = {c.key: c.label for c in COLUMNS}
    for (d, m), (_, row) in zip(rows, cells.iterrows()):
        m = ORACLE_KEY if m == ORACLE_LABEL else m
        assert list(headline[d][m]) == list(HEADLINE_KEYS)
        for key in HEADLINE_KEYS:
            assert f"{headline[d][m][key]:.{3 if key == 'f1' else 2}f}" == row[labels[key]].split(" ± ")[0].strip("*")


def test_a_missing_mean_is_null_and_bad_input_is_named():
    assert headline_metrics({"main": {"d": {"m": {"f1": {"mean": None}}}}}) == {"d": {"m": {"f1": None, "mae": None}}}
    with pytest.raises(ValueError, match="expected a dict with a 'main' section, got dict with keys \\['ablation'\\]"):
        headline_metrics({"ablation": {}})
    with pytest.raises(ValueError, match="dataset name 'a/b' cannot name a file"):
        headline_metrics({"main": {"a/b": {}}})
