"""Soft binary Dice loss on raw logits, computed per image."""
from __future__ import annotations

from typing import Optional

import torch

from tghem.base import PixelLoss, valid_pixels


def dice_per_image(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    *,
    smooth: float = 1.0,
    ignore_index: Optional[int] = None,
) -> torch.Tensor:
    """Per-image soft Dice loss, shape (B,); inputs are assumed valid."""
    prob = torch.sigmoid(pred_logits[:, 0])
    valid = valid_pixels(gt_mask, ignore_index)
    prob = prob * valid
    target = torch.where(valid, gt_mask, torch.zeros_like(gt_mask)).to(prob.dtype)
    intersection = (prob * target).flatten(1).sum(1)
    denominator = prob.flatten(1).sum(1) + target.flatten(1).sum(1)
    return 1.0 - (2.0 * intersection + smooth) / (denominator + smooth)


def binary_dice_loss(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    gt_dots: Optional[torch.Tensor] = None,
    *,
    smooth: float = 1.0,
    ignore_index: Optional[int] = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Functional form of :class:`BinaryDiceLoss` (same arguments, same result).

    Example:
        >>> logits, gt = torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2)  # p = 0.5 on four foreground pixels
        >>> round(binary_dice_loss(logits, gt).item(), 4)  # 1 - (2 * 2 + 1) / (2 + 4 + 1) = 2/7
        0.2857
    """
    return BinaryDiceLoss(smooth=smooth, ignore_index=ignore_index, reduction=reduction)(pred_logits, gt_mask, gt_dots)


class BinaryDiceLoss(PixelLoss):
    r"""Soft Dice loss of one foreground class, computed per image.

    With :math:`p = \sigma(\text{logits})` and target :math:`g`, for each image
    over all of its pixels

    .. math::
        \mathcal{L}_\text{Dice} = 1 - \frac{2 \sum p\,g + s}{\sum p + \sum g + s}

    where :math:`s` is ``smooth``. Pixels whose target equals ``ignore_index``
    are zeroed in both :math:`p` and :math:`g`, so they add nothing.

    Args:
        smooth: additive smoothing :math:`s` in [1e-12, 1e12] (:data:`tghem.base.SMOOTH_RANGE`); it also makes an empty
            prediction on an empty target a loss of 0 instead of 0/0.
        ignore_index: target value marking pixels to leave out (e.g. crop
            padding), or ``None``.
        reduction: ``'none'`` (per-image losses), ``'mean'`` or ``'sum'`` over
            the batch.

    Shape:
        - pred_logits: (B, 1, H, W), floating.
        - gt_mask: (B, H, W), values in {0, 1} or ``ignore_index``.
        - gt_dots: not used by the loss; accepted so every loss has the same call, and
          checked like the others' when given.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from tghem import BinaryDiceLoss
        >>> logits = torch.tensor([[[[0.0, 0.0]]]])      # p = 0.5, 0.5
        >>> mask = torch.tensor([[[1.0, 0.0]]])
        >>> # 1 - (2 * 0.5 + 1) / (1.0 + 1 + 1) = 1/3
        >>> round(BinaryDiceLoss()(logits, mask).item(), 6)
        0.333333
    """

    def __init__(self, smooth: float = 1.0, ignore_index: Optional[int] = None, reduction: str = "mean") -> None:
        super().__init__(ignore_index, reduction)
        self.smooth = self.check_smooth(smooth)

    def forward(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        pred_logits = self.check(pred_logits, gt_mask, gt_dots)
        return self.reduce(dice_per_image(pred_logits, gt_mask, smooth=self.smooth, ignore_index=self.ignore_index))

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"
