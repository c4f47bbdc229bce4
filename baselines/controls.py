"""Controls for TG-HEM: its reweighting without the topology, to tell the two effects apart.

Both keep TG-HEM's pixel term (per-crop OHEM Dice + BCE) and change only where the crop
weights come from:

- :class:`ShuffledTGHEM`: TG-HEM's own weights ``1 + lambda * D_k``, handed to the crops of the
  batch in a random permutation. The weight distribution is TG-HEM's, the link between a crop
  and its own topology is gone.
- :class:`CountWeightedOHEM`: ``w_k = 1 + lambda_count * |n_pred,k - n_gt,k|``, the error of the
  component count alone (no arrangement, no persistence).

If TG-HEM beats both, its gain needs the topology of each crop; if it only matches them, the
gain is the reweighting as such (or the count).
"""
from __future__ import annotations

from typing import Optional

import torch

from tghem._validation import check_choice
from tghem.loss import TGHEM
from tghem.topology import CENTROID_MODES, component_centroids, dot_points
from tghem.weighting import CropWeightedLoss, ReadySignal


def crop_counts(pred_binary: torch.Tensor, gt_dots: torch.Tensor, centroid_mode: str = "contour") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-crop ``(n_pred, n_gt)``, two (B,) int64 tensors on the CPU.

    ``n_pred`` is the number of points TG-HEM sees in the prediction
    (:func:`tghem.component_centroids` with ``centroid_mode``), ``n_gt`` the number of distinct
    dot pixels (:func:`tghem.dot_points`).

    Args:
        pred_binary: (B, H, W) binary prediction (bool, or 0 and 1).
        gt_dots: (B, H, W) dot map, non-zero at the points (finite, non-negative).
        centroid_mode: ``'contour'`` (the reference's points) or ``'component'``.

    Raises:
        TypeError: an argument is not a tensor.
        ValueError: the shapes differ or are not (B, H, W), ``pred_binary`` is not binary, or
            ``gt_dots`` has a negative or non-finite value.

    Example:
        >>> import torch
        >>> pred = torch.zeros(1, 16, 16, dtype=torch.bool); pred[0, 2:5, 2:5] = True
        >>> dots = torch.zeros(1, 16, 16); dots[0, 3, 3] = 1; dots[0, 10, 10] = 1
        >>> [t.tolist() for t in crop_counts(pred, dots)]
        [[1], [2]]
    """
    check_choice("centroid_mode", centroid_mode, CENTROID_MODES)
    for name, value in (("pred_binary", pred_binary), ("gt_dots", gt_dots)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (B, H, W), got {type(value).__name__}")
    if pred_binary.ndim != 3 or pred_binary.shape != gt_dots.shape:
        raise ValueError(
            f"pred_binary and gt_dots must both have shape (B, H, W), got {tuple(pred_binary.shape)} and {tuple(gt_dots.shape)}"
        )
    # a bool prediction (training's) is binary by its dtype: only other dtypes are looked at
    other = None if pred_binary.dtype == torch.bool else pred_binary[(pred_binary != 0) & (pred_binary != 1)]
    if other is not None and other.numel():
        raise ValueError(f"pred_binary must be binary (bool, or 0 and 1), got {other.numel()} other value(s), "
                         f"e.g. {other.flatten()[0].item()!r}")
    if not bool(torch.isfinite(gt_dots).all()) or bool((gt_dots < 0).any()):
        raise ValueError(f"gt_dots must be finite and non-negative (non-zero pixels are points), got minimum "
                         f"{gt_dots.min().item()!r}")
    pred = pred_binary.detach().cpu().numpy()
    dots = gt_dots.detach().cpu().numpy()
    n_pred = [len(component_centroids(pred[b], centroid_mode)) for b in range(len(pred))]
    n_gt = [len(dot_points(dots[b])) for b in range(len(dots))]
    return torch.tensor(n_pred, dtype=torch.int64), torch.tensor(n_gt, dtype=torch.int64)


def count_errors(pred_binary: torch.Tensor, gt_dots: torch.Tensor, centroid_mode: str = "contour") -> torch.Tensor:
    """Per-crop count error ``|n_pred - n_gt|`` (see :func:`crop_counts`), a (B,) float64 CPU tensor.

    Example:
        >>> import torch
        >>> pred = torch.zeros(1, 16, 16, dtype=torch.bool); pred[0, 2:5, 2:5] = True
        >>> dots = torch.zeros(1, 16, 16); dots[0, 3, 3] = 1; dots[0, 10, 10] = 1
        >>> count_errors(pred, dots).tolist()
        [1.0]
    """
    n_pred, n_gt = crop_counts(pred_binary, gt_dots, centroid_mode)
    return (n_pred - n_gt).abs().to(torch.float64)


class ShuffledTGHEM(TGHEM):
    r"""TG-HEM whose crop weights are permuted at random within the batch (a control).

    With :math:`w = 1 + \lambda D` TG-HEM's weights of the batch's crops and :math:`\pi` a
    uniformly random permutation of :math:`\{1..B\}` drawn at every call:

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_b w_{\pi(b)}\, \mathcal{L}_b

    Same weights, same pixel term, no link between a crop's weight and its own topology.
    ``last_discrepancy`` holds each crop's own :math:`D_b`, ``last_weights`` the weights it
    received.

    Args:
        generator: the :class:`torch.Generator` of the permutations; ``None`` (default): torch's
            global generator, which training seeds and its checkpoints save and restore, so a
            seed fixes the permutations and a resumed run draws the same ones.
        **kwargs: as :class:`tghem.TGHEM`.

    Shape:
        As :class:`tghem.TGHEM`.

    Example:
        >>> import torch
        >>> from baselines import ShuffledTGHEM
        >>> torch.manual_seed(0) and None
        >>> logits = torch.randn(4, 1, 32, 32)
        >>> mask = torch.zeros(4, 32, 32); mask[:, 8:13, 8:13] = 1
        >>> dots = torch.zeros(4, 32, 32); dots[:, 10, 10] = 1; dots[:2, 20, 20] = 1
        >>> loss = ShuffledTGHEM(lambda_pers=0.01, ohem_min_kept=100)
        >>> value = loss(logits, mask, dots)
        >>> w = loss.last_weights; d = loss.last_discrepancy
        >>> torch.equal(w.sort().values, (1 + 0.01 * d).sort().values)
        True
    """

    def __init__(self, *, generator: Optional[torch.Generator] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def crop_weights(self, signal: torch.Tensor) -> torch.Tensor:
        """TG-HEM's weights of the batch (:meth:`tghem.weighting.CropWeightedLoss.crop_weights`), permuted."""
        weights = super().crop_weights(signal)
        permutation = torch.randperm(len(weights), generator=self.generator)
        return weights[permutation.to(weights.device)]


def shuffled_tghem_loss(pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor, *,
                        generator: Optional[torch.Generator] = None, **kwargs) -> torch.Tensor:
    """Functional form of :class:`ShuffledTGHEM`; keyword arguments as its constructor's.

    Example:
        >>> import numpy as np
        >>> from tghem import dilated_mask, dot_map
        >>> points = np.array([[8.0, 8.0], [24.0, 24.0]])  # two cells
        >>> mask = torch.from_numpy(dilated_mask(points, (32, 32), radius=2))[None]
        >>> dots = torch.from_numpy(dot_map(points, (32, 32)))[None]
        >>> found = (mask * 16 - 8)[:, None]  # logits +8 on both disks, -8 elsewhere
        >>> missed = found.clone(); missed[..., 20:29, 20:29] = -8  # the second cell missed
        >>> x, m, d = torch.cat([found, missed]), mask.expand(2, -1, -1), dots.expand(2, -1, -1)
        >>> from tghem import tghem_loss
        >>> round(tghem_loss(x, m, d, lambda_pers=0.5, ohem_min_kept=100).item(), 2)  # w = 1 and 26.68
        55.56
        >>> swap = torch.Generator().manual_seed(1)  # its first permutation swaps the two crops' weights
        >>> round(shuffled_tghem_loss(x, m, d, generator=swap, lambda_pers=0.5, ohem_min_kept=100).item(), 2)
        2.13
    """
    return ShuffledTGHEM(generator=generator, **kwargs)(pred_logits, gt_mask, gt_dots)


class CountWeightedOHEM(CropWeightedLoss):
    r"""Per-crop OHEM weighted by the crop's component-count error (a control for TG-HEM).

    .. math::
        w_b = 1 + \lambda_c\, |n^{pred}_b - n^{gt}_b| \quad(\text{no gradient}), \qquad
        \mathcal{L} = \frac{1}{B} \sum_b w_b\, \mathcal{L}_b

    with :math:`\mathcal{L}_b` TG-HEM's pixel term (:class:`tghem.SegmentationLoss`, threshold
    mode, selection per crop), :math:`n^{pred}_b` the number of predicted points (centroids
    of the prediction binarised at :math:`\sigma \ge 0.5`, as TG-HEM takes them) and
    :math:`n^{gt}_b` the number of ground-truth dots. It sees how many cells a crop misses or
    invents, not where they are. ``lambda_count=0`` is TG-HEM at ``lambda_pers=0``.

    After every call ``last_weights`` and ``last_discrepancy`` hold the (B,) weights and count
    errors (detached, on the logits' device). ``weighting = False`` makes every weight 1 (a
    warm-up on the pixel term alone), as :class:`tghem.TGHEM`'s attribute of the same name.

    Args:
        lambda_count: :math:`\lambda_c \ge 0`, the weight of one miscounted cell.
        ohem_thresh, ohem_min_kept, dice_weight, bce_weight, ignore_index: the pixel term, as
            :class:`tghem.TGHEM`'s.
        centroid_mode: ``'contour'`` (reference) or ``'component'``; see
            :func:`tghem.component_centroids`.
        reduction: ``'mean'``, ``'sum'`` or ``'none'`` (the (B,) weighted per-crop losses).

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W); gt_dots: (B, H, W), required.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from baselines import CountWeightedOHEM
        >>> logits = torch.full((1, 1, 16, 16), -4.0); logits[0, 0, 2:5, 2:5] = 4.0
        >>> mask = torch.zeros(1, 16, 16); mask[0, 2:5, 2:5] = 1; mask[0, 9:12, 9:12] = 1
        >>> dots = torch.zeros(1, 16, 16); dots[0, 3, 3] = 1; dots[0, 10, 10] = 1
        >>> loss = CountWeightedOHEM(lambda_count=0.5, ohem_min_kept=10)
        >>> value = loss(logits, mask, dots)
        >>> loss.last_discrepancy.tolist(), loss.last_weights.tolist()
        ([1.0], [1.5])
    """

    signal_name = "count error"

    def __init__(
        self,
        lambda_count: float = 1.0,
        ohem_thresh: float = 0.7,
        ohem_min_kept: int = 15000,
        centroid_mode: str = "contour",
        ignore_index: Optional[int] = None,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        reduction: str = "mean",
    ) -> None:
        super().__init__(lambda_count, ohem_thresh, ohem_min_kept, ignore_index, dice_weight, bce_weight, reduction,
                         strength_name="lambda_count")
        self.centroid_mode = check_choice("centroid_mode", centroid_mode, CENTROID_MODES)

    @property
    def lambda_count(self) -> float:
        r""":math:`\lambda_c`, the weight of one miscounted cell."""
        return self.strength

    def crop_signal(self, pred_binary: torch.Tensor, gt_dots: torch.Tensor) -> ReadySignal:
        """The count error :math:`|n^{pred}_b - n^{gt}_b|` of every crop (:func:`count_errors`)."""
        return ReadySignal(count_errors(pred_binary, gt_dots, self.centroid_mode).numpy())

    def extra_repr(self) -> str:
        return f"lambda_count={self.lambda_count}, centroid_mode={self.centroid_mode!r}, reduction={self.reduction!r}"


def count_weighted_ohem_loss(pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor, **kwargs) -> torch.Tensor:
    """Functional form of :class:`CountWeightedOHEM`; keyword arguments as its constructor's.

    Example:
        >>> import numpy as np
        >>> from tghem import dilated_mask, dot_map
        >>> points = np.array([[8.0, 8.0], [24.0, 24.0]])  # two cells
        >>> mask = torch.from_numpy(dilated_mask(points, (32, 32), radius=2))[None]
        >>> dots = torch.from_numpy(dot_map(points, (32, 32)))[None]
        >>> found = (mask * 16 - 8)[:, None]  # logits +8 on both disks, -8 elsewhere
        >>> missed = found.clone(); missed[..., 20:29, 20:29] = -8  # the second cell missed
        >>> [round(count_weighted_ohem_loss(x, mask, dots, lambda_count=0.5, ohem_min_kept=100).item(), 2)
        ...  for x in (found, missed)]  # w = 1 + 0.5 * |1 - 2| = 1.5 times the pixel loss of the miss
        [0.0, 6.25]
    """
    return CountWeightedOHEM(**kwargs)(pred_logits, gt_mask, gt_dots)
