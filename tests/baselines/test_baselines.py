import inspect
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from baselines import DiceBCELoss, FocalLoss, OHEMLoss, SoftDiceCLDiceLoss, focal_loss, soft_skeleton
from tghem import SegmentationLoss
from tests.helpers.exports import exported, exported_losses, resolve

from tests.tghem.test_dice import dice_reference


def _batch(seed, shape=(2, 9, 11)):
    rng = np.random.default_rng(seed)
    logits = torch.tensor(rng.normal(size=(shape[0], 1) + shape[1:]) * 2)
    mask = torch.tensor((rng.random(shape) < 0.3).astype(np.float64))
    return logits, mask


def focal_reference(logits, mask, alpha, gamma):
    x = logits[:, 0].numpy()
    t = mask.numpy()
    p = 1 / (1 + np.exp(-x))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = np.where(t == 1, p, 1 - p)
    a_t = 1.0 if alpha is None else np.where(t == 1, alpha, 1 - alpha)
    return a_t * (1 - p_t) ** gamma * bce


def test_focal_hand_value():
    loss = FocalLoss()(torch.zeros(1, 1, 1, 2), torch.tensor([[[1.0, 0.0]]]))
    assert loss.item() == pytest.approx(0.125 * np.log(2), rel=1e-6)


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (None, 0.0), (0.6, 1.5)])
def test_focal_matches_reference(alpha, gamma):
    logits, mask = _batch(0)
    expected = focal_reference(logits, mask, alpha, gamma)
    np.testing.assert_allclose(focal_loss(logits, mask, alpha=alpha, gamma=gamma).item(), expected.mean(), rtol=1e-10)
    np.testing.assert_allclose(
        FocalLoss(alpha, gamma, reduction="none")(logits, mask).numpy(), expected.reshape(2, -1).mean(1), rtol=1e-10
    )
    np.testing.assert_allclose(FocalLoss(alpha, gamma, reduction="sum")(logits, mask).item(), expected.sum(), rtol=1e-10)


def test_focal_gamma_zero_no_alpha_is_bce():
    logits, mask = _batch(1)
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], mask)
    torch.testing.assert_close(FocalLoss(alpha=None, gamma=0.0)(logits, mask), bce)


def test_focal_ignore_index():
    logits, mask = _batch(2)
    padded_mask = mask.clone()
    padded_mask[:, :, -3:] = 255
    got = FocalLoss(ignore_index=255)(logits, padded_mask)
    expected = FocalLoss()(logits[..., :-3], mask[..., :-3])
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)


def skeleton_reference(image, iterations):
    """Soft skeleton with scipy's grey morphology; borders behave like max-pool padding."""
    def erode(a):
        v = ndimage.minimum_filter(a, size=(3, 1), mode="constant", cval=np.inf)
        h = ndimage.minimum_filter(a, size=(1, 3), mode="constant", cval=np.inf)
        return np.minimum(v, h)

    def dilate(a):
        return ndimage.maximum_filter(a, size=3, mode="constant", cval=-np.inf)

    relu = lambda a: np.maximum(a, 0)
    skel = relu(image - dilate(erode(image)))
    for _ in range(iterations):
        image = erode(image)
        delta = relu(image - dilate(erode(image)))
        skel = skel + relu(delta - skel * delta)
    return skel


def test_soft_skeleton_closed_forms():
    square = torch.zeros(1, 1, 7, 7)
    square[..., 2:5, 2:5] = 1
    centre = torch.zeros(1, 1, 7, 7)
    centre[..., 3, 3] = 1
    torch.testing.assert_close(soft_skeleton(square, 10), centre)
    line = torch.zeros(1, 1, 5, 9)
    line[..., 2, 1:8] = 1
    torch.testing.assert_close(soft_skeleton(line, 10), line)


def test_soft_skeleton_matches_scipy_reference():
    rng = np.random.default_rng(3)
    image = rng.random((12, 14))
    for iterations in (1, 3, 10):
        got = soft_skeleton(torch.tensor(image)[None, None], iterations)[0, 0].numpy()
        np.testing.assert_allclose(got, skeleton_reference(image, iterations), rtol=1e-12, atol=1e-12)


def test_cldice_value_matches_formula_and_is_not_constant():
    logits, mask = _batch(4, shape=(1, 16, 16))
    p = torch.sigmoid(logits[0, 0]).numpy()
    g = mask[0].numpy()
    sp, sg = skeleton_reference(p, 10), skeleton_reference(g, 10)
    t_prec = ((sp * g).sum() + 1) / (sp.sum() + 1)
    t_sens = ((sg * p).sum() + 1) / (sg.sum() + 1)
    cl = 1 - 2 * t_prec * t_sens / (t_prec + t_sens)
    dice = dice_reference(logits.numpy(), mask.numpy())[0]
    for alpha in (0.0, 0.5, 1.0):
        got = SoftDiceCLDiceLoss(alpha=alpha)(logits, mask).item()
        assert got == pytest.approx((1 - alpha) * dice + alpha * cl, rel=1e-10)
    # one-channel input must not collapse to a constant (a known defect of channel-slicing versions)
    only_cl = SoftDiceCLDiceLoss(alpha=1.0)
    assert only_cl(logits, mask).item() != pytest.approx(only_cl(-logits, mask).item(), abs=1e-3)
    assert only_cl(logits, mask).item() > 0


def cldice_reference(logits, mask, alpha, iterations, smooth, ignore_index=None):
    """Per-image soft Dice + clDice in float64 numpy: ignored pixels are 0 in the probability and
    the target before both skeletons (the class's rule), every image its own term."""
    out = []
    for b in range(len(logits)):
        keep = np.ones(mask[b].shape) if ignore_index is None else (mask[b] != ignore_index).astype(float)
        p = 1 / (1 + np.exp(-logits[b, 0])) * keep
        g = np.where(mask[b] == 1, 1.0, 0.0) * keep
        sp, sg = skeleton_reference(p, iterations), skeleton_reference(g, iterations)
        t_prec = ((sp * g).sum() + smooth) / (sp.sum() + smooth)
        t_sens = ((sg * p).sum() + smooth) / (sg.sum() + smooth)
        out.append(1 - 2 * t_prec * t_sens / (t_prec + t_sens))
    dice = dice_reference(logits, mask, smooth=smooth, ignore_index=ignore_index)
    return (1 - alpha) * dice + alpha * np.array(out)


def test_cldice_is_per_image_with_padding_and_smoothing():
    """Each image of the batch is its own term (no pooling over the batch), padding is left out as
    the class states, and ``smooth`` reaches both terms."""
    logits, mask = _batch(6, shape=(3, 16, 16))
    logits, mask = logits.numpy(), mask.numpy()
    mask[1, 12:, :] = 255  # a padded crop
    mask[2] = 0  # an image without foreground
    expected = cldice_reference(logits, mask, 0.4, 5, 0.7, 255)
    loss = SoftDiceCLDiceLoss(alpha=0.4, iterations=5, smooth=0.7, ignore_index=255, reduction="none")
    got = loss(torch.tensor(logits), torch.tensor(mask)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert np.ptp(expected) > 0.05  # the images differ, so a batch-pooled version could not match
    for reduction, value in (("mean", expected.mean()), ("sum", expected.sum())):
        got = SoftDiceCLDiceLoss(alpha=0.4, iterations=5, smooth=0.7, ignore_index=255, reduction=reduction)(
            torch.tensor(logits), torch.tensor(mask)).item()
        assert got == pytest.approx(value, rel=1e-10)
    assert not np.allclose(expected, cldice_reference(logits, mask, 0.4, 5, 1.0, 255), rtol=1e-6)


def test_cldice_gradcheck():
    logits, mask = _batch(5, shape=(1, 8, 8))
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: SoftDiceCLDiceLoss(iterations=3)(t, mask), (x,))


def test_focal_gradcheck():
    logits, mask = _batch(6, shape=(2, 4, 4))
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: FocalLoss(gamma=1.5)(t, mask), (x,))


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9])
def test_focal_gamma_below_one_has_finite_gradients_on_saturated_pixels(gamma):
    # (1 - p_t)^gamma has an infinite slope at 0: a confidently correct pixel (p_t rounds to 1) made
    # every gradient NaN. Its true slope is 0; the other pixels keep the formula's value and gradient.
    logits = torch.tensor([[[[40.0, -40.0, 0.7, -1.2]]]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]], dtype=torch.float64)
    loss = FocalLoss(gamma=gamma, reduction="sum")(logits, mask)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 0, 0, :2].abs().max() < 1e-15  # the saturated pixels: slope 0
    tail = logits.detach()[..., 2:].clone().requires_grad_(True)
    expected = FocalLoss(gamma=gamma, reduction="sum")(tail, mask[..., 2:])
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12, abs=1e-300)
    torch.testing.assert_close(logits.grad[..., 2:], tail.grad, rtol=1e-12, atol=0)
    np.testing.assert_allclose(expected.item(), focal_reference(tail.detach().float(), mask[..., 2:].float(), 0.25, gamma).sum(),
                               rtol=1e-6)


@pytest.mark.parametrize("call, error, message", [
    (lambda: soft_skeleton(torch.rand(1, 1, 4, 4), -1), ValueError, r"^iterations must be an int in \[0, 1000\], got -1$"),
    (lambda: soft_skeleton(torch.full((1, 1, 4, 4), float("nan"))), ValueError,
     r"^image must hold values in \[0, 1\] \(probabilities\), got 16 other value\(s\)$"),
    (lambda: soft_skeleton(torch.full((1, 1, 3, 3), 1.5)), ValueError,
     r"^image must hold values in \[0, 1\] \(probabilities\), got 9 other value\(s\)$"),
    (lambda: SoftDiceCLDiceLoss(alpha=2.0), ValueError, r"^alpha must be in \[0, 1\], got 2.0$"),
    (lambda: soft_skeleton(torch.rand(4, 4)), ValueError, r"^image must have shape \(B, C, H, W\) with B, C, H, W > 0, got shape \(4, 4\)$"),
    (lambda: soft_skeleton(np.zeros((1, 1, 4, 4))), TypeError, r"^image must be a floating torch.Tensor of shape \(B, C, H, W\), got ndarray"),
    # 10**12 steps were accepted: the first call never returned.
    (lambda: SoftDiceCLDiceLoss(iterations=10**12), ValueError, r"^iterations must be an int in \[1, 1000\], got 1000000000000$"),
    (lambda: DiceBCELoss(dice_weight=0.0, bce_weight=0.0), ValueError, r"^dice_weight and bce_weight must not both be 0"),
    (lambda: DiceBCELoss(smooth=1e39), ValueError, r"^smooth must be in \[1e-12, 1e\+12\], got 1e\+39$"),
])
def test_bad_arguments_of_the_baselines_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_checked_skeleton_is_the_loss_s():
    prob = torch.sigmoid(_batch(3, shape=(2, 9, 11))[0])
    from baselines.cldice import _soft_skeleton, soft_dilate, soft_erode
    assert torch.equal(soft_skeleton(prob, 4), _soft_skeleton(prob, 4))
    assert torch.equal(soft_skeleton(prob, 0), torch.relu(prob - soft_dilate(soft_erode(prob))))  # the residue of one opening


def test_dice_bce_matches_formula():
    logits, mask = _batch(7)
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], mask, reduction="none").flatten(1).mean(1)
    dice = torch.tensor(dice_reference(logits.numpy(), mask.numpy()))
    torch.testing.assert_close(DiceBCELoss(reduction="none")(logits, mask), 0.5 * dice + 0.5 * bce)


def test_dice_bce_weights_padding_and_smoothing():
    """Other weights and smoothing than the defaults, each in its place; padding counts in neither
    term (a padded crop scores as the same crop cut to its valid part)."""
    logits, mask = _batch(8)
    padded = mask.clone()
    padded[:, :, -3:] = 255
    bce = F.binary_cross_entropy_with_logits(logits[:, 0, :, :-3], mask[:, :, :-3], reduction="none").flatten(1).mean(1)
    dice = torch.tensor(dice_reference(logits.numpy(), padded.numpy(), smooth=0.7, ignore_index=255))
    loss = DiceBCELoss(dice_weight=0.3, bce_weight=1.7, smooth=0.7, ignore_index=255, reduction="none")
    torch.testing.assert_close(loss(logits, padded), 0.3 * dice + 1.7 * bce)
    cut = DiceBCELoss(dice_weight=0.3, bce_weight=1.7, smooth=0.7, reduction="none")(logits[..., :-3], mask[..., :-3])
    torch.testing.assert_close(loss(logits, padded), cut)


@pytest.mark.parametrize("cls", [FocalLoss, DiceBCELoss])
def test_a_crop_of_padding_only_costs_0_not_nan(cls):
    """A crop with no valid pixel (all ``ignore_index``) adds 0 to the batch, and the other crop keeps its value."""
    logits, mask = _batch(3)
    padded = mask.clone()
    padded[1] = 255
    per_crop = cls(ignore_index=255, reduction="none")(logits, padded)
    assert per_crop[1].item() == 0.0
    assert per_crop[0].item() == pytest.approx(cls(reduction="none")(logits[:1], mask[:1]).item(), rel=1e-12)
    assert cls(ignore_index=255)(logits, torch.full_like(mask, 255)).item() == 0.0  # every crop padding: 'mean' too


def test_focal_per_image_and_sum_leave_padding_out():
    logits, mask = _batch(9)
    padded = mask.clone()
    padded[1, :, -4:] = 255  # one image padded
    expected = focal_reference(logits, padded, 0.25, 2.0)
    keep = (padded != 255).numpy()
    per_image = np.array([expected[b][keep[b]].mean() for b in range(2)])
    got = FocalLoss(ignore_index=255, reduction="none")(logits, padded).numpy()
    np.testing.assert_allclose(got, per_image, rtol=1e-10)
    cut = FocalLoss(reduction="none")(logits[1:, ..., :-4], mask[1:, :, :-4]).numpy()
    np.testing.assert_allclose(got[1:], cut, rtol=1e-10)
    assert FocalLoss(ignore_index=255, reduction="sum")(logits, padded).item() == pytest.approx(
        expected[keep].sum(), rel=1e-10)


def test_ohem_baseline_is_segmentation_loss():
    assert OHEMLoss is SegmentationLoss


@pytest.mark.parametrize("loss", [FocalLoss(), SoftDiceCLDiceLoss(), DiceBCELoss(), OHEMLoss(min_kept=10)])
def test_common_call_accepts_dots_and_none(loss):
    logits, mask = _batch(8)
    with_dots = loss(logits, mask, torch.zeros_like(mask))
    without = loss(logits, mask)
    assert with_dots.shape == () and torch.equal(with_dots, without)


def _functional_twins():
    """Loss class path -> the exported function whose docstring says it is its functional form."""
    twins = {}
    for path, function in exported(inspect.isfunction).items():
        if m := re.match(r"Functional form of :class:`~?(?:[\w.]+\.)?(\w+)`", (function.__doc__ or "").strip()):
            twins[f"{path.split('.')[0]}.{m.group(1)}"] = path
    return twins


FUNCTIONAL_TWINS = _functional_twins()


def test_every_exported_loss_class_has_a_functional_twin():
    """The house rule "a functional form beside each module", for every loss class the two packages
    export (the abstract base CropWeightedLoss and the alias OHEMLoss aside); found by their docstrings,
    so a new loss needs no entry here."""
    assert exported_losses() - {"tghem.CropWeightedLoss", "baselines.OHEMLoss"} == set(FUNCTIONAL_TWINS)
    assert FUNCTIONAL_TWINS["tghem.TGHEM"] == "tghem.tghem_loss" and len(FUNCTIONAL_TWINS) >= 8


@pytest.mark.parametrize("cls_path, function_path", FUNCTIONAL_TWINS.items(), ids=list(FUNCTIONAL_TWINS))
def test_a_functional_twin_returns_its_module_s_value(cls_path, function_path):
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 24, 24, requires_grad=True)
    dots = torch.zeros(3, 24, 24)
    dots[:, 5::9, 4::8] = 1
    mask = F.max_pool2d(dots[:, None], 3, 1, 1)[:, 0]
    mask[1, 20:] = 255  # padding, left out
    topo = {"ohem_min_kept": 50, "topo_workers": 0, "lambda_pers": 0.1}
    kwargs = {"ignore_index": 255, "reduction": "none", **{
        "tghem.SegmentationLoss": {"thresh": 0.7, "min_kept": 50}, "tghem.TGHEM": topo, "baselines.ShuffledTGHEM": topo,
        "baselines.CountWeightedOHEM": {"ohem_min_kept": 50}}.get(cls_path, {})}
    cls, function = resolve(cls_path), resolve(function_path)
    module_kwargs, function_kwargs = dict(kwargs), dict(kwargs)
    if cls_path == "baselines.ShuffledTGHEM":  # the same permutations for both
        module_kwargs["generator"] = torch.Generator().manual_seed(5)
        function_kwargs["generator"] = torch.Generator().manual_seed(5)
    expected = cls(**module_kwargs)(logits, mask, dots)
    got = function(logits, mask, dots, **function_kwargs)
    assert expected.shape == got.shape == (3,)
    assert torch.equal(expected, got)
    (grad,) = torch.autograd.grad(got.sum(), logits)
    assert grad[1, 0, 20:].abs().sum() == 0 and grad.abs().sum() > 0
