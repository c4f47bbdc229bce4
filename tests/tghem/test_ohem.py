import numpy as np
import pytest
import torch

from tghem import SegmentationLoss, segmentation_loss, select_hard_pixels

from tests.tghem.test_dice import dice_reference


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bce(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def hard_reference(logits, mask, thresh, min_kept, ignore_index):
    """OHEM selection of one group, written from the issue's definition with numpy."""
    valid = np.ones(mask.shape, bool) if ignore_index is None else mask != ignore_index
    target = np.where(valid, mask, 0).astype(np.float64)
    hard = np.zeros(mask.shape, bool)
    n_valid = valid.sum()
    if n_valid == 0:
        return hard
    if thresh is None:
        bce = np.where(valid, _bce(logits, target), -np.inf).ravel()
        order = np.argsort(-bce, kind="stable")[: min(min_kept, n_valid)]
        hard.ravel()[order] = True
        return hard
    p = _sigmoid(logits)
    conf = np.where(target == 1, p, 1 - p)
    k = min(min_kept, n_valid - 1)
    threshold = max(np.sort(conf[valid])[k], thresh)
    return valid & (conf < threshold)


def seg_reference(logits, mask, thresh, min_kept, ignore_index, reduction, dw=0.5, bw=0.5, smooth=1.0):
    """SegmentationLoss in numpy float64 from the issue's definition."""
    x = logits[:, 0]
    dice = dice_reference(logits, mask, smooth=smooth, ignore_index=ignore_index)
    target = np.where(mask == 1, 1.0, 0.0)
    bce = _bce(x, target)
    if reduction == "none":
        out = []
        for b in range(len(x)):
            h = hard_reference(x[b], mask[b], thresh, min_kept, ignore_index)
            out.append(dw * dice[b] + bw * (bce[b][h].mean() if h.any() else 0.0))
        return np.array(out)
    h = hard_reference(x, mask, thresh, min_kept * len(x), ignore_index)
    if reduction == "mean":
        return dw * dice.mean() + bw * (bce[h].mean() if h.any() else 0.0)
    return sum(dw * dice[b] + bw * (bce[b][h[b]].mean() if h[b].any() else 0.0) for b in range(len(x)))


def _random_batch(seed, shape=(3, 12, 10), ignore_index=None):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(shape[0], 1) + shape[1:]) * 2.5
    mask = (rng.random(shape) < 0.25).astype(np.float64)
    if ignore_index is not None:
        mask[rng.random(shape) < 0.2] = ignore_index
    return logits, mask


@pytest.mark.parametrize("thresh", [None, 0.7, 0.3])
@pytest.mark.parametrize("min_kept", [1, 17, 50, 10_000])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_selection_matches_reference(thresh, min_kept, ignore_index):
    logits, mask = _random_batch(3, ignore_index=ignore_index)
    for per_image in (True, False):
        got = select_hard_pixels(
            torch.tensor(logits), torch.tensor(mask), thresh=thresh, min_kept=min_kept,
            ignore_index=ignore_index, per_image=per_image,
        ).numpy()
        if per_image:
            expected = np.stack([hard_reference(logits[b, 0], mask[b], thresh, min_kept, ignore_index) for b in range(3)])
        else:
            expected = hard_reference(logits[:, 0], mask, thresh, min_kept * 3, ignore_index)
        np.testing.assert_array_equal(got, expected)
        if ignore_index is not None:
            assert not got[mask == ignore_index].any()


def test_threshold_mode_keeps_under_threshold_and_at_least_min_kept():
    logits, mask = _random_batch(5, shape=(1, 40, 40))
    p = _sigmoid(logits[0, 0])
    conf = np.where(mask[0] == 1, p, 1 - p)
    for min_kept in (5, 200, 900):
        hard = select_hard_pixels(torch.tensor(logits), torch.tensor(mask), thresh=0.7, min_kept=min_kept)[0].numpy()
        # every pixel under the base threshold is hard ...
        assert hard[conf < 0.7].all()
        # ... and with distinct confidences exactly min_kept are kept when that is more
        assert hard.sum() == max(min_kept, (conf < 0.7).sum())
        # hard pixels are exactly the least confident ones
        assert conf[hard].max() < conf[~hard].min()


def test_top_k_keeps_exactly_k_largest():
    logits, mask = _random_batch(6, shape=(2, 20, 20))
    bce = _bce(logits[:, 0], mask)
    hard = select_hard_pixels(torch.tensor(logits), torch.tensor(mask), min_kept=37).numpy()
    assert hard.sum(axis=(1, 2)).tolist() == [37, 37]
    for b in range(2):
        assert bce[b][hard[b]].min() >= bce[b][~hard[b]].max()
    # fewer valid pixels than min_kept: all valid ones
    mask_ignored = mask.copy()
    mask_ignored[:, 5:, :] = 255
    hard = select_hard_pixels(torch.tensor(logits), torch.tensor(mask_ignored), min_kept=10_000, ignore_index=255)
    assert torch.equal(hard, torch.tensor(mask_ignored != 255))


def test_hand_computed_threshold_mode():
    # target 1,1,0,0 ; p = .9, .6, .2, .5 -> confidence .9, .6, .8, .5 ; thresh .7, min_kept 1:
    # sorted (.5,.6,.8,.9), k=1 -> sorted[1]=.6, threshold max(.6,.7)=.7 -> hard = {.6, .5}
    p = torch.tensor([0.9, 0.6, 0.2, 0.5], dtype=torch.float64)
    logits = torch.log(p / (1 - p)).view(1, 1, 1, 4)
    mask = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]], dtype=torch.float64)
    loss = SegmentationLoss(thresh=0.7, min_kept=1, dice_weight=0.0, bce_weight=1.0)(logits, mask)
    assert loss.item() == pytest.approx((-np.log(0.6) - np.log(0.5)) / 2, rel=1e-12)
    # min_kept=3 raises the threshold to sorted[3] = .9: hard = {.5,.6,.8}
    loss = SegmentationLoss(thresh=0.7, min_kept=3, dice_weight=0.0, bce_weight=1.0)(logits, mask)
    assert loss.item() == pytest.approx((-np.log(0.6) - np.log(0.5) - np.log(0.8)) / 3, rel=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("thresh", [None, 0.7])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_loss_matches_reference(reduction, thresh, ignore_index):
    logits, mask = _random_batch(11, ignore_index=ignore_index)
    expected = seg_reference(logits, mask, thresh, 23, ignore_index, reduction)
    got = segmentation_loss(
        torch.tensor(logits), torch.tensor(mask), thresh=thresh, min_kept=23, ignore_index=ignore_index, reduction=reduction
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_the_weights_and_the_dice_smoothing_reach_the_loss(reduction):
    """Other weights than 0.5/0.5 and another Dice smoothing than 1, each where the formula puts it."""
    logits, mask = _random_batch(12, ignore_index=255)
    expected = seg_reference(logits, mask, 0.7, 23, 255, reduction, dw=0.3, bw=1.7, smooth=0.7)
    got = SegmentationLoss(0.7, 23, 255, dice_weight=0.3, bce_weight=1.7, reduction=reduction, smooth=0.7)(
        torch.tensor(logits), torch.tensor(mask))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    default = seg_reference(logits, mask, 0.7, 23, 255, reduction, dw=0.3, bw=1.7)
    assert not np.allclose(expected, default, rtol=1e-6)  # the smoothing changes the value


def test_no_hard_pixel_gives_zero_bce_not_nan():
    # every confidence equal and above thresh: sorted[k] == all, so nothing is strictly below it
    logits = torch.full((2, 1, 3, 3), 5.0)
    mask = torch.ones(2, 3, 3)
    for reduction in ("none", "mean", "sum"):
        loss = SegmentationLoss(thresh=0.7, min_kept=2, dice_weight=0.0, reduction=reduction)(logits, mask)
        assert torch.all(loss == 0)
    # all pixels ignored: Dice 0 (both sums zeroed), no BCE
    loss = SegmentationLoss(thresh=0.7, ignore_index=255)(logits, torch.full((2, 3, 3), 255.0))
    assert loss.item() == 0.0


def test_gradcheck_with_fixed_selection():
    logits, mask = _random_batch(12, shape=(2, 5, 6))
    hard = select_hard_pixels(torch.tensor(logits), torch.tensor(mask), thresh=0.7, min_kept=8)
    x = torch.tensor(logits, requires_grad=True)
    for reduction in ("none", "mean", "sum"):
        fn = lambda t: segmentation_loss(t, torch.tensor(mask), thresh=0.7, min_kept=8, reduction=reduction, hard_mask=hard)
        assert torch.autograd.gradcheck(fn, (x,))


def test_selection_carries_no_gradient_and_gradient_matches_fixed_selection():
    logits, mask = _random_batch(13)
    x1 = torch.tensor(logits, requires_grad=True)
    x2 = torch.tensor(logits, requires_grad=True)
    mask_t = torch.tensor(mask)
    segmentation_loss(x1, mask_t, thresh=0.7, min_kept=20).backward()
    hard = select_hard_pixels(x2, mask_t, thresh=0.7, min_kept=20, per_image=False)
    assert not hard.requires_grad
    segmentation_loss(x2, mask_t, thresh=0.7, min_kept=20, hard_mask=hard).backward()
    assert torch.equal(x1.grad, x2.grad)
