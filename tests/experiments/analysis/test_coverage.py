"""The coverage simulation of the comparison's intervals, and the verdicts of the generated findings."""

from __future__ import annotations

import pytest

from experiments import interval_coverage
from experiments.analysis.coverage import SCENARIOS, Scenario, interval_coverage as coverage
from experiments.analysis.findings import VERDICTS, verdict


def test_with_three_seeds_the_bootstrap_under_covers_and_the_t_interval_does_not():
    """Seed spread dominant, 3 seeds: the bootstrap over 3 seed values misses far more often than 5%."""
    result = coverage(Scenario("seed spread dominant", n_images=20, seed_sd=0.011), trials=300, resamples=300)
    assert result["trials"] == 300 and result["confidence"] == 0.95
    assert result["t_interval"] >= 0.92  # exact for normal seed means (0.95), up to Monte-Carlo error (se 0.013)
    assert result["hierarchical_bootstrap"] <= 0.85
    assert result["t_interval_width"] > result["hierarchical_bootstrap_width"]
    assert result["t_interval_se"] == pytest.approx((result["t_interval"] * (1 - result["t_interval"]) / 300) ** 0.5)
    assert coverage(Scenario("x", n_images=5), trials=20, resamples=50) == coverage(Scenario("x", n_images=5), trials=20, resamples=50)


@pytest.mark.parametrize("bad, message", [
    (dict(scenario=Scenario("one", n_seeds=1)), "at least 2 seeds"),
    (dict(scenario=Scenario("x"), trials=0), "trials: expected a positive int, got 0"),
    (dict(scenario="x"), "scenario: expected a Scenario, got str"),
    (dict(scenario=Scenario("x"), trials=2, rng_seed=-1), "rng_seed: expected an int >= 0, got -1"),
])
def test_bad_arguments_are_named(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        coverage(**bad)


def test_cli_prints_every_scenario(capsys):
    assert interval_coverage.main(["--trials", "3", "--resamples", "20"]) == 0
    out = capsys.readouterr().out
    assert out.count("seed-level t-interval") == len(SCENARIOS) and "nominal 0.95" in out


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
    (["--seed", "x"], "argument --seed: expected an int >= 0, got 'x'"),
    (["--trials", "0"], "argument --trials: expected an int >= 1, got '0'"),
    (["--resamples", "1e3"], "argument --resamples: expected an int >= 1, got '1e3'"),
])
def test_cli_refuses_a_bad_argument_naming_it_before_printing_anything(capsys, argv, message):
    with pytest.raises(SystemExit) as code:
        interval_coverage.main(["--trials", "2", "--resamples", "5", *argv])
    out, err = capsys.readouterr()
    assert code.value.code == 2 and out == ""
    assert err.splitlines()[-1] == f"python -m experiments.interval_coverage: error: {message}"


def _seed(mean, low, high, wins, losses, n=3):
    return {"n_seeds": n, "mean_diff": mean, "ci95_low": low, "ci95_high": high, "wins": wins, "losses": losses}


@pytest.mark.parametrize("stats, higher, expected", [
    (_seed(0.02, 0.01, 0.03, 3, 0), True, "TG-HEM better at seed level"),
    (_seed(0.02, 0.01, 0.03, 0, 3), False, "TG-HEM worse at seed level"),  # a higher count error
    (_seed(-0.02, -0.03, -0.01, 0, 3), True, "TG-HEM worse at seed level"),
    (_seed(0.003, -0.002, 0.009, 3, 0), True, "ahead in every seed, not significant at seed level"),
    (_seed(-0.86, -2.36, 0.64, 3, 0), False, "ahead in every seed, not significant at seed level"),
    (_seed(-0.003, -0.007, 0.002, 0, 3), True, "behind in every seed, not significant at seed level"),
    (_seed(0.007, -0.02, 0.03, 2, 1), True, "no detectable difference"),
    (_seed(0.01, None, None, 1, 0, n=1), True, "too few seeds to compare"),
    # an interval that ends exactly at 0 does not exclude it
    (_seed(0.01, 0.0, 0.02, 3, 0), True, "ahead in every seed, not significant at seed level"),
    (_seed(-1.0, -2.0, 0.0, 3, 0), False, "ahead in every seed, not significant at seed level"),
    # every seed differs by the same amount: no spread, no t-test, never "significant"
    (_seed(-2.0, -2.0, -2.0, 2, 0, n=2), False, "ahead by the same amount in every seed, no test"),
    (_seed(0.01, 0.01, 0.01, 3, 0), True, "ahead by the same amount in every seed, no test"),
    (_seed(0.01, 0.01, 0.01, 0, 3), False, "behind by the same amount in every seed, no test"),
    (_seed(0.0, 0.0, 0.0, 0, 0), True, "no detectable difference"),
])
def test_verdicts(stats, higher, expected):
    assert verdict(stats, higher) == expected and expected in VERDICTS


def test_a_zero_spread_comparison_is_not_called_significant():
    """seed_level_comparison gives equal differences the point interval [mean, mean] and no p-value:
    the verdict says so instead of reading the point as an interval that excludes 0."""
    from experiments.analysis.statistics import seed_level_comparison

    stats = seed_level_comparison([2.0, 1.0], [4.0, 3.0], higher_is_better=False)
    assert stats["p_value"] is None and stats["ci95_low"] == stats["ci95_high"] == -2.0
    assert verdict(stats, False) == "ahead by the same amount in every seed, no test"
