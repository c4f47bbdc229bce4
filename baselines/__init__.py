"""Comparison losses for the TG-HEM benchmark, all called as ``loss(pred_logits, gt_mask, gt_dots)``
(``gt_dots`` may be ``None`` for those that do not use it; the two controls need it).

- :class:`FocalLoss`: sigmoid focal loss.
- :class:`SoftDiceCLDiceLoss`: soft Dice + clDice (topology-preserving skeleton loss).
- :class:`DiceBCELoss`: Dice + BCE over all pixels (no hard mining).
- OHEM: :class:`tghem.SegmentationLoss` itself, re-exported here as :data:`OHEMLoss`.
- Controls for TG-HEM (:mod:`baselines.controls`): :class:`ShuffledTGHEM` (TG-HEM's weights,
  permuted within the batch) and :class:`CountWeightedOHEM` (weights from the count error).
"""
from baselines.cldice import SoftDiceCLDiceLoss, soft_dice_cldice_loss, soft_skeleton
from baselines.controls import (
    CountWeightedOHEM,
    ShuffledTGHEM,
    count_errors,
    count_weighted_ohem_loss,
    crop_counts,
    shuffled_tghem_loss,
)
from baselines.dice_bce import DiceBCELoss, dice_bce_loss
from baselines.focal import FocalLoss, focal_loss
from tghem.ohem import SegmentationLoss as OHEMLoss

__all__ = [
    "FocalLoss",
    "SoftDiceCLDiceLoss",
    "DiceBCELoss",
    "OHEMLoss",
    "ShuffledTGHEM",
    "CountWeightedOHEM",
    "count_errors",
    "crop_counts",
    "count_weighted_ohem_loss",
    "shuffled_tghem_loss",
    "dice_bce_loss",
    "focal_loss",
    "soft_dice_cldice_loss",
    "soft_skeleton",
]
