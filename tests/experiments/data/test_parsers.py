"""Parsers on the real published files (mirror) and on small crowd files written here."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from experiments.data.integrity import build_manifest, content_digest
from experiments.data.annotations import points_from_lossy_dots, redness
from experiments.data.crowd import load_mat_points, resolve_shanghaitech_root
from experiments.data.parsers import PARSERS
from experiments.data.registry import get_spec

from tests.helpers.paths import MIRROR, mirror_layout as _layout


@pytest.mark.parametrize(
    "name, rel, n_images, n_points, size",
    [
        ("vgg_cells", "vgg_cells/cells", 200, 35192, (256, 256)),
        ("mbm", "mbm/MBM_data", 44, 5553, (600, 600)),
        ("adi", "adi/adipocyte_data", 200, 31017, (150, 150)),
    ],
)
def test_real_cell_sets_published_counts(name, rel, n_images, n_points, size):
    root = _layout(rel)
    records = PARSERS[name].parse(root)
    assert len(records) == n_images
    assert sum(len(r.points) for r in records) == n_points
    assert {(r.width, r.height) for r in records} == {size}
    for r in records:
        assert np.all(r.points >= 0) and np.all(r.points[:, 0] <= r.width - 1) and np.all(r.points[:, 1] <= r.height - 1)
    # the recorded content digest covers exactly the files this parser uses
    manifest = build_manifest(root, PARSERS[name].files(root))
    assert content_digest(manifest) == get_spec(name).content_digest
    assert manifest == get_spec(name).manifest()


def test_real_vgg_first_image_dots_are_the_red_pixels():
    root = _layout("vgg_cells/cells")
    rec = PARSERS["vgg_cells"].parse(root)[0]
    dots = np.asarray(Image.open(root / "001dots.png").convert("RGB"))
    ys, xs = np.nonzero((dots[..., 0] == 255) & (dots[..., 1] == 0))
    assert rec.image_id == "001"
    assert sorted(map(tuple, rec.points.astype(int).tolist())) == sorted(zip(xs.tolist(), ys.tolist()))


def test_real_mbm_touching_dots_stay_separate():
    root = _layout("mbm/MBM_data")
    rec = {r.image_id: r for r in PARSERS["mbm"].parse(root)}["BM_GRAZ_HE_0001_02_001"]
    assert len(rec.points) == 180  # 179 connected components, one of them two touching dots


def _dot_image(points, shape):
    img = np.zeros(shape + (3,), np.uint8)
    for x, y in points:
        img[y, x] = (255, 0, 0)
    return img


@pytest.mark.parametrize("quality, subsampling", [(100, 0), (95, 0), (90, 0), (80, 0), (75, 0)])
def test_lossy_jpeg_dots_recovered(tmp_path, quality, subsampling):
    rng = np.random.default_rng(quality)
    # dots on a 6-pixel lattice with jitter: separated, as annotators place them
    grid = [(x, y) for x in range(4, 146, 8) for y in range(4, 146, 8)]
    pts = [grid[i] for i in rng.choice(len(grid), 120, replace=False)]
    pts = [(x + int(rng.integers(-1, 2)), y + int(rng.integers(-1, 2))) for x, y in pts]
    pts += [(1, 148), (2, 148)]  # touching pair at the border, as in the published ADI files
    path = tmp_path / "a.jpeg"
    Image.fromarray(_dot_image(pts, (150, 150))).save(path, quality=quality, subsampling=subsampling)
    got = points_from_lossy_dots(redness(np.asarray(Image.open(path).convert("RGB"))))
    assert len(got) == len(pts)
    # each recovered dot within one pixel of a true one, one-to-one
    from scipy.optimize import linear_sum_assignment

    d = np.hypot(*(got[:, None, :] - np.array(pts, float)[None]).transpose(2, 0, 1))
    r, c = linear_sum_assignment(d)
    assert d[r, c].max() <= 1.0


def test_lossy_dots_rejects_bad_input():
    with pytest.raises(ValueError, match="strength"):
        points_from_lossy_dots(np.zeros((3, 3, 3)))
    assert points_from_lossy_dots(np.zeros((5, 5))).shape == (0, 2)


# ----------------------------------------------------------------- crowd sets (written here)
def test_shanghaitech_mat_structure_roundtrip(tmp_path, write_shanghaitech_mat):
    pts = np.array([[10.5, 3.25], [1.0, 2.0]])
    write_shanghaitech_mat(tmp_path / "GT_IMG_1.mat", pts)
    np.testing.assert_array_equal(load_mat_points(tmp_path / "GT_IMG_1.mat", "image_info"), pts)
    with pytest.raises(ValueError, match="annPoints"):
        load_mat_points(tmp_path / "GT_IMG_1.mat", "annPoints")


def test_shanghaitech_parser_converts_1_based_and_keeps_points_inside(tmp_path, make_shanghaitech):
    truth = make_shanghaitech(tmp_path, "B", w=64, h=48)
    for root in (tmp_path, tmp_path / "ShanghaiTech", tmp_path / "ShanghaiTech" / "part_B"):
        records = PARSERS["shanghaitech_b"].parse(root)
        assert [r.image_id for r in records] == list(truth)
    for r in records:
        t = truth[r.image_id]
        assert (r.width, r.height) == (64, 48)
        assert len(r.points) == len(t)  # clipped, never dropped
        assert r.split_hint == r.image_id.split("_")[0]
        assert np.all(r.points >= 0) and np.all(r.points[:, 0] <= 63) and np.all(r.points[:, 1] <= 47)
        np.testing.assert_allclose(r.points[0], [0.0, 0.0])  # (1, 1) -> (0, 0)
        np.testing.assert_allclose(r.points[1], [63.0, 0.0])  # outside -> onto the border
        np.testing.assert_allclose(r.points[2:], t[2:] - 1.0)
        assert r.clipped == 1
    test_only = PARSERS["shanghaitech_b"].parse(tmp_path / "ShanghaiTech" / "part_B" / "test_data")
    assert [r.image_id for r in test_only] == ["test_IMG_1", "test_IMG_2"]
    with pytest.raises(FileNotFoundError, match="part_A"):
        resolve_shanghaitech_root(tmp_path, "A")


def _real_shanghaitech_roots():
    bases = [Path(p) for p in (os.environ.get("TGHEM_SHANGHAITECH"), MIRROR, MIRROR / "shanghaitech") if p]
    found = []
    for base in bases:
        for part in ("A", "B"):
            try:
                found.append((part, resolve_shanghaitech_root(base, part)))
            except FileNotFoundError:
                pass
    return found


@pytest.mark.skipif(not _real_shanghaitech_roots(), reason="no real ShanghaiTech copy (set TGHEM_SHANGHAITECH or put ShanghaiTech/ in the mirror)")
def test_real_shanghaitech_every_head_inside_its_image():
    for part, root in _real_shanghaitech_roots():
        records = PARSERS[f"shanghaitech_{part.lower()}"].parse(root)
        assert records
        for r in records:
            raw = load_mat_points(root / f"{r.split_hint}_data" / "ground-truth" / f"GT_{r.image_id.split('_', 1)[1]}.mat", "image_info")
            assert len(r.points) == len(raw)
            assert np.all(r.points >= 0)
            assert np.all(r.points[:, 0] <= r.width - 1) and np.all(r.points[:, 1] <= r.height - 1)


def test_ucf_qnrf_parser(tmp_path):
    rng = np.random.default_rng(1)
    for split in ("Train", "Test"):
        d = tmp_path / "UCF-QNRF_ECCV18" / split
        d.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(d / "img_0001.jpg")
        savemat(d / "img_0001_ann.mat", {"annPoints": np.array([[1.0, 1.0], [40.0, 30.0], [20.5, 0.2]])})
    records = PARSERS["ucf_qnrf"].parse(tmp_path)
    assert [r.image_id for r in records] == ["train_img_0001", "test_img_0001"]
    np.testing.assert_allclose(records[0].points, [[0, 0], [39, 29], [19.5, 0]])
    assert records[0].clipped == 1


# ----------------------------------------------------------------- user folders
def test_folder_parser_csv_dots_and_split(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "points").mkdir()
    (tmp_path / "dots").mkdir()
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "images" / "b.jpg")
    (tmp_path / "points" / "a.csv").write_text("x,y\n0,0\n11,9\n3.5,4.25\n")
    dots = np.zeros((10, 12), np.uint8)
    dots[2, 7] = dots[2, 8] = 255
    Image.fromarray(dots).save(tmp_path / "dots" / "b.png")
    (tmp_path / "split.csv").write_text("image_id,split\na,train\n")
    recs = PARSERS["folder"].parse(tmp_path)
    assert [r.image_id for r in recs] == ["a", "b"]
    np.testing.assert_allclose(recs[0].points, [[0, 0], [11, 9], [3.5, 4.25]])
    np.testing.assert_allclose(recs[1].points, [[7, 2], [8, 2]])
    assert recs[0].split_hint == "train" and recs[1].split_hint is None
    (tmp_path / "points" / "a.csv").write_text("x,y\n12,0\n")
    with pytest.raises(ValueError, match="outside the 12x10 image"):
        PARSERS["folder"].parse(tmp_path)
    (tmp_path / "points" / "a.csv").write_text("col,row\n1,1\n")
    with pytest.raises(ValueError, match="x,y"):
        PARSERS["folder"].parse(tmp_path)
