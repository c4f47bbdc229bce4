"""Readers of the files the training and evaluation stages write, checking values as well as syntax.

A run's ``train.json`` and ``log.csv``, an evaluation's ``metrics.json`` and ``per_image.csv``:
each is read in full and refused, with one line naming the file, the key or row, the value, what
was expected and the stage to run again (``fix``), when it is damaged (truncated, not UTF-8, not
JSON or CSV) or holds a value out of range (NaN, inf, an F1 outside [0, 1], a negative count).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.fsutil import read_json
from ..core.schema import SCHEMA
from ..core.settings import ConfigError, check_setting

FRACTIONS = ("precision", "recall", "f1", "precision_mean", "recall_mean", "f1_mean", "f1_mean_radii")
"""Keys of an evaluation's ``metrics.json`` that are numbers in [0, 1]."""
COUNTS = ("tp", "fp", "fn", "n_gt", "n_pred", "n_images", "mre_images", "mean_f1_max_radius", "iteration")
"""Keys that are ints >= 0."""
ERRORS = ("mae", "rmse", "mre", "game0", "game1", "game2", "game3")
"""Keys that are finite numbers >= 0."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_metrics(metrics, path: Path, required: Sequence[str], fix: str) -> dict:
    """Check an evaluation's ``metrics.json`` content: its numbers present where ``required``, in range.

    Args:
        metrics: the parsed document.
        path: its file, for the message.
        required: keys that must hold a number (not null).
        fix: what to run again, ending the message.

    Returns:
        ``metrics``.

    Raises:
        ValueError: not an object, a required key null, or a value out of range (key and value named).
    """
    if not isinstance(metrics, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(metrics).__name__}; {fix}")
    for key in required:
        if metrics.get(key) is None and key in metrics:
            raise ValueError(f"{path}: {key} is null (an evaluation without images?); {fix}")
    for key, value in metrics.items():
        if value is None:
            continue
        if key in FRACTIONS:
            ok, expected = _is_number(value) and 0 <= value <= 1, "a number in [0, 1]"
        elif key in COUNTS:
            ok, expected = isinstance(value, int) and not isinstance(value, bool) and value >= 0, "an int >= 0"
        elif key in ERRORS:
            ok, expected = _is_number(value) and value >= 0, "a finite number >= 0"
        elif key == "match_radius":
            ok, expected = _is_number(value) and value > 0, "a finite number > 0"
        else:
            continue
        if not ok:
            raise ValueError(f"{path}: {key} is {value!r}, expected {expected}; {fix}")
    return metrics


def read_train_json(path: Path, fix: str) -> dict:
    """A run's ``train.json``: an object whose ``iterations`` and ``total_iterations`` are ints >= 0.

    Raises:
        FileNotFoundError: no such file.
        ValueError: damaged, or those counts wrong (the message names the file, and ``fix``).
    """
    summary = read_json(path, fix)
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(summary).__name__}; {fix}")
    for key in ("iterations", "total_iterations"):
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{path}: {key} is {value!r}, expected an int >= 0; {fix}")
    return summary


def train_setting(summary: dict, key: str, path: Path, fix: str, default=None):
    """The setting ``key`` (``section.name``) a run trained with, from its ``train.json``'s ``config``,
    checked and typed against the settings schema; ``default`` where the run records none (an
    older run), if given.

    Raises:
        ValueError: missing (without ``default``) or not what the schema allows (the file, the
            key, its value and what was expected named, then ``fix``).
    """
    section, name = key.split(".", 1)
    config = summary.get("config")
    values = config.get(section) if isinstance(config, dict) else None
    if not isinstance(values, dict) or name not in values:
        if default is not None:
            return default
        raise ValueError(f"{path}: config.{key} is missing, expected {SCHEMA[key].expected()}; {fix}")
    try:
        return check_setting(key, values[name], str(path))
    except ConfigError:
        raise ValueError(f"{path}: config.{key} is {values[name]!r}, expected {SCHEMA[key].expected()}; {fix}") from None


def read_table(path: Path, required: Sequence[str], fix: str) -> pd.DataFrame:
    """A CSV file as strings (empty cells as ""), its ``required`` columns checked.

    Raises:
        ValueError: damaged (not UTF-8, no header, ragged rows) or a column missing; the message
            names the file and ``fix``.
    """
    return parsed_csv(path, required, fix, dtype=str, keep_default_na=False)


def parsed_csv(path: Path, required: Sequence[str], fix: str, **options) -> pd.DataFrame:
    """``pd.read_csv(path, **options)`` (UTF-8), its ``required`` columns checked: the one place a
    damaged table becomes a one-line error.

    Raises:
        ValueError: damaged (not UTF-8, no header, ragged rows) or a column missing; the message
            names the file and ``fix``.
    """
    try:
        frame = pd.read_csv(path, encoding="utf-8", **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: damaged (empty, no header); {fix}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: damaged or truncated ({first}); {fix}") from None
    missing = [k for k in required if k not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing from the header {list(frame.columns)}; {fix}")
    ragged = _ragged_row(path)
    if ragged is not None:  # pandas fills a short row (a file cut mid-line) with NaN instead of refusing it
        line, n, expected = ragged
        raise ValueError(f"{path}: damaged or truncated (line {line} has {n} fields, the header {expected}); {fix}")
    return frame


def _ragged_row(path: Path) -> tuple[int, int, int] | None:
    """The first data row whose number of fields differs from the header's: ``(line, fields, header's)``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        for line, row in enumerate(rows, start=2):
            if row and len(row) != len(header):
                return line, len(row), len(header)
    return None


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan


def _column(frame: pd.DataFrame, column: str, path: Path, fix: str, kind: str, empty_ok: bool = False) -> np.ndarray:
    """``column`` as numbers, each checked: ``kind`` is ``'count'`` (int >= 0), ``'int'`` (>= 1),
    ``'finite'``, or ``'nonnegative'``; an empty cell is NaN where ``empty_ok``."""
    text = frame[column]
    # Python's float() rounds correctly, so a logged repr() reads back to the same bits.
    values = np.array([_number(cell) for cell in text], np.float64)
    expected = {"count": "an int >= 0", "int": "an int >= 1", "finite": "a finite number",
                "nonnegative": "a finite number >= 0"}[kind]
    empty = (text == "").to_numpy()
    ok = np.isfinite(values)
    if kind in ("count", "int"):
        ok &= np.mod(np.where(ok, values, 0), 1) == 0
    if kind in ("count", "nonnegative"):
        ok &= np.where(ok, values, 0) >= 0
    if kind == "int":
        ok &= np.where(ok, values, 1) >= 1
    if empty_ok:
        ok |= empty
    bad = np.flatnonzero(~ok)
    if len(bad):
        row = int(bad[0])
        shown = "empty" if empty[row] else repr(text.iloc[row])
        # +2: the header is line 1, the first row line 2
        raise ValueError(f"{path}: line {row + 2}, {column} is {shown}, expected {expected}; {fix}")
    return values


def read_per_image_csv(path: Path, columns: Sequence[str], fix: str) -> pd.DataFrame:
    """An evaluation's ``per_image.csv``: unique non-empty ids, counts that are ints >= 0 and agree
    (``tp + fp = n_pred``, ``tp + fn = n_gt``).

    Args:
        path: the file.
        columns: the count columns (``n_gt``, ``n_pred``, ``tp``, ``fp``, ``fn``).
        fix: what to run again, ending the messages.

    Returns:
        ``image_id`` (str) and the count columns (int64).

    Raises:
        ValueError: damaged, a column missing, a bad or duplicated id, or a count wrong (file,
            line and value named).
    """
    frame = read_table(path, ("image_id", *columns), fix)
    ids = frame["image_id"]
    if (ids == "").any() or ids.duplicated().any():
        row = int(np.flatnonzero((ids == "").to_numpy() | ids.duplicated().to_numpy())[0])
        what = "empty" if ids.iloc[row] == "" else f"{ids.iloc[row]!r}, a duplicate"
        raise ValueError(f"{path}: line {row + 2}, image_id is {what}; {fix}")
    out = pd.DataFrame({"image_id": ids})
    for column in columns:
        out[column] = _column(frame, column, path, fix, "count").astype(np.int64)
    for total, part in (("n_pred", "fp"), ("n_gt", "fn")):
        if {total, part, "tp"} <= set(columns):
            wrong = np.flatnonzero((out["tp"] + out[part] != out[total]).to_numpy())
            if len(wrong):
                r = out.iloc[int(wrong[0])]
                raise ValueError(f"{path}: line {int(wrong[0]) + 2} ({r['image_id']}): tp + {part} = "
                                 f"{r['tp'] + r[part]}, but {total} = {r[total]}; {fix}")
    return out.reset_index(drop=True)


def read_log_csv(path: Path, fields: Sequence[str], fix: str, optional: Sequence[str] = ()) -> pd.DataFrame:
    """A training ``log.csv``: ``iteration`` ints >= 1, increasing; ``fields`` finite numbers.

    Args:
        path: the file.
        fields: the value columns to read.
        fix: what to run again, ending the messages.
        optional: those of ``fields`` that may be empty (no value for this method); a loss logged
            as NaN is written as an empty cell, so any other empty cell is an error.

    Returns:
        ``iteration`` (int64) and ``fields`` (float64, NaN where empty).

    Raises:
        ValueError: damaged, a column missing, or a value wrong (file, line and value named).
    """
    frame = read_table(path, ("iteration", *fields), fix)
    iteration = _column(frame, "iteration", path, fix, "int")
    back = np.flatnonzero(np.diff(iteration) <= 0)
    if len(back):
        row = int(back[0]) + 1
        raise ValueError(f"{path}: line {row + 2}, iteration {int(iteration[row])} does not follow "
                         f"{int(iteration[row - 1])}; {fix}")
    out = pd.DataFrame({"iteration": iteration.astype(np.int64)})
    for column in fields:
        kind = "finite" if column in ("loss", "seg_loss") else "nonnegative"
        out[column] = _column(frame, column, path, fix, kind, empty_ok=column in optional)
    return out


def read_crops_csv(path: Path, fix: str, discrepancy: bool = False) -> pd.DataFrame:
    """A training ``crops.csv``: ``iteration`` ints >= 1, non-decreasing; ``crop``, ``n_gt``,
    ``n_pred`` ints >= 0; ``weight`` finite >= 0; ``discrepancy`` >= 0, or empty (no topological
    term) unless ``discrepancy`` (a run whose loss computes D for every crop: TG-HEM).

    Raises:
        ValueError: damaged, a column missing, or a value wrong (file, line and value named).
    """
    frame = read_table(path, ("iteration", "crop", "n_gt", "n_pred", "discrepancy", "weight"), fix)
    iteration = _column(frame, "iteration", path, fix, "int")
    back = np.flatnonzero(np.diff(iteration) < 0)
    if len(back):
        row = int(back[0]) + 1
        raise ValueError(f"{path}: line {row + 2}, iteration {int(iteration[row])} comes after "
                         f"{int(iteration[row - 1])}; {fix}")
    out = pd.DataFrame({"iteration": iteration.astype(np.int64)})
    for column in ("crop", "n_gt", "n_pred"):
        out[column] = _column(frame, column, path, fix, "count").astype(np.int64)
    out["discrepancy"] = _column(frame, "discrepancy", path, fix, "nonnegative", empty_ok=not discrepancy)
    out["weight"] = _column(frame, "weight", path, fix, "nonnegative")
    return out
