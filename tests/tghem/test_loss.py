import numpy as np
import pytest
import torch

from tghem import TGHEM, SegmentationLoss, TopoGuide, tghem_loss

from tests.helpers import reference_topology as ref


def _crops(seed, batch=3, size=48, n_dots=12):
    """Dilated-dot crops and a prediction that finds some cells and adds noise."""
    rng = np.random.default_rng(seed)
    dots = np.zeros((batch, size, size))
    mask = np.zeros((batch, size, size))
    logits = rng.normal(-3.0, 1.0, size=(batch, 1, size, size))
    yy, xx = np.mgrid[:size, :size]
    for b in range(batch):
        for _ in range(n_dots):
            y, x = rng.integers(3, size - 3, size=2)
            dots[b, y, x] = 1
            disk = (yy - y) ** 2 + (xx - x) ** 2 <= 4
            mask[b][disk] = 1
            if rng.random() < 0.7:
                logits[b, 0][disk] = rng.normal(3.0, 1.0)
        logits[b, 0][rng.random((size, size)) < 0.01] = 4.0
    return torch.tensor(logits, dtype=torch.float32), torch.tensor(mask, dtype=torch.float32), torch.tensor(dots)


def test_lambda_zero_equals_segmentation_loss_exactly():
    logits, mask, dots = _crops(0)
    got = TGHEM(lambda_pers=0.0)(logits, mask, dots)
    expected = SegmentationLoss(thresh=0.7, min_kept=15000, reduction="none")(logits, mask).mean()
    assert torch.equal(got, expected)


def test_value_is_weighted_mean_with_independent_discrepancy():
    logits, mask, dots = _crops(1)
    criterion = TGHEM(lambda_pers=0.5, ohem_min_kept=300)
    loss = criterion(logits, mask, dots)
    per_crop = SegmentationLoss(thresh=0.7, min_kept=300, reduction="none")(logits, mask)
    from tghem import component_centroids, dot_points

    binary = torch.sigmoid(logits[:, 0]) >= 0.5
    d = np.array([ref.discrepancy(dot_points(dots[b]), component_centroids(binary[b]), 50.0) for b in range(3)])
    assert (d > 0).all()
    np.testing.assert_allclose(criterion.last_discrepancy.numpy(), d, rtol=1e-6)
    np.testing.assert_allclose(criterion.last_weights.numpy(), 1 + 0.5 * d, rtol=1e-6)
    expected = (torch.tensor(1 + 0.5 * d, dtype=torch.float32) * per_crop).sum() / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions(reduction):
    logits, mask, dots = _crops(2)
    weighted = TGHEM(reduction="none", ohem_min_kept=200)(logits, mask, dots)
    got = TGHEM(reduction=reduction, ohem_min_kept=200)(logits, mask, dots)
    expected = {"none": weighted, "sum": weighted.sum(), "mean": weighted.mean()}[reduction]
    torch.testing.assert_close(got, expected)


def test_weights_carry_no_gradient():
    logits, mask, dots = _crops(3)
    x = logits.clone().requires_grad_(True)
    criterion = TGHEM(lambda_pers=2.0, ohem_min_kept=500)
    criterion(x, mask, dots).backward()
    assert not criterion.last_weights.requires_grad
    y = logits.clone().requires_grad_(True)
    per_crop = SegmentationLoss(thresh=0.7, min_kept=500, reduction="none")(y, mask)
    (criterion.last_weights * per_crop).mean().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=0)
    assert (criterion.last_weights > 1).all()


def test_empty_crops_are_finite():
    zeros = torch.zeros(2, 32, 32)
    for logits in (torch.full((2, 1, 32, 32), -5.0), torch.randn(2, 1, 32, 32)):
        criterion = TGHEM()
        loss = criterion(logits, zeros, zeros)  # no dots, all-background mask
        assert torch.isfinite(loss)
    # empty prediction against real dots: positive discrepancy
    _, mask, dots = _crops(4, batch=2, size=32)
    criterion = TGHEM()
    loss = criterion(torch.full((2, 1, 32, 32), -5.0), mask, dots)
    assert torch.isfinite(loss) and (criterion.last_discrepancy > 0).all()


def test_ignore_index_excludes_padding_from_loss_and_topology():
    logits, mask, dots = _crops(5, batch=1, size=40)
    padded_logits = torch.full((1, 1, 40, 56), 6.0)  # padding predicted as one big blob
    padded_logits[..., :40] = logits
    padded_mask = torch.full((1, 40, 56), 255.0)
    padded_mask[..., :40] = mask
    padded_dots = torch.zeros(1, 40, 56)
    padded_dots[..., :40] = dots
    plain = TGHEM(ohem_min_kept=100)
    padded = TGHEM(ohem_min_kept=100, ignore_index=255)
    a = plain(logits, mask, dots)
    b = padded(padded_logits, padded_mask, padded_dots)
    torch.testing.assert_close(padded.last_discrepancy, plain.last_discrepancy)
    assert b.item() == pytest.approx(a.item(), rel=1e-5)


def test_options_are_passed_to_topoguide():
    logits, mask, dots = _crops(6, batch=2)
    criterion = TGHEM(topo_epsilon=20.0, topo_reduction="H1", centroid_mode="component")
    criterion(logits, mask, dots)
    guide = TopoGuide(epsilon=20.0, reduction="H1", centroid_mode="component")
    expected = guide.discrepancies(dots, torch.sigmoid(logits[:, 0]) >= 0.5)
    np.testing.assert_allclose(criterion.last_discrepancy.numpy(), expected, rtol=1e-6)
    custom = TGHEM(topo_guide=guide)
    custom(logits, mask, dots)
    torch.testing.assert_close(custom.last_discrepancy, criterion.last_discrepancy)


def test_functional_form():
    logits, mask, dots = _crops(7)
    torch.testing.assert_close(tghem_loss(logits, mask, dots, lambda_pers=0.3), TGHEM(lambda_pers=0.3)(logits, mask, dots))


def test_mask_and_logit_dtypes():
    logits, mask, dots = _crops(8, batch=2, size=32)
    reference = TGHEM(ohem_min_kept=100)(logits, mask, dots)
    for mask_variant in (mask.bool(), mask.to(torch.uint8), mask.double()):
        got = TGHEM(ohem_min_kept=100)(logits, mask_variant, dots.bool())
        torch.testing.assert_close(got, reference)
    # half-precision logits (as under autocast) are computed in float32
    half = TGHEM(ohem_min_kept=100)(logits.bfloat16(), mask, dots)
    assert half.dtype == torch.float32
    expected = TGHEM(ohem_min_kept=100)(logits.bfloat16().float(), mask, dots)
    torch.testing.assert_close(half, expected)
