"""Whether a study's runs converged: the rule, in one place.

A run is judged on the validations of the last quarter of its schedule (:data:`LAST_FRACTION`):
it converged when its validation F1 moves by at most :data:`CONVERGED_RANGE` there. A method
converged when every seed did, none failed (``runs.csv``'s ``failed`` column) and none
collapsed (val F1 0 at its last validation). With fewer than :data:`MIN_LATE_VALIDATIONS`
validations in that window the range says nothing (one point has range 0), so the verdict is
"not judged" rather than yes.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .statistics import round_float

LAST_FRACTION = 0.25
"""Convergence is judged on the last quarter of training."""
CONVERGED_RANGE = 0.01
"""The largest range (max - min) of val F1 over the last quarter that counts as converged."""
MIN_LATE_VALIDATIONS = 3
"""Validations a run needs in its last quarter for its range there to judge convergence."""


def verdict(ranges: list[float], counts: list[int], failed_or_collapsed: bool) -> bool | None:
    """False when a seed failed or collapsed, None (not judged) when a seed has fewer than
    :data:`MIN_LATE_VALIDATIONS` late validations, else whether every range is within
    :data:`CONVERGED_RANGE`.

    Example:
        >>> verdict([0.004, 0.008], [5, 5], False), verdict([0.0], [1], False), verdict([0.0], [1], True)
        (True, None, False)
    """
    if failed_or_collapsed:
        return False
    if not counts or min(counts) < MIN_LATE_VALIDATIONS:
        return None
    return max(ranges) <= CONVERGED_RANGE


def convergence_summary(val: pd.DataFrame, runs: pd.DataFrame, total_iterations: int | Mapping[str, int]) -> dict:
    """Per dataset and method (main runs): how much val F1 still moves over the last quarter.

    Args:
        val: validation curves (``val_curves.csv``: group, dataset, method, seed, iteration, f1).
        runs: the runs (``runs.csv``) with their ``failed`` column.
        total_iterations: the schedule's length (``train.iterations``), one for every dataset or
            ``{dataset: iterations}`` where datasets train for different lengths.

    Returns:
        ``{dataset: {method: entry}}``; over the validations at iterations >= 3/4 of
        ``total_iterations`` of each seed that did not fail: ``max_range`` and
        ``max_abs_change`` (the largest range and |last - first| over the seeds),
        ``failed_seeds``, ``collapsed_seeds``, ``min_validations`` (the fewest late
        validations of a seed), ``n_seeds``, ``last_quarter_from`` and ``converged``
        (:func:`verdict`: True, False or None for not judged).

    Example:
        >>> val = pd.DataFrame({"group": "main", "dataset": "d", "method": "m", "seed": 0,
        ...                     "iteration": [100, 150, 175, 200], "f1": [0.5, 0.80, 0.805, 0.80]})
        >>> runs = pd.DataFrame({"group": ["main"], "dataset": ["d"], "method": ["m"], "seed": [0], "failed": [False]})
        >>> c = convergence_summary(val, runs, 200)["d"]["m"]
        >>> c["min_validations"], c["max_range"], c["converged"]
        (3, 0.005, True)
        >>> convergence_summary(val[val["iteration"] != 175], runs, 200)["d"]["m"]["converged"] is None
        True
    """
    main = val[val["group"] == "main"]
    failed_main = runs[(runs["group"] == "main") & runs["failed"].astype(bool)]
    failed = set(zip(failed_main["dataset"], failed_main["method"], failed_main["seed"].astype(int)))
    out: dict = {}
    for (d, m), frame in main.groupby(["dataset", "method"], sort=False):
        total = total_iterations[d] if isinstance(total_iterations, Mapping) else total_iterations
        start = (1 - LAST_FRACTION) * total
        ranges, changes, failed_seeds, collapsed, counts = [], [], [], [], []
        for seed, run in frame.groupby("seed", sort=True):
            if (d, m, int(seed)) in failed:
                failed_seeds.append(int(seed))
                continue
            run = run.sort_values("iteration")
            if run["f1"].iloc[-1] == 0:
                collapsed.append(int(seed))
            late = run[run["iteration"] >= start]
            counts.append(len(late))
            if len(late):
                ranges.append(float(late["f1"].max() - late["f1"].min()))
                changes.append(float(late["f1"].iloc[-1] - late["f1"].iloc[0]))
        out.setdefault(d, {})[m] = {
            "last_quarter_from": int(start), "n_seeds": len(ranges) + len(failed_seeds),
            "max_range": round_float(max(ranges)) if ranges else None,
            "max_abs_change": round_float(max(abs(c) for c in changes)) if changes else None,
            "failed_seeds": failed_seeds, "collapsed_seeds": collapsed,
            "min_validations": min(counts) if counts else 0,
            "converged": verdict(ranges, counts, bool(failed_seeds or collapsed)),
        }
    return out
