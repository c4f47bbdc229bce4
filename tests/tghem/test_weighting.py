"""The crop-weighting base: one rule w = 1 + lambda * s for TG-HEM and its controls."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines import CountWeightedOHEM, ShuffledTGHEM
from tghem import TGHEM, SegmentationLoss
from tghem.weighting import CropWeightedLoss, ReadySignal, crop_weight


class GivenSignal(CropWeightedLoss):
    """The signal is set from outside: the base's arithmetic alone."""

    values = np.zeros(0)

    def crop_signal(self, pred_binary, gt_dots):
        return ReadySignal(self.values)


def batch(b: int = 3):
    torch.manual_seed(0)
    logits = torch.randn(b, 1, 16, 16, requires_grad=True)
    mask = (torch.rand(b, 16, 16) > 0.7).float()
    return logits, mask, torch.zeros(b, 16, 16)


def test_the_weights_are_one_plus_lambda_times_the_signal_and_the_pixel_term_is_per_crop_ohem():
    logits, mask, dots = batch()
    loss = GivenSignal(0.5, ohem_min_kept=20, reduction="none")
    loss.values = np.array([0.0, 2.0, 6.0])
    out = loss(logits, mask, dots)
    per_crop = SegmentationLoss(0.7, 20, reduction="none")(logits, mask)
    assert torch.equal(loss.last_weights, torch.tensor([1.0, 2.0, 4.0]))
    assert torch.equal(loss.last_discrepancy, torch.tensor([0.0, 2.0, 6.0]))
    torch.testing.assert_close(out, torch.tensor([1.0, 2.0, 4.0]) * per_crop, rtol=0, atol=0)
    assert not loss.last_weights.requires_grad
    loss.weighting = False  # warm-up: the pixel term alone, the signal still recorded
    torch.testing.assert_close(loss(logits, mask, dots), per_crop, rtol=0, atol=0)
    assert torch.equal(loss.last_weights, torch.ones(3)) and loss.last_discrepancy[2] == 6.0


def test_crop_weight_is_the_rule_for_floats_and_tensors():
    assert crop_weight(3.0, 0.5) == 2.5
    assert torch.equal(crop_weight(torch.tensor([0.0, 4.0]), 0.25), torch.tensor([1.0, 2.0]))


def test_a_signal_of_the_wrong_shape_and_a_missing_signal_are_refused():
    logits, mask, dots = batch()
    loss = GivenSignal(1.0, ohem_min_kept=20)
    loss.values = np.ones(2)
    with pytest.raises(ValueError, match=r"^GivenSignal.crop_signal: expected a \(3,\) signal, got shape \(2,\)$"):
        loss(logits, mask, dots)
    with pytest.raises(NotImplementedError, match="CropWeightedLoss must override crop_signal"):
        CropWeightedLoss(1.0, ohem_min_kept=20)(logits, mask, dots)
    with pytest.raises(ValueError, match=r"^lambda_x must be"):
        CropWeightedLoss(-1.0, strength_name="lambda_x")


def test_tghem_and_both_controls_are_crop_weighted_losses_with_their_own_lambda_names():
    for loss, name in ((TGHEM(topo_workers=0), "lambda_pers"), (ShuffledTGHEM(topo_workers=0), "lambda_pers"),
                       (CountWeightedOHEM(), "lambda_count")):
        assert isinstance(loss, CropWeightedLoss) and loss.strength_name == name
        assert getattr(loss, name) == loss.strength
    assert not isinstance(SegmentationLoss(), CropWeightedLoss)


def test_the_count_control_refuses_an_overflowing_lambda_at_the_call():
    logits = torch.full((1, 1, 16, 16), -30.0)  # finds no cell: count error 2, a large pixel loss
    mask = torch.zeros(1, 16, 16); mask[0, 2:5, 2:5] = 1; mask[0, 9:12, 9:12] = 1
    dots = torch.zeros(1, 16, 16); dots[0, 3, 3] = 1; dots[0, 10, 10] = 1
    loss = CountWeightedOHEM(lambda_count=3e38, ohem_min_kept=10)
    with pytest.raises(ValueError, match=r"^lambda_count=3e\+38 overflows the loss in float32: crop 0 has count error = 2 "):
        loss(logits, mask, dots)


def test_the_prediction_is_foreground_from_probability_one_half_on():
    """TG-HEM's binarisation: sigmoid(logit) >= 0.5, so a logit of exactly 0 is foreground; padding never is."""
    from tghem.weighting import binarize_prediction

    logits = torch.tensor([[[[0.0, -1e-6, 1e-6, 0.0]]]])
    mask = torch.tensor([[[0, 0, 0, 255]]])
    assert binarize_prediction(logits, mask, None).tolist() == [[[True, False, True, True]]]
    assert binarize_prediction(logits, mask, 255).tolist() == [[[True, False, True, False]]]
