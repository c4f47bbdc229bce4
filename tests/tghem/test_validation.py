"""Malformed input: every case raises ValueError/TypeError naming the culprit."""
import numpy as np
import pytest
import torch

from baselines import DiceBCELoss, FocalLoss, SoftDiceCLDiceLoss
from tghem import TGHEM, BinaryDiceLoss, SegmentationLoss, TopoGuide

LOGITS = torch.zeros(2, 1, 8, 8)
MASK = torch.zeros(2, 8, 8)
DOTS = torch.zeros(2, 8, 8)


def _with(**changes):
    args = {"pred_logits": LOGITS, "gt_mask": MASK, "gt_dots": DOTS}
    args.update(changes)
    return args


CALL_CASES = [
    ("pred_logits", TypeError, _with(pred_logits=np.zeros((2, 1, 8, 8)))),
    ("pred_logits", TypeError, _with(pred_logits=torch.zeros(2, 1, 8, 8, dtype=torch.long))),
    ("pred_logits", ValueError, _with(pred_logits=torch.zeros(2, 8, 8))),
    ("pred_logits", ValueError, _with(pred_logits=torch.zeros(2, 2, 8, 8))),
    ("pred_logits", ValueError, _with(pred_logits=torch.zeros(0, 1, 8, 8), gt_mask=torch.zeros(0, 8, 8), gt_dots=torch.zeros(0, 8, 8))),
    ("pred_logits", ValueError, _with(pred_logits=torch.zeros(2, 1, 0, 8), gt_mask=torch.zeros(2, 0, 8), gt_dots=torch.zeros(2, 0, 8))),
    ("pred_logits", ValueError, _with(pred_logits=torch.full((2, 1, 8, 8), float("nan")))),
    ("pred_logits", ValueError, _with(pred_logits=torch.full((2, 1, 8, 8), float("inf")))),
    ("gt_mask", TypeError, _with(gt_mask=np.zeros((2, 8, 8)))),
    ("gt_mask", TypeError, _with(gt_mask=None)),
    ("gt_mask", ValueError, _with(gt_mask=torch.zeros(2, 1, 8, 8))),
    ("gt_mask", ValueError, _with(gt_mask=torch.zeros(3, 8, 8))),
    ("gt_mask", ValueError, _with(gt_mask=torch.zeros(2, 8, 7))),
    ("gt_mask", ValueError, _with(gt_mask=torch.full((2, 8, 8), 2.0))),
    ("gt_mask", ValueError, _with(gt_mask=torch.full((2, 8, 8), 0.5))),
    ("gt_mask", ValueError, _with(gt_mask=torch.full((2, 8, 8), 255.0))),  # no ignore_index set
    ("gt_mask", ValueError, _with(gt_mask=torch.zeros(2, 8, 8, device="meta"))),
    ("gt_mask", TypeError, _with(gt_mask=torch.zeros(2, 8, 8, dtype=torch.complex64))),
    ("gt_dots", TypeError, _with(gt_dots=np.zeros((2, 8, 8)))),
    ("gt_dots", TypeError, _with(gt_dots=None)),
    ("gt_dots", ValueError, _with(gt_dots=torch.zeros(2, 8, 9))),
    ("gt_dots", ValueError, _with(gt_dots=torch.full((2, 8, 8), -1.0))),
    ("gt_dots", ValueError, _with(gt_dots=torch.full((2, 8, 8), float("nan")))),
    ("gt_dots", ValueError, _with(gt_dots=torch.zeros(2, 8, 8, device="meta"))),
]


@pytest.mark.parametrize("argument,error,kwargs", CALL_CASES)
def test_tghem_call_rejects(argument, error, kwargs):
    with pytest.raises(error, match=argument):
        TGHEM()(kwargs["pred_logits"], kwargs["gt_mask"], kwargs["gt_dots"])


@pytest.mark.parametrize("argument,error,kwargs", [c for c in CALL_CASES if c[0] != "gt_dots" or c[2]["gt_dots"] is not None])
@pytest.mark.parametrize(
    "loss", [BinaryDiceLoss(), SegmentationLoss(), FocalLoss(), SoftDiceCLDiceLoss(), DiceBCELoss()], ids=type
)
def test_every_loss_rejects(loss, argument, error, kwargs):
    with pytest.raises(error, match=argument):
        loss(kwargs["pred_logits"], kwargs["gt_mask"], kwargs["gt_dots"])


def test_message_states_expected_and_actual():
    with pytest.raises(ValueError) as info:
        TGHEM()(LOGITS, torch.zeros(2, 8, 7), DOTS)
    assert "(2, 8, 8)" in str(info.value) and "(2, 8, 7)" in str(info.value)
    with pytest.raises(TypeError) as info:
        TGHEM()(LOGITS.long(), MASK, DOTS)
    assert "floating" in str(info.value) and "torch.int64" in str(info.value)
    # Not a tensor: named by type and shape (an array) or a repr cut short, never the whole image.
    with pytest.raises(TypeError) as info:
        TGHEM()(LOGITS.numpy(), MASK, DOTS)
    assert str(info.value).endswith(f"got ndarray(shape={tuple(LOGITS.shape)}, dtype=float32)")
    with pytest.raises(TypeError) as info:
        TGHEM()(torch.zeros(2, 1, 256, 256).tolist(), MASK, DOTS)
    assert str(info.value).endswith("got list [[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0...")


CONSTRUCTOR_CASES = [
    (TGHEM, {"lambda_pers": -0.1}, ValueError, "lambda_pers"),
    (TGHEM, {"lambda_pers": float("nan")}, ValueError, "lambda_pers"),
    (TGHEM, {"lambda_pers": "0.5"}, TypeError, "lambda_pers"),
    (TGHEM, {"ohem_thresh": 0.0}, ValueError, "ohem_thresh"),
    (TGHEM, {"ohem_thresh": 1.0}, ValueError, "ohem_thresh"),
    (TGHEM, {"ohem_min_kept": 0}, ValueError, "ohem_min_kept"),
    (TGHEM, {"ohem_min_kept": 10.5}, TypeError, "ohem_min_kept"),
    (TGHEM, {"topo_epsilon": 0.0}, ValueError, "topo_epsilon"),
    (TGHEM, {"topo_epsilon": float("inf")}, ValueError, "topo_epsilon"),
    (TGHEM, {"topo_reduction": "max"}, ValueError, "topo_reduction"),
    (TGHEM, {"centroid_mode": "pixel"}, ValueError, "centroid_mode"),
    (TGHEM, {"reduction": "avg"}, ValueError, "reduction"),
    (TGHEM, {"reduction": None}, TypeError, "reduction"),
    (TGHEM, {"ignore_index": 0.5}, TypeError, "ignore_index"),
    (TGHEM, {"topo_guide": "gudhi"}, TypeError, "topo_guide"),
    (BinaryDiceLoss, {"smooth": 0.0}, ValueError, "smooth"),
    (BinaryDiceLoss, {"reduction": "batchmean"}, ValueError, "reduction"),
    (SegmentationLoss, {"thresh": 1.5}, ValueError, "thresh"),
    (SegmentationLoss, {"min_kept": -3}, ValueError, "min_kept"),
    (SegmentationLoss, {"dice_weight": -1.0}, ValueError, "dice_weight"),
    (TopoGuide, {"epsilon": -5.0}, ValueError, "epsilon"),
    (TopoGuide, {"reduction": "H0"}, ValueError, "reduction"),
    (TopoGuide, {"backend": "giotto"}, ValueError, "backend"),
    (FocalLoss, {"gamma": -1.0}, ValueError, "gamma"),
    (FocalLoss, {"alpha": 1.5}, ValueError, "alpha"),
    (SoftDiceCLDiceLoss, {"iterations": 0}, ValueError, "iterations"),
    (SoftDiceCLDiceLoss, {"iterations": True}, TypeError, "iterations"),
    (SoftDiceCLDiceLoss, {"alpha": -0.1}, ValueError, "alpha"),
]


@pytest.mark.parametrize("cls,kwargs,error,argument", CONSTRUCTOR_CASES)
def test_constructor_rejects(cls, kwargs, error, argument):
    with pytest.raises(error, match=argument):
        cls(**kwargs)


def test_ignore_index_value_accepted_when_declared():
    mask = MASK.clone()
    mask[:, 0] = 255
    assert torch.isfinite(TGHEM(ignore_index=255)(LOGITS, mask, DOTS))


ALL_LOSSES = [BinaryDiceLoss, SegmentationLoss, FocalLoss, SoftDiceCLDiceLoss, DiceBCELoss, TGHEM]


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("dtype", "ignore_index", "bad"), [
    (torch.uint8, -1, 255), (torch.uint8, 511, 255),  # torch would wrap both to 255 and ignore those pixels
    (torch.int8, 383, 127), (torch.float16, 2049, 2048.0),  # wrapped to 127; rounded to 2048
])
def test_an_ignore_index_the_mask_dtype_cannot_hold_ignores_no_pixel(cls, dtype, ignore_index, bad):
    """The 255s of a uint8 mask are not ``ignore_index=-1``'s pixels: the mask is refused, naming the value."""
    mask = torch.zeros(2, 8, 8, dtype=dtype)
    mask[:, 0] = bad
    with pytest.raises(ValueError) as info:
        cls(ignore_index=ignore_index)(LOGITS, mask, DOTS)
    assert str(info.value) == (f"gt_mask values must be in {{0, 1}} or ignore_index={ignore_index}, got 16 other "
                               f"value(s), e.g. {bad!r}")


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.__name__)
def test_an_ignore_index_a_uint8_mask_cannot_hold_leaves_every_labelled_pixel_in(cls):
    """``ignore_index=256`` on a uint8 mask: torch's ``mask != 256`` is ``mask != 0`` (every background pixel
    left out); the loss must equal the one with no ignore_index at all."""
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    mask = (torch.rand(2, 8, 8) < 0.3).to(torch.uint8)
    dots = torch.zeros(2, 8, 8)
    dots[:, 4, 4] = 1
    assert not torch.equal(mask != 256, torch.ones_like(mask, dtype=torch.bool))  # what torch itself computes
    expected = cls(ignore_index=None)(logits, mask.float(), dots)
    assert torch.equal(cls(ignore_index=256)(logits, mask, dots), expected)


def test_the_prediction_and_hard_mask_compare_ignore_index_exactly_too():
    from tghem.weighting import binarize_prediction

    logits = torch.tensor([[[[2.0, 2.0, -2.0, 2.0]]]])
    mask = torch.tensor([[[0, 1, 0, 255]]], dtype=torch.uint8)
    assert binarize_prediction(logits, mask, 256).tolist() == [[[True, True, False, True]]]  # torch: 256 == 0
    assert binarize_prediction(logits, mask, 255).tolist() == [[[True, True, False, False]]]
    every_pixel = torch.ones(1, 1, 4, dtype=torch.bool)
    mask01 = torch.tensor([[[0, 1, 0, 1]]], dtype=torch.uint8)
    loss = SegmentationLoss(ignore_index=256, reduction="sum")(logits, mask01, hard_mask=every_pixel)
    assert torch.equal(loss, SegmentationLoss(ignore_index=None, reduction="sum")(logits, mask01.float(), hard_mask=every_pixel))


def test_hard_mask_checked():
    loss = SegmentationLoss()
    with pytest.raises(TypeError, match="hard_mask"):
        loss(LOGITS, MASK, hard_mask=torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="hard_mask"):
        loss(LOGITS, MASK, hard_mask=torch.zeros(2, 4, 4, dtype=torch.bool))
    padded = MASK.clone()
    padded[:, 0] = 255
    hard = torch.zeros(2, 8, 8, dtype=torch.bool)
    hard[1, 0, 3] = True  # a padding pixel
    with pytest.raises(ValueError, match="^hard_mask must not select pixels whose gt_mask equals ignore_index$"):
        SegmentationLoss(ignore_index=255)(LOGITS, padded, hard_mask=hard)
    hard[1, 0, 3], hard[1, 2, 3] = False, True  # a valid pixel: accepted
    assert torch.isfinite(SegmentationLoss(ignore_index=255)(LOGITS, padded, hard_mask=hard))


@pytest.mark.parametrize(
    "gt,pred,error,argument",
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), ValueError, "same shape"),
        (np.zeros((2, 4, 4)), np.zeros((4, 4)), ValueError, "gt_dots"),
        ([[0, 1]], np.zeros((1, 2)), TypeError, "gt_dots"),
        (np.zeros((4, 4)), np.zeros((4, 4), dtype=object), TypeError, "pred_binary"),
    ],
)
def test_topoguide_call_rejects(gt, pred, error, argument):
    with pytest.raises(error, match=argument):
        TopoGuide()(gt, pred)


def test_topoguide_batch_rejects():
    with pytest.raises(ValueError, match="gt_dots"):
        TopoGuide().discrepancies(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="same shape"):
        TopoGuide().discrepancies(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)))
