"""Soft Dice + clDice (Shit et al., CVPR 2021) on one sigmoid channel."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tghem._validation import _describe, check_int, check_real
from tghem.base import PixelLoss
from tghem.dice import dice_per_image


MAX_ITERATIONS = 1000
"""The most skeletonisation steps: each is a full pass over the maps (the studies take 10)."""


def soft_erode(image: torch.Tensor) -> torch.Tensor:
    """Soft erosion of (B, C, H, W) maps: the min of a 3x1 and a 1x3 min-pool."""
    vertical = -F.max_pool2d(-image, kernel_size=(3, 1), stride=1, padding=(1, 0))
    horizontal = -F.max_pool2d(-image, kernel_size=(1, 3), stride=1, padding=(0, 1))
    return torch.minimum(vertical, horizontal)


def soft_dilate(image: torch.Tensor) -> torch.Tensor:
    """Soft dilation of (B, C, H, W) maps: a 3x3 max-pool."""
    return F.max_pool2d(image, kernel_size=3, stride=1, padding=1)


def soft_skeleton(image: torch.Tensor, iterations: int = 10) -> torch.Tensor:
    r"""Differentiable skeleton of (B, C, H, W) maps in [0, 1].

    Iterated morphological thinning: at each step the part of the current erosion
    that an opening (erode, then dilate) removes is added to the skeleton where it
    is not there yet, :math:`S \leftarrow S + \text{relu}(\delta - S\,\delta)`.

    Example:
        >>> square = torch.zeros(1, 1, 5, 5); square[..., 1:4, 1:4] = 1
        >>> soft_skeleton(square, iterations=1)[0, 0]  # a 3 x 3 square thins to its centre
        tensor([[0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0.],
                [0., 0., 1., 0., 0.],
                [0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0.]])
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError(f"image must be a floating torch.Tensor of shape (B, C, H, W), got {_describe(image)}")
    if image.dim() != 4 or image.numel() == 0:
        raise ValueError(f"image must have shape (B, C, H, W) with B, C, H, W > 0, got shape {tuple(image.shape)}")
    if not bool(((image >= 0) & (image <= 1)).all()):  # NaN fails too
        raise ValueError(f"image must hold values in [0, 1] (probabilities), got {int((~((image >= 0) & (image <= 1))).sum())} "
                         f"other value(s)")
    return _soft_skeleton(image, check_int("iterations", iterations, low=0, high=MAX_ITERATIONS))


def _soft_skeleton(image: torch.Tensor, iterations: int) -> torch.Tensor:
    """:func:`soft_skeleton` on arguments already checked (the loss checks its inputs once)."""
    skeleton = F.relu(image - soft_dilate(soft_erode(image)))
    for _ in range(iterations):
        image = soft_erode(image)
        delta = F.relu(image - soft_dilate(soft_erode(image)))
        skeleton = skeleton + F.relu(delta - skeleton * delta)
    return skeleton


def soft_dice_cldice_loss(
    pred_logits: torch.Tensor,
    gt_mask: torch.Tensor,
    gt_dots: Optional[torch.Tensor] = None,
    *,
    alpha: float = 0.5,
    iterations: int = 10,
    smooth: float = 1.0,
    ignore_index: Optional[int] = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Functional form of :class:`SoftDiceCLDiceLoss` (same arguments, same result).

    Example:
        >>> from tghem import binary_dice_loss
        >>> gt = torch.zeros(1, 9, 15); gt[0, 3:6, 1:14] = 1  # a bar, 3 px thick
        >>> cut = gt.clone(); cut[0, :, 7] = 0  # predicted cut in two
        >>> logits = (cut * 16 - 8)[:, None]
        >>> torch.allclose(soft_dice_cldice_loss(logits, gt, alpha=0.0), binary_dice_loss(logits, gt))  # soft Dice alone
        True
        >>> [round(soft_dice_cldice_loss(logits, gt, alpha=a).item(), 3) for a in (0.0, 1.0)]  # soft Dice, clDice
        [0.04, 0.044]
    """
    criterion = SoftDiceCLDiceLoss(
        alpha=alpha, iterations=iterations, smooth=smooth, ignore_index=ignore_index, reduction=reduction
    )
    return criterion(pred_logits, gt_mask, gt_dots)


class SoftDiceCLDiceLoss(PixelLoss):
    r"""``(1 - alpha) * soft Dice + alpha * clDice`` on the sigmoid of one channel.

    With :math:`P = \sigma(\text{logits})`, :math:`G` the mask, :math:`S_P, S_G`
    their soft skeletons (:func:`soft_skeleton`) and smoothing :math:`s`, per image:

    .. math::
        T_\text{prec} = \frac{\sum S_P G + s}{\sum S_P + s},\quad
        T_\text{sens} = \frac{\sum S_G P + s}{\sum S_G + s},\quad
        \text{clDice} = 1 - \frac{2\,T_\text{prec}\,T_\text{sens}}{T_\text{prec} + T_\text{sens}}

    The soft Dice term is :class:`~tghem.BinaryDiceLoss`'s. Unlike versions that
    slice off channel 0 (the background of a softmax output), the single logit
    channel here is the foreground, so the loss is never a constant.

    The published implementation pools its sums over the whole batch; here every
    image is its own term (as the Dice of this project) and ``reduction`` combines
    them, which is the same for B = 1.

    Args:
        alpha: weight of clDice in [0, 1].
        iterations: skeletonisation steps, in [1, 1000] (:data:`MAX_ITERATIONS`).
        smooth: smoothing, in [1e-12, 1e12] (:data:`tghem.base.SMOOTH_RANGE`).
        ignore_index: target value of pixels to leave out (zeroed in P and G).
        reduction: ``'none'`` ((B,) per image), ``'mean'`` or ``'sum'``.

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W) in {0, 1} or ``ignore_index``;
          gt_dots: not used, may be ``None``; checked like the others' when given.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from baselines import SoftDiceCLDiceLoss
        >>> mask = torch.zeros(1, 9, 9); mask[0, 2:7, 2:7] = 1
        >>> perfect = (mask * 40 - 20).unsqueeze(1)       # logits: +20 inside, -20 outside
        >>> round(SoftDiceCLDiceLoss()(perfect, mask).item(), 6)
        0.0
        >>> bool(SoftDiceCLDiceLoss()(-perfect, mask) > 0.5)
        True
    """

    def __init__(
        self,
        alpha: float = 0.5,
        iterations: int = 10,
        smooth: float = 1.0,
        ignore_index: Optional[int] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(ignore_index, reduction)
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0)
        self.iterations = check_int("iterations", iterations, low=1, high=MAX_ITERATIONS)
        self.smooth = self.check_smooth(smooth)

    def forward(
        self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        pred_logits = self.check(pred_logits, gt_mask, gt_dots)
        valid, target = self.valid_target(gt_mask, pred_logits.dtype)
        valid, target = valid.unsqueeze(1), target.unsqueeze(1)
        prob = torch.sigmoid(pred_logits) * valid
        skel_pred = _soft_skeleton(prob, self.iterations)
        skel_true = _soft_skeleton(target, self.iterations)
        s = self.smooth
        t_prec = ((skel_pred * target).flatten(1).sum(1) + s) / (skel_pred.flatten(1).sum(1) + s)
        t_sens = ((skel_true * prob).flatten(1).sum(1) + s) / (skel_true.flatten(1).sum(1) + s)
        cldice = 1.0 - 2.0 * t_prec * t_sens / (t_prec + t_sens)
        dice = dice_per_image(pred_logits, gt_mask, smooth=s, ignore_index=self.ignore_index)
        return self.reduce((1.0 - self.alpha) * dice + self.alpha * cldice)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, iterations={self.iterations}, smooth={self.smooth}, reduction={self.reduction!r}"
