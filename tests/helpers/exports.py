"""What the two loss packages export, for the tests that hold the docs and the functional forms to it."""

from __future__ import annotations

import importlib
import inspect

import baselines
import tghem
from tghem.base import PixelLoss

PACKAGES = (tghem, baselines)


def resolve(path: str):
    """The object a dotted path names, e.g. ``"baselines.FocalLoss"``."""
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def exported(kind) -> dict[str, object]:
    """``{"package.name": object}`` of what ``tghem`` and ``baselines`` export (``__all__``) and ``kind`` accepts."""
    return {f"{p.__name__}.{n}": getattr(p, n) for p in PACKAGES for n in p.__all__ if kind(getattr(p, n))}


def exported_losses() -> set[str]:
    """The dotted names of every loss class the two packages export (:class:`tghem.base.PixelLoss`'s)."""
    return set(exported(lambda o: inspect.isclass(o) and issubclass(o, PixelLoss)))
