"""Paired statistics of two methods evaluated on the same (seed, image) pairs.

Differences are always **reference minus baseline** (the reference is TG-HEM). For a paired
sample: the mean and median difference, a percentile bootstrap 95% confidence interval of the
mean difference (:func:`scipy.stats.bootstrap`, 10,000 resamples of the pairs, seeded, hence
reproducible) and the two-sided Wilcoxon signed-rank test (:func:`wilcoxon_signed_rank`). Pairs
of one image under several seeds are not independent; the test and the interval treat them as
if they were, which overstates their confidence when seeds agree closely.
:func:`seed_level_comparison` compares the two methods on one value per seed (the paired
t-interval and t-test, with win/loss/tie counts by the metric's direction): the study's primary
comparison. :func:`hierarchical_bootstrap_interval` resamples the seeds, then the images within
each seed; with 2-5 seeds it under-covers (0.75 to 0.89 at nominal 0.95 with 3 seeds,
:mod:`experiments.analysis.coverage`), so the tables no longer use it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
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


HIERARCHICAL_COLUMNS = ("seed", "image_id")
"""Columns of the (seed, image) pairs that :func:`hierarchical_bootstrap_interval` resamples."""


def _check_resampling(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resamples: expected a positive int, got {resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence!r}")


def hierarchical_bootstrap_interval(
    differences: pd.DataFrame, value: str = "difference", resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE,
) -> dict:
    """Two-level (seeds, then images) percentile bootstrap interval of the grand mean difference.

    The rows are paired differences ``d_si`` (reference - baseline) of training seed ``s`` on test
    image ``i``; seed ``s`` has ``n_s`` images, ``S`` seeds in all. One resample draws ``S`` seeds
    ``s*_1 .. s*_S`` with replacement, then, for each drawn seed independently, ``n_{s*_j}`` of its
    images with replacement, and takes the mean over all drawn pairs (pair-weighted):

        theta* = sum_j sum_k d*_{jk} / sum_j n_{s*_j}

    (with the same ``n`` images under every seed this is the mean over drawn seeds of the mean of
    their drawn images). The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of ``theta*`` over ``resamples`` resamples. With equal ``n`` its variance is

        Var(theta*) = (B + W / n) / S,  B = mean_s (m_s - m)^2,  W = mean_s mean_i (d_si - m_s)^2,

    so, unlike a bootstrap of the pooled pairs, it keeps the between-seed spread ``B`` whole
    rather than dividing it by the number of pairs. Rows are sorted by (seed, image_id) first, so
    the result does not depend on their order.

    Args:
        differences: one row per (seed, image) pair, with columns ``seed``, ``image_id`` and
            ``value``; no missing values, at least one row.
        value: name of the column holding the differences.
        resamples: number of bootstrap resamples.
        seed: seed of the resampling (``numpy.random.default_rng(seed)``): the same pairs give
            the same interval.
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``{"n_seeds", "n_images", "mean_diff", "ci95_low", "ci95_high", "note"}``: ``n_images``
        counts distinct image ids, ``mean_diff`` is the mean over all pairs; floats rounded by
        :func:`round_float`. With fewer than 2 seeds the interval is null and ``note`` says why.

    Example:
        >>> frame = pd.DataFrame({"seed": [0, 0, 1, 1], "image_id": ["a", "b", "a", "b"],
        ...                       "difference": [0.1, 0.3, 0.2, 0.2]})
        >>> result = hierarchical_bootstrap_interval(frame, resamples=2_000)
        >>> result["n_seeds"], result["n_images"], result["mean_diff"]
        (2, 2, 0.2)
        >>> 0.1 <= result["ci95_low"] <= result["mean_diff"] <= result["ci95_high"] <= 0.3
        True
    """
    if not isinstance(differences, pd.DataFrame):
        raise ValueError(f"differences: expected a pandas.DataFrame, got {type(differences).__name__}")
    missing = [c for c in (*HIERARCHICAL_COLUMNS, value) if c not in differences.columns]
    if missing:
        raise ValueError(f"differences: expected columns {[*HIERARCHICAL_COLUMNS, value]}, missing {missing}")
    if len(differences) == 0:
        raise ValueError("differences: expected at least one (seed, image_id) row, got an empty frame")
    _check_resampling(resamples, confidence)
    for column in HIERARCHICAL_COLUMNS:
        if differences[column].isna().any():
            raise ValueError(f"{column}: expected no missing values, got {int(differences[column].isna().sum())}")
    try:
        values = differences[value].to_numpy(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{value}: expected numeric differences, got dtype {differences[value].dtype}") from error
    if not np.isfinite(values).all():
        raise ValueError(f"{value}: expected finite differences, got {int((~np.isfinite(values)).sum())} NaN or inf")
    duplicated = differences.duplicated(list(HIERARCHICAL_COLUMNS))
    if duplicated.any():
        raise ValueError(f"differences: expected one row per (seed, image_id), got {int(duplicated.sum())} repeated")

    frame = pd.DataFrame({"seed": differences["seed"].to_numpy(), "image_id": differences["image_id"].to_numpy(),
                          "value": values}).sort_values(["seed", "image_id"], kind="mergesort")
    groups = [g.to_numpy(np.float64) for _, g in frame.groupby("seed", sort=True)["value"]]
    n_seeds, n_images = len(groups), int(frame["image_id"].nunique())
    out = {"n_seeds": n_seeds, "n_images": n_images, "mean_diff": float(values.mean()),
           "ci95_low": None, "ci95_high": None, "note": None}
    if n_seeds < 2:
        out["note"] = f"{n_seeds} seed: the seed level cannot be resampled"
        return {k: round_float(v) for k, v in out.items()}

    counts = np.array([len(g) for g in groups])
    width = int(counts.max())
    padded = np.zeros((n_seeds, width))
    for s, g in enumerate(groups):
        padded[s, :len(g)] = g
    columns = np.arange(width)
    rng = np.random.default_rng(seed)
    theta = np.empty(resamples)
    batch = max(1, min(resamples, (BOOTSTRAP_BATCH * 100) // width))  # about 10^5 draws per step
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        drawn = rng.integers(0, n_seeds, size=(size, n_seeds))  # seed level
        total = np.zeros(size)
        pairs = np.zeros(size)
        for j in range(n_seeds):  # image level, within the j-th drawn seed of every resample
            s = drawn[:, j]
            n = counts[s]
            images = rng.integers(0, n[:, None], size=(size, width))
            taken = padded[s[:, None], images]
            total += np.where(columns < n[:, None], taken, 0.0).sum(axis=1)
            pairs += n
        theta[start:start + size] = total / pairs
    alpha = 1 - confidence
    low, high = np.quantile(theta, [alpha / 2, 1 - alpha / 2])
    out.update(ci95_low=float(low), ci95_high=float(high))
    return {k: round_float(v) for k, v in out.items()}


def seed_level_comparison(reference: Sequence[float], baseline: Sequence[float], higher_is_better: bool = True) -> dict:
    """Paired comparison over training seeds of one per-seed value of two methods.

    ``reference[k]`` and ``baseline[k]`` are the values of a metric for seed ``k`` (e.g. the mean
    test F1 of the model trained with that seed); ``d_k = reference[k] - baseline[k]``, ``n``
    seeds. With ``dbar`` the mean and ``s_d`` the standard deviation (ddof=1) of the ``d_k``:

        t = dbar / (s_d / sqrt(n)),  p = 2 * P(T_{n-1} >= |t|)   (:func:`scipy.stats.ttest_rel`)
        CI = dbar -/+ t_{n-1, (1 + 0.95) / 2} * s_d / sqrt(n)

    The interval is the study's primary one: with normal per-seed differences it covers the
    expected difference with probability exactly 0.95 at any number of seeds >= 2, where a
    bootstrap over 2-5 seed values is too narrow (:mod:`experiments.analysis.coverage` measures
    both). With 2-3 seeds it is wide and the test has very little power (1-2 degrees of freedom:
    even a consistent difference rarely reaches p < 0.05), which is why the sign counts ``wins``
    (seeds where the reference is **better**: higher if ``higher_is_better``, else lower, as for
    a count error), ``losses`` and ``ties`` are reported beside it. Differences are rounded to
    :data:`DIFFERENCE_DECIMALS` decimals before they are counted, so float noise is a tie.

    Args:
        reference: per-seed values of the reference method.
        baseline: per-seed values of the baseline, aligned with ``reference`` by seed.
        higher_is_better: the metric's direction (True for F1; False for MAE or a count error):
            which sign of ``d_k`` is a win. ``mean_diff``, the test and the interval do not
            depend on it.

    Returns:
        ``{"n_seeds", "mean_diff", "sd_diff", "t_statistic", "p_value", "wins", "losses",
        "ties", "ci95_low", "ci95_high", "note"}``, floats rounded by :func:`round_float`. Below
        2 seeds ``sd_diff``, the test and the interval are null; when all differences are equal
        (``sd_diff`` 0) the test is null and the interval is the single point ``mean_diff``;
        ``note`` says why.

    Example:
        >>> result = seed_level_comparison([0.80, 0.82, 0.79], [0.78, 0.81, 0.79])
        >>> result["n_seeds"], result["wins"], result["losses"], result["ties"], result["mean_diff"]
        (3, 2, 0, 1, 0.01)
        >>> round(result["t_statistic"], 4), round(result["p_value"], 4)
        (1.7321, 0.2254)
        >>> mae = seed_level_comparison([40.0, 42.0, 45.0], [44.0, 43.0, 45.0], higher_is_better=False)
        >>> mae["wins"], mae["losses"], mae["ties"], mae["mean_diff"]
        (2, 0, 1, -1.66667)
    """
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better: expected a bool, got {higher_is_better!r}")
    a, b = np.asarray(reference, np.float64), np.asarray(baseline, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"reference and baseline: expected two 1-d arrays of one length, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("reference and baseline: expected finite values, got NaN or inf")
    d = a - b
    signs = np.sign(np.round(d, DIFFERENCE_DECIMALS)) * (1 if higher_is_better else -1)  # +1: the reference is better
    n = len(d)
    out = {"n_seeds": n, "mean_diff": None, "sd_diff": None, "t_statistic": None, "p_value": None,
           "wins": int((signs > 0).sum()), "losses": int((signs < 0).sum()), "ties": int((signs == 0).sum()),
           "ci95_low": None, "ci95_high": None, "note": None}
    if n == 0:
        out["note"] = "no seeds: nothing to compare"
    elif n < MIN_PAIRS:
        out.update(mean_diff=float(d.mean()))
        out["note"] = f"{n} seed, fewer than {MIN_PAIRS}: no spread, no test and no interval"
    else:
        mean, sd = float(d.mean()), float(d.std(ddof=1))
        out.update(mean_diff=mean, sd_diff=sd)
        if np.ptp(np.round(d, DIFFERENCE_DECIMALS)) == 0:
            out.update(sd_diff=0.0, ci95_low=mean, ci95_high=mean)
            out["note"] = "all differences are equal (sd 0): the t-test is undefined, no p-value"
        else:
            result = stats.ttest_rel(a, b)
            half = float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * sd / math.sqrt(n)
            out.update(t_statistic=float(result.statistic), p_value=float(result.pvalue),
                       ci95_low=mean - half, ci95_high=mean + half)
    return {k: round_float(v) for k, v in out.items()}
