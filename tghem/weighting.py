r"""Crop-weighted losses: the per-crop OHEM pixel term, each crop weighted by a signal of its own.

:class:`CropWeightedLoss` holds the one rule that TG-HEM and its controls share:

.. math::
    w_b = 1 + \lambda\, s_b \quad(\text{no gradient}), \qquad
    \mathcal{L} = \frac{1}{B} \sum_b w_b\, \mathcal{L}_b

with :math:`\mathcal{L}_b` the OHEM Dice + BCE of crop :math:`b` (:class:`~tghem.SegmentationLoss`,
threshold mode, selection per crop) and :math:`s_b \ge 0` a per-crop signal taken from the
crop's dots and its prediction binarised at :math:`\sigma(\text{logit}) \ge 0.5`. A subclass
says what the signal is by overriding :meth:`CropWeightedLoss.crop_signal`: TG-HEM's
topological discrepancy :math:`D_b` (:class:`tghem.TGHEM`), the component-count error
(``baselines.CountWeightedOHEM``). Everything else (the pixel term, the warm-up switch, the
records of the last call, the overflow check, the reduction) is here once.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable, Optional, Protocol, TypeVar

import numpy as np
import torch

from tghem._validation import check_int, check_real, equals_label
from tghem.base import PixelLoss
from tghem.ohem import SegmentationLoss

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
_F = TypeVar("_F", bound=Callable)


def _kept_out_of_compiled_graphs(fn: _F) -> _F:
    """``torch.compiler.disable(fn)``, made at the first call that needs it.

    Decorating with ``torch.compiler.disable`` imports ``torch._dynamo``, which adds about 1.5 s to
    every process that imports the library (each stage of a study). Only a process that compiles
    needs it, and ``torch.compile`` imports it before it traces anything: so while it is not
    imported, ``fn`` runs as it is.
    """
    disabled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal disabled
        if disabled is None:
            if "torch._dynamo" not in sys.modules:
                return fn(*args, **kwargs)
            disabled = torch.compiler.disable(fn)
        return disabled(*args, **kwargs)

    return call  # type: ignore[return-value]


def binarize_prediction(pred_logits: torch.Tensor, gt_mask: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """The (B, H, W) binary prediction the crop signals read: ``sigmoid(logit) >= 0.5``,
    without the pixels whose target is ``ignore_index`` (detached; no gradient).

    As in the reference code, the sigmoid is taken in the logits' dtype, so a logit just below 0
    can round to 0.5 and count as foreground (measured with torch 2.13 on CPU: float32 logits
    down to about -1.8e-7, bfloat16 down to about -3.9e-3); the losses pass float32 logits.
    The loss checks its inputs before calling this; here only the shapes are checked.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[[[2.0, -2.0], [0.0, 3.0]]]])
        >>> mask = torch.tensor([[[1, 0], [255, 1]]])
        >>> binarize_prediction(logits, mask, ignore_index=255).int().tolist()
        [[[1, 0], [0, 1]]]
    """
    for name, value in (("pred_logits", pred_logits), ("gt_mask", gt_mask)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if pred_logits.ndim != 4 or pred_logits.shape[1] != 1 or gt_mask.shape != pred_logits.shape[:1] + pred_logits.shape[2:]:
        raise ValueError(f"pred_logits and gt_mask must have shapes (B, 1, H, W) and (B, H, W), got "
                         f"{tuple(pred_logits.shape)} and {tuple(gt_mask.shape)}")
    binary = torch.sigmoid(pred_logits[:, 0].detach()) >= 0.5
    if ignore_index is not None:
        binary &= equals_label(gt_mask, ignore_index, invert=True)
    return binary


def crop_weight(signal, strength: float):
    r"""The crop weight :math:`w = 1 + \lambda s` of a signal :math:`s` (a float, an array or a tensor):
    the rule of every crop-weighted loss, here once. An integer or bool signal is taken as float64
    first (``200 * 2`` would wrap in uint8).

    Example:
        >>> crop_weight(2.0, 0.25)
        1.5
    """
    if isinstance(signal, torch.Tensor) and not signal.is_floating_point():
        signal = signal.to(torch.float64)
    elif isinstance(signal, np.ndarray) and signal.dtype.kind in "biu":
        signal = signal.astype(np.float64)
    return 1.0 + strength * signal


class PendingSignal(Protocol):
    """What :meth:`CropWeightedLoss.crop_signal` returns: ``result()`` gives the (B,) float64 signal."""

    def result(self) -> np.ndarray: ...


class ReadySignal:
    """A signal computed already (:meth:`CropWeightedLoss.crop_signal` of a signal with no background work)."""

    def __init__(self, values) -> None:
        self._values = np.asarray(values, dtype=np.float64)

    def result(self) -> np.ndarray:
        return self._values


class CropWeightedLoss(PixelLoss):
    r"""Base of the crop-weighted losses: :math:`\frac{1}{B}\sum_b (1 + \lambda s_b)\,\mathcal{L}_b`.

    Subclasses override :meth:`crop_signal` (the per-crop signal :math:`s_b`), and may override
    :meth:`crop_weights` to change how the weights reach the crops (``baselines.ShuffledTGHEM``
    permutes them). After every call :attr:`last_weights` and :attr:`last_discrepancy` hold the
    (B,) weights and signals of that batch (detached, on the logits' device, in the dtype of the
    per-crop losses: float32 for half-precision logits, else the logits').
    Setting :attr:`weighting` to ``False`` makes every weight 1 (the pixel term alone) while the
    signal is still computed and recorded: a warm-up on the pixel term.

    Args:
        strength: :math:`\lambda \ge 0`, the weight of one unit of signal.
        ohem_thresh: OHEM confidence threshold in (0, 1).
        ohem_min_kept: OHEM pixels kept per crop, >= 1 (about that many: see
            :class:`~tghem.SegmentationLoss`).
        ignore_index: target value of pixels to leave out, or ``None``; they are left out of the
            binarised prediction too.
        dice_weight, bce_weight: weights of the pixel term's Dice and hard-pixel BCE.
        reduction: ``'mean'`` (the formula above), ``'sum'`` or ``'none'`` (the (B,) weighted
            per-crop losses).
        strength_name: the name of ``strength`` in the subclass's signature (``lambda_pers``,
            ``lambda_count``), which error messages use.

    Shape:
        - pred_logits: (B, 1, H, W); gt_mask: (B, H, W); gt_dots: (B, H, W), required.
        - output: scalar, or (B,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> from tghem.weighting import CropWeightedLoss, ReadySignal
        >>> class ForegroundShare(CropWeightedLoss):  # s_b: the predicted foreground fraction
        ...     def crop_signal(self, pred_binary, gt_dots):
        ...         return ReadySignal(pred_binary.double().mean(dim=(1, 2)).numpy())
        >>> logits = torch.full((2, 1, 8, 8), -3.0); logits[1, 0, :4] = 3.0
        >>> mask = torch.zeros(2, 8, 8); dots = torch.zeros(2, 8, 8)
        >>> loss = ForegroundShare(2.0, ohem_min_kept=10)
        >>> value = loss(logits, mask, dots)
        >>> loss.last_discrepancy.tolist(), loss.last_weights.tolist()
        ([0.0, 0.5], [1.0, 2.0])
    """

    requires_dots = True
    signal_name = "signal"
    """What error messages call the signal (TG-HEM: ``D``)."""

    def __init__(
        self,
        strength: float,
        ohem_thresh: float = 0.7,
        ohem_min_kept: int = 15000,
        ignore_index: Optional[int] = None,
        dice_weight: float = 0.5,
        bce_weight: float = 0.5,
        reduction: str = "mean",
        *,
        strength_name: str = "strength",
    ) -> None:
        super().__init__(ignore_index, reduction)
        self.strength_name = strength_name
        self.strength = check_real(strength_name, strength, low=0.0)
        ohem_thresh = check_real("ohem_thresh", ohem_thresh, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        ohem_min_kept = check_int("ohem_min_kept", ohem_min_kept, low=1)
        # Per crop: each crop's pixel term is weighted by its own signal.
        self.segmentation = SegmentationLoss(ohem_thresh, ohem_min_kept, ignore_index, dice_weight, bce_weight, "none")
        self.weighting: bool = True
        self.last_weights: Optional[torch.Tensor] = None
        self.last_discrepancy: Optional[torch.Tensor] = None

    def crop_signal(self, pred_binary: torch.Tensor, gt_dots: torch.Tensor) -> PendingSignal:
        """The per-crop signal :math:`s_b` of a batch, to override.

        Args:
            pred_binary: (B, H, W) bool, :func:`binarize_prediction` of the logits (no gradient).
            gt_dots: (B, H, W) dot map, non-zero at the points.

        Returns:
            An object whose ``result()`` is the (B,) float64 numpy array of the signal; the work
            may run in the background until then (TG-HEM's worker processes do, while this
            process computes the pixel term). :class:`ReadySignal` wraps a signal computed at once.
        """
        raise NotImplementedError(f"{type(self).__name__} must override crop_signal")

    def crop_weights(self, signal: torch.Tensor) -> torch.Tensor:
        r"""The (B,) crop weights :math:`w_b = 1 + \lambda s_b` of a batch's (B,) signals (all ones
        while :attr:`weighting` is off): the one place the weights are formed."""
        if not self.weighting:
            return torch.ones_like(signal)
        return crop_weight(signal, self.strength)

    def forward(self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor) -> torch.Tensor:
        pred_logits = self.check(pred_logits, gt_mask, gt_dots)
        pending = self._start_signal(pred_logits, gt_mask, gt_dots)
        per_crop = self.segmentation.compute(pred_logits, gt_mask)
        signal = self._collect_signal(pending, per_crop)
        with torch.no_grad():
            weights = self.crop_weights(signal)
        weighted = weights * per_crop
        self._check_finite(weights, per_crop, signal, pred_logits)
        self.last_weights = weights
        self.last_discrepancy = signal
        return self.reduce(weighted)

    # numpy, numba and worker processes: kept out of torch.compile's graph (a graph break), so
    # ``torch.compile(loss)`` runs them eagerly and gives the eager value.
    @_kept_out_of_compiled_graphs
    def _start_signal(self, pred_logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor) -> PendingSignal:
        with torch.no_grad():
            return self.crop_signal(binarize_prediction(pred_logits, gt_mask, self.ignore_index), gt_dots)

    @_kept_out_of_compiled_graphs
    def _collect_signal(self, pending: PendingSignal, like: torch.Tensor) -> torch.Tensor:
        values = np.asarray(pending.result(), dtype=np.float64)
        if values.shape != (like.shape[0],):
            raise ValueError(f"{type(self).__name__}.crop_signal: expected a ({like.shape[0]},) signal, got shape "
                             f"{values.shape}")
        return torch.from_numpy(values).to(device=like.device, dtype=like.dtype)

    @_kept_out_of_compiled_graphs
    def _check_finite(
        self, weights: torch.Tensor, per_crop: torch.Tensor, signal: torch.Tensor, pred_logits: torch.Tensor
    ) -> None:
        if bool(torch.isfinite(weights * per_crop.detach()).all()):
            return
        pixel_finite = torch.isfinite(per_crop.detach())
        if not bool(pixel_finite.all()):
            bad = int(torch.argmin(pixel_finite.to(torch.uint8)))
            raise ValueError(
                f"the pixel loss of crop {bad} is not finite ({float(per_crop[bad]):g}) before any weighting: its "
                f"logits are too large for float32 sums (largest |logit| {float(pred_logits.detach()[bad].abs().max()):.3g}); "
                f"lower the learning rate or clip the logits")
        worst = int(torch.argmax(signal))
        s, loss = float(signal[worst]), float(per_crop.detach().max())
        bound = FLOAT32_MAX / max(s * max(loss, 1.0), 1e-300)
        raise ValueError(
            f"{self.strength_name}={self.strength:g} overflows the loss in float32: crop {worst} has "
            f"{self.signal_name} = {s:g} and pixel loss up to {loss:g}, so {self.strength_name} * {self.signal_name} * "
            f"loss exceeds {FLOAT32_MAX:.3g}; "
            f"use {self.strength_name} < {bound:.3g}")
