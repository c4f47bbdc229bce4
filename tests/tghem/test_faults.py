"""The library under abuse (issue 21): every floating dtype, NaN/inf, an overflowing lambda_pers,
an ignore_index that is a mask label, torch.compile."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tghem import TGHEM, BinaryDiceLoss, SegmentationLoss, TopoGuide
from tghem.flag_persistence import flag_persistence
from tghem.matching import Counts, detection_counts, match_points
from tghem.points import dot_map
from tghem.loss import FLOAT32_MAX
from tghem.ohem import _select_hard_pixels, select_hard_pixels
from tghem.targets import adaptive_radii, dilated_mask, separate_disks
from tghem.topology import diagram_distance, dot_points, points_discrepancy, rips_diagrams
from tghem.wasserstein import h0_wasserstein_distance, wasserstein_distance, wasserstein_matching
from tests.helpers.imports import project_modules
from tests.helpers.paths import ROOT


def batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 32, 32)
    mask = torch.zeros(2, 32, 32)
    mask[:, 8:13, 8:13] = 1
    mask[1, 20:25, 20:25] = 1
    dots = torch.zeros(2, 32, 32)
    dots[:, 10, 10] = 1
    dots[1, 22, 22] = 1
    return logits, mask, dots


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.uint8, torch.bool])
def test_every_dtype_of_dots_and_mask_gives_the_float32_value(dtype):
    logits, mask, dots = batch()
    criterion = TGHEM(ohem_min_kept=100, topo_workers=0, top_dimension=True)
    expected = criterion(logits, mask, dots)
    assert criterion(logits, mask.to(dtype), dots.to(dtype)) == expected
    guide = TopoGuide(top_dimension=True, workers=0)
    binary = torch.sigmoid(logits[:, 0]) >= 0.5
    assert guide(dots[1].to(dtype), binary[1]) == guide(dots[1], binary[1])
    assert dot_points(dots[1].to(dtype)).tolist() == [[10.0, 10.0], [22.0, 22.0]]
    points = torch.tensor([[1.0, 2.0], [30.0, 2.0]])
    assert points_discrepancy(points.to(dtype) if dtype.is_floating_point else points, points[:1], 50.0) == \
        points_discrepancy(points, points[:1], 50.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_and_inf_pixels_are_refused_everywhere(bad):
    _, _, dots = batch()
    dots[0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"^dots must be finite, got 1 NaN/inf value\(s\)$"):
        dot_points(dots[0])
    with pytest.raises(ValueError, match=r"^gt_dots must be finite, got 1 NaN/inf value\(s\)$"):
        TopoGuide(workers=0)(dots[0], torch.zeros(32, 32))
    with pytest.raises(ValueError, match=r"^gt_dots must be finite, got 1 NaN/inf value\(s\)$"):
        TopoGuide(workers=0).discrepancies(dots, torch.zeros(2, 32, 32))


def test_a_lambda_that_overflows_the_weights_is_refused_with_the_bound():
    bound = FLOAT32_MAX * 2 ** 0.5 / 50.0
    with pytest.raises(ValueError, match=rf"^lambda_pers \* topo_epsilon / sqrt\(2\) must be < 3.4e\+38 .*got "
                                         rf"lambda_pers=1e\+308, topo_epsilon=50: use lambda_pers < {re.escape(f'{bound:.3g}')}$"):
        TGHEM(lambda_pers=1e308)
    TGHEM(lambda_pers=bound * 0.99)  # just below: accepted
    # Below the constructor's bound but overflowing on this batch's D and pixel loss: refused at the call.
    _, mask, dots = batch()
    logits = torch.full((2, 1, 32, 32), -50.0)  # finds no cell: D ~ 47, pixel loss ~ 25
    criterion = TGHEM(lambda_pers=9e36, ohem_min_kept=100, topo_workers=0, top_dimension=True)
    # the message names the crop of the largest D (crop 1: two dots), its D, the largest pixel loss and the bound
    reference = TGHEM(lambda_pers=0.0, ohem_min_kept=100, topo_workers=0, top_dimension=True, reduction="none")
    per_crop = reference(logits, mask, dots)
    d = reference.last_discrepancy
    assert int(torch.argmax(d)) == 1 and float(d[1]) == pytest.approx((50 + 12 * 2 ** 0.5) / 2 ** 0.5, rel=1e-6)
    loss = float(per_crop.max())
    bound = FLOAT32_MAX / (float(d[1]) * max(loss, 1.0))
    with pytest.raises(ValueError, match=rf"^lambda_pers=9e\+36 overflows the loss in float32: crop 1 has D = "
                                         rf"{re.escape(f'{float(d[1]):g}')} and pixel loss up to {re.escape(f'{loss:g}')}, "
                                         rf".* use lambda_pers < {re.escape(f'{bound:.3g}')}$"):
        criterion(logits, mask, dots)


def test_a_pixel_loss_that_is_not_finite_itself_is_named_not_blamed_on_lambda():
    _, mask, dots = batch()
    logits = torch.zeros(2, 1, 32, 32)
    logits[1] = 3e38  # finite logits whose BCE sums past float32
    with pytest.raises(ValueError, match=r"^the pixel loss of crop 1 is not finite \(inf\) before any weighting: .*"
                                         r"largest \|logit\| 3e\+38\); lower the learning rate"):
        TGHEM(ohem_min_kept=100, topo_workers=0)(logits, mask, dots)


# The public helpers check their arguments as the losses do: a clear error naming the argument,
# never a silent empty selection, a NaN diagram or a mask from a NaN radius.
HELPER_ERRORS = [
    (lambda: select_hard_pixels(*batch()[:2], min_kept=0), ValueError, r"^min_kept must be an int >= 1, got 0$"),
    (lambda: select_hard_pixels(*batch()[:2], thresh=math.nan), ValueError, r"^thresh must be a finite number in \(0, 1\), got nan$"),
    (lambda: select_hard_pixels(*batch()[:2], per_image=1), TypeError, r"^per_image must be a bool, got int 1$"),
    (lambda: select_hard_pixels(batch()[0], batch()[1][:, :3]), ValueError, r"^gt_mask must have shape \(B, H, W\) = \(2, 32, 32\)"),
    (lambda: rips_diagrams(np.zeros((2, 2)), math.nan), ValueError, r"^epsilon must be a finite number in \(0, inf\), got nan$"),
    (lambda: rips_diagrams(np.zeros((2, 2)), 0), ValueError, r"^epsilon must be in \(0, inf\), got 0.0$"),
    (lambda: rips_diagrams(np.zeros((2, 2)), 5.0, top_dimension="yes"), TypeError, r"^top_dimension must be a bool, got str 'yes'$"),
    (lambda: diagram_distance(np.zeros(3), np.zeros((0, 2))), ValueError, r"^diagram_a must have shape \(K, 2\) .*got shape \(3,\)$"),
    (lambda: diagram_distance(np.zeros((0, 2)), [[0.0, math.inf]]), ValueError, r"^diagram_b must be finite, got rows \[\[0.0, inf\]\]$"),
    (lambda: diagram_distance("x", np.zeros((0, 2))), TypeError, r"^diagram_a must be a \(K, 2\) array of .*got str 'x'$"),
    (lambda: adaptive_radii([[0, 0], [8, 0]], max_radius=math.nan), ValueError, r"^max_radius must be a finite number in \[0, inf\), got nan$"),
    (lambda: adaptive_radii([[0, 0], [8, 0]], fraction=0), ValueError, r"^fraction must be in \(0, 0.5\], got 0.0$"),
    (lambda: dilated_mask([[1, 1], [4, 1]], (3, 6), [1.0, math.nan]), ValueError,
     r"^radius: expected 2 finite non-negative radii, got 1 other\(s\), e.g. nan$"),
    (lambda: dilated_mask([[1, 1], [4, 1]], (3, 6), math.inf), ValueError, r"^radius: expected a finite number >= 0, got inf$"),
    (lambda: dilated_mask([[1, 1]], (3, 6), ["2"]), TypeError, r"^radius: expected a number, 'adaptive' or \(N,\) radii, got list \['2'\]$"),
    (lambda: dilated_mask([[1, 1]], (3, 6), [1 + 1j]), TypeError, r"^radius: expected a number, 'adaptive' or \(N,\) radii, got list \[\(1\+1j\)\]$"),
    (lambda: dilated_mask([[1, 1]], (3, 6), True), TypeError, r"^radius: expected a number, 'adaptive' or \(N,\) radii, got bool True$"),
    # Checked even when no point falls inside the array (the check once ran only after that test).
    (lambda: separate_disks([[100, 100]], (3, 6), -1), ValueError, r"^radius: expected a finite number >= 0, got -1$"),
    # A bar below the diagonal once gave a negative distance (-1.414).
    (lambda: wasserstein_distance([[3.0, 1.0]], []), ValueError, r"^diagram_a: expected death >= birth in every row, got rows \[\[3.0, 1.0\]\]$"),
    (lambda: wasserstein_matching([], [[3.0, 1.0]]), ValueError, r"^diagram_b: expected death >= birth"),
    (lambda: diagram_distance([[3.0, 1.0]], []), ValueError, r"^diagram_a: expected death >= birth"),
    # explain once reshaped any input to (-1, 2): a (3, 4) array became six made-up points.
    (lambda: TopoGuide().explain(np.arange(12.0).reshape(3, 4), np.zeros((0, 2))), ValueError,
     r"^gt_points must have shape \(K, 2\) of x, y, got shape \(3, 4\)$"),
    (lambda: TopoGuide().explain(np.zeros((0, 2)), None), TypeError, r"^pred_points must be a \(K, 2\) array of x, y, got NoneType None$"),
    (lambda: points_discrepancy([[math.nan, 1.0]], np.zeros((0, 2))), ValueError, r"^gt_points must be finite, got rows \[\[nan, 1.0\]\]$"),
    (lambda: match_points([[0, 0], [1]], [[0, 0]], 3), TypeError, r"^pred must be a \(K, 2\) array of x, y, got list \[\[0, 0\], \[1\]\]$"),
    (lambda: detection_counts([[0, 0]], "gt", 3), TypeError, r"^gt must be a \(K, 2\) array of x, y, got str 'gt'$"),
    # numpy would take "1" for 1.0, drop an imaginary part with a warning only, and read a
    # (3, 0) array as no points; each is refused by name.
    (lambda: match_points([["1", "2"]], [], 3), TypeError, r"^pred must be a \(K, 2\) array of x, y, got list \[\['1', '2'\]\]$"),
    (lambda: match_points(np.array([[1 + 2j, 0]]), [], 3), TypeError, r"^pred must be a \(K, 2\) array of x, y, got ndarray\(shape=\(1, 2\), dtype=complex128\)$"),
    (lambda: match_points([], np.zeros((3, 0)), 3), ValueError, r"^gt must have shape \(K, 2\) of x, y, got shape \(3, 0\)$"),
    (lambda: rips_diagrams(np.zeros((0, 5)), 5.0), ValueError, r"^points must have shape \(K, 2\) of x, y, got shape \(0, 5\)$"),
    (lambda: diagram_distance(torch.zeros(1, 2, dtype=torch.complex64), []), TypeError, r"^diagram_a must be a \(K, 2\) array of .*dtype=torch.complex64"),
    (lambda: h0_wasserstein_distance(None, [1.0]), TypeError,
     r"^deaths_a must be an \(n,\) array of deaths or an \(n, 2\) array with births 0, got NoneType None$"),
    (lambda: h0_wasserstein_distance([1.0], [[1.0], [2.0, 3.0]]), TypeError, r"^deaths_b must be an \(n,\) array of deaths .*got list \[\[1.0\], \[2.0, 3.0\]\]$"),
    (lambda: h0_wasserstein_distance([1 + 1j], []), TypeError, r"^deaths_a must be an \(n,\) array of deaths"),
    (lambda: h0_wasserstein_distance(np.zeros((0, 3)), []), ValueError,
     r"^deaths_a must have shape \(n,\) of deaths or \(n, 2\) with births 0, got shape \(0, 3\)$"),
    (lambda: flag_persistence(2, [[0, 1]], ["a"]), TypeError, r"^squared must be an \(1,\) array of finite values >= 0, got list \['a'\]$"),
    (lambda: flag_persistence(2, [[0, 1]], [1 + 2j]), TypeError, r"^squared must be an \(1,\) array of finite values >= 0, got list \[\(1\+2j\)\]$"),
    (lambda: flag_persistence(2, None, []), TypeError, r"^pairs must be an \(m, 2\) integer array, got NoneType None$"),
    (lambda: flag_persistence(2, [[0, 1]], [1.0], dense_max_vertices="a"), TypeError, r"^dense_max_vertices must be an int, got str 'a'$"),
    (lambda: flag_persistence(2, [[0, 1]], [1.0], bitset_max_vertices=-1), ValueError, r"^bitset_max_vertices must be an int >= 0, got -1$"),
    (lambda: dot_map([[0, 0]], 5), ValueError, r"^shape: expected \(H, W\) with positive ints, got 5$"),
    (lambda: Counts(-1, 0, 0), ValueError, r"^Counts.tp: expected an int >= 0, got -1$"),
    (lambda: Counts(1, 0.5, 0), TypeError, r"^Counts.fp: expected an int >= 0, got float 0.5$"),
    (lambda: Counts(1, 0, 0) + 1, TypeError, r"unsupported operand type\(s\) for \+: 'Counts' and 'int'"),
    (lambda: SegmentationLoss(dice_weight=0, bce_weight=0.0), ValueError,
     r"^dice_weight and bce_weight must not both be 0 \(the loss would be 0 whatever the prediction\), got 0 and 0$"),
    (lambda: TGHEM(dice_weight=0.0, bce_weight=0), ValueError, r"^dice_weight and bce_weight must not both be 0"),
    (lambda: BinaryDiceLoss(smooth=1e-300), ValueError, r"^smooth must be in \[1e-12, 1e\+12\], got 1e-300$"),
    (lambda: SegmentationLoss(smooth=1e39), ValueError, r"^smooth must be in \[1e-12, 1e\+12\], got 1e\+39$"),
]


@pytest.mark.parametrize("index", range(len(HELPER_ERRORS)))
def test_the_public_helpers_refuse_bad_arguments_by_name(index):
    call, error, message = HELPER_ERRORS[index]
    with pytest.raises(error, match=message):
        call()


def test_the_checked_helpers_give_the_values_of_the_unchecked_paths():
    logits, mask, _ = batch()
    for per_image in (True, False):
        for thresh in (None, 0.7):
            expected = _select_hard_pixels(logits, mask, thresh, 50, None, per_image)
            assert torch.equal(select_hard_pixels(logits, mask, thresh=thresh, min_kept=50, per_image=per_image), expected)
    # Half precision is selected in float32, as the losses select it.
    assert torch.equal(select_hard_pixels(logits.bfloat16(), mask, min_kept=50),
                       _select_hard_pixels(logits.bfloat16().float(), mask, None, 50, None, True))
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    assert sorted(rips_diagrams(points, 50.0)[0][:, 1].tolist()) == [3.0, 4.0, 50.0]
    assert diagram_distance([[0.0, 2.0]], np.zeros((0, 2))) == pytest.approx(2 / 2 ** 0.5, rel=1e-15)
    assert dilated_mask([[1, 1]], (3, 3), np.float32(1)).sum() == 5  # numpy scalars stay numbers
    assert dot_map([[0, 0]], np.array([2, 2])).sum() == 1  # a shape array, as numpy gives it
    # The smallest and largest smoothing accepted keep the loss finite in float32 (outside: NaN).
    empty = torch.zeros(1, 1, 4, 4) - 200.0
    for smooth in (1e-12, 1e12):
        assert BinaryDiceLoss(smooth=smooth)(empty, torch.zeros(1, 4, 4)).item() == 0.0
    # A radius past the k-d tree's float range (it raised an overflow) matches as any radius holding every pair.
    pred, gt = [[0, 0], [5, 5], [400, 3]], [[1, 0], [300, 300]]
    assert match_points(pred, gt, 1e308).tolist() == match_points(pred, gt, 1000.0).tolist() == [[0, 0], [2, 1]]
    assert sum([Counts(1, 0, 2), Counts(0, 3, 0)]) == Counts(1, 3, 2)


@pytest.mark.parametrize("label", [0, 1])
def test_an_ignore_index_that_is_a_mask_label_is_refused(label):
    with pytest.raises(ValueError, match=rf"^ignore_index must not be {label}, a label of the mask"):
        SegmentationLoss(ignore_index=label)
    with pytest.raises(ValueError, match=rf"^ignore_index must not be {label}"):
        TGHEM(ignore_index=label)
    logits, mask, _ = batch()
    with pytest.raises(ValueError, match=rf"^ignore_index must not be {label}"):
        select_hard_pixels(logits, mask, thresh=0.7, min_kept=10, ignore_index=label)
    SegmentationLoss(ignore_index=255)


@pytest.mark.parametrize("first", ["compiled", "eager"])
def test_torch_compile_gives_the_eager_value_and_runs_the_signal_eagerly(first):
    """Whether the loss was called before or only compiled: the crop signal (numpy, numba) runs
    outside the traced graph (``is_compiling()`` is false inside it), and the value is the eager one."""
    logits, mask, dots = batch()
    eager = TGHEM(ohem_min_kept=100, topo_workers=0, top_dimension=True)(logits, mask, dots)
    criterion = TGHEM(ohem_min_kept=100, topo_workers=0, top_dimension=True)
    traced, signal = [], criterion.crop_signal

    def spy(*args):
        traced.append(torch.compiler.is_compiling())
        return signal(*args)

    criterion.crop_signal = spy
    if first == "eager":
        assert criterion(logits, mask, dots) == eager
    compiled = torch.compile(criterion, backend="eager")(logits, mask, dots)
    assert compiled == eager and eager > 0
    assert np.isfinite(criterion.last_discrepancy.numpy()).all()
    assert traced == [False] * (2 if first == "eager" else 1)


def test_importing_the_library_does_not_import_the_compiler():
    """``torch._dynamo`` costs every process (each stage) about 1.5 s to import: the library and the
    stages' command lines load it only when something compiles."""
    stages = [m for m in project_modules("experiments") if m.count(".") == 1]  # experiments/<stage>.py
    code = ("import importlib, sys, tghem, baselines\n"
            f"for m in {stages!r}:\n"
            "    importlib.import_module(m)\n"
            "print(len(sys.modules) > 500, 'torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "True False", done.stdout + done.stderr
