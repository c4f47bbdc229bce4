"""The evaluation's metrics (GAME, summaries, F1 over radii) and agreement with an independent reference
(the matching itself: tests/tghem/test_matching.py)."""

import math

import numpy as np
import pytest

from experiments.evaluation.metrics import detection_counts, evaluate_image, game, match_points, region_counts, summarize
from tests.helpers.reference_metrics import reference_counts, reference_f1, reference_game, reference_matching


def test_region_counts_and_game_by_hand():
    shape = (10, 10)
    gt = [[1, 1], [8, 1], [1, 8], [8, 8]]  # one per quadrant
    pred = [[1, 1], [2, 2], [8, 8]]  # two in the top-left, none top-right / bottom-left
    assert region_counts(gt, shape, 1).tolist() == [[1, 1], [1, 1]]
    assert region_counts(pred, shape, 1).tolist() == [[2, 0], [0, 1]]
    assert game(pred, gt, shape, 0) == 1  # |3 - 4|
    assert game(pred, gt, shape, 1) == 1 + 1 + 1 + 0
    # A point on the last pixel and one rounding half up onto the next cell's first pixel.
    assert region_counts([[9.0, 9.0], [4.5, 0.0]], shape, 1).tolist() == [[0, 1], [0, 1]]


def test_summary_micro_and_mean_per_image_counting():
    a = evaluate_image("a", [[0, 0], [10, 0]], [[0, 0], [10, 0], [20, 0], [30, 0]], (40, 40), 5)
    b = evaluate_image("b", [[5, 5], [30, 30]], [[5, 5]], (40, 40), 5)
    m = summarize([a, b], 5)
    assert (m["tp"], m["fp"], m["fn"], m["n_gt"], m["n_pred"], m["n_images"]) == (3, 1, 2, 5, 4, 2)
    assert m["f1"] == pytest.approx(6 / 9)
    assert m["precision"] == pytest.approx(3 / 4) and m["recall"] == pytest.approx(3 / 5)
    assert m["f1_mean"] == pytest.approx((4 / 6 + 2 / 3) / 2)
    assert m["precision_mean"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["mae"] == pytest.approx((2 + 1) / 2)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 1) / 2))
    assert m["mre"] == pytest.approx((2 / 4 + 1 / 1) / 2)
    assert m["game0"] == m["mae"]
    assert m["match_radius"] == 5 and m["mean_f1_max_radius"] == 5


def test_mean_f1_over_radii():
    # One prediction 2.5 px off: missed at r = 1, 2, matched at r = 3, 4.
    r = evaluate_image("x", [[2.5, 0]], [[0, 0]], (8, 8), 4)
    assert r.tp_by_radius == (0, 0, 1, 1)
    m = summarize([r], 4)
    assert m["f1_mean_radii"] == pytest.approx(0.5)
    assert evaluate_image("x", [[2.5, 0]], [[0, 0]], (8, 8), 4.0, max_radius=2).tp_by_radius == (0, 0)


def test_summary_of_no_images_and_of_images_without_gt():
    m = summarize([], 5)
    assert m["n_images"] == 0 and m["f1"] is None and m["mae"] is None
    m = summarize([evaluate_image("e", [[1, 1]], [], (8, 8), 5)], 5)
    assert m["mre"] is None and m["mre_images"] == 0 and m["mae"] == 1 and m["f1"] == 0.0


def _random_case(rng):
    n_p, n_g = int(rng.integers(0, 9)), int(rng.integers(0, 9))
    if rng.random() < 0.5:  # integer pixel positions: many exact ties
        pred = rng.integers(0, 16, (n_p, 2)).astype(float)
        gt = rng.integers(0, 16, (n_g, 2)).astype(float)
    else:
        pred = rng.uniform(0, 20, (n_p, 2))
        gt = rng.uniform(0, 20, (n_g, 2))
    radius = float(rng.choice([1.0, 2.0, 3.0, 4.5, 6.0]))
    return pred, gt, radius


def test_agrees_with_independent_reference_on_random_cases():
    rng = np.random.default_rng(20240611)
    for _ in range(300):
        pred, gt, radius = _random_case(rng)
        pairs = match_points(pred, gt, radius)
        ref_n, ref_dist = reference_matching(pred.tolist(), gt.tolist(), radius)
        assert len(pairs) == ref_n
        dist = float(np.hypot(*(pred[pairs[:, 0]] - gt[pairs[:, 1]]).T).sum()) if len(pairs) else 0.0
        assert dist == pytest.approx(ref_dist, abs=1e-9)
        c = detection_counts(pred, gt, radius)
        assert (c.tp, c.fp, c.fn) == reference_counts(pred.tolist(), gt.tolist(), radius)
        assert c.f1 == pytest.approx(reference_f1(c.tp, c.fp, c.fn))
        shape = (int(rng.integers(5, 25)), int(rng.integers(5, 25)))
        for level in range(4):
            assert game(pred, gt, shape, level) == reference_game(pred.tolist(), gt.tolist(), shape, level)


def test_the_authors_greedy_matching_is_strict_and_visits_the_ground_truth_in_row_major_order():
    """The authors' harness: each ground-truth point in raster order of its pixel takes the nearest
    free prediction closer than the radius (strict)."""
    from experiments.evaluation.metrics import AUTHORS_MATCH_RADIUS, greedy_match_count

    assert AUTHORS_MATCH_RADIUS == 10
    assert greedy_match_count([[10, 0]], [[0, 0]], radius=10) == 0  # exactly at the radius: no match
    assert greedy_match_count([[9.99, 0]], [[0, 0]], radius=10) == 1
    # A = (22, 0) is on row 0, B = (10, 1) on row 1: A goes first and takes (14, 0) (8 px away,
    # the other prediction is 20 px away), then B takes (2, 1) (8 px): 2 matches. Visiting B first
    # (the input order below) B would take (14, 0) (4.1 px) and A find nothing: 1 match.
    pred = [[14, 0], [2, 1]]
    assert greedy_match_count(pred, [[10, 1], [22, 0]], radius=10) == 2
    assert greedy_match_count(pred, [[22, 0], [10, 1]], radius=10) == 2
    assert greedy_match_count([], [[1, 1]], radius=10) == greedy_match_count([[1, 1]], [], radius=10) == 0


def test_the_authors_scores_and_their_means():
    from experiments.evaluation.metrics import authors_scores

    p, r, f1 = authors_scores(3, 4, 6)
    assert (p, r) == (0.75, 0.5) and f1 == pytest.approx(2 * 0.375 / (1.25 + 1e-7), rel=1e-15)
    assert authors_scores(0, 3, 0) == authors_scores(0, 0, 3) == authors_scores(0, 0, 0) == (0.0, 0.0, 0.0)
    # summarize: the per-image means (image 1: tp 1 of 2 predictions and 1 point; image 2: no prediction)
    a = evaluate_image("a", [[5, 5], [40, 40]], [[6, 5]], (64, 64), radius=5)
    b = evaluate_image("b", [], [[20, 20], [30, 30]], (64, 64), radius=5)
    assert (a.tp_greedy, b.tp_greedy) == (1, 0)
    s = summarize([a, b], radius=5)
    assert s["precision_authors"] == pytest.approx(0.25) and s["recall_authors"] == pytest.approx(0.5)
    assert s["f1_authors"] == pytest.approx((2 * 0.5 * 1.0 / (1.5 + 1e-7)) / 2, rel=1e-12)


def test_evaluate_samples_scores_a_non_square_image_with_its_settings():
    """Whole-image evaluation passes the image's (H, W), the match radius and the mean-F1 radius R on:
    its results equal evaluate_image's on the points it predicted (a 48 x 80 image, R = 3, not
    floor(5)), and GAME would differ with the shape turned."""
    from types import SimpleNamespace

    import torch

    from experiments.evaluation.inference import evaluate_samples, predict_points

    class Bright(torch.nn.Module):  # logits +10 where the normalised image is bright, else -10
        def forward(self, x):
            return (x[:, :1] > 0).float() * 20 - 10

    image = np.zeros((48, 80), np.uint8)
    for x, y in ((5, 5), (70, 10), (40, 40), (75, 44)):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    gt = np.array([[5.0, 6.0], [70.0, 10.0], [20.0, 30.0], [60.0, 5.0], [76.0, 40.0]])
    settings = {"tile": 32, "overlap": 0.25, "batch_size": 4, "centroid_mode": "contour", "threshold": 0.5,
                "match_radius": 5.0, "max_radius": 3, "channels": 1}
    sample = SimpleNamespace(image_id="a", image=image, points=gt)
    results, points = evaluate_samples(Bright(), [sample], settings, torch.device("cpu"))
    pred = predict_points(Bright(), image, settings, torch.device("cpu"))
    assert sorted(map(tuple, pred.tolist())) == [(5.0, 5.0), (40.0, 40.0), (70.0, 10.0), (75.0, 44.0)]
    np.testing.assert_array_equal(points[0], pred)
    expected = evaluate_image("a", pred, gt, (48, 80), radius=5.0, max_radius=3)
    assert results[0] == expected and len(results[0].tp_by_radius) == 3
    assert evaluate_image("a", pred, gt, (80, 48), radius=5.0, max_radius=3).game != expected.game


def test_the_evaluation_autocast_reaches_every_tile():
    """eval.amp's dtype: the network runs under autocast with it on every tile, and without one for None."""
    from types import SimpleNamespace

    import torch

    from experiments.evaluation.inference import evaluate_samples

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
            return torch.full((x.shape[0], 1, x.shape[2], x.shape[3]), -10.0)

    sample = SimpleNamespace(image_id="a", image=np.zeros((40, 70), np.uint8), points=np.zeros((0, 2)))
    settings = {"tile": 32, "overlap": 0.25, "batch_size": 2, "centroid_mode": "contour", "threshold": 0.5,
                "match_radius": 5.0, "max_radius": None, "channels": 1}
    for dtype in (torch.bfloat16, None):
        spy = Spy()
        evaluate_samples(spy, [sample], settings, torch.device("cpu"), autocast_dtype=dtype)
        assert len(spy.seen) == 3  # 2 x 3 tiles in batches of 2
        assert all(enabled == (dtype is not None) for enabled, _ in spy.seen)
        if dtype is not None:
            assert {d for _, d in spy.seen} == {dtype}
