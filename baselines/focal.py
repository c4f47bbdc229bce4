"""Sigmoid focal loss (Lin et al., ICCV 2017) with the common loss call."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tghem._validation import check_real
from tghem.base import PixelLoss


def focal_loss(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    gt_dots: Optional[torch.Tensor] = None,
    *,
    alpha: Optional[float] = 0.25,
    gamma: float = 2.0,
    ignore_index: Optional[int] = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Functional form of :class:`FocalLoss` (same arguments, same result).

    Example:
        >>> logits, gt = torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2)  # p = 0.5 on four foreground pixels
        >>> round(focal_loss(logits, gt).item(), 4)  # alpha (1 - p)^gamma ln(1 / p) = 0.25 * 0.25 * ln 2
        0.0433
    """
    return FocalLoss(alpha=alpha, gamma=gamma, ignore_index=ignore_index, reduction=reduction)(pred_logits, gt_mask, gt_dots)


class FocalLoss(PixelLoss):
    r"""Sigmoid focal loss: BCE down-weighted on well-classified pixels.

    With :math:`p = \sigma(\text{logit})`, :math:`p_t = p` where the target is 1 and
    :math:`1 - p` elsewhere, and :math:`\alpha_t = \alpha` on foreground,
    :math:`1 - \alpha` on background:

    .. math::
        \text{FL} = \alpha_t\,(1 - p_t)^\gamma\,\text{BCE}(p, g)

    averaged over the valid pixels (``'mean'``), summed (``'sum'``), or averaged per
    image (``'none'``, shape (B,)).

    Args:
        alpha: foreground weight in [0, 1], or ``None`` for no class weighting.
        gamma: focusing exponent, >= 0 (0 gives alpha-weighted BCE).
        ignore_index: target value of pixels to leave out, or ``None``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W) in {0, 1} or ``ignore_index``;
          gt_dots: not used, may be ``None``; checked like the others' when given.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from baselines import FocalLoss
        >>> logits = torch.zeros(1, 1, 1, 2)                # p = 0.5 everywhere
        >>> mask = torch.tensor([[[1.0, 0.0]]])
        >>> # mean of 0.25 * 0.25 * log 2 and 0.75 * 0.25 * log 2 = 0.125 * log 2
        >>> round(FocalLoss()(logits, mask).item(), 6)
        0.086643
    """

    def __init__(
        self,
        alpha: Optional[float] = 0.25,
        gamma: float = 2.0,
        reduction: str = "mean",
        ignore_index: Optional[int] = None,
    ) -> None:
        super().__init__(ignore_index, reduction)
        self.alpha = None if alpha is None else check_real("alpha", alpha, low=0.0, high=1.0)
        self.gamma = check_real("gamma", gamma, low=0.0)

    def forward(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        logits = self.check(pred_logits, gt_mask, gt_dots)[:, 0]
        valid, target = self.valid_target(gt_mask, logits.dtype)
        prob = torch.sigmoid(logits)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = prob * target + (1 - prob) * (1 - target)
        miss = 1 - p_t
        if 0 < self.gamma < 1:
            # (1 - p_t)^gamma has an infinite slope at 0 (a saturated, correct pixel), which made the
            # gradient NaN; the loss's true slope there is 0, as through the clamp.
            miss = miss.clamp_min(torch.finfo(miss.dtype).tiny)
        loss = bce * miss ** self.gamma
        if self.alpha is not None:
            loss = loss * (self.alpha * target + (1 - self.alpha) * (1 - target))
        loss = loss * valid
        if self.reduction == "sum":
            return loss.sum()
        if self.reduction == "mean":
            return loss.sum() / valid.sum().clamp(min=1)
        return loss.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}, ignore_index={self.ignore_index}"
