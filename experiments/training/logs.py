"""The files a training run appends to: per-iteration and per-validation CSV logs.

``log.csv``, ``crops.csv`` and ``val.csv`` hold only values that the settings and the seed determine (losses,
weights, learning rate, validation metrics), so DVC hashes them the same for two runs of the
same settings; the step times go to ``timing.csv``, which no DVC hash covers.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..core.fsutil import atomic_write_text

LOG_FIELDS = ("iteration", "loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean", "count_error_mean", "lr")
"""Columns of ``log.csv``: one row per iteration."""
CROP_FIELDS = ("iteration", "crop", "n_gt", "n_pred", "discrepancy", "weight")
"""Columns of ``crops.csv``: one row per crop of every iteration (all ranks' crops, rank by rank)."""
VAL_FIELDS = ("iteration", "f1", "precision", "recall", "f1_mean", "mae", "rmse", "n_images")
"""Columns of ``val.csv``: one row per validation."""
TIMING_FIELDS = ("iteration", "seconds")
"""Columns of ``timing.csv``: the wall time of each training step (machine-dependent)."""


class CsvLog:
    """An append-only CSV file (rank 0), cut back to ``start`` iterations on resume.

    Rows logged after the checkpoint a run resumes from are dropped, so a resumed run's log
    has each iteration exactly once, as an uninterrupted run's. :attr:`kept` holds the rows
    kept from before (as strings).
    """

    def __init__(self, path: Path, fields: tuple[str, ...], start: int) -> None:
        self.path = path
        self.fields = fields
        self.kept: list[dict] = []
        if start > 0 and path.is_file():
            with open(path, newline="") as f:
                self.kept = [row for row in csv.DictReader(f) if int(row["iteration"]) <= start]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.kept)
        atomic_write_text(path, buf.getvalue())
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fields, lineterminator="\n")

    def write(self, row: dict) -> None:
        self._writer.writerow({k: _fmt(row[k]) for k in self.fields})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _fmt(value) -> str:
    # repr keeps every bit of a float, so a logged value reads back exactly.
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)
