import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from tghem import TopoGuide, component_centroids, diagram_distance, dot_points, rips_diagrams

from tests.helpers import reference_topology as ref

SQRT2 = np.sqrt(2.0)


def _point_sets(seed, n_sets=25):
    rng = np.random.default_rng(seed)
    for _ in range(n_sets):
        kind = rng.integers(4)
        n = int(rng.integers(0, 14))
        if kind == 0:  # uniform, scale comparable to epsilon
            pts = rng.uniform(0, 80, size=(n, 2))
        elif kind == 1:  # clustered
            centres = rng.uniform(0, 100, size=(3, 2))
            pts = centres[rng.integers(3, size=n)] + rng.normal(scale=6, size=(n, 2))
        elif kind == 2:  # integer pixel grid with duplicates
            pts = rng.integers(0, 30, size=(n, 2)).astype(float)
            if n > 2:
                pts[-1] = pts[0]
        else:  # collinear
            pts = np.stack([rng.uniform(0, 120, size=n), np.full(n, 7.0)], axis=1)
        yield pts


def test_h0_is_minimum_spanning_tree():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, size=(30, 2))
    h0, _ = rips_diagrams(pts, 50.0)
    mst = minimum_spanning_tree(squareform(pdist(pts))).data
    expected = np.sort(np.concatenate([mst[mst <= 50.0], np.full((mst > 50.0).sum() + 1, 50.0)]))
    np.testing.assert_allclose(np.sort(h0[:, 1]), expected, rtol=1e-12)
    assert np.all(h0[:, 0] == 0)


@pytest.mark.parametrize("top_dimension", [True, False])
def test_square_h1_closed_form(top_dimension):
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    # diagonals (14.14) below epsilon: the cycle is born at 10 and filled at 10*sqrt(2)
    _, h1 = rips_diagrams(square, 50.0, top_dimension=top_dimension)
    np.testing.assert_allclose(h1, [[10.0, 10.0 * SQRT2]], rtol=1e-12)
    # epsilon between side and diagonal: no triangle, an essential cycle clamped to epsilon;
    # only visible when the top dimension's homology is computed
    _, h1 = rips_diagrams(square, 12.0, top_dimension=top_dimension)
    if top_dimension:
        np.testing.assert_allclose(h1, [[10.0, 12.0]])
    else:
        assert h1.shape == (0, 2)


def test_single_point_and_far_points():
    h0, h1 = rips_diagrams(np.array([[3.0, 4.0]]), 50.0)
    np.testing.assert_array_equal(h0, [[0.0, 50.0]])
    assert h1.shape == (0, 2)
    h0, _ = rips_diagrams(np.array([[0.0, 0.0], [100.0, 0.0]]), 50.0)
    np.testing.assert_array_equal(h0, [[0.0, 50.0], [0.0, 50.0]])
    # gudhi's defaults drop H0 of a complex without edges: the option reproduces it
    h0, _ = rips_diagrams(np.array([[3.0, 4.0]]), 50.0, top_dimension=False)
    assert h0.shape == (0, 2)


def test_empty_point_set():
    h0, h1 = rips_diagrams(np.zeros((0, 2)), 50.0)
    assert h0.shape == (0, 2) and h1.shape == (0, 2)


def test_wasserstein_closed_forms():
    assert diagram_distance(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    assert diagram_distance([[0, 50]], np.zeros((0, 2))) == pytest.approx(50 / SQRT2, rel=1e-12)
    # matching (0,10)-(0,12) costs 2; sending both to the diagonal would cost 22/sqrt2
    assert diagram_distance([[0, 10]], [[0, 12]]) == pytest.approx(2.0, rel=1e-12)
    # internal_p = 2: (1,5) to (2,7) costs sqrt(1 + 4)
    assert diagram_distance([[1, 5]], [[2, 7]]) == pytest.approx(np.sqrt(5.0), rel=1e-12)


@pytest.mark.parametrize("top_dimension", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_discrepancy_matches_independent_reference(seed, top_dimension):
    sets = list(_point_sets(seed))
    for reduction in ("sum", "mean", "H1"):
        guide = TopoGuide(epsilon=50.0, reduction=reduction, top_dimension=top_dimension)
        for a, b in zip(sets[::2], sets[1::2]):
            expected = ref.discrepancy(a, b, 50.0, reduction, top_dimension)
            assert guide.points_discrepancy(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_default_is_the_reference_codes_diagrams():
    """Default: what the authors' gudhi call computes; the definition's diagrams are an option."""
    empty, one = np.zeros((0, 2)), np.array([[5.0, 5.0]])
    assert TopoGuide().top_dimension is False
    # One GT dot, no prediction: a 0-dimensional complex, whose H0 gudhi's defaults skip.
    assert TopoGuide(epsilon=50.0).points_discrepancy(one, empty) == 0.0
    assert TopoGuide(epsilon=50.0, top_dimension=True).points_discrepancy(one, empty) == pytest.approx(35.35533905932738)
    # Isolated points (no pair within epsilon) are invisible to the reference as well.
    far = np.array([[0.0, 0.0], [200.0, 0.0], [0.0, 200.0]])
    assert TopoGuide(epsilon=50.0).points_discrepancy(far, empty) == 0.0
    # Dense sets (triangles present): both give the same D.
    rng = np.random.default_rng(3)
    dense_a, dense_b = rng.uniform(0, 40, (15, 2)), rng.uniform(0, 40, (12, 2))
    assert TopoGuide().points_discrepancy(dense_a, dense_b) == TopoGuide(top_dimension=True).points_discrepancy(dense_a, dense_b)


def test_tghem_passes_top_dimension_to_its_guide():
    from tghem import TGHEM

    assert TGHEM().topo.top_dimension is False
    assert TGHEM(top_dimension=True).topo.top_dimension is True
    with pytest.raises(TypeError, match="top_dimension must be a bool, got str"):
        TGHEM(top_dimension="yes")


def test_diagrams_match_independent_reference():
    for pts in _point_sets(4):
        ours = rips_diagrams(pts, 50.0)
        theirs = ref.rips_persistence(pts, 50.0)
        for d in (0, 1):
            # zero-length bars are invisible to the distance; compare the rest
            mine = ours[d][ours[d][:, 1] > ours[d][:, 0]]
            other = theirs[d][theirs[d][:, 1] > theirs[d][:, 0]]
            np.testing.assert_allclose(np.sort(mine, axis=0), np.sort(other, axis=0), rtol=1e-12)


def test_invariants():
    rng = np.random.default_rng(7)
    guide = TopoGuide()
    gt = rng.uniform(0, 90, size=(12, 2))
    pred = rng.uniform(0, 90, size=(9, 2))
    d = guide.points_discrepancy(gt, pred)
    assert d > 0
    # permutation of either set
    assert guide.points_discrepancy(gt[rng.permutation(12)], pred[rng.permutation(9)]) == pytest.approx(d, rel=1e-9)
    # translation of both sets
    shift = np.array([37.5, -12.25])
    assert guide.points_discrepancy(gt + shift, pred + shift) == pytest.approx(d, rel=1e-9)
    # symmetry and identity
    assert guide.points_discrepancy(pred, gt) == pytest.approx(d, rel=1e-9)
    assert guide.points_discrepancy(gt, gt) == 0.0


def test_edge_cases():
    guide = TopoGuide(epsilon=50.0, top_dimension=True)
    empty = np.zeros((0, 2))
    assert guide.points_discrepancy(empty, empty) == 0.0
    one = np.array([[5.0, 5.0]])
    assert guide.points_discrepancy(one, empty) == pytest.approx(50 / SQRT2, rel=1e-12)
    assert guide.points_discrepancy(one, one + 3) == 0.0
    # 0 vs k points: each H0 bar goes to the diagonal
    for k in range(1, 6):
        pts = np.stack([np.arange(k) * 20.0, np.zeros(k)], axis=1)
        assert guide.points_discrepancy(empty, pts) == pytest.approx((50 + 20 * (k - 1)) / SQRT2, rel=1e-12)
    # collinear points have no H1
    line = np.stack([np.arange(8) * 6.0, np.zeros(8)], axis=1)
    assert TopoGuide(reduction="H1", top_dimension=True).points_discrepancy(line, empty) == 0.0
    # 'mean' halves 'sum'
    assert TopoGuide(reduction="mean", top_dimension=True).points_discrepancy(one, empty) == pytest.approx(25 / SQRT2, rel=1e-12)


def test_dot_points_are_nonzero_pixels_in_xy():
    dots = np.zeros((5, 7))
    dots[4, 6] = 1
    dots[0, 2] = 2  # two dots on one pixel are one point, as in the reference
    np.testing.assert_array_equal(dot_points(dots), [[2, 0], [6, 4]])
    np.testing.assert_array_equal(dot_points(torch.zeros(3, 3)), np.zeros((0, 2)))


def test_an_empty_image_has_no_centroids_in_either_mode():
    """OpenCV's connected components crash the process (SIGSEGV) on an empty image, so the check
    runs in a child process: a regression fails this test instead of killing the test worker."""
    import subprocess
    import sys

    code = ("import numpy as np; from tghem import component_centroids\n"
            "for shape in ((0, 8), (8, 0), (0, 0)):\n"
            "    for mode in ('contour', 'component'):\n"
            "        assert component_centroids(np.zeros(shape, np.uint8), mode=mode).shape == (0, 2)\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-2000:]


def test_contour_centroids():
    pred = np.zeros((20, 20), np.uint8)
    pred[1:4, 1:4] = 1            # 3x3 square: centroid (2, 2)
    pred[10:12, 10:12] = 1        # 2x2: polygon centroid (10.5, 10.5), ties round to even -> (10, 10)
    pred[15, 2:9] = 1             # one pixel wide line: zero area, skipped
    pred[18, 18] = 1              # single pixel: skipped
    pred[5:10, 14:19] = 1         # ring: only the external contour counts
    pred[7, 16] = 0
    got = component_centroids(pred)
    assert sorted(map(tuple, got.tolist())) == [(2.0, 2.0), (10.0, 10.0), (16.0, 7.0)]
    comp = component_centroids(pred, mode="component")
    assert len(comp) == 5
    assert any(np.allclose(c, (10.5, 10.5)) for c in comp)
    assert any(np.allclose(c, (18.0, 18.0)) for c in comp)


def test_crop_call_and_batch():
    gt = np.zeros((2, 64, 64))
    gt[0, 10, 10] = gt[0, 10, 30] = 1
    gt[1, 40, 40] = 1
    pred = np.zeros((2, 64, 64), bool)
    pred[0, 8:13, 8:13] = True
    pred[1, 38:43, 38:43] = True
    guide = TopoGuide(top_dimension=True)
    d = guide.discrepancies(torch.tensor(gt), torch.tensor(pred))
    assert d.shape == (2,) and d.dtype == np.float64
    np.testing.assert_allclose(d, [20 / SQRT2, 0.0], rtol=1e-12)
    # The reference's diagrams: one predicted point has an empty H0, both GT bars go to the diagonal.
    np.testing.assert_allclose(TopoGuide().discrepancies(gt, pred), [70 / SQRT2, 0.0], rtol=1e-12)
    assert guide(gt[0], pred[0]) == d[0]
    # translating a crop's content leaves D unchanged
    assert guide(np.roll(gt[0], (7, 5), axis=(0, 1)), np.roll(pred[0], (7, 5), axis=(0, 1))) == pytest.approx(d[0])


def test_many_components_noise_prediction_matches_reference():
    rng = np.random.default_rng(9)
    pred = rng.random((48, 48)) < 0.3
    gt = np.zeros((48, 48))
    gt[rng.integers(48, size=20), rng.integers(48, size=20)] = 1
    pred_points = component_centroids(pred)
    assert len(pred_points) > 30
    d = TopoGuide()(gt, pred)
    assert d == pytest.approx(ref.discrepancy(dot_points(gt), pred_points, 50.0), rel=1e-9)


# Integer pixel coordinates, as dots and rounded centroids are: duplicates and ties occur.
_pixel_sets = st.integers(0, 10).flatmap(
    lambda n: arrays(np.float64, (n, 2), elements=st.integers(0, 90).map(float))
)


@settings(max_examples=60, deadline=None)
@given(gt=_pixel_sets, pred=_pixel_sets, shift=st.tuples(st.integers(-50, 50), st.integers(-50, 50)))
def test_property_matches_reference_and_is_translation_invariant(gt, pred, shift):
    for top_dimension in (False, True):
        guide = TopoGuide(epsilon=50.0, top_dimension=top_dimension)
        d = guide.points_discrepancy(gt, pred)
        assert d == pytest.approx(ref.discrepancy(gt, pred, 50.0, top_dimension=top_dimension), rel=1e-9, abs=1e-9)
    guide = TopoGuide(epsilon=50.0)
    d = guide.points_discrepancy(gt, pred)
    assert guide.points_discrepancy(gt + shift, pred + shift) == pytest.approx(d, rel=1e-9, abs=1e-9)
    assert guide.points_discrepancy(pred, gt) == pytest.approx(d, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("workers", [0, 2])
def test_submit_returns_what_discrepancies_returns_bit_for_bit(workers):
    """TGHEM starts the topology in the background (TopoGuide.submit) while it computes the pixel term."""
    rng = np.random.default_rng(7)
    gt = np.zeros((5, 64, 64))
    for b in range(5):
        ys, xs = rng.integers(0, 64, 40), rng.integers(0, 64, 40)
        gt[b, ys, xs] = 1
    pred = rng.random((5, 64, 64)) > 0.93
    guide = TopoGuide(epsilon=30.0, workers=workers)
    pending = guide.submit(gt, pred)
    expected = guide.discrepancies(gt, pred)
    assert pending.result().tobytes() == expected.tobytes()
    assert expected.shape == (5,) and (expected > 0).all()


@pytest.mark.parametrize("top_dimension", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean", "H1"])
def test_explain_is_what_the_loss_computes_on_sparse_and_dense_crops(reduction, top_dimension):
    """TopoGuide.explain gives training's D bit for bit, its diagrams, and matchings that cost the distances."""
    rng = np.random.default_rng(11)
    guide = TopoGuide(epsilon=30.0, reduction=reduction, top_dimension=top_dimension, workers=0)
    for n_gt, n_pred, side in ((0, 3, 100), (1, 0, 100), (4, 3, 400), (30, 25, 120), (60, 70, 90)):
        gt, pred = rng.uniform(0, side, (n_gt, 2)).round(), rng.uniform(0, side, (n_pred, 2)).round()
        e = guide.explain(gt, pred)
        assert e.discrepancy == guide.points_discrepancy(gt, pred)
        for ours, points in (((e.gt_h0, e.gt_h1), gt), ((e.pred_h0, e.pred_h1), pred)):
            for got, expected in zip(ours, rips_diagrams(points, 30.0, top_dimension=top_dimension)):
                assert np.array_equal(got, expected)
        for pairs, a, b, distance in ((e.h0_pairs, e.pred_h0, e.gt_h0, e.w_h0), (e.h1_pairs, e.pred_h1, e.gt_h1, e.w_h1)):
            cost = sum(np.hypot(*(a[i] - b[j])) if i >= 0 and j >= 0 else
                       (np.diff(a[i]) if j < 0 else np.diff(b[j]))[0] / np.sqrt(2) for i, j in pairs)
            assert cost == pytest.approx(distance, rel=1e-9, abs=1e-12)
