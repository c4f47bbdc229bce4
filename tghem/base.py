"""The base of every loss in :mod:`tghem` and :mod:`baselines`: one call, one set of checks.

Every loss is called ``loss(pred_logits (B,1,H,W), gt_mask (B,H,W), gt_dots (B,H,W))``, takes
``ignore_index`` and ``reduction`` in its constructor, and, except where its docstring says otherwise
(:class:`~baselines.FocalLoss` averages over the batch's pixels, :class:`~tghem.SegmentationLoss`
selects over the batch for ``'mean'`` and ``'sum'``), reduces per-image values the same way.
:class:`PixelLoss` holds those rules once: the constructor checks (errors name the argument,
the expected and the actual value), the input checks of the call, the valid-pixel target and
the reduction.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from tghem._validation import REDUCTIONS, check_choice, check_ignore_index, check_inputs, check_real, equals_label


SMOOTH_RANGE = (1e-12, 1e12)
"""The Dice smoothing a loss accepts: float32 holds it and the Dice ratio stays finite."""


def valid_pixels(gt_mask: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """Boolean (B, H, W) map of the pixels that take part in the loss."""
    if ignore_index is None:
        return torch.ones_like(gt_mask, dtype=torch.bool)
    return equals_label(gt_mask, ignore_index, invert=True)


def reduce_per_image(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a (B,) vector of per-image losses as ``reduction`` says."""
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    return values.mean()


class PixelLoss(nn.Module):
    """Base class of the losses: checked ``ignore_index`` and ``reduction``, checked inputs.

    Args:
        ignore_index: target value of pixels to leave out (e.g. crop padding), or ``None``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Subclasses call :meth:`check` on their inputs (which also upcasts half-precision logits to
    float32) and :meth:`reduce` on per-image values.
    """

    requires_dots = False
    """Whether ``gt_dots`` must be given (the topological losses need the points)."""

    def __init__(self, ignore_index: Optional[int] = None, reduction: str = "mean") -> None:
        super().__init__()
        self.ignore_index = check_ignore_index(ignore_index)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    @staticmethod
    def check_smooth(smooth: float) -> float:
        """``smooth`` checked to be in :data:`SMOOTH_RANGE` (outside it, float32 makes it 0 or inf and
        the Dice ratio NaN)."""
        return check_real("smooth", smooth, low=SMOOTH_RANGE[0], high=SMOOTH_RANGE[1])

    @staticmethod
    def check_weights(dice_weight: float, bce_weight: float) -> tuple[float, float]:
        """The two term weights of a Dice + BCE loss, each checked to be a finite number >= 0, not both 0
        (a loss that is 0 whatever the prediction)."""
        weights = check_real("dice_weight", dice_weight, low=0.0), check_real("bce_weight", bce_weight, low=0.0)
        if weights == (0.0, 0.0):
            raise ValueError("dice_weight and bce_weight must not both be 0 (the loss would be 0 whatever the "
                             "prediction), got 0 and 0")
        return weights

    def check(self, pred_logits, gt_mask, gt_dots) -> torch.Tensor:
        """Validate one call; returns the logits (float32 where they were half precision)."""
        return check_inputs(pred_logits, gt_mask, gt_dots, ignore_index=self.ignore_index, require_dots=self.requires_dots)

    def valid_target(self, gt_mask: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(valid, target)``: the pixels that count, and the mask with ignored pixels set to 0."""
        valid = valid_pixels(gt_mask, self.ignore_index)
        return valid, torch.where(valid, gt_mask, torch.zeros_like(gt_mask)).to(dtype)

    def reduce(self, per_image: torch.Tensor) -> torch.Tensor:
        """Per-image values (B,) reduced by :attr:`reduction`."""
        return reduce_per_image(per_image, self.reduction)
