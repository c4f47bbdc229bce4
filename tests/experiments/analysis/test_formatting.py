"""How the report writes numbers (experiments/analysis/formatting.py): fixed decimals, and intervals whose signs show."""

from __future__ import annotations

import re

import numpy as np
import pytest

from experiments.analysis import formatting
from experiments.analysis.formatting import EXTRA_DECIMALS, interval_cell, sign_decimals


def test_number_formats():
    assert formatting.format_number(-0.0004, 3) == "0.000" and formatting.format_number(0.0004, 3, signed=True) == "0.000"
    assert formatting.format_number(0.0126, 3, signed=True) == "+0.013" and formatting.format_number(None, 2) == "-"
    assert formatting.format_number(float("nan"), 2) == "-" and formatting.format_number(2.5, 0) == "2"
    assert formatting.format_p(0.03125) == "0.031" and formatting.format_p(0.0001) == "<0.001"
    assert formatting.format_p(0.0005) == "0.001" and formatting.format_p(None) == "-"
    assert formatting.format_value_text(0.01) == "0.01" and formatting.format_value_text(0.0) == "0"
    assert formatting.seeds_text([3, 3]) == "3 seeds" and formatting.seeds_text([1]) == "1 seed"
    assert formatting.seeds_text([3, 2, 3]) == "2 or 3 seeds"


def test_per_dataset_text_groups_the_datasets_that_share_a_value():
    assert formatting.per_dataset_text({"a": 5.0, "b": 5.0}, " px") == "5 px"
    assert formatting.per_dataset_text({"vgg_cells": 5.0, "mbm": 8.0, "adi": 5.0}, " px") == "5 px (vgg_cells, adi), 8 px (mbm)"
    assert formatting.per_dataset_text({"d": 4500}) == "4500"


def cell(mean, low=None, high=None):
    return {"mean_diff": mean, "ci95_low": low, "ci95_high": high}


@pytest.mark.parametrize(("stats", "decimals", "text"), [
    # committed seed-level comparisons that printed as "[0.000, +0.002]" (not significant) beside
    # "[0.000, +0.003]" (significant): results/benchmark/metrics.json, vgg_cells, tghem_shuffled and
    # lambda = 0; adi, tghem_count; results/cells/metrics.json, vgg_cells, lambda = 0 (F1 and MAE)
    (cell(0.000828414, -0.000474418, 0.00213125), 3, "+0.0008 [-0.0005, +0.0021]"),
    (cell(0.00172704, 6.71522e-05, 0.00338693), 3, "+0.0017 [+0.0001, +0.0034]"),
    (cell(-0.000457456, -0.00129338, 0.000378472), 3, "-0.0005 [-0.0013, +0.0004]"),
    (cell(0.000871667, -1.5756e-05, 0.00175909), 3, "+0.00087 [-0.00002, +0.00176]"),
    (cell(-0.206667, -0.414999, 0.00166547), 2, "-0.207 [-0.415, +0.002]"),
    # nothing to widen: the column's decimals, and an exact 0 stays unsigned
    (cell(0.0126, 0.004, 0.021), 3, "+0.013 [+0.004, +0.021]"),
    (cell(0.0, -0.5, 0.49), 2, "0.00 [-0.50, +0.49]"),
    (cell(0.0, 0.0, 0.0), 3, "0.000 [0.000, 0.000]"),
    # no interval (fewer than 2 pairs), or no mean
    (cell(0.00004), 3, "+0.00004"),
    (cell(None), 3, "-"),
    # beyond EXTRA_DECIMALS more: the value that still cannot show its sign is written in scientific notation
    (cell(0.5, 2e-9, 1.0), 3, "+0.500000 [+2e-09, +1.000000]"),
])
def test_interval_cell_widens_until_every_nonzero_number_shows_its_sign(stats, decimals, text):
    assert interval_cell(stats, decimals) == text


def parse(text):
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?", text)]


def test_interval_cell_keeps_the_signs_and_the_values_of_random_intervals():
    """Invariants on 2,000 random intervals near 0, against the values rather than the code's own rule."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        decimals = int(rng.integers(1, 4))
        scale = 10.0 ** -rng.integers(decimals - 1, decimals + EXTRA_DECIMALS + 2)
        low, mean, high = np.sort(rng.normal(0, scale, 3)).round(12)
        values = (mean, low, high)
        text = interval_cell(cell(*values), decimals)
        printed = parse(text)
        assert len(printed) == 3, text
        places = [len(t.split(".")[1]) for t in re.findall(r"\d+\.\d+", text)]
        assert len(set(places)) <= 1, text  # one precision per cell
        for value, shown in zip(values, printed):
            assert np.sign(shown) == np.sign(value), (values, text)  # 0 only for an exact 0
            if "e" not in text:
                assert abs(shown - value) <= 0.5 * 10.0 ** -places[0] + 1e-12, (values, text)
        # the fewest decimals that show every sign: one fewer would print some nonzero value as 0
        d = places[0] if places else decimals
        assert decimals <= d <= decimals + EXTRA_DECIMALS
        if d > decimals:
            assert any(v != 0 and round(abs(v), d - 1) == 0 for v in values), (values, text)
        # whether the printed interval contains 0 is whether the interval does
        assert (printed[1] <= 0 <= printed[2]) == (low <= 0 <= high), (values, text)


def test_sign_decimals_skips_missing_values():
    assert sign_decimals([None, float("nan"), 0.0], 2) == 2
    assert sign_decimals([0.004, None], 2) == 3 and sign_decimals([1e-12], 2) == 2 + EXTRA_DECIMALS


@pytest.mark.parametrize("value, decimals, text", [
    (0.0004, 3, "<0.001"), (0.0005, 3, "0.001"), (0.0, 3, "0.000"), (0.004, 2, "<0.01"), (0.04, 1, "<0.1"),
    (0.012, 3, "0.012"), (None, 2, "-"), (float("nan"), 2, "-"), (0.4, 0, "<1"),
])
def test_format_spread_never_prints_a_nonzero_spread_as_0(value, decimals, text):
    assert formatting.format_spread(value, decimals) == text


def test_format_spread_of_random_spreads_is_the_number_or_an_upper_bound():
    rng = np.random.default_rng(5)
    for value in np.concatenate([rng.uniform(0, 0.002, 500), rng.exponential(0.01, 500), [0.0]]):
        for decimals in (1, 2, 3):
            text = formatting.format_spread(float(value), decimals)
            if text.startswith("<"):  # only a nonzero spread too small to show, and it is below the bound
                assert 0 < value < float(text[1:]) / 2 + 1e-15 and float(text[1:]) == 10.0 ** -decimals
            else:
                assert abs(float(text) - value) <= 0.5 * 10.0 ** -decimals + 1e-12
                assert (float(text) == 0) == (value == 0)


def test_mean_sd_text_uses_one_precision_and_the_spread_rule():
    assert formatting.mean_sd_text(0.8803, 0.0004, 3) == "0.880 ± <0.001"
    assert formatting.mean_sd_text(12.642, 1.331, 2) == "12.64 ± 1.33"
    assert formatting.mean_sd_text(0.5, None, 3) == "0.500 ± -"
