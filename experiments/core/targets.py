"""The training target rule of a run: which disk target (:mod:`tghem.targets`) its settings and
dataset ask for."""

from __future__ import annotations

from .prepared import DEFAULT_MASK_RADIUS, setting_or_dataset


def target_rule(cfg: dict, meta: dict) -> dict:
    """The training target of a run: ``{"radius": ..., "gap": ...}`` from its settings and dataset.

    ``data.mask_radius`` when set, else the dataset's (``meta.json``'s ``mask_radius``, by
    :func:`experiments.core.prepared.setting_or_dataset`); ``data.mask_gap`` as set. The one place
    this rule is written: training builds its masks with it and the oracle scores the same target.

    Example:
        >>> target_rule({"data": {"mask_radius": None, "mask_gap": True}}, {"mask_radius": 5})
        {'radius': 5, 'gap': True}
    """
    data = cfg["data"]
    radius = setting_or_dataset(data["mask_radius"], meta, "mask_radius", "data.mask_radius",
                                default=DEFAULT_MASK_RADIUS)
    return {"radius": radius, "gap": bool(data.get("mask_gap", False))}
