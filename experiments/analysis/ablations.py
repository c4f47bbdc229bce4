"""Each ablation beside the main runs: the setting the main runs use, and their scores.

An ablation sweeps one TG-HEM setting (:data:`~experiments.analysis.study.ABLATIONS`) and keeps
every other as the main runs have it. Its table and figure only read against the main runs'
value: a sweep of ``mask_gap: [false]`` says little without the ``true`` the study trains on. So
the aggregation records, under ``metrics.json``'s ``ablation_reference``, the main TG-HEM runs of
the ablation's dataset on the ablation's seeds (the same configuration, trained once) and the
value each swept setting has there; :func:`ablation_points` gives a table or figure the swept
values with that reference added where the sweep does not already contain it.

The value of a setting is the resolved one (the file's, with the dataset's ``per_dataset``
entry). A target setting left to the dataset (``data.mask_radius: null``: the radius of the
prepared dataset) is read from what the oracle stage built (:data:`TARGET_FIELDS`).
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from .study import ABLATIONS, Study, format_value

TARGET_FIELDS = {"data.mask_radius": "radius", "data.mask_gap": "gap"}
"""The target settings whose resolved value ``oracle.csv`` records, and its column for each."""


def ablation_order(values) -> list[str]:
    """Swept values (as ``metrics.json`` keys them) in ascending order, ``false`` before ``true``.

    Example:
        >>> ablation_order(["0.5", "0", "0.03"]), ablation_order(["true", "false"])
        (['0', '0.03', '0.5'], ['false', 'true'])
    """
    return sorted(values, key=lambda v: float(v == "true") if v in ("true", "false") else float(v))


def same_value(a: str, b: str) -> bool:
    """Whether two value texts name the same setting (``3`` and ``3.0`` do; ``true`` and ``1`` do not)."""
    if a in ("true", "false") or b in ("true", "false"):
        return a == b
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def main_setting_values(settings: Mapping[str, dict], study: Study, oracle: pd.DataFrame | None = None) -> dict[str, str]:
    """``{ablation name: value text}``: what each swept setting is in the main runs of the ablation dataset.

    Args:
        settings: the run settings resolved for the ablation dataset
            (:func:`experiments.core.settings.resolve`).
        study: the study (its swept ablations and ablation dataset).
        oracle: ``oracle.csv``'s rows; a target setting that is null in ``settings`` takes the
            value the oracle recorded for the study's target of that dataset. Without it (or
            without that row) such a setting is left out.

    Example:
        >>> from types import SimpleNamespace
        >>> study = SimpleNamespace(ablation={"warmup": (0,), "mask_radius": (3,)}, ablation_dataset="a")
        >>> oracle = pd.DataFrame([{"dataset": "a", "target": "study", "split": "test", "radius": "1", "gap": True}])
        >>> main_setting_values({"tghem": {"warmup": 0.25}, "data": {"mask_radius": None}}, study, oracle)
        {'warmup': '0.25', 'mask_radius': '1'}
    """
    out = {}
    for name in study.ablation:
        setting = ABLATIONS[name]
        section, key = setting.split(".", 1)
        value = settings.get(section, {}).get(key)
        if value is None and setting in TARGET_FIELDS and oracle is not None and len(oracle):
            rows = oracle[(oracle["dataset"] == study.ablation_dataset) & (oracle["target"] == "study")]
            value = rows[TARGET_FIELDS[setting]].iloc[0] if len(rows) else None
        if value is None:
            continue
        value = value.item() if hasattr(value, "item") else value  # a numpy scalar read back from oracle.csv
        out[name] = value if isinstance(value, str) else format_value(value)
    return out


def ablation_points(metrics: dict, name: str) -> tuple[list[str], dict[str, dict], str | None, bool]:
    """The rows of one ablation's table and figure, the main runs' value among them.

    Returns:
        ``(values, by_value, main_value, added)``: the values in :func:`ablation_order`; their
        ``{metric: {mean, std, n}}``; the main runs' value as keyed in ``by_value`` (None when
        ``metrics`` records none, or when the sweep lacks it and no main runs score it);
        ``added``: whether that row is the main runs' (the sweep does not contain the value)
        rather than the ablation's own runs.

    Example:
        >>> m = {"ablation": {"mask_gap": {"false": {"f1": 0.9}}},
        ...      "ablation_reference": {"values": {"mask_gap": "true"}, "scores": {"f1": 0.95}}}
        >>> ablation_points(m, "mask_gap")
        (['false', 'true'], {'false': {'f1': 0.9}, 'true': {'f1': 0.95}}, 'true', True)
        >>> m["ablation"]["mask_gap"]["true"] = {"f1": 0.96}
        >>> ablation_points(m, "mask_gap")[2:]
        ('true', False)
    """
    by_value: dict[str, Any] = dict(metrics["ablation"][name])
    reference = metrics.get("ablation_reference") or {}
    main_value = reference.get("values", {}).get(name)
    added = False
    if main_value is not None:
        swept = next((v for v in by_value if same_value(v, main_value)), None)
        if swept is None and "scores" in reference:
            by_value[main_value] = reference["scores"]
            added = True
        elif swept is None:
            main_value = None
        else:
            main_value = swept
    return ablation_order(by_value), by_value, main_value, added
