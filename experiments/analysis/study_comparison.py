"""Two runs of the same study under different settings (e.g. float32 vs bf16), compared run by run.

A change meant to be free of accuracy cost (a precision, a memory format, a faster kernel) is
judged by rerunning the study with the same seeds and pairing each run of one study with the run
of the same dataset, method and seed in the other. Per method and over all runs it reports the
paired differences (``b - a``) of the test metrics with :func:`~.statistics.paired_statistics`
(mean, median, bootstrap 95% interval, Wilcoxon signed-rank test), beside the seed noise of each
study (the sample standard deviation over seeds of the same method, averaged over methods): a
difference well inside the seed noise is not a loss of accuracy that seeds could resolve.

A metric must be a numeric column of both ``runs.csv`` (not a key, a text or a True/False column)
and a finite number in every main run: a NaN would drop that run from the means silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.fsutil import NotAnOutputError
from ..core.settings import ConfigError
from .readers import parsed_csv
from .statistics import paired_statistics, round_float

KEYS = ("dataset", "method", "seed")
DEFAULT_METRICS = ("f1", "mae")
TABLE_KEYS = ("dataset", "method", "n_pairs")
STATISTICS = ("a", "b", "diff", "ci95_low", "ci95_high", "p", "seed_sd_a", "seed_sd_b")
"""The columns of the comparison table per metric ``m``: ``m_a``, ``m_b``, ... (after :data:`TABLE_KEYS`)."""
FIX = "give the runs.csv of an aggregated study (python -m experiments.aggregate writes it)"
VALUE_FIX = "compare a metric every main run has, or aggregate the study again (python -m experiments.aggregate)"


def read_runs_csv(path: str | Path, metrics: Sequence[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """The ``group == 'main'`` rows of an aggregated ``runs.csv``, their ``metrics`` checked (:func:`check_metrics`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is damaged (empty, not UTF-8, ragged) or lacks the columns of a
            ``runs.csv``, repeats a (dataset, method, seed), or a metric is not a numeric column or
            not a finite number in some main run (the file, the run and the column named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such runs.csv; run python -m experiments.aggregate (or give results/runs.csv)")
    frame = parsed_csv(path, (), FIX)
    missing = [c for c in ("group", *KEYS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not an aggregated runs.csv (missing columns {missing})")
    main = frame[frame["group"] == "main"]
    if main.duplicated(list(KEYS)).any():
        raise ValueError(f"{path}: repeats a (dataset, method, seed) among its main runs")
    check_metrics(main, metrics, str(path), f"; {VALUE_FIX}")
    return main


def check_metrics(runs: pd.DataFrame, metrics: Sequence[str], source: str, fix: str = "") -> None:
    """Refuse a metric that is not a numeric column of ``runs`` (a key, ``group``, a text or a
    True/False column, or none), or a run whose value of it is not a finite number.

    Args:
        runs: main runs of a ``runs.csv`` (with ``group`` and :data:`KEYS`).
        metrics: the columns to compare.
        source: where ``runs`` come from (the file), for the messages.
        fix: what to do, ending the message of a bad value.

    Raises:
        ValueError: the metric and what it is instead, with the numeric columns ``runs`` has; or
            ``source``, the run (dataset/method/seed), the column and its value.
    """
    repeated = sorted({m for m in metrics if list(metrics).count(m) > 1})
    if repeated:  # wrong whatever the files hold: a usage error (ConfigError: exit 2 from the command line)
        raise ConfigError(f"--metrics: {', '.join(repeated)} given more than once; name each metric once")
    numeric = [c for c in runs.columns if c not in ("group", *KEYS) and pd.api.types.is_numeric_dtype(runs[c])
               and not pd.api.types.is_bool_dtype(runs[c])]
    for m in metrics:
        column = runs[m] if m in runs.columns else None
        values = None if column is None or pd.api.types.is_bool_dtype(column) else pd.to_numeric(column, errors="coerce")
        if m in ("group", *KEYS):
            what = "a key column of" if m in KEYS else "the group column of"
            what += f" {source} (runs are paired by dataset, method and seed), not a metric"
        elif column is None:
            what = f"no such column in {source}"
        elif values is None:
            what = f"a True/False column of {source}, not a number"
        elif m not in numeric and not values.notna().any():
            text = column[column.notna()]
            what = f"a text column of {source}" + (f" (e.g. {text.iloc[0]!r})" if len(text) else "") + ", not a number"
        else:
            bad = np.flatnonzero(~np.isfinite(values.to_numpy(np.float64)))
            if len(bad):
                run = runs.iloc[int(bad[0])]
                shown = column.iloc[int(bad[0])]
                shown = "empty or NaN" if pd.isna(shown) else repr(shown) if isinstance(shown, str) else shown
                raise ValueError(f"{source}: run {run['dataset']}/{run['method']}/seed {run['seed']}: {m} is {shown}, "
                                 f"expected a finite number{fix}")
            continue
        error = ConfigError if m in ("group", *KEYS) else ValueError  # a key is never a metric, whatever the file
        raise error(f"--metrics {m}: {what}; expected one of its numeric columns: {', '.join(numeric) or 'none'}")


def is_comparison_table(columns: Sequence[str]) -> bool:
    """Whether ``columns`` are the header of a table :func:`compare_studies` returns (for some metrics).

    Example:
        >>> is_comparison_table(["dataset", "method", "n_pairs", *(f"mae_{s}" for s in STATISTICS)])
        True
        >>> is_comparison_table(["group", "dataset", "method", "seed", "f1"])
        False
    """
    columns = list(columns)
    rest, n = columns[len(TABLE_KEYS):], len(STATISTICS)
    if tuple(columns[:len(TABLE_KEYS)]) != TABLE_KEYS or not rest or len(rest) % n:
        return False
    groups = [rest[i:i + n] for i in range(0, len(rest), n)]
    return all(g[0].endswith("_a") and g == [f"{g[0][:-2]}_{s}" for s in STATISTICS] for g in groups)


def check_out(out: str | Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an ``--out`` that is (or links to) one of the ``inputs``, a folder, or an existing file
    other than an earlier comparison table (:func:`is_comparison_table`): never overwrite what
    this tool did not write.

    Raises:
        NotAnOutputError: naming ``out``, what it is and what to do.
    """
    out = Path(out)
    for path in map(Path, inputs):
        if out.exists() and path.exists() and os.path.samefile(out, path):
            raise NotAnOutputError(f"--out: {out} is the input {path}; writing the table there would destroy it: "
                                   f"name a new file")
    if out.is_dir():
        raise NotAnOutputError(f"--out: {out} is an existing folder; name a file (a new one, or an earlier table)")
    if not out.exists():
        return
    try:
        columns = list(parsed_csv(out, (), "", nrows=0).columns)
    except ValueError:
        columns = None
    if columns is None or not is_comparison_table(columns):
        header = "unreadable as CSV" if columns is None else ",".join(map(str, columns))
        header = header if len(header) <= 60 else header[:57] + "..."
        raise NotAnOutputError(
            f"--out: {out} exists and is not a comparison table of compare_studies (its header: {header}; expected "
            f"{','.join(TABLE_KEYS)},<metric>_a,...); it never overwrites a file it did not write: name a new file, "
            f"or move {out} away")


def compare_studies(a: pd.DataFrame, b: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """Paired differences ``b - a`` of ``metrics`` per (dataset, method) and over all runs.

    Returns:
        One row per (dataset, method) and one ``all`` row per dataset, with, per metric,
        ``<m>_a`` and ``<m>_b`` (means), ``<m>_diff`` (mean difference), ``<m>_ci95_low``,
        ``<m>_ci95_high``, ``<m>_p`` (Wilcoxon), and ``<m>_seed_sd_a``, ``<m>_seed_sd_b`` (seed
        noise) and ``n_pairs``.

    Raises:
        ValueError: a metric that is not a numeric column of either frame or not finite in some
            run (:func:`check_metrics`), or no run in common.
    """
    for name, frame in (("a", a), ("b", b)):
        check_metrics(frame, metrics, name)
    paired = a.merge(b, on=list(KEYS), suffixes=("_a", "_b"))
    if paired.empty:
        raise ValueError("the two studies share no (dataset, method, seed) run")
    rows = []
    for dataset, runs in paired.groupby("dataset", sort=False):
        groups = [(method, part) for method, part in runs.groupby("method", sort=False)] + [("all", runs)]
        for method, part in groups:
            row = dict(zip(TABLE_KEYS, (dataset, method, len(part))))
            for m in metrics:
                stats = paired_statistics(part[f"{m}_b"], part[f"{m}_a"])
                # Seed noise: std over the seeds of one method, averaged over the methods involved.
                noise = {side: part.groupby("method")[f"{m}_{side}"].std(ddof=1).mean() for side in ("a", "b")}
                values = (part[f"{m}_a"].mean(), part[f"{m}_b"].mean(), stats["mean_diff"], stats["ci95_low"],
                          stats["ci95_high"], stats["p_value"], noise["a"], noise["b"])
                row.update({f"{m}_{s}": v for s, v in zip(STATISTICS, values, strict=True)})
            rows.append({k: round_float(v) for k, v in row.items()})
    return pd.DataFrame(rows)
