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

from tghem import TGHEM, SegmentationLoss, TopoGuide
from tghem.loss import FLOAT32_MAX
from tghem.ohem import select_hard_pixels
from tghem.topology import dot_points, points_discrepancy
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
    with pytest.raises(ValueError, match=r"^lambda_pers=9e\+36 overflows the loss in float32: crop \d has D = "
                                         r"[0-9.e+]+ and pixel loss up to [0-9.e+]+, .* use lambda_pers < [0-9.e+]+$"):
        criterion(logits, mask, dots)


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
