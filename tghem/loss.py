"""TG-HEM: per-crop OHEM segmentation loss weighted by a topological discrepancy."""
from __future__ import annotations

from typing import Optional

import torch

from tghem._validation import check_choice, check_real
from tghem.parallel import Workers
from tghem.topology import BACKENDS, CENTROID_MODES, TOPO_REDUCTIONS, TopoGuide
from tghem.weighting import FLOAT32_MAX, CropWeightedLoss, PendingSignal, binarize_prediction

__all__ = ["TGHEM", "tghem_loss", "check_weight_bound", "binarize_prediction"]


def check_weight_bound(lambda_pers: float, epsilon: float) -> None:
    r"""Refuse a ``lambda_pers`` whose weights overflow float32 on ordinary crops.

    Rule: :math:`\lambda\,\epsilon/\sqrt{2} < 3.4\cdot 10^{38}` (float32's largest value). A
    diagram point :math:`(b, d)` with :math:`0 \le b \le d \le \epsilon` lies at most
    :math:`\epsilon/\sqrt{2}` from the diagonal, so one unmatched bar adds up to
    :math:`\epsilon/\sqrt{2}` to :math:`D` (a missed isolated cell adds exactly that with
    ``top_dimension=True``); beyond the bound a single such bar makes :math:`w = 1 + \lambda D`
    infinite. In general :math:`D \le (|PD(P)| + |PD(G)|)\,\epsilon/\sqrt{2}`, which depends on the
    crop, so a call whose weighted loss still overflows is refused then, with the bound for that
    batch.

    Raises:
        ValueError: the product reaches float32's largest value (the message gives the bound).
    """
    if lambda_pers * epsilon / 2 ** 0.5 >= FLOAT32_MAX:
        raise ValueError(
            f"lambda_pers * topo_epsilon / sqrt(2) must be < {FLOAT32_MAX:.3g} (float32's largest value; one "
            f"unmatched diagram bar adds up to topo_epsilon / sqrt(2) to D), got lambda_pers={lambda_pers:g}, "
            f"topo_epsilon={epsilon:g}: use lambda_pers < {FLOAT32_MAX * 2 ** 0.5 / epsilon:.3g}")


class TGHEM(CropWeightedLoss):
    r"""Topology-Guided Hard Example Mining loss.

    For each crop :math:`b` of the batch, with :math:`\mathcal{L}_b` its OHEM
    segmentation loss (:class:`~tghem.SegmentationLoss`, threshold mode, selection
    per crop) and :math:`D_b` the topological discrepancy (:class:`~tghem.TopoGuide`)
    between its ground-truth dots and the centroids of its prediction binarised at
    :math:`\sigma(\text{logit}) \ge 0.5`:

    .. math::
        w_b = 1 + \lambda\, D_b \quad(\text{no gradient}), \qquad
        \mathcal{L} = \frac{1}{B} \sum_b w_b\, \mathcal{L}_b

    so crops whose predicted points have the wrong topology (merged, missing or
    spurious cells) weigh more. ``lambda_pers=0`` gives exactly
    ``SegmentationLoss(thresh=ohem_thresh, min_kept=ohem_min_kept, reduction='none')(...).mean()``.

    After every call, ``last_weights`` and ``last_discrepancy`` hold the (B,) weights
    and discrepancies of that batch (detached, on the logits' device) for logging.

    Setting the attribute ``weighting = False`` makes every weight 1 (the pixel term
    alone) while :math:`D_b` is still computed and recorded: the warm-up of the authors'
    training harness, which trains on the pixel loss for the first epochs and applies the
    topological weights after them (``weighting = True``, the default).

    Args:
        lambda_pers: weight :math:`\lambda \ge 0` of the discrepancy.
        ohem_thresh: OHEM confidence threshold in (0, 1).
        ohem_min_kept: OHEM pixels kept per crop, >= 1 (about that many: see
            :class:`~tghem.SegmentationLoss`).
        topo_epsilon: Rips filtration scale :math:`\epsilon > 0`, in pixels.
        topo_reduction: ``'sum'`` (H0 + H1, reference), ``'mean'`` or ``'H1'``.
        centroid_mode: ``'contour'`` (reference) or ``'component'``; see
            :func:`~tghem.topology.component_centroids`.
        ignore_index: target value of pixels to leave out (e.g. crop padding), or
            ``None``. Such pixels are also left out of the binarised prediction.
        dice_weight: weight of the Dice term of the segmentation loss.
        bce_weight: weight of the hard-pixel BCE term.
        reduction: ``'mean'`` (the formula above), ``'sum'`` (without the
            :math:`1/B`) or ``'none'`` (the (B,) weighted per-crop losses).
        topo_backend: TopoGuide backend: ``'fast'`` (default, exact), ``'ripser'``
            (giotto-ph) or ``'gudhi'`` (the paper's reference path); all give the
            same :math:`D`.
        topo_workers: processes for the per-crop topology, ``'auto'`` (default),
            ``0``/``1`` (in process) or an int; see :class:`~tghem.TopoGuide`.
        top_dimension: ``False`` (default): the reference code's persistence diagrams
            (gudhi's defaults: a crop whose points have no pair within ``epsilon``
            has empty diagrams); ``True``: the diagrams of the definition. See
            :class:`~tghem.TopoGuide`.
        topo_guide: a configured :class:`~tghem.TopoGuide` to use instead of the
            one built from ``topo_epsilon``, ``topo_reduction``, ``centroid_mode``,
            ``topo_backend``, ``topo_workers`` and ``top_dimension`` (which are then ignored).

    Shape:
        - pred_logits: (B, 1, H, W), floating raw logits.
        - gt_mask: (B, H, W), dilated-dot mask, values in {0, 1} or ``ignore_index``.
        - gt_dots: (B, H, W), non-zero at ground-truth points.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from tghem import TGHEM
        >>> torch.manual_seed(0) and None
        >>> logits = torch.randn(2, 1, 32, 32, requires_grad=True)
        >>> mask = torch.zeros(2, 32, 32); mask[:, 8:13, 8:13] = 1
        >>> dots = torch.zeros(2, 32, 32); dots[:, 10, 10] = 1
        >>> criterion = TGHEM(lambda_pers=0.5, ohem_min_kept=100)
        >>> loss = criterion(logits, mask, dots)
        >>> loss.backward()
        >>> criterion.last_weights.shape, bool((criterion.last_weights >= 1).all())
        (torch.Size([2]), True)
    """

    signal_name = "D"

    def __init__(
        self,
        lambda_pers: float = 0.5,
        ohem_thresh: float = 0.7,
        ohem_min_kept: int = 15000,
        topo_epsilon: float = 50.0,
        topo_reduction: str = "sum",
        centroid_mode: str = "contour",
        ignore_index: Optional[int] = None,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        reduction: str = "mean",
        topo_backend: str = "fast",
        topo_workers: Workers = "auto",
        top_dimension: bool = False,
        topo_guide: Optional[TopoGuide] = None,
    ) -> None:
        super().__init__(lambda_pers, ohem_thresh, ohem_min_kept, ignore_index, dice_weight, bce_weight, reduction,
                         strength_name="lambda_pers")
        if topo_guide is None:
            # Checked here too so that errors name TGHEM's own arguments.
            topo_epsilon = check_real("topo_epsilon", topo_epsilon, low=0.0, low_inclusive=False)
            check_choice("topo_reduction", topo_reduction, TOPO_REDUCTIONS)
            check_choice("centroid_mode", centroid_mode, CENTROID_MODES)
            check_choice("topo_backend", topo_backend, BACKENDS)
            topo_guide = TopoGuide(epsilon=topo_epsilon, reduction=topo_reduction, centroid_mode=centroid_mode,
                                   backend=topo_backend, top_dimension=top_dimension, workers=topo_workers)
        elif not isinstance(topo_guide, TopoGuide):
            raise TypeError(f"topo_guide must be a TopoGuide or None, got {type(topo_guide).__name__}")
        self.topo = topo_guide
        check_weight_bound(self.lambda_pers, self.topo.epsilon)

    @property
    def lambda_pers(self) -> float:
        r""":math:`\lambda`, the weight of the discrepancy."""
        return self.strength

    def crop_signal(self, pred_binary: torch.Tensor, gt_dots: torch.Tensor) -> PendingSignal:
        """:math:`D_b` of every crop, started in :attr:`topo`'s worker processes (:meth:`TopoGuide.submit`)."""
        return self.topo.submit(gt_dots, pred_binary)

    def extra_repr(self) -> str:
        return f"lambda_pers={self.lambda_pers}, reduction={self.reduction!r}, topo={self.topo!r}"


def tghem_loss(
    pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor, **kwargs
) -> torch.Tensor:
    """Functional form of :class:`TGHEM`; keyword arguments as its constructor's.

    Example:
        >>> import numpy as np
        >>> from tghem import dilated_mask, dot_map
        >>> points = np.array([[8.0, 8.0], [24.0, 24.0]])  # two cells, 16 * sqrt(2) px apart
        >>> mask = torch.from_numpy(dilated_mask(points, (32, 32), radius=2))[None]
        >>> dots = torch.from_numpy(dot_map(points, (32, 32)))[None]
        >>> found = (mask * 16 - 8)[:, None]  # logits +8 on both disks, -8 elsewhere: D = 0, w = 1
        >>> missed = found.clone(); missed[..., 20:29, 20:29] = -8  # the second cell missed
        >>> [round(tghem_loss(x, mask, dots, lambda_pers=0.5, ohem_min_kept=100).item(), 2) for x in (found, missed)]
        [0.0, 111.12]

        The miss costs D = (16 sqrt(2) + 50) / sqrt(2) = 51.36 (the ground truth's two H0 bars, 22.6 and
        the epsilon 50, against the lone predicted point's empty diagram), so its pixel loss is weighted
        by w = 1 + 0.5 D = 26.68.
    """
    return TGHEM(**kwargs)(pred_logits, gt_mask, gt_dots)
