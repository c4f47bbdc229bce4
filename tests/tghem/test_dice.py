import numpy as np
import pytest
import torch

from tghem import BinaryDiceLoss, binary_dice_loss


def dice_reference(logits, mask, smooth=1.0, ignore_index=None):
    """Per-image Dice in float64 numpy, written from the formula."""
    p = 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float64)))
    g = mask.astype(np.float64)
    if ignore_index is not None:
        keep = mask != ignore_index
        p, g = p * keep, g * keep
    inter = (p * g).reshape(len(p), -1).sum(1)
    denom = p.reshape(len(p), -1).sum(1) + g.reshape(len(g), -1).sum(1)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


def test_hand_computed_value():
    # p = sigmoid(0) = 0.5 on two pixels, target (1, 0): 1 - (2*0.5 + 1) / (1 + 1 + 1) = 1/3
    loss = BinaryDiceLoss()(torch.zeros(1, 1, 1, 2), torch.tensor([[[1.0, 0.0]]]))
    assert loss.item() == pytest.approx(1.0 / 3.0, rel=1e-6)


def test_empty_target_and_empty_prediction_is_zero():
    logits = torch.full((2, 1, 4, 4), -60.0)
    loss = BinaryDiceLoss(reduction="none")(logits, torch.zeros(2, 4, 4))
    assert torch.allclose(loss, torch.zeros(2), atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_matches_numpy_reference(reduction, ignore_index):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 1, 7, 9)) * 3
    mask = (rng.random((3, 7, 9)) < 0.3).astype(np.float64)
    if ignore_index is not None:
        mask[:, :2, :] = ignore_index
    expected = dice_reference(logits, mask, smooth=0.7, ignore_index=ignore_index)
    expected = {"none": expected, "mean": expected.mean(), "sum": expected.sum()}[reduction]
    got = binary_dice_loss(
        torch.tensor(logits), torch.tensor(mask), smooth=0.7, ignore_index=ignore_index, reduction=reduction
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert got.shape == ((3,) if reduction == "none" else ())


def test_ignored_pixels_have_no_effect():
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(1, 1, 6, 6)))
    mask = torch.tensor((rng.random((1, 6, 6)) < 0.5).astype(np.float64))
    padded_logits = torch.cat([logits, torch.randn(1, 1, 6, 3, dtype=torch.float64) * 5], dim=3)
    padded_mask = torch.cat([mask, torch.full((1, 6, 3), 255.0, dtype=torch.float64)], dim=2)
    plain = BinaryDiceLoss()(logits, mask)
    padded = BinaryDiceLoss(ignore_index=255)(padded_logits, padded_mask)
    assert padded.item() == pytest.approx(plain.item(), rel=1e-12)


def test_gradcheck():
    logits = torch.randn(2, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(2, 4, 5) < 0.5).double()
    assert torch.autograd.gradcheck(lambda x: BinaryDiceLoss(reduction="sum")(x, mask), (logits,))
