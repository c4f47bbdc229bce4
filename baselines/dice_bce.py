"""Dice + plain BCE over every valid pixel: the segmentation loss without hard mining."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tghem.base import PixelLoss
from tghem.dice import dice_per_image


def dice_bce_loss(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    gt_dots: Optional[torch.Tensor] = None,
    *,
    dice_weight: float = 0.5,
    bce_weight: float = 0.5,
    smooth: float = 1.0,
    ignore_index: Optional[int] = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Functional form of :class:`DiceBCELoss` (same arguments, same result).

    Example:
        >>> logits, gt = torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2)  # p = 0.5 on four foreground pixels
        >>> round(dice_bce_loss(logits, gt).item(), 4)  # 0.5 * 2/7 (Dice) + 0.5 * ln 2 (BCE)
        0.4894
    """
    return DiceBCELoss(dice_weight, bce_weight, smooth, ignore_index, reduction)(pred_logits, gt_mask, gt_dots)


class DiceBCELoss(PixelLoss):
    r"""``dice_weight * Dice + bce_weight * BCE``, the BCE averaged over all valid pixels.

    The no-mining control for :class:`~tghem.SegmentationLoss`: the same two terms,
    every pixel counted. Per image (``'none'``, shape (B,)), then averaged
    (``'mean'``) or summed (``'sum'``). So its ``'mean'`` averages each image's BCE, where
    ``SegmentationLoss(reduction='mean')`` pools the BCE over the batch's pixels: the two agree
    when every image has as many valid pixels, and differ on crops with padding.

    Args:
        dice_weight: weight of the Dice term, >= 0.
        bce_weight: weight of the BCE term, >= 0 (not both weights 0).
        smooth: Dice smoothing, in [1e-12, 1e12] (:data:`tghem.base.SMOOTH_RANGE`).
        ignore_index: target value of pixels to leave out, or ``None``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W); gt_dots: not used, may be ``None``;
          checked like the others' when given.
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
        super().__init__(ignore_index, reduction)
        self.dice_weight, self.bce_weight = self.check_weights(dice_weight, bce_weight)
        self.smooth = self.check_smooth(smooth)

    def forward(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        pred_logits = self.check(pred_logits, gt_mask, gt_dots)
        logits = pred_logits[:, 0]
        valid, target = self.valid_target(gt_mask, logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * valid
        bce = bce.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
        dice = dice_per_image(pred_logits, gt_mask, smooth=self.smooth, ignore_index=self.ignore_index)
        return self.reduce(self.dice_weight * dice + self.bce_weight * bce)

    def extra_repr(self) -> str:
        return f"dice_weight={self.dice_weight}, bce_weight={self.bce_weight}, reduction={self.reduction!r}"
