"""The anchors table: published count errors beside ours, with our split sizes where known."""

from __future__ import annotations

import re

from experiments.analysis import anchors


def _mae(mean, std):
    return {"mae": {"mean": mean, "std": std, "n": 3}}


METRICS = {
    "main": {
        "mbm": {"tghem": _mae(10.94, 1.21), "ohem": _mae(14.9, 1.17), "tghem_count": _mae(9.5, 2.0)},
        "adi": {"tghem": _mae(19.18, 1.23), "ohem": _mae(19.5, 0.6)},
    },
    "splits": {"mbm": {"train": 15, "val": 15, "test": 14}},
}


def _rows(table):
    return [tuple(r) for r in table.cells.itertuples(index=False)]


def test_ours_are_tghem_and_the_best_method_with_the_split_where_metrics_has_it():
    rows = _rows(anchors.anchors_table(METRICS))
    ours = [r for r in rows if r[2].endswith("(ours)")]
    assert ours == [
        ("mbm", "this study: 15 train / 15 val / 14 test", "tghem (ours)", "10.94 ± 1.21", "-", "metrics.json of this folder"),
        ("mbm", "this study: 15 train / 15 val / 14 test", "tghem_count (ours)", "9.50 ± 2.00", "-",
         "metrics.json of this folder"),
        # TG-HEM is the best on adi: one row; no split sizes recorded: the plain protocol.
        ("adi", "this study", "tghem (ours)", "19.18 ± 1.23", "-", "metrics.json of this folder"),
    ]


def test_published_rows_come_from_the_anchor_list_and_unfound_values_say_so():
    rows = _rows(anchors.anchors_table(METRICS))
    published = [r for r in rows if not r[2].endswith("(ours)")]
    expected = [a for d in ("mbm", "adi") for a in anchors.ANCHORS if a.dataset == d]
    assert [(r[0], r[1], r[2]) for r in published] == [(a.dataset, a.protocol, a.method) for a in expected]
    assert all(r[3] == "not found" and r[4] == "-" for r in published)  # no MBM or ADI value in a reachable source
    vgg = _rows(anchors.anchors_table({"main": {"vgg_cells": {"tghem": _mae(17.6, 1.2)}}}))
    assert vgg[0][2:5] == ("Count-ception", "2.4 ± 0.4", "-")


def test_crowd_localization_f1_at_4_and_8_px_beside_the_published_ones():
    scores = {**_mae(60.1, 4.0), "f1": {"mean": 0.3121, "std": 0.0104, "n": 3},
              "f1_r4": {"mean": 0.1502, "std": None, "n": 1}}
    rows = _rows(anchors.anchors_table({"main": {"shanghaitech_b": {"tghem": scores}},
                                        "match_radius": {"shanghaitech_b": 8.0}}))
    assert rows == [
        ("shanghaitech_b", "400 train / 316 test", "P2PNet", "6.25", "-", anchors.ANCHORS[-2].source),
        ("shanghaitech_b", "400 train / 316 test", "FIDTM", "-", "0.647 (4 px); 0.835 (8 px)", anchors.ANCHORS[-1].source),
        ("shanghaitech_b", "this study", "tghem (ours)", "60.10 ± 4.00", "0.150 (4 px); 0.312 ± 0.010 (8 px)",
         "metrics.json of this folder"),
    ]
    # Without the dataset's radius (metrics.json of an older aggregation) only the 4-px F1 is shown.
    older = _rows(anchors.anchors_table({"main": {"shanghaitech_b": {"tghem": scores}}}))
    assert older[-1][4] == "0.150 (4 px)"


def test_notes_state_no_split_size_of_ours():
    # Our split sizes differ between studies: they come from metrics.json, never from a fixed note.
    table = anchors.anchors_table(METRICS)
    clauses = [c for note in table.notes for c in re.split(r"[;.]", note) if re.search(r"\bours\b", c)]
    assert len(clauses) >= 3
    assert not [c for c in clauses if re.search(r"\b\d+ (train|val|test)\b", c)]


def test_a_nonzero_sd_below_the_last_digit_shows_as_a_bound():
    scores = {**_mae(60.1, 0.004), "f1_r4": {"mean": 0.1502, "std": 0.0003, "n": 3}}
    rows = _rows(anchors.anchors_table({"main": {"shanghaitech_b": {"tghem": scores}}}))
    assert rows[-1][3:5] == ("60.10 ± <0.01", "0.150 ± <0.001 (4 px)")
