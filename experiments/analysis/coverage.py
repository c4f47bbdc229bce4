"""How often the study's intervals cover a known effect, measured on simulated two-level data.

The comparison tables need an interval for the mean paired difference TG-HEM minus a baseline
when seeds (training runs) and test images are two levels and there are only 2-5 seeds. Two
candidates are measured here on data whose true effect is known:

* the **hierarchical bootstrap** (:func:`~experiments.analysis.statistics.hierarchical_bootstrap_interval`:
  seeds resampled, then images within each): with ``S`` seeds it resamples only ``S`` seed values,
  whose spread it estimates with divisor ``S`` instead of ``S - 1`` and percentile quantiles
  instead of Student's: too narrow at ``S = 3``;
* the **paired seed-level t-interval** (:func:`~experiments.analysis.statistics.seed_level_comparison`
  on one value per seed): exact for normal seed means at any ``S >= 2``.

Model (one trial): for seed ``s = 1..S`` and image ``i = 1..n``,

    d_si = effect + seed_sd * z_s + image_sd * e_si,   z_s, e_si ~ N(0, 1) independent,

so a seed's mean difference is ``effect + seed_sd * z_s + image_sd * mean_i e_si``; an interval
covers when it contains ``effect``. The coverage over ``trials`` trials is a binomial
proportion; its Monte-Carlo standard error ``sqrt(p (1 - p) / trials)`` is returned beside it.

``python -m experiments.interval_coverage`` prints the coverages of the scenarios of
:data:`SCENARIOS` (the README quotes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .statistics import CONFIDENCE, hierarchical_bootstrap_interval, seed_level_comparison


@dataclass(frozen=True)
class Scenario:
    """One simulated design: seeds, images per seed, the true effect and the two spreads."""

    name: str
    n_seeds: int = 3
    n_images: int = 100
    effect: float = 0.004
    seed_sd: float = 0.0013
    image_sd: float = 0.008


SCENARIOS = (
    Scenario("VGG-like, TG-HEM vs tghem_shuffled (seed sd 0.0013, image sd 0.008, 100 images)"),
    Scenario("VGG-like, TG-HEM vs OHEM (seed sd 0.011)", seed_sd=0.011),
    Scenario("no seed spread (image sd 0.008 only)", seed_sd=0.0),
    Scenario("VGG-like (seed sd 0.0013)", n_seeds=5),
)
"""The designs ``python -m experiments.interval_coverage`` measures, 3 seeds unless named. The spreads
are those of the committed VGG study (``results/cells/per_image.csv``): per-image F1 differences of
TG-HEM minus tghem_shuffled have a within-seed sd of 0.008 and seed means of sd 0.0015, i.e. a
between-seed sd of about sqrt(0.0015^2 - 0.008^2 / 100) = 0.0013; against OHEM the seed means
spread by 0.011."""


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def interval_coverage(scenario: Scenario, trials: int = 1000, resamples: int = 1000, rng_seed: int = 0) -> dict:
    """Coverage of the true effect by the hierarchical bootstrap and the seed-level t-interval.

    Args:
        scenario: the simulated design (:class:`Scenario`; at least 2 seeds).
        trials: simulated studies.
        resamples: bootstrap resamples per interval (the study uses 10,000; 1,000 changes a
            percentile interval's end by about 1% of its width).
        rng_seed: seed of the simulation (the bootstrap of trial ``k`` is seeded with ``k``):
            the same arguments give the same coverages.

    Returns:
        ``{"scenario", "n_seeds", "trials", "confidence", "hierarchical_bootstrap", "t_interval",
        "hierarchical_bootstrap_se", "t_interval_se", "hierarchical_bootstrap_width",
        "t_interval_width"}``: coverages (fractions of trials), their Monte-Carlo standard
        errors and the mean interval widths.

    Example:
        >>> result = interval_coverage(Scenario("small", n_images=5), trials=40, resamples=200)
        >>> result["trials"], 0 <= result["hierarchical_bootstrap"] <= result["t_interval"] <= 1
        (40, True)
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario: expected a Scenario, got {type(scenario).__name__}")
    if isinstance(rng_seed, bool) or not isinstance(rng_seed, (int, np.integer)) or rng_seed < 0:
        raise ValueError(f"rng_seed: expected an int >= 0, got {rng_seed!r}")
    trials = _check_positive_int("trials", trials)
    resamples = _check_positive_int("resamples", resamples)
    s, n = _check_positive_int("scenario.n_seeds", scenario.n_seeds), _check_positive_int("scenario.n_images", scenario.n_images)
    if s < 2:
        raise ValueError(f"scenario.n_seeds: expected at least 2 seeds (an interval over seeds), got {s}")
    rng = np.random.default_rng(rng_seed)
    seeds, images = np.repeat(np.arange(s), n), np.tile(np.arange(n), s)
    covered = {"hierarchical_bootstrap": 0, "t_interval": 0}
    widths = {"hierarchical_bootstrap": 0.0, "t_interval": 0.0}
    for k in range(trials):
        d = scenario.effect + scenario.seed_sd * rng.standard_normal((s, 1)) + scenario.image_sd * rng.standard_normal((s, n))
        frame = pd.DataFrame({"seed": seeds, "image_id": images, "difference": d.ravel()})
        boot = hierarchical_bootstrap_interval(frame, resamples=resamples, seed=k)
        t = seed_level_comparison(d.mean(axis=1), np.zeros(s))
        for name, r in (("hierarchical_bootstrap", boot), ("t_interval", t)):
            covered[name] += r["ci95_low"] <= scenario.effect <= r["ci95_high"]
            widths[name] += r["ci95_high"] - r["ci95_low"]
    out = {"scenario": scenario.name, "n_seeds": s, "trials": trials, "confidence": CONFIDENCE}
    for name in covered:
        p = covered[name] / trials
        out[name] = p
        out[f"{name}_se"] = math.sqrt(p * (1 - p) / trials)
        out[f"{name}_width"] = widths[name] / trials
    return out
