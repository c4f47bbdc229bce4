"""Method registry: the one place mapping a method name to its training loss.

A method is an entry of :data:`METHODS`: the settings sections its loss reads and a builder, whose
docstring's first paragraph says what the method is. The documentation renders its method table
from the registry itself (``docs/_ext/registry_tables.py``: name, the class the builder makes,
sections, that paragraph), so a new method is registered and documented here alone.

Each is built from the settings sections it declares (:attr:`Method.sections`): its own
(``focal.*``...), and for the TG-HEM family also ``ohem.*``, the OHEM pixel term that TG-HEM weights per
crop and that the ``ohem`` baseline uses alone, so the two can never disagree. The loss is
wrapped in a :class:`MethodLoss`, called ``(logits, gt_mask, gt_dots)`` like every loss of the
project, which also records the logging statistics of its last call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from baselines import CountWeightedOHEM, DiceBCELoss, FocalLoss, ShuffledTGHEM, SoftDiceCLDiceLoss, crop_counts
from tghem import TGHEM, SegmentationLoss
from tghem.weighting import CropWeightedLoss, binarize_prediction

from ..core.topo import topo_guide
from .crops import IGNORE_INDEX


def _pixel_term(cfg: dict) -> tuple[float, int, float, float]:
    """``(thresh, min_kept, dice_weight, bce_weight)`` of the OHEM pixel term (the ``ohem`` section)."""
    p = cfg[PIXEL_TERM]
    return p["thresh"], p["min_kept"], p["dice_weight"], p["bce_weight"]


def _tghem_kwargs(cfg: dict) -> dict:
    # reduction='none' returns the weighted per-crop losses w_k * L_k; MethodLoss averages them
    # (exactly the 'mean' reduction) and divides by w_k to log the unweighted pixel term.
    t = cfg["tghem"]
    thresh, min_kept, dice_weight, bce_weight = _pixel_term(cfg)
    return dict(lambda_pers=t["lambda_pers"], ohem_thresh=thresh, ohem_min_kept=min_kept, ignore_index=IGNORE_INDEX,
                dice_weight=dice_weight, bce_weight=bce_weight, reduction="none", topo_guide=topo_guide(t))


def _tghem(cfg: dict) -> nn.Module:
    """Per-crop OHEM Dice + BCE weighted by ``w_k = 1 + lambda_pers * D_k``."""
    return TGHEM(**_tghem_kwargs(cfg))


def _tghem_shuffled(cfg: dict) -> nn.Module:
    """A control: TG-HEM's weights (its ``tghem`` section) permuted at random among the batch's crops."""
    # torch's global generator draws the permutations: seeded by the run's seed, saved in last.pt.
    return ShuffledTGHEM(**_tghem_kwargs(cfg))


def _tghem_count(cfg: dict) -> nn.Module:
    """A control: ``w_k = 1 + lambda_count * |n_pred,k - n_gt,k|`` over TG-HEM's pixel term."""
    c = cfg["tghem_count"]
    thresh, min_kept, dice_weight, bce_weight = _pixel_term(cfg)
    return CountWeightedOHEM(lambda_count=c["lambda_count"], ohem_thresh=thresh, ohem_min_kept=min_kept,
                             centroid_mode=c["centroid_mode"], ignore_index=IGNORE_INDEX, dice_weight=dice_weight,
                             bce_weight=bce_weight, reduction="none")


def _ohem(cfg: dict) -> nn.Module:
    """Threshold mode, batch-level selection: the reference OHEM, TG-HEM without topology."""
    # The batch is one selection group (reduction='mean'): the reference OHEM.
    thresh, min_kept, dice_weight, bce_weight = _pixel_term(cfg)
    return SegmentationLoss(thresh, min_kept, IGNORE_INDEX, dice_weight, bce_weight, reduction="mean")


def _focal(cfg: dict) -> nn.Module:
    """The focal loss over all pixels."""
    p = cfg["focal"]
    return FocalLoss(alpha=p["alpha"], gamma=p["gamma"], ignore_index=IGNORE_INDEX)


def _cldice(cfg: dict) -> nn.Module:
    """Soft Dice + clDice (soft-skeleton) over all pixels."""
    p = cfg["cldice"]
    return SoftDiceCLDiceLoss(alpha=p["alpha"], iterations=p["iterations"], smooth=p["smooth"], ignore_index=IGNORE_INDEX)


def _dice_bce(cfg: dict) -> nn.Module:
    """Dice + BCE over all pixels, no mining."""
    p = cfg["dice_bce"]
    return DiceBCELoss(dice_weight=p["dice_weight"], bce_weight=p["bce_weight"], ignore_index=IGNORE_INDEX)


@dataclass(frozen=True)
class Method:
    """A registered method: the settings sections its loss reads and its loss builder, whose docstring's
    first paragraph describes the method (its row of the documentation's method table)."""

    sections: tuple[str, ...]
    build: Callable[[dict], nn.Module]


PIXEL_TERM = "ohem"
"""The settings section of the OHEM pixel term, shared by ``tghem`` and ``ohem`` (one source)."""

METHODS: dict[str, Method] = {
    "tghem": Method(("tghem", PIXEL_TERM), _tghem),
    "ohem": Method((PIXEL_TERM,), _ohem),
    "focal": Method(("focal",), _focal),
    "cldice": Method(("cldice",), _cldice),
    "dice_bce": Method(("dice_bce",), _dice_bce),
    "tghem_shuffled": Method(("tghem", PIXEL_TERM), _tghem_shuffled),
    "tghem_count": Method(("tghem_count", "tghem", PIXEL_TERM), _tghem_count),
}
"""Method name -> the sections of its settings and its loss builder."""


CROP_CENTROID_MODE = "contour"
"""How the logged per-crop predicted count is taken (TG-HEM's reference points), for every method."""


class MethodLoss(nn.Module):
    """A method's loss, called ``(logits, gt_mask, gt_dots)`` -> scalar, with logging statistics.

    After each call :attr:`last_stats` holds floats ``loss``, ``seg_loss`` (the pixel term
    without crop weights), ``weight_mean``, ``weight_max``, ``discrepancy_mean`` (NaN for
    methods without a topological term, whose weights are all 1; for ``tghem_count`` the mean
    count error, its "discrepancy") and ``count_error_mean``; :attr:`last_crops` one dict per
    crop: ``n_gt``, ``n_pred`` (points of the prediction binarised at 0.5, as TG-HEM takes
    them), ``discrepancy`` and ``weight``, the values that tell what TG-HEM reweights.

    A crop-weighting criterion trains on its pixel term alone (all weights 1) for the first
    ``warmup`` iterations and applies its weights from then on (:meth:`set_iteration`); its
    per-crop signal (D, or the count error) is computed and logged throughout. With a
    ``warmup_criterion`` (``tghem.warmup_loss: dice_bce``, the authors' harness), the warm-up
    iterations optimise that loss instead of the pixel term; the criterion still runs, without
    gradient, for the logged statistics (``seg_loss`` stays its pixel term, ``loss`` is what was
    optimised).

    Args:
        name: registry name.
        criterion: the underlying loss module; a crop-weighting one (a
            :class:`tghem.weighting.CropWeightedLoss`: TG-HEM and its controls, built with
            ``reduction='none'``) exposes ``last_weights``, ``last_discrepancy`` and the switch
            ``weighting``.
        warmup: iterations of warm-up, >= 0 (ignored by methods that weight no crops).
        warmup_criterion: the loss optimised during the warm-up, called like ``criterion`` and
            returning a scalar; None: the criterion's unweighted pixel term.
    """

    def __init__(self, name: str, criterion: nn.Module, warmup: int = 0, warmup_criterion: nn.Module | None = None) -> None:
        super().__init__()
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup: expected an int >= 0 (iterations), got {warmup!r}")
        if warmup_criterion is not None and not isinstance(warmup_criterion, nn.Module):
            raise TypeError(f"warmup_criterion: expected an nn.Module or None, got {type(warmup_criterion).__name__}")
        self.name = name
        self.criterion = criterion
        self.warmup = warmup
        self.warmup_criterion = warmup_criterion
        self.warming = False
        self.last_stats: dict[str, float] = {}
        self.last_crops: list[dict] = []

    def set_iteration(self, iteration: int) -> None:
        """Tell the loss the (0-based) iteration about to run: weights apply from ``warmup`` on."""
        if self.weights_crops:
            self.criterion.weighting = iteration >= self.warmup
            self.warming = self.warmup_criterion is not None and iteration < self.warmup

    @property
    def weights_crops(self) -> bool:
        """Whether the criterion weights crops (a :class:`tghem.weighting.CropWeightedLoss`: per-crop
        losses, ``last_weights``, ``last_discrepancy`` and the switch ``weighting``)."""
        return isinstance(self.criterion, CropWeightedLoss)

    def forward(self, logits: torch.Tensor, gt_mask: torch.Tensor, gt_dots: torch.Tensor) -> torch.Tensor:
        # Losses run in float32 whatever the autocast dtype of the network.
        logits = logits.float()
        if self.warming:
            optimised = self.warmup_criterion(logits, gt_mask, gt_dots)
            with torch.no_grad():
                out = self.criterion(logits, gt_mask, gt_dots)
        else:
            out = self.criterion(logits, gt_mask, gt_dots)
        with torch.no_grad():
            pred_binary = binarize_prediction(logits, gt_mask, IGNORE_INDEX)
            n_pred, n_gt = crop_counts(pred_binary, gt_dots, CROP_CENTROID_MODE)
            errors = (n_pred - n_gt).abs().to(torch.float64)
        if self.weights_crops:
            weights = self.criterion.last_weights
            discrepancy = self.criterion.last_discrepancy
            loss = optimised if self.warming else out.mean()
            with torch.no_grad():
                self.last_stats = {
                    "loss": loss.item(),
                    "seg_loss": (out.detach() / weights).mean().item(),
                    "weight_mean": weights.mean().item(),
                    "weight_max": weights.max().item(),
                    "discrepancy_mean": discrepancy.mean().item(),
                    "count_error_mean": errors.mean().item(),
                }
            crop_d, crop_w = discrepancy.double().cpu().tolist(), weights.double().cpu().tolist()
        else:
            loss = out
            value = out.item()
            self.last_stats = {"loss": value, "seg_loss": value, "weight_mean": 1.0, "weight_max": 1.0,
                               "discrepancy_mean": math.nan, "count_error_mean": errors.mean().item()}
            crop_d, crop_w = [math.nan] * len(n_gt), [1.0] * len(n_gt)
        self.last_crops = [
            {"n_gt": g, "n_pred": p, "discrepancy": d, "weight": w}
            for g, p, d, w in zip(n_gt.tolist(), n_pred.tolist(), crop_d, crop_w)
        ]
        return loss

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def warmup_iterations(cfg: dict) -> int:
    """Iterations of unweighted warm-up from ``tghem.warmup``: a fraction of ``train.iterations``
    if below 1 (rounded half up), else a number of iterations, fewer than ``train.iterations``
    (else the crop weights would never apply, and the run would train its pixel term alone).

    Example:
        >>> warmup_iterations({"tghem": {"warmup": 0.25}, "train": {"iterations": 1000}})
        250
        >>> warmup_iterations({"tghem": {"warmup": 40}, "train": {"iterations": 1000}})
        40
    """
    w, total = cfg["tghem"].get("warmup", 0) or 0, cfg["train"]["iterations"]
    if w >= 1 and w != int(w):
        raise ValueError(f"tghem.warmup: expected a fraction in [0, 1) or a whole number of iterations, got {w!r}")
    warmup = int(math.floor(w * total + 0.5)) if w < 1 else int(w)
    if warmup and warmup >= total:
        raise ValueError(f"tghem.warmup: {w!r} means {warmup} iterations of warm-up, which leave none of train.iterations "
                         f"({total}) weighted; expected fewer (or tghem.lambda_pers=0 for no weights)")
    return warmup


def build_method(name: str, cfg: dict) -> MethodLoss:
    """The loss of method ``name`` configured from the sections of ``cfg`` it reads.

    Args:
        name: one of :data:`METHODS`.
        cfg: run settings (:func:`experiments.core.settings.load_params`), or at least the
            method's sections (:attr:`Method.sections`).

    Raises:
        ValueError: unknown method (the message lists the known ones) or a missing section.
    """
    if name not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {name!r}")
    method = METHODS[name]
    missing = [s for s in method.sections if s not in cfg]
    if missing:
        raise ValueError(f"params: method {name!r} reads sections {list(method.sections)}, missing {missing} (got {sorted(cfg)})")
    warmup = warmup_iterations(cfg) if "tghem" in method.sections and "train" in cfg else 0
    warmup_criterion = None
    if warmup and cfg["tghem"].get("warmup_loss", "pixel") == "dice_bce":
        if "dice_bce" not in cfg:
            raise ValueError("params: tghem.warmup_loss 'dice_bce' reads the dice_bce section, missing "
                             f"(got {sorted(cfg)})")
        warmup_criterion = _dice_bce(cfg)
    return MethodLoss(name, method.build(cfg), warmup, warmup_criterion)


def check_method_settings(cfg: dict) -> None:
    """Build every registered method's loss from ``cfg``: a settings section that its loss refuses
    (say ``tghem.warmup: 2.5``, neither a fraction nor a whole number of iterations) fails when the
    settings load, naming the method and the sections it reads, before any run folder is touched,
    whichever method the run trains.

    Raises:
        ValueError: a method's loss cannot be built from its sections.
    """
    for name, method in METHODS.items():
        try:
            build_method(name, cfg)
        except (ValueError, TypeError) as err:
            raise ValueError(f"params: the sections {list(method.sections)} do not build the {name!r} loss: {err}") from None
