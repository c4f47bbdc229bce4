"""Detection F1 at a stricter match radius than the dataset's, from the points evaluation logged.

Crowd localization is published at two radii: FIDTM's ShanghaiTech B table gives F1 at 4 and at
8 px (one-to-one matching within the radius, by its evaluation code modified from NWPU-Crowd's).
The evaluation stage scores at the dataset's match radius (8 px for ShanghaiTech B); the F1 at
:data:`STRICT_RADIUS` is computed here from what that stage wrote (``points/<image_id>.csv``)
against the prepared ground truth, by the evaluation's own matching
(:func:`experiments.evaluation.metrics.detection_counts`), so no run is evaluated twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..core.prepared import prepared_dir
from ..core.readers import read_points_csv
from ..evaluation.metrics import Counts, detection_counts

STRICT_RADIUS = 4.0
"""The stricter match radius (pixels) of the crowd-localization tables (FIDTM's sigma = 4)."""
STRICT_KEY = "f1_r4"
"""The metric's key in ``runs.csv`` and ``metrics.json``: F1 at :data:`STRICT_RADIUS`, pooled."""


def pooled_f1_at(points_dir: str | Path, prepared: str | Path, image_ids: Iterable[str], radius: float) -> float:
    """F1 of the predicted points in ``points_dir`` against ``prepared``'s ground truth, matched
    within ``radius`` and pooled over ``image_ids`` (``2 TP / (2 TP + FP + FN)``).

    Raises:
        FileNotFoundError: a points file of an image is missing (on either side).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> (d / "pred").mkdir(); (d / "data" / "points").mkdir(parents=True)
        >>> _ = (d / "pred" / "a.csv").write_text("x,y\\n0,0\\n10,0\\n")
        >>> _ = (d / "data" / "points" / "a.csv").write_text("x,y\\n3,0\\n10,5\\n")
        >>> pooled_f1_at(d / "pred", d / "data", ["a"], 4.0), pooled_f1_at(d / "pred", d / "data", ["a"], 5.0)
        (0.5, 1.0)
    """
    total = Counts(0, 0, 0)
    for image_id in image_ids:
        pred_path, gt_path = Path(points_dir) / f"{image_id}.csv", Path(prepared) / "points" / f"{image_id}.csv"
        for path in (pred_path, gt_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist; the F1 at {radius:g} px needs every image's points")
        total = total + detection_counts(read_points_csv(pred_path), read_points_csv(gt_path), radius)
    return total.f1


def strict_f1(runs, data_dir: str | Path, radius: float = STRICT_RADIUS) -> list[float]:
    """:func:`pooled_f1_at` ``radius`` of each run (:class:`~experiments.analysis.collect.Run`), over
    the images of its ``per_image.csv``; the ground truth from ``data_dir/prepared/<dataset>``."""
    return [pooled_f1_at(r.points_dir, prepared_dir(data_dir, r.dataset), r.per_image["image_id"].astype(str), radius)
            for r in runs]
