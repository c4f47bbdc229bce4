"""The prepare stage: prepared format, determinism, mirrors, digests and load_split."""

import dataclasses
import hashlib
import io
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import prepare as prep_cli
from experiments.data import preparation as prep
from experiments.data.acquire import acquire
from experiments.core.prepared import load_split, read_meta
from experiments.data.download import DownloadError
from experiments.data.integrity import DigestMismatchError
from experiments.data.registry import REGISTRY, get_spec
from experiments.data.synthetic import SyntheticConfig

from tests.helpers.paths import MIRROR, ROOT as REPO, mirror_layout


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _need_mirror(rel):
    mirror_layout(rel)


def test_synthetic_cli_twice_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    d = tmp_path / "data"
    assert prep_cli.main(["--dataset", "synthetic", "--data-dir", str(d), "--quiet"]) == 0
    first = tree_digest(d)
    assert prep_cli.main(["--dataset", "synthetic", "--data-dir", str(d), "--quiet"]) == 0
    assert tree_digest(d) == first
    other = tmp_path / "other"
    prep_cli.main(["--dataset", "synthetic", "--data-dir", str(other), "--quiet"])
    assert tree_digest(other / "prepared") == tree_digest(d / "prepared")
    meta = read_meta(d / "prepared" / "synthetic")
    assert meta["counts"]["train"]["images"] == 12 and meta["counts"]["val"]["images"] == 4
    assert meta["counts"]["test"]["images"] == 8 and meta["image_sizes"] == {"256x256": 24}
    assert "time" not in " ".join(meta).lower()
    train = load_split(d / "prepared" / "synthetic", "train")
    assert len(train) == 12 and sum(len(s.points) for s in train) == meta["counts"]["train"]["points"]
    s = train[0]
    assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
    assert s.points.dtype == np.float64 and s.points.shape[1] == 2
    assert not [p for p in d.rglob("*") if p.name.endswith((".partial", ".tmp", ".part"))]


def test_synthetic_seed_changes_output(tmp_path):
    cfg = SyntheticConfig(num_train=1, num_val=1, num_test=1, image_size=(64, 64), count_range=(10, 20))
    a, _ = prep.prepare("synthetic", tmp_path / "a", seed=1, synthetic=cfg, quiet=True)
    b, _ = prep.prepare("synthetic", tmp_path / "b", seed=2, synthetic=cfg, quiet=True)
    assert tree_digest(a / "images") != tree_digest(b / "images")


def test_help_lists_datasets_and_mirror():
    out = subprocess.run(
        [sys.executable, "-m", "experiments.prepare", "--help"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    for name in REGISTRY:
        assert name in out
    assert "--mirror" in out and "TGHEM_DATA_MIRROR" in out


@pytest.mark.parametrize(
    "name, rel, counts",
    [
        ("vgg_cells", "vgg_cells", {"all": (200, 35192), "train": (32, None), "val": (32, None), "test": (100, None)}),
        ("mbm", "mbm", {"all": (44, 5553), "train": (15, None), "test": (29, None)}),
        ("adi", "adi", {"all": (200, 31017), "train": (50, None), "test": (150, None)}),
    ],
)
def test_prepare_real_sets_from_mirror(tmp_path, name, rel, counts):
    _need_mirror(rel)
    out, meta = prep.prepare(name, tmp_path, mirror=MIRROR, quiet=True)
    assert meta["content_digest_verified"] and meta["content_digest"] == get_spec(name).content_digest
    for split, (n_img, n_pts) in counts.items():
        assert meta["counts"][split]["images"] == n_img
        if n_pts is not None:
            assert meta["counts"][split]["points"] == n_pts
    if name == "vgg_cells":
        test_ids = [s.image_id for s in load_split(out, "test")]
        assert test_ids == [f"{i:03d}" for i in range(101, 201)]
        train_ids = {s.image_id for s in load_split(out, "train")}
        assert all(1 <= int(i) <= 100 for i in train_ids)
    # a rerun reuses raw/ and writes identical bytes
    before = tree_digest(out)
    prep.prepare(name, tmp_path, mirror=None, quiet=True)
    assert tree_digest(out) == before


def _fake_vgg_mirror(tmp_path: Path, tamper: bool) -> Path:
    src = MIRROR / "vgg_cells" / "cells"
    dst = tmp_path / "mirror" / "vgg_cells" / "cells"
    dst.mkdir(parents=True)
    for p in src.iterdir():
        os.symlink(p, dst / p.name)
    if tamper:
        (dst / "042dots.png").unlink()
        (dst / "042dots.png").write_bytes(b"not the published file")
    return tmp_path / "mirror"


def test_mirror_digest_mismatch_names_digests_and_first_file(tmp_path):
    _need_mirror("vgg_cells")
    mirror = _fake_vgg_mirror(tmp_path, tamper=True)
    with pytest.raises(DigestMismatchError) as err:
        acquire(get_spec("vgg_cells"), tmp_path / "raw" / "vgg_cells", mirror=mirror, quiet=True)
    msg = str(err.value)
    assert get_spec("vgg_cells").content_digest in msg and "actual" in msg
    assert "042dots.png" in msg
    # verified before it is renamed into place: no damaged extracted/ for a rerun to reuse
    assert not (tmp_path / "raw" / "vgg_cells" / "extracted").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]


def test_mirror_archive_is_verified_and_extracted(tmp_path):
    _need_mirror("vgg_cells")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((MIRROR / "vgg_cells" / "cells").iterdir()):
            zf.write(p, f"cells/{p.name}")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "cells.zip").write_bytes(buf.getvalue())
    spec = get_spec("vgg_cells")
    # our re-zipped archive is not the published one: its sha256 must be refused
    with pytest.raises(DigestMismatchError, match=spec.archive_sha256):
        acquire(spec, tmp_path / "raw1", mirror=tmp_path / "mirror", quiet=True)
    got = acquire(dataclasses.replace(spec, archive_sha256=None), tmp_path / "raw2", mirror=tmp_path / "mirror", quiet=True)
    assert got.verified and got.digest == spec.content_digest
    assert (tmp_path / "raw2" / "cells.zip").is_file() and got.root == tmp_path / "raw2" / "extracted" / "cells"


def test_offline_without_mirror_names_url_and_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}/cells.zip"
    s.close()
    spec = dataclasses.replace(get_spec("vgg_cells"), urls=(url,))
    with pytest.raises(DownloadError, match="--mirror") as err:
        acquire(spec, tmp_path / "raw", quiet=True, retries=0, backoff=0)
    assert url in str(err.value)


def test_shanghaitech_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    with pytest.raises(FileNotFoundError, match="ShanghaiTech/part_B"):
        prep.prepare("shanghaitech_b", tmp_path, quiet=True)


@pytest.mark.parametrize("where", ["mirror", "part_folder_as_source"])
def test_shanghaitech_prepare_official_split_with_val(tmp_path, where, make_shanghaitech):
    make_shanghaitech(tmp_path / "m", "B", w=64, h=48)
    kw = {"mirror": tmp_path / "m"} if where == "mirror" else {"source": tmp_path / "m" / "ShanghaiTech" / "part_B"}
    out, meta = prep.prepare("shanghaitech_b", tmp_path / "d", quiet=True, val_fraction=0.25, **kw)
    assert meta["counts"]["train"]["images"] == 3 and meta["counts"]["val"]["images"] == 1
    assert meta["counts"]["test"]["images"] == 2 and meta["counts"]["all"]["points"] == 6 * 7
    assert meta["content_digest_verified"] is False and len(meta["content_digest"]) == 64
    assert meta["points_clipped_into_image"] == 6
    for s in load_split(out, "all"):
        assert np.all(s.points >= 0) and np.all(s.points[:, 0] <= 63) and np.all(s.points[:, 1] <= 47)
    assert {s.image_id for s in load_split(out, "test")} == {"test_IMG_1", "test_IMG_2"}


def test_shanghaitech_held_out_test_folder_alone(tmp_path, make_shanghaitech, monkeypatch):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    make_shanghaitech(tmp_path / "m", "A", w=40, h=30)
    test_dir = tmp_path / "m" / "ShanghaiTech" / "part_A" / "test_data"
    out, meta = prep.prepare("shanghaitech_a", tmp_path / "d", mirror=test_dir, quiet=True)
    assert meta["counts"]["test"]["images"] == 2 and meta["counts"]["all"]["images"] == 2
    for s in load_split(out, "test"):
        assert len(s.points) == 7 and np.all(s.points >= 0)
        assert np.all(s.points[:, 0] <= 39) and np.all(s.points[:, 1] <= 29)


def test_folder_dataset_with_seeded_split(tmp_path):
    src = tmp_path / "mine"
    (src / "images").mkdir(parents=True)
    (src / "points").mkdir()
    for i in range(10):
        Image.fromarray(np.full((12, 16), i * 20, np.uint8)).save(src / "images" / f"im{i}.png")
        (src / "points" / f"im{i}.csv").write_text(f"x,y\n{i},{i}\n")
    out, meta = prep.prepare("folder", tmp_path / "d", source=src, out_name="mine", seed=3, quiet=True)
    assert out.name == "mine"
    assert [meta["counts"][k]["images"] for k in ("train", "val", "test")] == [6, 2, 2]
    s = load_split(out, "val")[0]
    assert s.image.shape == (12, 16) and s.points.tolist() == [[float(s.image_id[2:])] * 2]
    _, meta2 = prep.prepare("folder", tmp_path / "d2", source=src, seed=4, quiet=True)
    assert meta2["counts"]["val"]["images"] == 2
    with pytest.raises(ValueError, match="--source"):
        prep.prepare("folder", tmp_path / "d3", quiet=True)


def test_load_split_rejects_bad_split_and_missing_dir(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_split(tmp_path, "training")
    with pytest.raises(FileNotFoundError, match="prepare"):
        load_split(tmp_path, "train")


def test_relative_data_dir_and_small_synthetic_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--dataset", "synthetic", "--num-train", "2", "--num-val", "1", "--num-test", "1",
            "--image-size", "64", "80", "--count-range", "10", "20", "--quiet"]
    assert prep_cli.main(args) == 0  # default --data-dir data, relative to the working folder
    meta = read_meta(Path("data/prepared/synthetic"))
    assert meta["image_sizes"] == {"80x64": 4} and meta["generator"]["image_size"] == [64, 80]
    assert str(tmp_path) not in (Path("data/prepared/synthetic/meta.json")).read_text()


def _own_folder(base: Path, name: str) -> Path:
    src = base / name
    (src / "images").mkdir(parents=True)
    (src / "points").mkdir()
    for i in range(10):
        Image.fromarray(np.full((12, 16), i * 20, np.uint8)).save(src / "images" / f"im{i}.png")
        (src / "points" / f"im{i}.csv").write_text(f"x,y\n{i},{i}\n")
    return src


def test_own_dataset_by_name_under_the_mirror(tmp_path, monkeypatch):
    """`--dataset NAME` for an unregistered NAME reads MIRROR/NAME as a folder dataset, as the
    pipeline's prepare@NAME does; the result equals --dataset folder --source ... --name NAME."""
    mirror = tmp_path / "mirror"
    src = _own_folder(mirror, "my_cells")
    monkeypatch.setenv("TGHEM_DATA_MIRROR", str(mirror))
    assert prep_cli.main(["--dataset", "my_cells", "--data-dir", str(tmp_path / "a"), "--quiet"]) == 0
    assert prep_cli.main(["--dataset", "folder", "--source", str(src), "--name", "my_cells",
                      "--data-dir", str(tmp_path / "b"), "--quiet"]) == 0
    a, b = tmp_path / "a" / "prepared" / "my_cells", tmp_path / "b" / "prepared" / "my_cells"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert read_meta(a)["counts"]["all"] == {"images": 10, "points": 10}


def test_unknown_dataset_errors_name_the_mirror_layout(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    with pytest.raises(ValueError, match=r"not a registry dataset .*--mirror DIR .*DIR/nope/images"):
        prep_cli.main(["--dataset", "nope", "--data-dir", str(tmp_path), "--quiet"])
    (tmp_path / "mirror" / "other").mkdir(parents=True)  # a mirror without nope/ (an empty one is refused as such)
    with pytest.raises(ValueError, match=r"nope/images does not exist"):
        prep_cli.main(["--dataset", "nope", "--mirror", str(tmp_path / "mirror"), "--data-dir", str(tmp_path), "--quiet"])
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize("argv, error, message", [
    (["--dataset", "synthetic", "--num-train", "-1"], TypeError, r"^num_train: expected a non-negative int, got -1$"),
    (["--dataset", "synthetic", "--max-overlap", "1.5"], ValueError, r"^max_overlap: expected in \[0, 1\), got 1.5$"),
    (["--dataset", "synthetic", "--n-train", "5"], ValueError,
     r"^split parameters: \['n_train'\] not used by protocol 'hint_or_fractions' \(accepted: \['train_fraction', 'val_fraction'\]\)$"),
    (["--dataset", "synthetic", "--val-fraction", "2"], ValueError, r"^val_fraction: expected a fraction in \[0, 1\], got 2.0$"),
    (["--dataset", "vgg_cells", "--n-train", "-3"], TypeError, r"^n_train: expected a non-negative int, got -3$"),
])
def test_bad_generator_and_split_arguments_are_refused_before_anything_is_written(tmp_path, argv, error, message):
    # Checked before the lock is taken and before data is read, downloaded or generated: nothing in --data-dir.
    data_dir = tmp_path / "data"
    with pytest.raises(error, match=message):
        prep_cli.main([*argv, "--data-dir", str(data_dir), "--mirror", str(tmp_path / "no-mirror"), "--quiet"])
    assert not data_dir.exists()
