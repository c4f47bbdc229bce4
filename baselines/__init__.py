"""Comparison losses for the TG-HEM benchmark, all called as ``loss(pred_logits, gt_mask, gt_dots=None)``.

- :class:`FocalLoss`: sigmoid focal loss.
- :class:`SoftDiceCLDiceLoss`: soft Dice + clDice (topology-preserving skeleton loss).
- :class:`DiceBCELoss`: Dice + BCE over all pixels (no hard mining).
- OHEM: :class:`tghem.SegmentationLoss` itself, re-exported here as :data:`OHEMLoss`.
"""
from baselines.cldice import SoftDiceCLDiceLoss, soft_dice_cldice_loss, soft_skeleton
from baselines.dice_bce import DiceBCELoss
from baselines.focal import FocalLoss, focal_loss
from tghem.ohem import SegmentationLoss as OHEMLoss

__all__ = [
    "FocalLoss",
    "SoftDiceCLDiceLoss",
    "DiceBCELoss",
    "OHEMLoss",
    "focal_loss",
    "soft_dice_cldice_loss",
    "soft_skeleton",
]
