"""Settings resolved against their dataset, and the record every training run keeps of them.

A settings file may leave four values to the dataset (null): ``data.mask_radius`` (the
dataset's, :func:`experiments.core.targets.target_rule`), ``eval.match_radius`` (the dataset's),
``eval.mean_f1_max_radius`` (``floor`` of the match radius, at least 1) and ``eval.tile_size``
(the training crop size). :func:`resolve_settings` fills them in, the mask radius by
:func:`~experiments.core.targets.target_rule` and the other three by :func:`resolve_eval`, the one
place each rule is written: training, validation, evaluation and the oracle all read through them.

Each training run writes :data:`SETTINGS_FILE` beside its results (:func:`settings_record`): the
settings it ran with, resolved, and which of them came from the dataset. It holds settings only,
nothing of the machine or the clock, so it is the same file on every computer, while
``train.json`` holds what the run measured. An evaluation's ``metrics.json`` records the
evaluation values it resolved (the match radius, the mean-F1 radius, the tile size) and the run
folder it scored, whose :data:`SETTINGS_FILE` holds the rest. An evaluation may read other
``eval`` settings than its run trained and validated with (``--set eval.threshold=0.4``, or the
settings file edited since the training): its ``metrics.json`` then holds those under
:data:`EVAL_OVERRIDES` (:func:`eval_overrides`), so the two files together always give every
setting the evaluation used. The key is absent when nothing differs, as in every evaluation of a
study's pipeline, whose training and evaluation read the same ``eval`` section.
"""

from __future__ import annotations

import copy
import math

from .prepared import setting_or_dataset
from .targets import target_rule

SETTINGS_FILE = "settings.json"
"""The resolved-settings record of a training run's folder."""

EVAL_OVERRIDES = "eval_overrides"
"""The ``metrics.json`` key of the ``eval`` settings an evaluation used in place of its run's (:func:`eval_overrides`)."""
ORACLE_SCORING = ("centroid_mode", "match_radius")
"""The ``eval`` settings (resolved, :func:`resolve_eval`) that decide an oracle's score: the oracle
records them in its ``metrics.json``, and the aggregation takes only an oracle of the study's."""

FROM_DATASET = ("data.mask_radius", "eval.match_radius", "eval.mean_f1_max_radius", "eval.tile_size")
"""The settings whose null means "take it from the dataset (or its rule)", in the order they resolve."""


def resolve_eval(cfg: dict, meta: dict) -> dict:
    """The ``eval`` section of ``cfg`` with its dataset-derived values filled in (a new dict).

    ``match_radius``: the setting, else the dataset's, as a float; ``mean_f1_max_radius``: the
    setting, else ``max(1, floor(match_radius))``; ``tile_size``: the setting, else
    ``train.crop_size``.

    Raises:
        ValueError: no match radius in ``eval.match_radius`` nor in the dataset's meta.

    Example:
        >>> cfg = {"train": {"crop_size": 96}, "eval": {"match_radius": None, "mean_f1_max_radius": None, "tile_size": None}}
        >>> resolve_eval(cfg, {"match_radius": 8.0})
        {'match_radius': 8.0, 'mean_f1_max_radius': 8, 'tile_size': 96}
    """
    e = dict(cfg["eval"])
    radius = float(setting_or_dataset(e["match_radius"], meta, "match_radius", "eval.match_radius"))
    e["match_radius"] = radius
    if e["mean_f1_max_radius"] is None:
        e["mean_f1_max_radius"] = max(1, math.floor(radius))
    if e["tile_size"] is None:
        e["tile_size"] = cfg["train"]["crop_size"]
    return e


def eval_overrides(run_eval: dict, used_eval: dict) -> dict:
    """The settings of ``used_eval`` that ``run_eval`` does not hold with the same value, in ``used_eval``'s order.

    Args:
        run_eval: the ``eval`` section the run trained and validated with (its checkpoint's settings).
        used_eval: the ``eval`` section an evaluation of the run loaded; both as loaded, before
            :func:`resolve_eval`.

    Example:
        >>> eval_overrides({"threshold": 0.5, "batch_size": 8}, {"threshold": 0.4, "batch_size": 8, "amp": "none"})
        {'threshold': 0.4, 'amp': 'none'}
    """
    return {key: value for key, value in used_eval.items() if key not in run_eval or run_eval[key] != value}


def resolve_settings(cfg: dict, meta: dict) -> dict:
    """``cfg`` (a run's loaded settings) with every value of :data:`FROM_DATASET` filled in, as a deep copy.

    Args:
        cfg: loaded settings (:func:`experiments.core.settings.load_params`).
        meta: the dataset's ``meta.json`` (:func:`experiments.core.prepared.read_meta`).

    Raises:
        ValueError: no match radius in ``eval.match_radius`` nor in the dataset's meta.
    """
    out = copy.deepcopy(cfg)
    out["data"]["mask_radius"] = target_rule(cfg, meta)["radius"]
    out["eval"] = resolve_eval(cfg, meta)
    return out


def settings_record(cfg: dict, meta: dict, dataset: str) -> dict:
    """What :data:`SETTINGS_FILE` holds: the dataset, the keys it filled in, and the resolved settings.

    Example:
        >>> cfg = {"data": {"mask_radius": None, "mask_gap": True}, "train": {"crop_size": 96},
        ...        "eval": {"match_radius": None, "mean_f1_max_radius": 4, "tile_size": None}}
        >>> record = settings_record(cfg, {"mask_radius": 3, "match_radius": 5.0}, "synthetic")
        >>> record["from_dataset"], record["settings"]["data"], record["settings"]["eval"]
        (['data.mask_radius', 'eval.match_radius', 'eval.tile_size'], {'mask_radius': 3, 'mask_gap': True}, \
{'match_radius': 5.0, 'mean_f1_max_radius': 4, 'tile_size': 96})
    """
    filled = [key for key in FROM_DATASET if cfg[key.split(".")[0]][key.split(".")[1]] is None]
    return {"dataset": dataset, "from_dataset": filled, "settings": resolve_settings(cfg, meta)}
