"""The constant of the ``tghem_count`` control, fixed from TG-HEM's own training logs.

``tghem_count`` weights a crop by ``1 + lambda_count * |n_pred - n_gt|``. For the control to
reweight as strongly as TG-HEM does, ``lambda_count`` is chosen so that, over the crops TG-HEM
trained on, the two weightings have the same mean:

.. math::
    \\lambda_c = \\lambda \\, \\frac{\\overline{D}}{\\overline{|n^{pred} - n^{gt}|}}

(means over every crop of every weighted iteration of the given TG-HEM runs, read from their
``crops.csv``), so that :math:`1 + \\lambda_c \\overline{|\\Delta n|} = 1 + \\lambda \\overline{D} = \\overline{w}`.
The iterations of a warm-up (``tghem.warmup``), whose crops both losses leave unweighted, are not
in the means: there the network is young, D and the count error are large, and neither weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .readers import read_crops_csv, read_train_json, train_setting


def count_weight_constant(run_dirs: Sequence[str | Path], warmup: Callable[[dict], int] | None = None) -> dict:
    """``lambda_count`` matching the mean crop weight of the TG-HEM runs in ``run_dirs``.

    Args:
        run_dirs: training folders of TG-HEM runs (``train.json`` and ``crops.csv``, whose every
            crop has its D), all trained with the same ``tghem.lambda_pers``, each given once.
        warmup: the run's warm-up iterations from its settings (``train.json``'s ``config``), e.g.
            :func:`experiments.training.methods.warmup_iterations`; the crops of iterations
            ``1..warmup`` (1-based, as ``crops.csv`` counts) are left out. None: every crop.

    Returns:
        ``{"lambda_count", "lambda_pers", "mean_weight", "mean_discrepancy", "mean_count_error",
        "n_runs", "n_crops", "n_warmup_crops"}`` (``n_crops`` those in the means,
        ``n_warmup_crops`` those left out).

    Raises:
        ValueError: no folders, a folder given twice, a run is not TG-HEM, its ``train.json`` lacks
            a setting used (``tghem.lambda_pers``; with ``warmup``, ``train.iterations``) or has
            one out of range, a crop without D, the runs' lambdas differ, no crop after the
            warm-up, or the crops have no count error (nothing to match).
    """
    if not run_dirs:
        raise ValueError("run_dirs: expected at least one TG-HEM training folder, got none")
    weights, discrepancies, errors, lambdas, skipped, seen = [], [], [], set(), 0, {}
    for d in map(Path, run_dirs):
        if d.resolve() in seen:
            raise ValueError(f"run_dirs: {d} is the folder {seen[d.resolve()]} given again; expected each run once "
                             f"(its crops would count twice)")
        seen[d.resolve()] = d
        fix, path = f"train {d} again", d / "train.json"
        summary = read_train_json(path, fix)
        if summary.get("method") != "tghem":
            raise ValueError(f"{d}: expected a tghem run, got method {summary.get('method')!r}")
        lambdas.add(train_setting(summary, "tghem.lambda_pers", path, fix))
        crops = read_crops_csv(d / "crops.csv", fix, discrepancy=True)
        if warmup is not None:
            warm = train_setting(summary, "tghem.warmup", path, fix, default=0)
            total = train_setting(summary, "train.iterations", path, fix)
            config = summary["config"]
            config = {**config, "tghem": {**config["tghem"], "warmup": warm}, "train": {**config["train"], "iterations": total}}
            try:
                first = warmup(config)
            except ValueError as err:
                raise ValueError(f"{path}: config.{err}; {fix}") from None
            weighted = crops["iteration"] > first
            skipped += int((~weighted).sum())
            crops = crops[weighted]
        weights.append(crops["weight"].to_numpy())
        discrepancies.append(crops["discrepancy"].to_numpy())
        errors.append((crops["n_pred"] - crops["n_gt"]).abs().to_numpy(np.float64))
    if len(lambdas) != 1:
        raise ValueError(f"run_dirs: expected runs of one tghem.lambda_pers, got {sorted(lambdas)}")
    (lam,) = lambdas
    w, dsc, err = (np.concatenate(x) for x in (weights, discrepancies, errors))
    if len(w) == 0:
        raise ValueError(f"run_dirs: no crop after the warm-up ({skipped} warm-up crops): nothing to match")
    if err.mean() == 0:
        raise ValueError("run_dirs: every crop's count is exact, so no lambda_count can match the weights")
    return {"lambda_count": float(lam * dsc.mean() / err.mean()), "lambda_pers": float(lam),
            "mean_weight": float(w.mean()), "mean_discrepancy": float(dsc.mean()),
            "mean_count_error": float(err.mean()), "n_runs": len(run_dirs), "n_crops": int(len(w)),
            "n_warmup_crops": skipped}
