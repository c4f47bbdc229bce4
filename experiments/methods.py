"""Method registry: the one place mapping a method name to its training loss.

=============  ============================================================================
``tghem``      :class:`tghem.TGHEM`, per-crop OHEM Dice + BCE weighted by ``1 + lambda * D_k``
``ohem``       :class:`tghem.SegmentationLoss` in threshold mode, batch-level selection (the
               reference OHEM: TG-HEM's pixel term without topology)
``focal``      :class:`baselines.FocalLoss`
``cldice``     :class:`baselines.SoftDiceCLDiceLoss`
``dice_bce``   :class:`baselines.DiceBCELoss` (Dice + BCE over all pixels, no mining)
=============  ============================================================================

Each is built from the settings section of the same name (``tghem.*``, ``ohem.*``...) and wrapped
in a :class:`MethodLoss`, called ``(logits, gt_mask, gt_dots)`` like every loss of the project,
which also records the logging statistics of its last call.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from baselines import DiceBCELoss, FocalLoss, SoftDiceCLDiceLoss
from tghem import TGHEM, SegmentationLoss, TopoGuide

from .crops import IGNORE_INDEX


def _tghem(p: dict) -> nn.Module:
    # reduction='none' returns the weighted per-crop losses w_k * L_k; MethodLoss averages them
    # (exactly the 'mean' reduction) and divides by w_k to log the unweighted pixel term.
    guide_kwargs = dict(epsilon=p["topo_epsilon"], reduction=p["topo_reduction"], centroid_mode=p["centroid_mode"])
    if p["topo_backend"] is not None:
        guide_kwargs["backend"] = p["topo_backend"]
    if p["topo_workers"] is not None:  # results never depend on it, only the speed
        guide_kwargs["workers"] = p["topo_workers"]
    # The guide is built here, without a backend unless one is configured, so that the run gets
    # TopoGuide's own default backend.
    return TGHEM(
        lambda_pers=p["lambda_pers"],
        ohem_thresh=p["ohem_thresh"],
        ohem_min_kept=p["ohem_min_kept"],
        ignore_index=IGNORE_INDEX,
        dice_weight=p["dice_weight"],
        bce_weight=p["bce_weight"],
        reduction="none",
        topo_guide=TopoGuide(**guide_kwargs),
    )


def _ohem(p: dict) -> nn.Module:
    return SegmentationLoss(
        thresh=p["thresh"],
        min_kept=p["min_kept"],
        ignore_index=IGNORE_INDEX,
        dice_weight=p["dice_weight"],
        bce_weight=p["bce_weight"],
        reduction="mean",
    )


def _focal(p: dict) -> nn.Module:
    return FocalLoss(alpha=p["alpha"], gamma=p["gamma"], ignore_index=IGNORE_INDEX)


def _cldice(p: dict) -> nn.Module:
    return SoftDiceCLDiceLoss(alpha=p["alpha"], iterations=p["iterations"], smooth=p["smooth"], ignore_index=IGNORE_INDEX)


def _dice_bce(p: dict) -> nn.Module:
    return DiceBCELoss(dice_weight=p["dice_weight"], bce_weight=p["bce_weight"], ignore_index=IGNORE_INDEX)


METHODS: dict[str, Callable[[dict], nn.Module]] = {
    "tghem": _tghem,
    "ohem": _ohem,
    "focal": _focal,
    "cldice": _cldice,
    "dice_bce": _dice_bce,
}
"""Method name -> builder taking the method's settings section."""


class MethodLoss(nn.Module):
    """A method's loss, called ``(logits, gt_mask, gt_dots)`` -> scalar, with logging statistics.

    After each call :attr:`last_stats` holds floats ``loss``, ``seg_loss`` (the pixel term
    without topological weights), ``weight_mean``, ``weight_max`` and ``discrepancy_mean``
    (NaN for methods without a topological term, whose weights are all 1).

    Args:
        name: registry name.
        criterion: the underlying loss module (for ``tghem``, a :class:`tghem.TGHEM` with
            ``reduction='none'``, whose ``last_weights`` and ``last_discrepancy`` are read).
    """

    def __init__(self, name: str, criterion: nn.Module) -> None:
        super().__init__()
        self.name = name
        self.criterion = criterion
        self.last_stats: dict[str, float] = {}

    def forward(self, logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor) -> torch.Tensor:
        # Losses run in float32 whatever the autocast dtype of the network.
        out = self.criterion(logits.float(), gt_mask, gt_dots)
        if isinstance(self.criterion, TGHEM):
            weights = self.criterion.last_weights
            loss = out.mean()
            with torch.no_grad():
                self.last_stats = {
                    "loss": loss.item(),
                    "seg_loss": (out.detach() / weights).mean().item(),
                    "weight_mean": weights.mean().item(),
                    "weight_max": weights.max().item(),
                    "discrepancy_mean": self.criterion.last_discrepancy.mean().item(),
                }
            return loss
        value = out.item()
        self.last_stats = {"loss": value, "seg_loss": value, "weight_mean": 1.0, "weight_max": 1.0, "discrepancy_mean": math.nan}
        return out

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def build_method(name: str, params: dict) -> MethodLoss:
    """The loss of method ``name`` configured from ``params[name]``.

    Args:
        name: one of :data:`METHODS`.
        params: run settings (:func:`experiments.config.load_params`), or just
            ``{name: section}``.

    Raises:
        ValueError: unknown method (the message lists the known ones) or no settings section.
    """
    if name not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {name!r}")
    if name not in params:
        raise ValueError(f"params: expected a {name!r} section for method {name!r}, got sections {sorted(params)}")
    return MethodLoss(name, METHODS[name](params[name]))
