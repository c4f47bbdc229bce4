"""Dice + plain BCE over every valid pixel: the segmentation loss without hard mining."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tghem._validation import REDUCTIONS, check_choice, check_inputs, check_optional_int, check_real
from tghem.dice import dice_per_image, reduce_per_image, valid_pixels


class DiceBCELoss(nn.Module):
    r"""``dice_weight * Dice + bce_weight * BCE``, the BCE averaged over all valid pixels.

    The no-mining control for :class:`~tghem.SegmentationLoss`: the same two terms,
    every pixel counted. Per image (``'none'``, shape (B,)), then averaged
    (``'mean'``) or summed (``'sum'``).

    Args:
        dice_weight: weight of the Dice term, >= 0.
        bce_weight: weight of the BCE term, >= 0.
        smooth: Dice smoothing, > 0.
        ignore_index: target value of pixels to leave out, or ``None``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W); gt_dots: unused.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from baselines import DiceBCELoss
        >>> logits = torch.zeros(1, 1, 1, 2); mask = torch.tensor([[[1.0, 0.0]]])
        >>> # 0.5 * (1 - (2 * 0.5 + 1) / 3) + 0.5 * log 2
        >>> round(DiceBCELoss()(logits, mask).item(), 6)
        0.51324
    """

    def __init__(
        self,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        smooth: float = 1.0,
        ignore_index: Optional[int] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.dice_weight = check_real("dice_weight", dice_weight, low=0.0)
        self.bce_weight = check_real("bce_weight", bce_weight, low=0.0)
        self.smooth = check_real("smooth", smooth, low=0.0, low_inclusive=False)
        self.ignore_index = check_optional_int("ignore_index", ignore_index)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        pred_logits = check_inputs(pred_logits, gt_mask, gt_dots, ignore_index=self.ignore_index, require_dots=False)
        valid = valid_pixels(gt_mask, self.ignore_index)
        logits = pred_logits[:, 0]
        target = torch.where(valid, gt_mask, torch.zeros_like(gt_mask)).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * valid
        bce = bce.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
        dice = dice_per_image(pred_logits, gt_mask, smooth=self.smooth, ignore_index=self.ignore_index)
        return reduce_per_image(self.dice_weight * dice + self.bce_weight * bce, self.reduction)

    def extra_repr(self) -> str:
        return f"dice_weight={self.dice_weight}, bce_weight={self.bce_weight}, reduction={self.reduction!r}"
