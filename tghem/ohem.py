"""Dice + BCE over online hard example mined (OHEM) pixels: the pixel term of TG-HEM."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from tghem._validation import check_bool, check_ignore_index, check_inputs, check_int, check_real, equals_label
from tghem.base import PixelLoss, valid_pixels
from tghem.dice import dice_per_image


def _hard_in_group(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    *,
    thresh: Optional[float],
    min_kept: int,
) -> torch.Tensor:
    """Hard-pixel mask of one selection group (flattened 1-D tensors)."""
    hard = torch.zeros_like(valid)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return hard
    if thresh is None:
        # Top-k mode: the min_kept pixels of largest BCE.
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        bce = torch.where(valid, bce, torch.full_like(bce, -float("inf")))
        index = torch.topk(bce, min(min_kept, n_valid), sorted=False).indices
        hard[index] = True
        return hard
    # Threshold mode: confidence in the true class; every pixel under `thresh` is hard,
    # and the threshold rises to the (k+1)-th smallest confidence so that about
    # min_kept pixels are always kept.
    prob = torch.sigmoid(logits)
    confidence = torch.where(target > 0.5, prob, 1.0 - prob)[valid]
    k = min(min_kept, n_valid - 1)
    kth_smallest = torch.kthvalue(confidence, k + 1).values
    threshold = torch.clamp(kth_smallest, min=thresh)
    hard[valid] = confidence < threshold
    return hard


@torch.no_grad()
def select_hard_pixels(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    *,
    thresh: Optional[float] = None,
    min_kept: int = 100000,
    ignore_index: Optional[int] = None,
    per_image: bool = True,
) -> torch.Tensor:
    """Boolean (B, H, W) mask of the OHEM-hard pixels, chosen without gradient.

    Threshold mode (``thresh`` given): confidence is ``p`` on foreground and ``1 - p``
    on background; with the valid confidences sorted ascending and
    ``k = min(min_kept, n_valid - 1)``, a pixel is hard when its confidence is below
    ``max(sorted[k], thresh)``. Top-k mode (``thresh=None``): the ``min_kept`` pixels
    of largest BCE (all valid ones if fewer). Pixels equal to ``ignore_index`` are
    never chosen. With ``per_image=False`` the whole batch is one group and
    ``min_kept * B`` pixels are kept.

    Example:
        >>> logits = torch.tensor([[[[5.0, 0.0], [0.0, -5.0]]]])  # p = 0.99, 0.5 / 0.5, 0.01
        >>> gt = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
        >>> select_hard_pixels(logits, gt, thresh=0.7, min_kept=1)  # confidence 0.5 < 0.7: hard
        tensor([[[False,  True],
                 [ True, False]]])
    """
    ignore_index = check_ignore_index(ignore_index)
    pred_logits = check_inputs(pred_logits, gt_mask, None, ignore_index=ignore_index, require_dots=False)
    thresh = _check_thresh(thresh)
    min_kept = check_int("min_kept", min_kept, low=1)
    per_image = check_bool("per_image", per_image)
    return _select_hard_pixels(pred_logits, gt_mask, thresh, min_kept, ignore_index, per_image)


def _check_thresh(thresh) -> Optional[float]:
    if thresh is None:
        return None
    return check_real("thresh", thresh, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


@torch.no_grad()
def _select_hard_pixels(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    thresh: Optional[float],
    min_kept: int,
    ignore_index: Optional[int],
    per_image: bool,
) -> torch.Tensor:
    """:func:`select_hard_pixels` on arguments already checked (the loss checks them once)."""
    logits = pred_logits[:, 0].detach()
    valid = valid_pixels(gt_mask, ignore_index)
    target = torch.where(valid, gt_mask, torch.zeros_like(gt_mask)).to(logits.dtype)
    if per_image:
        hard = torch.stack(
            [
                _hard_in_group(logits[b].flatten(), target[b].flatten(), valid[b].flatten(), thresh=thresh, min_kept=min_kept)
                for b in range(logits.shape[0])
            ]
        )
    else:
        hard = _hard_in_group(
            logits.flatten(), target.flatten(), valid.flatten(), thresh=thresh, min_kept=min_kept * logits.shape[0]
        )
    return hard.view_as(valid)


def _check_hard_mask(hard_mask, gt_mask: torch.Tensor, ignore_index: Optional[int]) -> None:
    if not isinstance(hard_mask, torch.Tensor) or hard_mask.dtype != torch.bool:
        actual = f"dtype {hard_mask.dtype}" if isinstance(hard_mask, torch.Tensor) else type(hard_mask).__name__
        raise TypeError(f"hard_mask must be a bool torch.Tensor, got {actual}")
    if hard_mask.shape != gt_mask.shape or hard_mask.device != gt_mask.device:
        raise ValueError(
            f"hard_mask must have shape {tuple(gt_mask.shape)} on {gt_mask.device}, "
            f"got {tuple(hard_mask.shape)} on {hard_mask.device}"
        )
    if ignore_index is not None and bool((hard_mask & equals_label(gt_mask, ignore_index)).any()):
        raise ValueError("hard_mask must not select pixels whose gt_mask equals ignore_index")


def segmentation_loss(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    gt_dots: Optional[torch.Tensor] = None,
    *,
    thresh: Optional[float] = None,
    min_kept: int = 100000,
    ignore_index: Optional[int] = None,
    dice_weight: float = 0.5,
    bce_weight: float = 0.5,
    smooth: float = 1.0,
    reduction: str = "mean",
    hard_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Functional form of :class:`SegmentationLoss`.

    ``hard_mask`` (bool, (B, H, W)), when given, replaces the OHEM selection, which
    makes the loss a smooth function of the logits (used for gradient checks).

    Example:
        >>> logits = torch.tensor([[[[5.0, 0.0], [0.0, -5.0]]]])  # the two p = 0.5 pixels are hard
        >>> gt = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
        >>> p = torch.sigmoid(logits)[0, 0]
        >>> dice = 1 - (2 * (p * gt[0]).sum() + 1) / (p.sum() + gt[0].sum() + 1)  # over every pixel
        >>> loss = segmentation_loss(logits, gt, thresh=0.7, min_kept=1)
        >>> torch.allclose(loss, 0.5 * dice + 0.5 * torch.log(torch.tensor(2.0)))  # BCE of the hard ones: ln 2
        True
    """
    criterion = SegmentationLoss(thresh, min_kept, ignore_index, dice_weight, bce_weight, reduction, smooth)
    return criterion(pred_logits, gt_mask, gt_dots, hard_mask=hard_mask)


class SegmentationLoss(PixelLoss):
    r"""Dice over all pixels plus BCE averaged over OHEM-hard pixels only.

    .. math::
        \mathcal{L}_\text{seg} = w_\text{Dice}\,\mathcal{L}_\text{Dice}
            + w_\text{BCE}\,\frac{1}{|\mathcal{H}|}\sum_{i \in \mathcal{H}} \text{BCE}(p_i, g_i)

    The hard set :math:`\mathcal{H}` is chosen without gradient
    (:func:`select_hard_pixels`):

    - threshold mode (``thresh`` given): with confidence :math:`c_i = p_i` where
      :math:`g_i = 1` and :math:`1 - p_i` elsewhere, sorted ascending over the valid
      pixels, :math:`k = \min(\text{min\_kept}, n_\text{valid} - 1)` and
      :math:`\mathcal{H} = \{i : c_i < \max(c_{(k)}, \text{thresh})\}`: every pixel
      under ``thresh`` is hard, and the threshold rises until about ``min_kept``
      pixels are kept;
    - top-k mode (``thresh=None``): the ``min_kept`` pixels of largest BCE.

    With ``reduction='none'`` each image is its own selection group and the result
    is (B,): that image's Dice and mean BCE over its hard pixels (0 where none).
    With ``'mean'`` and ``'sum'`` the batch is one group keeping ``min_kept * B``;
    ``'mean'`` is :math:`w_\text{Dice}` times the mean Dice plus :math:`w_\text{BCE}`
    times the mean BCE over all hard pixels of the batch, ``'sum'`` the sum over
    images of the per-image values.

    As a stand-alone OHEM baseline the benchmark uses ``reduction='mean'``: the
    batch-level selection of the reference OHEM. TG-HEM uses ``'none'`` because it
    weights each crop separately.

    Args:
        thresh: confidence threshold in (0, 1), or ``None`` for top-k mode.
        min_kept: per image, the number of hard pixels the threshold rises to keep
            (threshold mode: about ``min_kept``, fewer where confidences tie at the k-th
            value, as they do at 1.0 for saturated logits) or kept exactly (top-k mode).
        ignore_index: target value of pixels to leave out, or ``None``.
        dice_weight: weight of the Dice term, >= 0.
        bce_weight: weight of the hard-pixel BCE term, >= 0 (not both weights 0).
        smooth: Dice smoothing, in [1e-12, 1e12] (:data:`tghem.base.SMOOTH_RANGE`).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Shape:
        - pred_logits: (B, 1, H, W), floating.
        - gt_mask: (B, H, W), values in {0, 1} or ``ignore_index``.
        - gt_dots: not used by the loss; accepted so every loss has the same call, and
          checked like the others' when given.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from tghem import SegmentationLoss
        >>> logits = torch.tensor([[[[0.0, 2.0, -2.0, 0.0]]]])
        >>> mask = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> # top-k mode, k = 2: the two pixels with p = 0.5 (BCE = log 2) are hard.
        >>> loss = SegmentationLoss(min_kept=2, dice_weight=0.0, bce_weight=1.0)
        >>> round(loss(logits, mask).item(), 6)
        0.693147
    """

    def __init__(
        self,
        thresh: Optional[float] = None,
        min_kept: int = 100000,
        ignore_index: Optional[int] = None,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        reduction: str = "mean",
        smooth: float = 1.0,
    ) -> None:
        super().__init__(ignore_index, reduction)
        self.thresh = _check_thresh(thresh)
        self.min_kept = check_int("min_kept", min_kept, low=1)
        self.dice_weight, self.bce_weight = self.check_weights(dice_weight, bce_weight)
        self.smooth = self.check_smooth(smooth)

    def forward(
        self,
        pred_logits: torch.Tensor,
        gt_mask: torch.Tensor,
        gt_dots: Optional[torch.Tensor] = None,
        *,
        hard_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        pred_logits = self.check(pred_logits, gt_mask, gt_dots)
        if hard_mask is not None:
            _check_hard_mask(hard_mask, gt_mask, self.ignore_index)
        return self.compute(pred_logits, gt_mask, hard_mask)

    def compute(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, hard_mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The loss on inputs already validated (as :class:`~tghem.TGHEM` does once for both terms)."""
        if hard_mask is None:
            hard_mask = _select_hard_pixels(
                pred_logits, gt_mask, self.thresh, self.min_kept, self.ignore_index, self.reduction == "none"
            )
        dice = dice_per_image(pred_logits, gt_mask, smooth=self.smooth, ignore_index=self.ignore_index)
        logits = pred_logits[:, 0]
        target = torch.where(hard_mask, gt_mask, torch.zeros_like(gt_mask)).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * hard_mask
        if self.reduction == "mean":
            n_hard = hard_mask.sum()
            mean_bce = bce.sum() / n_hard.clamp(min=1)
            return self.dice_weight * dice.mean() + self.bce_weight * mean_bce
        per_image_bce = bce.flatten(1).sum(1) / hard_mask.flatten(1).sum(1).clamp(min=1)
        per_image = self.dice_weight * dice + self.bce_weight * per_image_bce
        return per_image if self.reduction == "none" else per_image.sum()

    def extra_repr(self) -> str:
        return (
            f"thresh={self.thresh}, min_kept={self.min_kept}, ignore_index={self.ignore_index}, "
            f"dice_weight={self.dice_weight}, bce_weight={self.bce_weight}, reduction={self.reduction!r}"
        )
