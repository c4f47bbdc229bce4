"""The prepared-format readers check what they read: each damage is one line naming the file and the fix."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments.core.prepared import Record, load_split, prepared_dir, read_meta, write_prepared

FIX = "prepare it again: python -m experiments.prepare --dataset cells --data-dir"


def _prepared(tmp_path: Path) -> Path:
    """``<tmp>/data/prepared/cells``: 3 images of 16 x 12 (a, b in train, c in test), 2 points each."""
    src = tmp_path / "src"
    src.mkdir()
    records = []
    for k, i in enumerate("abc"):
        Image.fromarray(np.full((12, 16), 40 * k, np.uint8)).save(src / f"{i}.png")
        records.append(Record(i, src / f"{i}.png", np.array([[0.0, 0.0], [15.0, 11.0]]), 16, 12))
    out = tmp_path / "data" / "prepared" / "cells"
    write_prepared(out, records, {"train": ["a", "b"], "val": [], "test": ["c"]},
                   {"name": "cells", "match_radius": 5.0, "mask_radius": 3, "content_digest": "0" * 64})
    return out


def test_a_good_prepared_folder_loads(tmp_path):
    d = _prepared(tmp_path)
    train = load_split(d, "train")
    assert [s.image_id for s in train] == ["a", "b"] and train[1].image.shape == (12, 16)
    assert train[0].points.tolist() == [[0.0, 0.0], [15.0, 11.0]]
    assert read_meta(d)["counts"]["all"] == {"images": 3, "points": 6}


def _raises(fn, path: Path, what: str) -> str:
    with pytest.raises(ValueError) as err:
        fn()
    msg = str(err.value)
    assert msg.startswith(str(path)) and what in msg and FIX in msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(
    "text, what",
    [
        ("x,y\n1,1\nnan,2\n", "line 3: x = 'nan' is not a finite number"),
        ("x,y\n1,1\n2,1e400\n", "line 3: y = '1e400' is not a finite number"),
        ("x,y\n1,1\n16,2\n", "line 3: point x=16, y=2 lies outside the 16x12 image"),
        ("x,y\n-0.5,2\n", "line 2: point x=-0.5, y=2 lies outside"),
        ("x,y\n1,oops\n", "line 2: y = 'oops' is not a number"),
    ],
)
def test_prepared_points_must_be_finite_and_inside_the_image(tmp_path, text, what):
    d = _prepared(tmp_path)
    (d / "points" / "b.csv").write_text(text)
    _raises(lambda: load_split(d, "train"), d / "points" / "b.csv", what)
    assert len(load_split(d, "test")) == 1  # the other split does not read b


@pytest.mark.parametrize(
    "text, what",
    [
        ('{\n  "name": "cells",\n', "not valid JSON (Expecting"),
        ("", "not valid JSON (Expecting value at line 1 column 1)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"match_radius": NaN}', "NaN is not a finite number"),
        ('{"match_radius": -1}', "match_radius = -1, expected a positive number"),
        ('{"mask_radius": "big"}', "mask_radius = 'big', expected a non-negative number of pixels or 'adaptive'"),
        ('{"content_digest": "abc"}', "content_digest = 'abc', expected 64 lowercase hex digits"),
        ('{"counts": {"all": {"images": -1, "points": 0}}}', "counts.all ="),
    ],
)
def test_a_corrupt_meta_json_names_the_file_and_the_command(tmp_path, text, what):
    d = _prepared(tmp_path)
    (d / "meta.json").write_text(text)
    _raises(lambda: read_meta(d), d / "meta.json", what)


def test_a_truncated_meta_json_names_the_file(tmp_path):
    d = _prepared(tmp_path)
    full = (d / "meta.json").read_bytes()
    (d / "meta.json").write_bytes(full[: len(full) // 2])
    _raises(lambda: read_meta(d), d / "meta.json", "not valid JSON")
    (d / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match=f"{d / 'meta.json'}: no such file; prepare it again"):
        read_meta(d)


@pytest.mark.parametrize(
    "change, where, what",
    [
        (lambda d: (d / "split.csv").write_text("image_id,split\na,train\nb,trian\nc,test\n"), "split.csv",
         "line 3: split 'trian' of image 'b' is not one of train, val, test, unused"),
        (lambda d: (d / "split.csv").write_text("image_id,split\na,train\nb,train\nc,test\nzz,test\n"), "split.csv",
         "names images that"),
        (lambda d: (d / "split.csv").write_text("image_id,split\na,train\nc,test\n"), "images",
         "holds images that"),
        (lambda d: (d / "points" / "b.csv").unlink(), "split.csv", "names images whose points files"),
        (lambda d: (d / "points" / "zz.csv").write_text("x,y\n"), "points", "holds points files of images that"),
        (lambda d: (d / "images" / "b.jpg").write_bytes(b""), "images", "two files for image 'b'"),
    ],
)
def test_split_csv_images_and_points_must_name_the_same_ids(tmp_path, change, where, what):
    d = _prepared(tmp_path)
    change(d)
    msg = _raises(lambda: load_split(d, "test"), d / where, what)
    if "names images that" in what:
        assert "lacks: zz;" in msg
    if "holds images that" in what:
        assert "lacks: b;" in msg


def test_a_damaged_prepared_image_names_the_file(tmp_path):
    d = _prepared(tmp_path)
    full = (d / "images" / "c.png").read_bytes()
    (d / "images" / "c.png").write_bytes(full[:-30])
    _raises(lambda: load_split(d, "test"), d / "images" / "c.png", "does not decode completely")
    (d / "images" / "c.png").write_bytes(b"")
    _raises(lambda: load_split(d, "all"), d / "images" / "c.png", "the file is empty (0 bytes)")


def test_write_prepared_refuses_non_finite_points_and_leaves_nothing(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(src)
    out = tmp_path / "prepared" / "x"
    for bad in ([[1.0, np.nan]], [[16.0, 0.0]]):
        with pytest.raises(ValueError, match=f"{src}: point .* is not a finite point of the 16x12 image"):
            write_prepared(out, [Record("a", src, np.array(bad), 16, 12)], {"train": ["a"]}, {})
    assert not (tmp_path / "prepared").exists() or not list((tmp_path / "prepared").iterdir())


@pytest.mark.parametrize("name", ["../x", "../../other/prepared/x", "a/b", ".hidden", "", "/abs", 3])
def test_a_dataset_name_is_one_folder_below_prepared(tmp_path, name):
    # A path as a name once left prepared/ (evaluate and oracle read ../../other/prepared/x).
    with pytest.raises(ValueError, match=r"^--dataset: expected a folder name of letters, digits, '\.', '_' or '-', got "):
        prepared_dir(tmp_path, name)
    assert prepared_dir(tmp_path, "vgg_cells.v2-b") == tmp_path / "prepared" / "vgg_cells.v2-b"


def test_evaluate_and_oracle_refuse_a_path_as_dataset(tmp_path, capsys):
    from experiments import oracle as oracle_cli
    from experiments.core.cli import run_stage

    with pytest.raises(SystemExit) as code:
        run_stage(lambda: oracle_cli.main(["--dataset", "../x", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]))
    assert code.value.code == 1
    assert capsys.readouterr().err == "error: --dataset: expected a folder name of letters, digits, '.', '_' or '-', got '../x'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
