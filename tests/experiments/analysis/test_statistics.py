"""Hierarchical bootstrap and seed-level comparison: numbers checked against values worked out independently."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.analysis.statistics import bootstrap_mean_interval, hierarchical_bootstrap_interval, seed_level_comparison

Z = stats.norm.ppf(0.975)


def pairs_frame(values: np.ndarray, column: str = "difference") -> pd.DataFrame:
    """Rows (seed, image_id, difference) of a seeds x images array of differences."""
    n_seeds, n_images = values.shape
    return pd.DataFrame({"seed": np.repeat(np.arange(n_seeds), n_images),
                         "image_id": np.tile([f"img{i:03d}" for i in range(n_images)], n_seeds),
                         column: values.ravel()})


def two_level(n_seeds: int, n_images: int, between: float, within: float, rng_seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(rng_seed)
    offsets = rng.normal(0.0, 1.0, (n_seeds, 1))
    noise = rng.normal(0.0, 1.0, (n_seeds, n_images))
    return 0.03 + between * offsets + within * noise


# --- hierarchical_bootstrap_interval ---------------------------------------------------------

def test_one_image_per_seed_matches_plain_bootstrap_over_seeds():
    values = np.array([0.12, -0.05, 0.30, 0.08, 0.01, 0.22, -0.10, 0.15, 0.05, 0.18, 0.02, 0.09])
    result = hierarchical_bootstrap_interval(pairs_frame(values[:, None]))
    low, high = bootstrap_mean_interval(values)
    se = values.std(ddof=0) / math.sqrt(len(values))
    assert result["n_seeds"] == 12 and result["n_images"] == 1
    assert result["mean_diff"] == pytest.approx(values.mean(), rel=1e-6)
    # Monte-Carlo error of a 2.5% quantile from 10,000 resamples is about 0.03 standard errors.
    assert result["ci95_low"] == pytest.approx(low, abs=0.1 * se)
    assert result["ci95_high"] == pytest.approx(high, abs=0.1 * se)
    assert result["note"] is None


def test_constant_differences_give_a_degenerate_interval():
    result = hierarchical_bootstrap_interval(pairs_frame(np.full((3, 5), 0.25)))
    assert result == {"n_seeds": 3, "n_images": 5, "mean_diff": 0.25, "ci95_low": 0.25, "ci95_high": 0.25, "note": None}


def test_deterministic_and_independent_of_row_order():
    frame = pairs_frame(two_level(4, 20, between=0.05, within=0.1))
    first = hierarchical_bootstrap_interval(frame)
    assert hierarchical_bootstrap_interval(frame.copy()) == first
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert not shuffled.equals(frame)
    assert hierarchical_bootstrap_interval(shuffled) == first
    assert hierarchical_bootstrap_interval(frame, seed=1) != first


def test_standard_error_matches_the_two_level_variance():
    values = two_level(40, 30, between=0.1, within=0.2)
    n_seeds, n_images = values.shape
    seed_means = values.mean(axis=1)
    between = ((seed_means - seed_means.mean()) ** 2).mean()
    within = ((values - seed_means[:, None]) ** 2).mean()
    expected_se = math.sqrt((between + within / n_images) / n_seeds)
    result = hierarchical_bootstrap_interval(pairs_frame(values))
    bootstrap_se = (result["ci95_high"] - result["ci95_low"]) / (2 * Z)
    assert bootstrap_se == pytest.approx(expected_se, rel=0.15)
    # The pooled-pairs standard error ignores the seed level and is far smaller here.
    assert values.std() / math.sqrt(values.size) < 0.5 * expected_se


def test_interval_widens_with_between_seed_variance():
    narrow = hierarchical_bootstrap_interval(pairs_frame(two_level(5, 50, between=0.01, within=0.1)))
    wide = hierarchical_bootstrap_interval(pairs_frame(two_level(5, 50, between=0.2, within=0.1)))
    assert wide["ci95_high"] - wide["ci95_low"] > 3 * (narrow["ci95_high"] - narrow["ci95_low"])


def test_mean_is_pair_weighted_when_seeds_have_unequal_images():
    # Seed 0: one image (0); seed 1: three images (1). Drawing (0, 1) gives (0 + 3) / 4 = 0.75 with
    # probability 1/2, (0, 0) gives 0 and (1, 1) gives 1, 1/4 each: the median resample is 0.75
    # (a seed-weighted mean would give 0.5).
    frame = pd.DataFrame({"seed": [0, 1, 1, 1], "image_id": ["a", "a", "b", "c"], "difference": [0.0, 1.0, 1.0, 1.0]})
    result = hierarchical_bootstrap_interval(frame, confidence=0.01)
    assert result == {"n_seeds": 2, "n_images": 3, "mean_diff": 0.75, "ci95_low": 0.75, "ci95_high": 0.75, "note": None}
    wide = hierarchical_bootstrap_interval(frame)
    assert (wide["ci95_low"], wide["ci95_high"]) == (0.0, 1.0)


def test_one_seed_has_no_interval():
    result = hierarchical_bootstrap_interval(pairs_frame(np.array([[0.1, 0.2, 0.6]])))
    assert result == {"n_seeds": 1, "n_images": 3, "mean_diff": 0.3, "ci95_low": None, "ci95_high": None,
                      "note": "1 seed: the seed level cannot be resampled"}


def test_custom_value_column():
    values = two_level(3, 10, between=0.05, within=0.1)
    assert (hierarchical_bootstrap_interval(pairs_frame(values, "delta"), value="delta")
            == hierarchical_bootstrap_interval(pairs_frame(values)))


@pytest.mark.parametrize("drop", ["seed", "image_id", "difference"])
def test_missing_column_is_named(drop):
    frame = pairs_frame(np.zeros((2, 2))).drop(columns=drop)
    with pytest.raises(ValueError, match=f"missing \\['{drop}'\\]"):
        hierarchical_bootstrap_interval(frame)


def test_empty_frame_raises():
    with pytest.raises(ValueError, match="empty frame"):
        hierarchical_bootstrap_interval(pairs_frame(np.zeros((0, 0))))


def test_nan_difference_is_named():
    frame = pairs_frame(np.array([[0.1, np.nan], [0.2, 0.3]]), "delta")
    with pytest.raises(ValueError, match="^delta: expected finite differences, got 1 NaN"):
        hierarchical_bootstrap_interval(frame, value="delta")


def test_repeated_pair_and_bad_arguments_raise():
    frame = pairs_frame(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one row per"):
        hierarchical_bootstrap_interval(pd.concat([frame, frame.iloc[:1]]))
    with pytest.raises(ValueError, match="^resamples"):
        hierarchical_bootstrap_interval(frame, resamples=0)
    with pytest.raises(ValueError, match="^confidence"):
        hierarchical_bootstrap_interval(frame, confidence=1.0)


def test_ten_thousand_resamples_are_fast():
    import time

    frame = pairs_frame(two_level(3, 100, between=0.05, within=0.1))
    start = time.perf_counter()
    hierarchical_bootstrap_interval(frame)
    assert time.perf_counter() - start < 1.0


# --- seed_level_comparison -------------------------------------------------------------------

def test_t_test_matches_hand_computation():
    reference = [0.81, 0.78, 0.85, 0.80]
    baseline = [0.79, 0.79, 0.80, 0.76]
    d = np.array(reference) - np.array(baseline)  # 0.02, -0.01, 0.05, 0.04
    n = len(d)
    mean, sd = d.sum() / n, math.sqrt(((d - d.sum() / n) ** 2).sum() / (n - 1))
    t = mean / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), n - 1)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    result = seed_level_comparison(reference, baseline)
    assert result["n_seeds"] == 4
    assert result["mean_diff"] == pytest.approx(0.025, rel=1e-6)
    assert result["sd_diff"] == pytest.approx(sd, rel=1e-5)
    assert result["t_statistic"] == pytest.approx(t, rel=1e-5)
    assert result["p_value"] == pytest.approx(p, rel=1e-5)
    assert (result["ci95_low"], result["ci95_high"]) == pytest.approx((mean - half, mean + half), rel=1e-5)
    assert (result["wins"], result["losses"], result["ties"]) == (3, 1, 0)
    assert result["note"] is None


def test_wins_losses_ties():
    result = seed_level_comparison([1.0, 2.0, 3.0, 0.3], [1.0, 1.0, 4.0, 0.1 + 0.2])
    assert (result["wins"], result["losses"], result["ties"]) == (1, 1, 2)  # 0.3 vs 0.1 + 0.2 is a tie


def test_equal_differences_have_no_p_value():
    result = seed_level_comparison([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert result["sd_diff"] == 0.0 and result["t_statistic"] is None and result["p_value"] is None
    assert result["ci95_low"] == result["ci95_high"] == result["mean_diff"] == pytest.approx(0.1)
    assert result["wins"] == 3 and "sd 0" in result["note"]


def test_one_seed_has_null_fields():
    result = seed_level_comparison([0.8], [0.7])
    assert result["n_seeds"] == 1 and result["mean_diff"] == pytest.approx(0.1)
    assert all(result[k] is None for k in ("sd_diff", "t_statistic", "p_value", "ci95_low", "ci95_high"))
    assert (result["wins"], result["losses"], result["ties"]) == (1, 0, 0)
    assert "fewer than 2" in result["note"]
    empty = seed_level_comparison([], [])
    assert empty["n_seeds"] == 0 and empty["mean_diff"] is None and empty["note"]


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match=r"got \(3,\) and \(2,\)"):
        seed_level_comparison([0.1, 0.2, 0.3], [0.1, 0.2])


@pytest.mark.parametrize("higher_is_better, expected", [(True, (1, 2, 0)), (False, (2, 1, 0))])
def test_wins_follow_the_metric_direction(higher_is_better, expected):
    """Reference values 10, 20, 30 against 12, 18, 33: lower in seeds 0 and 2, higher in seed 1."""
    result = seed_level_comparison([10.0, 20.0, 30.0], [12.0, 18.0, 33.0], higher_is_better=higher_is_better)
    assert (result["wins"], result["losses"], result["ties"]) == expected
    assert result["mean_diff"] == pytest.approx(-1.0)  # the difference itself does not depend on the direction


def test_a_lower_count_error_in_every_seed_wins_every_seed():
    """The committed VGG MAEs of tghem (48.32, 44.33, 43.28) and tghem_shuffled (48.89, 45.88, 43.73): 3/3 for tghem."""
    result = seed_level_comparison([48.32, 44.33, 43.28], [48.89, 45.88, 43.73], higher_is_better=False)
    assert (result["wins"], result["losses"]) == (3, 0) and result["mean_diff"] < 0
    f1 = seed_level_comparison([0.835245, 0.850943, 0.855303], [0.832784, 0.845082, 0.853514])
    assert (f1["wins"], f1["losses"]) == (3, 0)
    with pytest.raises(TypeError, match="higher_is_better: expected a bool"):
        seed_level_comparison([1.0], [2.0], higher_is_better="lower")


def test_seed_interval_is_the_student_t_interval():
    reference, baseline = np.array([0.8352, 0.8509, 0.8553]), np.array([0.8328, 0.8451, 0.8535])
    d = reference - baseline
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    result = seed_level_comparison(reference, baseline)
    assert (result["ci95_low"], result["ci95_high"]) == pytest.approx((low, high), rel=1e-5)


def test_the_bootstrap_interval_is_the_percentile_one():
    """On a skewed sample the percentile interval stays inside the range of the resampled means
    (>= 0 here); the 'basic' interval would reach below 0."""
    from experiments.analysis.statistics import bootstrap_mean_interval

    low, high = bootstrap_mean_interval([0.0] * 9 + [10.0])
    assert 0.0 <= low < 1.0 < high <= 10.0
    assert bootstrap_mean_interval([0.0] * 9 + [10.0]) == (low, high)  # seeded: the same interval
