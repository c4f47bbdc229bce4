"""The two TG-HEM controls: shuffled weights and count-error weights."""
import numpy as np
import pytest
import torch

from baselines import CountWeightedOHEM, ShuffledTGHEM, count_errors, count_weighted_ohem_loss, crop_counts
from tghem import TGHEM, SegmentationLoss


@pytest.fixture
def batch():
    torch.manual_seed(0)
    logits = torch.randn(6, 1, 48, 48, requires_grad=True)
    mask = torch.zeros(6, 48, 48)
    dots = torch.zeros(6, 48, 48)
    rng = np.random.default_rng(0)
    for b in range(6):
        for _ in range(b + 1):  # crop b holds b + 1 dots: different counts, different D
            y, x = rng.integers(4, 44, 2)
            dots[b, y, x] = 1
            mask[b, y - 2:y + 3, x - 2:x + 3] = 1
    return logits, mask, dots


def test_shuffled_weights_are_tghems_permuted(batch):
    logits, mask, dots = batch
    kwargs = dict(lambda_pers=0.01, ohem_min_kept=200, reduction="none")
    reference, shuffled = TGHEM(**kwargs), ShuffledTGHEM(generator=torch.Generator().manual_seed(3), **kwargs)
    ref_losses, losses = reference(logits, mask, dots), shuffled(logits, mask, dots)
    w, d = shuffled.last_weights, shuffled.last_discrepancy
    assert torch.equal(d, reference.last_discrepancy)  # each crop keeps its own D
    assert torch.equal(w.sort().values, reference.last_weights.sort().values)  # same weights
    assert not torch.equal(w, reference.last_weights)  # given to other crops (this seed)
    per_crop = SegmentationLoss(0.7, 200, reduction="none")(logits, mask)
    torch.testing.assert_close(losses, w * per_crop)
    torch.testing.assert_close(ref_losses, reference.last_weights * per_crop)
    expected_perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(w, reference.last_weights[expected_perm])


def test_shuffled_uses_the_global_generator_by_default(batch):
    logits, mask, dots = batch
    loss = ShuffledTGHEM(lambda_pers=0.01, ohem_min_kept=200)
    torch.manual_seed(5)
    first = loss(logits, mask, dots)
    w_first = loss.last_weights
    torch.manual_seed(5)
    assert torch.equal(loss(logits, mask, dots), first) and torch.equal(loss.last_weights, w_first)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        ShuffledTGHEM(generator=3)


def test_crop_counts_and_count_errors():
    pred = torch.zeros(2, 20, 20, dtype=torch.bool)
    pred[0, 1:4, 1:4] = True
    pred[0, 10:13, 10:13] = True
    pred[0, 18, 18] = True            # one pixel: zero contour area, not a point (as TG-HEM's)
    dots = torch.zeros(2, 20, 20)
    dots[0, 2, 2] = 1
    dots[1, 5, 5] = dots[1, 15, 5] = dots[1, 5, 15] = 1
    n_pred, n_gt = crop_counts(pred, dots)
    assert n_pred.tolist() == [2, 0] and n_gt.tolist() == [1, 3]
    assert count_errors(pred, dots).tolist() == [1.0, 3.0]
    assert crop_counts(pred, dots, "component")[0].tolist() == [3, 0]
    with pytest.raises(ValueError, match=r"pred_binary and gt_dots must both have shape \(B, H, W\), got \(2, 20, 20\) and \(20, 20\)"):
        crop_counts(pred, dots[0])


@pytest.mark.parametrize(("pred", "dots", "error", "message"), [
    (np.zeros((1, 4, 4), bool), torch.zeros(1, 4, 4), TypeError,
     r"^pred_binary must be a torch.Tensor of shape \(B, H, W\), got ndarray$"),
    (torch.zeros(1, 4, 4, dtype=torch.bool), [[[0.0] * 4] * 4], TypeError,
     r"^gt_dots must be a torch.Tensor of shape \(B, H, W\), got list$"),
    (torch.full((1, 4, 4), 0.3), torch.zeros(1, 4, 4), ValueError,
     r"^pred_binary must be binary \(bool, or 0 and 1\), got 16 other value\(s\), e.g. 0.3000000"),
    (torch.zeros(1, 4, 4, dtype=torch.bool), -torch.ones(1, 4, 4), ValueError,
     r"^gt_dots must be finite and non-negative \(non-zero pixels are points\), got minimum -1.0$"),
    (torch.zeros(1, 4, 4, dtype=torch.bool), torch.full((1, 4, 4), float("nan")), ValueError,
     r"^gt_dots must be finite and non-negative"),
])
def test_crop_counts_refuses_what_it_cannot_count(pred, dots, error, message):
    """A probability map would be counted as foreground and negative dots as points: refused, by name."""
    with pytest.raises(error, match=message):
        crop_counts(pred, dots)
    with pytest.raises(error, match=message):
        count_errors(pred, dots)


def test_count_weighted_ohem_passes_each_weight_to_its_term(batch):
    """Unequal Dice and BCE weights reach their own terms (lambda_count = 0 leaves the pixel term alone)."""
    logits, mask, dots = batch
    control = CountWeightedOHEM(lambda_count=0.0, ohem_min_kept=500, dice_weight=0.2, bce_weight=1.0, reduction="none")
    expected = SegmentationLoss(thresh=0.7, min_kept=500, dice_weight=0.2, bce_weight=1.0, reduction="none")
    swapped = SegmentationLoss(thresh=0.7, min_kept=500, dice_weight=1.0, bce_weight=0.2, reduction="none")
    got = control(logits, mask, dots)
    torch.testing.assert_close(got, expected(logits, mask), rtol=1e-6, atol=0)
    assert not torch.allclose(got, swapped(logits, mask), rtol=1e-3)


def test_count_weighted_ohem_closed_form(batch):
    logits, mask, dots = batch
    loss = CountWeightedOHEM(lambda_count=0.25, ohem_min_kept=200, reduction="none")
    per_crop_weighted = loss(logits, mask, dots)
    errors = count_errors(torch.sigmoid(logits[:, 0].detach()) >= 0.5, dots)
    assert torch.equal(loss.last_discrepancy, errors.float())
    torch.testing.assert_close(loss.last_weights, 1 + 0.25 * errors.float())
    per_crop = SegmentationLoss(0.7, 200, reduction="none")(logits, mask)
    torch.testing.assert_close(per_crop_weighted, loss.last_weights * per_crop)
    mean = count_weighted_ohem_loss(logits, mask, dots, lambda_count=0.25, ohem_min_kept=200)
    torch.testing.assert_close(mean, (loss.last_weights * per_crop).mean())
    (grad,) = torch.autograd.grad(mean, logits)
    assert grad.abs().sum() > 0
    # lambda_count = 0: TG-HEM at lambda_pers = 0 (the per-crop OHEM term, unweighted)
    zero = CountWeightedOHEM(lambda_count=0.0, ohem_min_kept=200)(logits, mask, dots)
    assert torch.equal(zero, TGHEM(lambda_pers=0.0, ohem_min_kept=200)(logits, mask, dots))


def test_count_weighted_ohem_counts_with_its_centroid_mode():
    """centroid_mode reaches the count: a one-pixel blob is a point of 'component' only."""
    logits = torch.full((2, 1, 20, 20), -8.0)
    logits[0, 0, 1:4, 1:4] = logits[0, 0, 18, 18] = 8.0  # a 3x3 blob and a one-pixel blob
    mask, dots = torch.zeros(2, 20, 20), torch.zeros(2, 20, 20)
    dots[0, 2, 2], dots[1, 5, 5] = 1, 1
    mask[0, 1:4, 1:4], mask[1, 4:7, 4:7] = 1, 1
    pred = logits[:, 0] >= 0
    for mode, errors in (("contour", [0.0, 1.0]), ("component", [1.0, 1.0])):
        assert count_errors(pred, dots, mode).tolist() == errors
        loss = CountWeightedOHEM(lambda_count=0.5, ohem_min_kept=10, centroid_mode=mode)
        loss(logits, mask, dots)
        assert loss.last_discrepancy.tolist() == errors, mode
        assert loss.last_weights.tolist() == [1 + 0.5 * e for e in errors], mode


def test_count_weighted_ohem_checks_its_arguments(batch):
    with pytest.raises(ValueError, match="lambda_count"):
        CountWeightedOHEM(lambda_count=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        CountWeightedOHEM(reduction="avg")
    with pytest.raises(ValueError, match="centroid_mode"):
        CountWeightedOHEM(centroid_mode="blob")
    logits, mask, _ = batch
    with pytest.raises((ValueError, TypeError), match="gt_dots"):
        CountWeightedOHEM()(logits, mask, None)
