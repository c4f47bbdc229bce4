"""prepare on damaged input: one line naming the file (and row) and the fix, and nothing partial left."""

import dataclasses
import errno
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import prepare as prep_cli
from experiments.core.prepared import load_split
from experiments.data import preparation as prep
from experiments.data.acquire import VERIFIED_MARKER
from experiments.data import registry
from experiments.data.integrity import DigestMismatchError, build_manifest, content_digest, manifest_text
from experiments.data.parsers import PARSERS
from experiments.data.registry import REGISTRY, get_spec
from experiments.data.splits import SplitProtocol
from experiments.data.workspace import PreparationBusyError, preparation_lock

from tests.helpers.paths import ROOT


def _png(seed: int, shape=(12, 16, 3)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _folder(base: Path, n: int = 4) -> Path:
    """A folder dataset: images/001.png.. of 16 x 12 with points/001.csv.. (two points each)."""
    (base / "images").mkdir(parents=True)
    (base / "points").mkdir()
    for i in range(1, n + 1):
        (base / "images" / f"{i:03d}.png").write_bytes(_png(i))
        (base / "points" / f"{i:03d}.csv").write_text("x,y\n1,2\n10,5\n")
    return base


def _leftovers(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.name.endswith((".partial", ".tmp")) or ".old-" in p.name]


def _fails(args: list[str], data_dir: Path, *fragments: str, error=ValueError) -> str:
    with pytest.raises(error) as err:
        prep_cli.main(args + ["--data-dir", str(data_dir), "--quiet"])
    msg = str(err.value)
    for f in fragments:
        assert f in msg, msg
    assert "\n" not in msg
    assert not _leftovers(data_dir) and not (data_dir / "prepared").exists()
    return msg


def _folder_args(src: Path) -> list[str]:
    return ["--dataset", "folder", "--source", str(src), "--name", "b"]


# --------------------------------------------------------------------------- images
def test_an_empty_image_is_named(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "images" / "002.png").write_bytes(b"")
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'images' / '002.png'}: the file is empty (0 bytes)",
           "replace it with a complete copy")


def test_a_truncated_image_fails_at_prepare_not_in_training(tmp_path):
    src = _folder(tmp_path / "B")
    good = (src / "images" / "001.png").read_bytes()
    (src / "images" / "002.png").write_bytes(good[: len(good) * 2 // 3])
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'images' / '002.png'}: the image does not decode completely")


def test_a_damaged_dot_image_is_named(tmp_path):
    src = _folder(tmp_path / "B", n=2)
    (src / "points" / "002.csv").unlink()
    (src / "dots").mkdir()
    (src / "dots" / "002.png").write_bytes(_png(9)[:100])
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'dots' / '002.png'}: ")


# --------------------------------------------------------------------------- points
@pytest.mark.parametrize(
    "text, what",
    [
        ("x,y\n10,10\nnan,2\n", "002.csv, line 3: x = 'nan' is not a finite number; fix or remove that row"),
        ("x,y\n10,10\n3,inf\n", "002.csv, line 3: y = 'inf' is not a finite number"),
        ("x,y\nabc,2\n", "002.csv, line 2: x = 'abc' is not a number"),
        ("x,y\n1,1\n40,2\n", "002.csv, line 3: point x=40, y=2 lies outside the 16x12 image"),
    ],
)
def test_a_bad_point_names_the_file_and_the_row(tmp_path, text, what):
    src = _folder(tmp_path / "B")
    (src / "points" / "002.csv").write_text(text)
    msg = _fails(_folder_args(src), tmp_path / "D", what)
    assert msg.startswith(str(src / "points" / "002.csv"))


# --------------------------------------------------------------------------- ids
def test_an_image_without_points_is_named_not_a_missing_layout(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "points" / "003.csv").unlink()
    msg = _fails(_folder_args(src), tmp_path / "D", "image", "003", "neither points/003.csv nor dots/003.png")
    assert "no folder layout found" not in msg


def test_points_of_a_missing_image_are_named(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "points" / "007.csv").write_text("x,y\n1,1\n")
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'points'}: annotations of images that", "lacks: 007.csv")


def test_a_split_file_naming_an_unknown_image_is_refused(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "split.csv").write_text("image_id,split\n001,train\n002,test\n099,val\n")
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'split.csv'}: names images that", "lacks: 099")


def test_a_split_file_with_an_unknown_split_names_the_row(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "split.csv").write_text("image_id,split\n001,train\n002,validation\n")
    _fails(_folder_args(src), tmp_path / "D", f"{src / 'split.csv'}, line 3: split 'validation' of image '002'")


def test_images_the_split_file_lacks_are_reported_by_name(tmp_path, capsys):
    src = _folder(tmp_path / "B")
    (src / "split.csv").write_text("image_id,split\n001,train\n002,test\n")
    out, meta = prep.prepare("folder", tmp_path / "D", source=src, out_name="b", quiet=True)
    err = capsys.readouterr().err
    assert f"{src / 'split.csv'} lists no split for 2 images (003, 004); they are drawn with --seed 0" in err
    assert meta["counts"]["all"]["images"] == 4 and {s.image_id for s in load_split(out, "test")} >= {"002"}


def test_the_cli_prints_one_line_and_no_traceback(tmp_path):
    src = _folder(tmp_path / "B")
    (src / "images" / "002.png").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "experiments.prepare", *_folder_args(src), "--data-dir",
                        str(tmp_path / "D")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {src / 'images' / '002.png'}: the file is empty") and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- folders
def test_an_unwritable_data_dir_is_one_line_naming_it(tmp_path, monkeypatch):
    src = _folder(tmp_path / "B")
    data = tmp_path / "ro"
    real_mkdir = Path.mkdir

    def refuse(self, *a, **k):  # what a read-only folder does (root ignores chmod, so say it directly)
        if self == data or data in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", refuse)
    msg = _fails(_folder_args(src), data, f"--data-dir {data}: cannot write {data / 'raw'} (Permission denied)",
                 "make the folder writable or pass another --data-dir")
    assert msg.startswith("--data-dir")


def test_a_second_prepare_of_the_same_name_fails_at_once_naming_the_first(tmp_path):
    src = _folder(tmp_path / "B")
    with preparation_lock(tmp_path / "D", "b"):
        with pytest.raises(PreparationBusyError, match=rf"pid {os.getpid()} on .* is preparing 'b' into"):
            prep.prepare("folder", tmp_path / "D", source=src, out_name="b", quiet=True)
    out, _ = prep.prepare("folder", tmp_path / "D", source=src, out_name="b", quiet=True)
    assert len(load_split(out, "all")) == 4
    assert (tmp_path / "D" / "raw" / ".b.lock").read_bytes() == b""  # released, holding no pid


def test_leftovers_of_a_killed_prepare_are_removed_at_the_next_start(tmp_path, capsys):
    src = _folder(tmp_path / "B")
    d = tmp_path / "D"
    (d / "raw" / "b").mkdir(parents=True)
    (d / "prepared").mkdir()
    stale = [Path(tempfile.mkdtemp(dir=d / "raw", prefix=".b.", suffix=".partial")),
             Path(tempfile.mkdtemp(dir=d / "prepared", prefix=".b.", suffix=".partial")),
             Path(tempfile.mkdtemp(dir=d / "raw" / "b", prefix=".extracted.", suffix=".partial")),
             d / "prepared" / ".b.old-4242"]
    stale[-1].mkdir()
    other = Path(tempfile.mkdtemp(dir=d / "prepared", prefix=".b.x.", suffix=".partial"))  # another name's
    (stale[0] / "half.png").write_bytes(b"\x89PNG")
    prep.prepare("folder", d, source=src, out_name="b", quiet=True)
    assert not any(p.exists() for p in stale) and other.exists()
    err = capsys.readouterr().err
    assert all(f"b: removed {p}, left by an interrupted prepare" in err for p in stale)


def test_kill_9_while_writing_the_prepared_folder_leaves_nothing_after_the_next_run(tmp_path):
    src = _folder(tmp_path / "B")
    d = tmp_path / "D"
    # SIGKILL from inside the copy of the third image: an interrupted run, deterministically.
    code = (
        "import os, shutil, signal, sys\n"
        "from experiments.core import depth\n"
        "calls = []\n"
        "def copy(a, b):\n"
        "    calls.append(a)\n"
        "    if len(calls) == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    shutil.copy2(a, b)\n"
        "depth.shutil = type(sys)('fake_shutil'); depth.shutil.copyfile = copy\n"
        "from experiments import prepare\n"
        f"prepare.main(['--dataset', 'folder', '--source', {str(src)!r}, '--name', 'b', '--data-dir', {str(d)!r}, '--quiet'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == -9, r.stderr
    assert _leftovers(d) and not (d / "prepared" / "b").exists()
    out, meta = prep.prepare("folder", d, source=src, out_name="b", quiet=True)
    assert not _leftovers(d) and meta["counts"]["all"]["images"] == 4 and len(load_split(out, "all")) == 4


# --------------------------------------------------------------------------- mirrors and digests
def _cells(folder: Path, n: int = 4, damage: str | None = None) -> Path:
    """A VGG-cells-like published layout: NNNcell.png with NNNdots.png (red single pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"{i:03d}cell.png").write_bytes(_png(100 + i, (20, 24, 3)))
        dots = np.zeros((20, 24, 3), np.uint8)
        dots[3 + i, 5, 0] = dots[10, 2 * i, 0] = 255
        Image.fromarray(dots).save(folder / f"{i:03d}dots.png")
    if damage:
        good = (folder / damage).read_bytes()
        (folder / damage).write_bytes(good[: len(good) // 2])
    return folder


@pytest.fixture
def tiny_cells(tmp_path, monkeypatch):
    """Registers ``tiny_cells`` (VGG-cells parser, a recorded digest and manifest); returns its good layout."""
    good = _cells(tmp_path / "good" / "cells")
    manifest = build_manifest(good, PARSERS["vgg_cells"].files(good))
    digest = content_digest(manifest)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "tiny_cells.sha256").write_text(manifest_text(manifest))
    monkeypatch.setattr(registry, "MANIFEST_DIR", tmp_path / "manifests")
    spec = dataclasses.replace(
        get_spec("vgg_cells"), name="tiny_cells", urls=(), archive_sha256=None, content_digest=digest,
        split=SplitProtocol("counts", {"n_train": 2, "n_val": 0}),
    )
    monkeypatch.setitem(REGISTRY, "tiny_cells", spec)
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    return good


def _mirror_layout(tmp_path: Path, damage: str | None = None) -> Path:
    _cells(tmp_path / "mirror" / "tiny_cells" / "cells", damage=damage)
    return tmp_path / "mirror"


def _mirror_zip(tmp_path: Path, damage: str | None = None) -> Path:
    layout = _cells(tmp_path / "zsrc" / "cells", damage=damage)
    (tmp_path / "mirror").mkdir(exist_ok=True)
    with zipfile.ZipFile(tmp_path / "mirror" / "cells.zip", "w") as zf:
        for p in sorted(layout.iterdir()):
            zf.write(p, f"cells/{p.name}")
    return tmp_path / "mirror"


def test_a_damaged_mirror_file_is_never_kept_and_a_repaired_mirror_works(tmp_path, tiny_cells):
    mirror, d = _mirror_layout(tmp_path, damage="002cell.png"), tmp_path / "D"
    msg = _fails(["--dataset", "tiny_cells", "--mirror", str(mirror)], d,
                 "content digest mismatch", "first differing file: 002cell.png",
                 f"the files read were in {mirror / 'tiny_cells' / 'cells'}: replace the damaged one",
                 error=DigestMismatchError)
    assert msg.startswith("tiny_cells: ")
    assert not (d / "raw" / "tiny_cells" / "extracted").exists()
    (mirror / "tiny_cells" / "cells" / "002cell.png").write_bytes((tiny_cells / "002cell.png").read_bytes())
    out, meta = prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
    assert meta["content_digest_verified"] and meta["counts"]["all"] == {"images": 4, "points": 8}
    assert not _leftovers(d)


def test_extracted_is_a_copy_so_a_mirror_changed_in_place_does_not_reach_it(tmp_path, tiny_cells):
    mirror, d = _mirror_layout(tmp_path), tmp_path / "D"
    prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
    kept = d / "raw" / "tiny_cells" / "extracted" / "cells" / "001cell.png"
    mine = mirror / "tiny_cells" / "cells" / "001cell.png"
    assert os.stat(kept).st_ino != os.stat(mine).st_ino and os.stat(kept).st_nlink == 1
    with open(mine, "r+b") as f:  # damaged in place (same inode)
        f.write(b"XXXX")
    assert kept.read_bytes() == (tiny_cells / "001cell.png").read_bytes()
    _, meta = prep.prepare("tiny_cells", d, quiet=True)  # reuses its own verified copy, no mirror needed
    assert meta["content_digest_verified"]


def test_a_damaged_extracted_is_removed_and_acquired_again(tmp_path, tiny_cells, capsys):
    mirror, d = _mirror_layout(tmp_path), tmp_path / "D"
    prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
    extracted = d / "raw" / "tiny_cells" / "extracted"
    assert (extracted / VERIFIED_MARKER).is_file()
    (extracted / "cells" / "003dots.png").write_bytes(b"damaged")
    _, meta = prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
    assert meta["content_digest_verified"]
    assert (extracted / "cells" / "003dots.png").read_bytes() == (tiny_cells / "003dots.png").read_bytes()
    assert f"tiny_cells: removed the damaged copy {extracted} (" in capsys.readouterr().err
    # without another source the error says what was removed, and nothing damaged stays
    (extracted / "cells" / "003dots.png").write_bytes(b"damaged")
    with pytest.raises(FileNotFoundError) as err:
        prep_cli.main(["--dataset", "tiny_cells", "--data-dir", str(d), "--quiet"])
    msg = str(err.value)
    assert msg.startswith(f"tiny_cells: no data found (removed the damaged copy {extracted} (")
    assert "first differing file: 003dots.png" in msg and "\n" not in msg
    assert not extracted.exists() and not _leftovers(d)


def test_an_unverifiable_damaged_archive_is_removed_so_a_rerun_fetches_it_again(tmp_path, tiny_cells):
    d = tmp_path / "D"
    mirror = _mirror_zip(tmp_path, damage="004dots.png")
    msg = _fails(["--dataset", "tiny_cells", "--mirror", str(mirror)], d, "first differing file: 004dots.png",
                 f"removed this run's copy {d / 'raw' / 'tiny_cells' / 'cells.zip'} of {mirror / 'cells.zip'}, so the "
                 f"next run fetches it again; replace the damaged file there", error=DigestMismatchError)
    assert msg.startswith("tiny_cells: content digest mismatch")
    assert not (d / "raw" / "tiny_cells" / "cells.zip").exists()
    assert not (d / "raw" / "tiny_cells" / "extracted").exists()
    _mirror_zip(tmp_path)  # the mirror's archive replaced by a good one
    _, meta = prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
    assert meta["content_digest_verified"] and not _leftovers(d)


def test_an_unverifiable_archive_a_user_put_in_raw_is_used_and_never_deleted(tmp_path, tiny_cells):
    mirror = _mirror_zip(tmp_path, damage="004dots.png")
    raw = tmp_path / "D" / "raw" / "tiny_cells"
    raw.mkdir(parents=True)
    damaged = (mirror / "cells.zip").read_bytes()
    (raw / "cells.zip").write_bytes(damaged)  # the user's own (bad) download
    _fails(["--dataset", "tiny_cells"], tmp_path / "D", "first differing file: 004dots.png",
           f"{raw / 'cells.zip'} was not fetched by this run, so it is left as it is: replace it with the published "
           f"archive, or remove it so that the next run fetches it", error=DigestMismatchError)
    assert (raw / "cells.zip").read_bytes() == damaged and not (raw / "extracted").exists()
    _mirror_zip(tmp_path)
    (raw / "cells.zip").write_bytes((mirror / "cells.zip").read_bytes())  # a good one: used, and kept
    _, meta = prep.prepare("tiny_cells", tmp_path / "D", quiet=True)
    assert meta["content_digest_verified"] and (raw / "cells.zip").read_bytes() == (mirror / "cells.zip").read_bytes()


def test_a_raw_archive_failing_its_sha256_is_refused_and_kept(tmp_path, tiny_cells, monkeypatch):
    import hashlib

    mirror = _mirror_zip(tmp_path)
    sha = hashlib.sha256((mirror / "cells.zip").read_bytes()).hexdigest()
    monkeypatch.setitem(REGISTRY, "tiny_cells", dataclasses.replace(REGISTRY["tiny_cells"], archive_sha256=sha))
    raw = tmp_path / "D" / "raw" / "tiny_cells"
    raw.mkdir(parents=True)
    partial = (mirror / "cells.zip").read_bytes()[:500]  # e.g. a download by hand that stopped
    (raw / "cells.zip").write_bytes(partial)
    _fails(["--dataset", "tiny_cells", "--mirror", str(mirror)], tmp_path / "D",
           f"{raw / 'cells.zip'}: sha256 {hashlib.sha256(partial).hexdigest()}, expected {sha}: not the published "
           f"archive, and prepare did not write it, so it is left as it is: replace or remove it")
    assert (raw / "cells.zip").read_bytes() == partial
    (raw / "cells.zip").unlink()  # as the message says: then the mirror's is fetched
    _, meta = prep.prepare("tiny_cells", tmp_path / "D", mirror=mirror, quiet=True)
    assert meta["content_digest_verified"] and (raw / "cells.zip").read_bytes() == (mirror / "cells.zip").read_bytes()


@pytest.mark.parametrize("how", ["unmarked", "marked, with an entry added", "a link"])
def test_a_damaged_extracted_that_prepare_did_not_make_is_refused_and_kept(tmp_path, tiny_cells, how):
    mirror, d = _mirror_layout(tmp_path), tmp_path / "D"
    extracted = d / "raw" / "tiny_cells" / "extracted"
    if how == "a link":  # the user's own copy, linked in
        _cells(tmp_path / "mine" / "cells")
        extracted.parent.mkdir(parents=True)
        extracted.symlink_to(tmp_path / "mine")
        (tmp_path / "mine" / VERIFIED_MARKER).write_text('{"content_digest": "x"}')
        target = tmp_path / "mine" / "cells" / "003dots.png"
    else:
        prep.prepare("tiny_cells", d, mirror=mirror, quiet=True)
        if how == "unmarked":  # as a user's own download, unpacked there by hand
            (extracted / VERIFIED_MARKER).unlink()
            (extracted / ".tghem-output").unlink()
        else:
            (extracted / "NOTES.txt").write_text("my notes")
        target = extracted / "cells" / "003dots.png"
    target.write_bytes(b"damaged")
    before = {p.relative_to(extracted): p.read_bytes() for p in extracted.rglob("*") if p.is_file()}
    with pytest.raises(ValueError) as err:
        prep_cli.main(["--dataset", "tiny_cells", "--mirror", str(mirror), "--data-dir", str(d), "--quiet"])
    msg = str(err.value)
    assert msg.startswith(f"{extracted}: ") and "\n" not in msg and "003dots.png" in msg
    assert ("prepare did not make this folder as it is (no .tghem-verified.json, or it holds more than prepare wrote), "
            "so it is left alone: repair it, or move it away so that the data is acquired again") in msg
    assert not _leftovers(d)
    assert {p.relative_to(extracted): p.read_bytes() for p in extracted.rglob("*") if p.is_file()} == before


def test_the_marker_lists_what_prepare_wrote(tmp_path, tiny_cells):
    import json

    prep.prepare("tiny_cells", tmp_path / "D", mirror=_mirror_layout(tmp_path), quiet=True)
    marker = json.loads((tmp_path / "D" / "raw" / "tiny_cells" / "extracted" / VERIFIED_MARKER).read_text())
    assert marker == {"layout": "cells", "content_digest": REGISTRY["tiny_cells"].content_digest, "entries": ["cells"]}


def test_a_changed_extracted_of_a_set_without_a_recorded_digest_is_noticed(tmp_path, make_shanghaitech, capsys,
                                                                          monkeypatch):
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    make_shanghaitech(tmp_path / "m", "B", w=40, h=30)
    d = tmp_path / "D"
    _, first = prep.prepare("shanghaitech_b", d, mirror=tmp_path / "m", quiet=True)
    extracted = d / "raw" / "shanghaitech_b" / "extracted"
    image = extracted / "part_B" / "test_data" / "images" / "IMG_1.jpg"
    image.write_bytes(image.read_bytes()[:-1] + b"\0")  # still decodes; only the digest can tell
    _, again = prep.prepare("shanghaitech_b", d, mirror=tmp_path / "m", quiet=True)
    assert again["content_digest"] == first["content_digest"]
    err = capsys.readouterr().err
    assert f"removed the damaged copy {extracted} (its content digest" in err
    assert f"differs from the {first['content_digest']} recorded when it was written" in err


# --------------------------------------------------------------------------- crowd sets (no recorded digest)
def _shanghaitech_mirror(tmp_path, make_shanghaitech, monkeypatch) -> Path:
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    make_shanghaitech(tmp_path / "m", "B", w=40, h=30)
    return tmp_path / "m" / "ShanghaiTech" / "part_B" / "test_data"


def test_a_damaged_mirror_image_of_a_set_without_a_digest_is_never_kept(tmp_path, make_shanghaitech, monkeypatch):
    test_data, d = _shanghaitech_mirror(tmp_path, make_shanghaitech, monkeypatch), tmp_path / "D"
    image = test_data / "images" / "IMG_2.jpg"
    good = image.read_bytes()
    image.write_bytes(good[:200])
    _fails(["--dataset", "shanghaitech_b", "--mirror", str(tmp_path / "m")], d,
           f"{image}: the image does not decode", "nothing of it was kept")
    assert not (d / "raw" / "shanghaitech_b" / "extracted").exists()
    image.write_bytes(good)  # the mirror repaired: the next run reads it
    _, meta = prep.prepare("shanghaitech_b", d, mirror=tmp_path / "m", quiet=True)
    assert meta["counts"]["test"]["images"] == 2


def test_a_missing_or_unreadable_annotation_is_named(tmp_path, make_shanghaitech, monkeypatch):
    test_data, d = _shanghaitech_mirror(tmp_path, make_shanghaitech, monkeypatch), tmp_path / "D"
    mat = test_data / "ground-truth" / "GT_IMG_2.mat"
    good = mat.read_bytes()
    mat.unlink()
    _fails(["--dataset", "shanghaitech_b", "--mirror", str(tmp_path / "m")], d,
           f"shanghaitech part B: IMG_2.jpg has no annotation GT_IMG_2.mat (expected {mat})")
    for damaged in (good[:100], b"garbage", b""):
        mat.write_bytes(damaged)
        msg = _fails(["--dataset", "shanghaitech_b", "--mirror", str(tmp_path / "m")], d,
                     f"{mat}: not a readable MATLAB .mat file (", "replace it with the published file")
        assert "nothing of it was kept" in msg


def test_library_arguments_of_the_wrong_type_are_named():
    from experiments.data.acquire import acquire

    with pytest.raises(TypeError, match=r"^name: expected a str, got int 123$"):
        prep.prepare(123)
    with pytest.raises(TypeError, match=r"^data_dir: expected a str or a path, got NoneType None$"):
        prep.prepare("adi", None)
    with pytest.raises(TypeError, match=r"^mirror: expected a str or a path or None, got int 5$"):
        prep.prepare("adi", mirror=5)
    with pytest.raises(TypeError, match=r"^spec: expected a DatasetSpec \(experiments.data.registry.get_spec\(name\)\), got 'adi'$"):
        acquire("adi", "raw")


def test_an_own_datasets_name_is_checked_before_its_folder_is_looked_for(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("")
    _fails(["--dataset", "my cells", "--mirror", str(tmp_path / "m")], tmp_path / "D",
           "--dataset: expected a folder name of letters, digits, '.', '_' or '-', got 'my cells'")


def test_a_mirror_changed_since_the_copy_is_copied_again(tmp_path, make_shanghaitech, monkeypatch, capsys,
                                                         write_shanghaitech_mat):
    test_data, d = _shanghaitech_mirror(tmp_path, make_shanghaitech, monkeypatch), tmp_path / "D"
    mirror = tmp_path / "m"
    _, first = prep.prepare("shanghaitech_b", d, mirror=mirror, quiet=True)
    assert first["counts"]["test"]["images"] == 2
    _, same = prep.prepare("shanghaitech_b", d, mirror=mirror, quiet=True)  # unchanged: the copy is reused
    assert same == first and "removed" not in capsys.readouterr().err
    # the mirror completed since (as a partial copy replaced by the published release)
    (test_data / "images" / "IMG_3.jpg").write_bytes((test_data / "images" / "IMG_1.jpg").read_bytes())
    write_shanghaitech_mat(test_data / "ground-truth" / "GT_IMG_3.mat", np.array([[2.0, 3.0]]))
    _, again = prep.prepare("shanghaitech_b", d, mirror=mirror, quiet=True)
    assert again["counts"]["test"]["images"] == 3 and again["content_digest"] != first["content_digest"]
    extracted = d / "raw" / "shanghaitech_b" / "extracted"
    err = capsys.readouterr().err
    assert f"shanghaitech_b: removed {extracted}: the mirror's " in err
    assert f"(14 files, content digest {again['content_digest']}) differs from this copy (12 files, {first['content_digest']})" in err
    # a copy prepare did not make is left alone
    (extracted / VERIFIED_MARKER).unlink()
    (test_data / "images" / "IMG_3.jpg").unlink()
    (test_data / "ground-truth" / "GT_IMG_3.mat").unlink()
    with pytest.raises(ValueError, match=f"^{extracted}: the mirror's .* prepare did not make this folder as it is, "
                                         f"so it is left alone: move it away to use the mirror"):
        prep.prepare("shanghaitech_b", d, mirror=mirror, quiet=True)
    assert len(list((extracted / "part_B" / "test_data" / "images").iterdir())) == 3


def test_a_copy_without_its_test_split_is_prepared_with_a_warning(tmp_path, make_shanghaitech, monkeypatch, capsys):
    import shutil

    test_data = _shanghaitech_mirror(tmp_path, make_shanghaitech, monkeypatch)
    shutil.rmtree(test_data)
    _, meta = prep.prepare("shanghaitech_b", tmp_path / "D", mirror=tmp_path / "m", quiet=True)
    assert meta["counts"]["test"]["images"] == 0
    assert "warning: shanghaitech_b: the test split holds no image (4 images in all, from " in capsys.readouterr().err
