"""The diagnostic tables of a study: what TG-HEM's weights track over training (dynamics) and
whether every run converged (convergence), from ``metrics.json``."""

from __future__ import annotations

import pandas as pd

from .convergence import CONVERGED_RANGE, MIN_LATE_VALIDATIONS
from .formatting import format_spread, per_dataset_text
from .tables import Table, _group_starts, _moments_text

DYNAMICS_COLUMNS = (
    ("crops_weight_mean", "mean w", 2), ("crops_discrepancy_mean", "mean D", 1),
    ("crops_count_error_mean", "mean |Δn|", 2), ("crops_weight_count_spearman", "ρ(w, |Δn|)", 2),
    ("crops_discrepancy_count_spearman", "ρ(D, |Δn|)", 2),
)


def dynamics_table(metrics: dict) -> Table:
    """What the crop weights did over training (main runs): means and Spearman correlations per crop."""
    rows = []
    for dataset, by_method in metrics["dynamics"].items():
        for method, m in by_method.items():
            if m["crops_weight_mean"]["mean"] is None or m["crops_discrepancy_mean"]["mean"] is None:
                continue  # methods that do not weight crops
            rows.append((dataset, method, *(_moments_text(m[k], d) if m[k]["mean"] is not None else "-"
                                            for k, _, d in DYNAMICS_COLUMNS)))
    cells = pd.DataFrame(rows, columns=("Dataset", "Method", *(label for _, label, _ in DYNAMICS_COLUMNS)))
    caption = (
        "Over every training crop of the main runs (mean ± std over seeds of each run's value): the crop "
        "weight w, its discrepancy D (tghem_count: its count error), the count error |Δn| = |n_pred - n_gt| of "
        "the crop's prediction, and Spearman's ρ between a crop's weight (or D) and its count error. "
        "tghem_shuffled's weights are other crops' weights: its ρ(w, |Δn|) shows what is left without the link."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "ll" + "r" * len(DYNAMICS_COLUMNS), _group_starts(cells["Dataset"]) if len(cells) else (), caption)


def _verdict(c: dict) -> str:
    """The converged column: yes, no, or not judged with the fewest validations a seed had."""
    if c["converged"] is None:
        n = c["min_validations"]
        return f"not judged ({n} validation{'s' if n != 1 else ''})"
    return "yes" if c["converged"] else "no"


def convergence_table(metrics: dict) -> Table:
    """Per dataset and method: how much val F1 moves over the last quarter of training (worst seed), failed and collapsed seeds."""
    rows = []
    starts = {}
    for dataset, by_method in metrics["convergence"].items():
        for method, c in by_method.items():
            starts[dataset] = c["last_quarter_from"]
            flags = "; ".join(f"{what} {', '.join(str(s) for s in c[key])}"
                              for what, key in (("failed", "failed_seeds"), ("collapsed", "collapsed_seeds")) if c[key])
            rows.append((dataset, method, format_spread(c["max_range"], 3), format_spread(c["max_abs_change"], 3),
                         _verdict(c), flags or "-"))
    cells = pd.DataFrame(rows, columns=("Dataset", "Method", "max - min", "|last - first|", "converged", "seeds failed / collapsed"))
    caption = (
        f"Validation F1 over the last quarter of training (validations from iteration {per_dataset_text(starts)} on), the largest "
        f"over the seeds that did not fail: its range (max - min) and its net change. Converged: every seed's "
        f"range is at most {CONVERGED_RANGE} and no seed failed (never detected anything: {metrics['failed']['rule']}) or "
        f"collapsed (val F1 0 at the last validation: it ended predicting nothing; its checkpoint may be earlier). "
        f"Not judged: a seed has fewer than {MIN_LATE_VALIDATIONS} validations in the last quarter "
        f"(a smaller train.val_every gives more)."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "llrrll", _group_starts(cells["Dataset"]) if len(cells) else (), caption)
