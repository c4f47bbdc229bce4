"""The qualitative example: detections and what D measures on one crop, computed by tghem's own functions."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.analysis import qualitative
from tghem.points import dot_map
from experiments.core.settings import load_params
from experiments.core.topo import topo_guide
from experiments.training.methods import build_method
from tghem import TopoGuide
from tghem.rips import fast_rips_diagrams
from tghem.topology import dot_points, points_discrepancy, rips_diagrams
from tghem.wasserstein import h0_wasserstein_distance, wasserstein_distance


def guide(epsilon: float, reduction: str = "sum", top_dimension: bool = False) -> TopoGuide:
    return TopoGuide(epsilon=epsilon, reduction=reduction, top_dimension=top_dimension, workers=0)


def test_densest_window():
    points = np.array([[5.0, 5.0], [60.2, 40.0], [62.0, 41.4], [63.0, 45.0], [70.0, 10.0]])
    # The 8 x 8 windows holding the three points around (61, 42): the first in row-major order.
    assert qualitative.densest_window(points, (64, 80), 8) == {"x0": 56, "y0": 38, "width": 8, "height": 8}
    # An image smaller than the window: the whole image.
    assert qualitative.densest_window(points, (64, 80), 128) == {"x0": 0, "y0": 0, "width": 80, "height": 64}


def test_crop_points_use_the_pixel_rule():
    crop = {"x0": 10, "y0": 20, "width": 5, "height": 5}
    points = [[9.5, 20], [9.49, 20], [14.49, 24.49], [14.5, 22], [12, 19.5]]  # halves round up
    assert qualitative.crop_points(points, crop) == pytest.approx(np.array([[-0.5, 0.0], [4.49, 4.49], [2.0, -0.5]]))


def test_classify_detections_is_the_evaluations_matching():
    gt = [[0, 0], [10, 0], [30, 0]]
    pred = [[1, 0], [11, 0], [50, 50], [9, 0]]
    parts = qualitative.classify_detections(gt, pred, radius=3)
    assert parts == {"tp": [[1.0, 0.0], [11.0, 0.0]], "fp": [[50.0, 50.0], [9.0, 0.0]], "fn": [[30.0, 0.0]]}


def test_persistence_example_equals_tghem_computed_directly():
    rng = np.random.default_rng(0)
    shape = (90, 110)
    gt = rng.uniform(0, [109, 89], (60, 2)).round(2)
    pred = np.clip(gt[:45] + rng.normal(0, 2, (45, 2)), 0, [109, 89]).round()
    crop = qualitative.densest_window(gt, shape, 48)
    data = qualitative.persistence_example(gt, pred, crop, guide(30.0), 0.5)
    # The crop's ground truth as training sees it: the whole image's dot map, cut.
    whole = dot_map(gt, shape)
    crop_gt = dot_points(whole[crop["y0"]:crop["y0"] + 48, crop["x0"]:crop["x0"] + 48])
    assert np.array_equal(np.array(data["gt"]), crop_gt) and len(crop_gt) > 3
    local = pred - [crop["x0"], crop["y0"]]
    inside = (np.floor(local + 0.5) >= 0).all(1) & (np.floor(local + 0.5) < 48).all(1)
    assert np.array_equal(np.array(data["pred"]), local[inside])
    for name, points in (("gt", crop_gt), ("pred", local[inside])):
        h0, h1 = fast_rips_diagrams(points, 30.0, top_dimension=False)
        assert np.array_equal(np.array(data[f"{name}_h0"]).reshape(-1, 2), h0)
        assert np.array_equal(np.array(data[f"{name}_h1"]).reshape(-1, 2), h1)
    pred_h0, gt_h0 = np.array(data["pred_h0"]).reshape(-1, 2), np.array(data["gt_h0"]).reshape(-1, 2)
    pred_h1, gt_h1 = np.array(data["pred_h1"]).reshape(-1, 2), np.array(data["gt_h1"]).reshape(-1, 2)
    assert data["w_h0"] == h0_wasserstein_distance(pred_h0[:, 1], gt_h0[:, 1])
    assert data["w_h1"] == wasserstein_distance(pred_h1, gt_h1)
    d = points_discrepancy(crop_gt, local[inside], 30.0, "sum")
    assert data["discrepancy"] == d > 0 and data["weight"] == 1 + 0.5 * d
    # The stored matchings cost what the distances say.
    for dim, a, b in (("h0", pred_h0, gt_h0), ("h1", pred_h1, gt_h1)):
        cost = sum(np.hypot(*(a[i] - b[j])) if i >= 0 and j >= 0 else
                   np.diff(a[i] if j < 0 else b[j])[0] / np.sqrt(2) for i, j in data[f"{dim}_pairs"])
        assert cost == pytest.approx(data[f"w_{dim}"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean", "H1"])
def test_discrepancy_reductions_match_tghem(reduction):
    rng = np.random.default_rng(3)
    gt, pred = rng.integers(0, 60, (25, 2)).astype(float), rng.integers(0, 60, (20, 2)).astype(float)
    crop = {"x0": 0, "y0": 0, "width": 64, "height": 64}
    data = qualitative.persistence_example(gt, pred, crop, guide(30.0, reduction), 2.0)
    assert data["discrepancy"] == points_discrepancy(np.array(data["gt"]), pred, 30.0, reduction)
    assert data["reduction"] == reduction


def test_persistence_example_is_what_training_computes_on_a_sparse_crop():
    """The example asks the TopoGuide that training builds from the same settings. On a crop with an
    isolated point the diagrams depend on ``top_dimension`` (the studies' ``false``: an isolated
    point has no H0 bar), so diagrams recomputed with other defaults would differ from training's."""
    cfg = load_params(overrides=["tghem.topo_workers=0"])
    training_guide = build_method("tghem", cfg).criterion.topo
    assert training_guide.top_dimension is False and cfg["tghem"]["top_dimension"] is False
    crop = {"x0": 0, "y0": 0, "width": 120, "height": 120}
    gt = np.array([[10.0, 10.0], [20.0, 10.0], [100.0, 100.0]])  # a pair and an isolated dot
    pred = np.array([[11.0, 10.0], [100.0, 99.0]])  # the pair seen as one cell; the isolated one found
    data = qualitative.persistence_example(gt, pred, crop, topo_guide(cfg["tghem"]), cfg["tghem"]["lambda_pers"])
    epsilon = cfg["tghem"]["topo_epsilon"]
    for name, points in (("gt", gt), ("pred", pred)):
        h0, h1 = rips_diagrams(points, epsilon, top_dimension=False)
        assert np.array_equal(np.array(data[f"{name}_h0"]).reshape(-1, 2), h0)
        assert np.array_equal(np.array(data[f"{name}_h1"]).reshape(-1, 2), h1)
    # Training's D of this crop, bit for bit, and its weight by the losses' rule.
    d = training_guide.points_discrepancy(gt, pred)
    # GT: the pair merges at 10 and two components live to epsilon; the two predicted points have no
    # edge, so (gudhi's defaults) no diagram at all: every GT bar goes to the diagonal.
    assert data["discrepancy"] == d == pytest.approx((10.0 + 2 * epsilon) / np.sqrt(2), rel=1e-12)
    assert len(data["pred_h0"]) == 0 and len(data["gt_h0"]) == 3
    assert data["weight"] == 1.0 + cfg["tghem"]["lambda_pers"] * d
    # The definition's diagrams (top_dimension=True, fast_rips_diagrams' default, which the example
    # used to call) give each predicted point a bar (0, epsilon): only the pair's (0, 10) is unmatched.
    assert len(fast_rips_diagrams(pred, epsilon)[0]) == 2
    assert points_discrepancy(gt, pred, epsilon, top_dimension=True) == pytest.approx(10.0 / np.sqrt(2), rel=1e-12)


def test_qualitative_text_is_strict_json_with_one_line_per_list():
    import json

    document = {"gt": [[1.0, 2.0]], "pred": {"a": [[3.0, 4.0]]}, "shown": ["a"],
                "detections": {"a": {"tp": [[3.0, 4.0]], "fp": [], "fn": [[1.0, 2.0]], "f1": 0.5}},
                "persistence": {"crop": {"x0": 0}, "gt": [[1.0, 2.0]], "w_h0": 0.25}}
    text = qualitative.qualitative_text(document)
    assert json.loads(text) == document
    assert '"gt": [[1.0,2.0]]' in text and '"tp": [[3.0,4.0]]' in text and '"fp": []' in text
    with pytest.raises(ValueError):
        qualitative.qualitative_text(dict(document, persistence={"w_h0": float("nan")}))
