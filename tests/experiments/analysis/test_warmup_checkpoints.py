"""Checkpoints kept before any crop was weighted: read from the logged weights, counted, and named under the main table."""

from __future__ import annotations

import pandas as pd

from experiments.analysis import tables
from experiments.analysis.collect import first_weighted_iteration
from experiments.analysis.summary import warmup_checkpoints


def test_the_first_weighted_iteration_is_read_from_the_crop_weights():
    # A warm-up of 3 iterations (two crops each), then weights; a late crop of weight exactly 1 changes nothing.
    crops = pd.DataFrame({"iteration": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
                          "weight": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.25, 1.0, 1.0]})
    assert first_weighted_iteration(crops) == 4
    assert first_weighted_iteration(crops.assign(weight=1.0)) is None  # OHEM, lambda = 0: never weighted
    assert first_weighted_iteration(crops.iloc[:0]) is None


def runs(rows):
    return pd.DataFrame(rows, columns=["group", "dataset", "method", "seed", "checkpoint_iteration", "weighted_from"])


def test_only_runs_that_weight_after_a_warm_up_are_counted():
    frame = runs([
        ["main", "adi", "tghem", 0, 700, 751], ["main", "adi", "tghem", 1, 750, 751], ["main", "adi", "tghem", 2, 751, 751],
        ["main", "adi", "tghem_count", 0, 2900, 751],
        ["main", "adi", "ohem", 0, 700, None],            # never weighted
        ["main", "vgg", "tghem", 0, 1, 1],                # weighted from the first iteration: no warm-up
        ["ablation", "adi", "tghem", 0, 100, 751],        # ablations are not the comparison
    ])
    assert warmup_checkpoints(frame) == {"adi": {"tghem": {"n": 2, "of": 3}, "tghem_count": {"n": 0, "of": 1}}}
    # runs.csv read back from before the column existed
    assert warmup_checkpoints(frame.drop(columns="weighted_from")) == {}


def test_the_main_table_names_them_only_when_there_are_some():
    assert tables.warmup_notes({"warmup_checkpoints": {"adi": {"tghem": {"n": 0, "of": 3}}}}) == ()
    notes = tables.warmup_notes({"warmup_checkpoints": {"adi": {"tghem": {"n": 1, "of": 3}, "tghem_count": {"n": 0, "of": 3},
                                                                "tghem_shuffled": {"n": 1, "of": 3}}}})
    assert len(notes) == 1 and notes[0].endswith("share it): adi tghem 1/3, adi tghem_shuffled 1/3.")
