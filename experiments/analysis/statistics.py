"""Paired statistics of two methods evaluated on the same (seed, image) pairs.

Differences are always **reference minus baseline** (the reference is TG-HEM). For a paired
sample: the mean and median difference, a percentile bootstrap 95% confidence interval of the
mean difference (:func:`scipy.stats.bootstrap`, 10,000 resamples of the pairs, seeded, hence
reproducible) and the two-sided Wilcoxon signed-rank test (:func:`wilcoxon_signed_rank`). Pairs
of one image under several seeds are not independent; the test and the interval treat them as
if they were, which overstates their confidence when seeds agree closely.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
BOOTSTRAP_BATCH = 1_000
"""Resamples drawn at a time, so memory stays bounded for large samples."""
CONFIDENCE = 0.95
MIN_PAIRS = 2
"""Fewer pairs than this: no test and no interval (one pair has no spread to resample)."""
SIGNIFICANT_DIGITS = 6
# Pairs up to this many non-zero differences are tested exactly when there are tied magnitudes
# (all 2^n sign flips enumerated); without ties the exact null distribution is used up to 50.
EXACT_WITH_TIES_MAX = 13
EXACT_MAX = 50
# Differences are rounded to this many decimals before ranking, so that differences equal as
# fractions (0.75 - 0.5 and 1.0 - 0.75) tie even when float subtraction leaves them a bit apart.
DIFFERENCE_DECIMALS = 12


def round_float(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` rounded to ``digits`` significant digits if it is a float; NaN and inf become None.

    Ints, strings and None pass through, so whole records can be rounded field by field.
    """
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def wilcoxon_signed_rank(differences: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired differences against a zero median.

    Zero differences are dropped (Wilcoxon's treatment) and ``n_nonzero`` says how many remain.
    The p-value is exact where that is affordable: the exact null distribution when the
    magnitudes have no ties and ``n_nonzero <= 50``, all ``2^n`` sign flips when they have ties
    and ``n_nonzero <= 13``; otherwise the normal approximation with tie correction. With no
    non-zero difference the data give no evidence either way: p = 1, and ``note`` says why.

    Returns:
        ``{"statistic", "p_value", "test", "n_nonzero", "note"}``: ``statistic`` is
        ``min(W+, W-)`` (scipy's two-sided statistic), ``test`` ``'exact'``, ``'permutation'``
        or ``'normal approximation'``.
    """
    d = np.round(np.asarray(differences, np.float64), DIFFERENCE_DECIMALS)
    nonzero = d[d != 0]
    n = len(nonzero)
    if n == 0:
        return {"statistic": 0.0, "p_value": 1.0, "test": None, "n_nonzero": 0,
                "note": "all differences are zero: p = 1 (no evidence of a difference)"}
    _, counts = np.unique(np.abs(nonzero), return_counts=True)
    ties = bool((counts > 1).any())
    if not ties and n <= EXACT_MAX:
        method, test = "exact", "exact"
    elif ties and n <= EXACT_WITH_TIES_MAX:
        # 2^13 = 8192 sign patterns, fewer than the default 9999 resamples: scipy enumerates
        # them all, so the p-value is exact and involves no random draw.
        method, test = stats.PermutationMethod(), "permutation"
    else:
        method, test = "asymptotic", "normal approximation"
    result = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided", method=method)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "test": test, "n_nonzero": n, "note": None}


def bootstrap_mean_interval(
    differences: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (:func:`scipy.stats.bootstrap`).

    Args:
        differences: paired differences, at least one.
        resamples: number of bootstrap resamples.
        seed: seed of the resampling (``numpy.random.default_rng(seed)``): the same differences
            give the same interval.
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``(low, high)``.
    """
    d = np.asarray(differences, np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"differences: expected a non-empty 1-d sample, got shape {d.shape}")
    result = stats.bootstrap((d,), np.mean, n_resamples=resamples, confidence_level=confidence, method="percentile",
                             batch=BOOTSTRAP_BATCH, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_statistics(reference: Sequence[float], baseline: Sequence[float]) -> dict:
    """Paired comparison of two aligned samples; differences are ``reference - baseline``.

    Returns:
        ``n_pairs``, ``n_nonzero``, ``mean_diff``, ``median_diff``, ``ci95_low``, ``ci95_high``
        (:func:`bootstrap_mean_interval`), ``statistic``, ``p_value``, ``test``
        (:func:`wilcoxon_signed_rank`) and ``note`` (why a value is null, or None), floats
        rounded by :func:`round_float`. With fewer than :data:`MIN_PAIRS` pairs the test and the
        interval are null.
    """
    a, b = np.asarray(reference, np.float64), np.asarray(baseline, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"reference and baseline: expected two 1-d arrays of one length, got {a.shape} and {b.shape}")
    d = a - b
    out = {"n_pairs": len(d), "n_nonzero": int(np.count_nonzero(np.round(d, DIFFERENCE_DECIMALS))),
           "mean_diff": None, "median_diff": None, "ci95_low": None, "ci95_high": None,
           "statistic": None, "p_value": None, "test": None, "note": None}
    if len(d) == 0:
        out["note"] = "no pairs: no test image to compare"
    else:
        out.update(mean_diff=float(d.mean()), median_diff=float(np.median(d)))
        if len(d) < MIN_PAIRS:
            out["note"] = f"{len(d)} pair, fewer than {MIN_PAIRS}: no test and no interval"
        else:
            low, high = bootstrap_mean_interval(d)
            test = wilcoxon_signed_rank(d)
            out.update(ci95_low=low, ci95_high=high, statistic=test["statistic"], p_value=test["p_value"],
                       test=test["test"], note=test["note"])
    return {k: round_float(v) for k, v in out.items()}
