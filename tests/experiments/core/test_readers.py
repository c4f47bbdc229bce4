"""The checked readers: damaged images, bad points rows and split rows fail with the file and line."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from experiments.core.readers import decoded_image, read_points_csv, read_split_csv


def _png(shape=(24, 32, 3), seed=0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_complete_image_decodes(tmp_path):
    p = tmp_path / "a.png"
    p.write_bytes(_png())
    with decoded_image(p, "FIX") as im:
        assert im.size == (32, 24)
        assert np.asarray(im).shape == (24, 32, 3)


@pytest.mark.parametrize(
    "name, content, what",
    [
        ("empty.png", b"", "the file is empty (0 bytes)"),
        ("text.png", b"not an image at all", "not an image file PIL can identify"),
        ("cut.png", _png()[:600], "does not decode completely"),
        ("cut.jpg", _jpeg()[:900], "does not decode completely"),
    ],
)
def test_a_damaged_image_fails_naming_the_file_and_the_fix(tmp_path, name, content, what):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValueError) as err:
        with decoded_image(p, "replace it"):
            pass
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and what in msg and msg.endswith("; replace it") and "\n" not in msg


def test_truncated_images_fail_even_where_pil_was_told_to_pad_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    p = tmp_path / "cut.png"
    p.write_bytes(_png()[:600])
    with pytest.raises(ValueError, match="cut.png: the image does not decode completely"):
        with decoded_image(p, "FIX"):
            pass
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_a_missing_image_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        with decoded_image(tmp_path / "none.png", "FIX"):
            pass


def test_points_rows_are_read_with_extra_columns(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("x,y,score\n1,2,0.5\n3.25,4,0.1\n")
    assert read_points_csv(p).tolist() == [[1.0, 2.0], [3.25, 4.0]]
    p.write_text("x,y\n")
    assert read_points_csv(p).shape == (0, 2)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("x,y\n10,10\nnan,20\n", 3, "x = 'nan' is not a finite number"),
        ("x,y\n10,10\n5,inf\n", 3, "y = 'inf' is not a finite number"),
        ("x,y\n10,10\n5,-Infinity\n", 3, "y = '-Infinity' is not a finite number"),
        ("x,y\nabc,20\n", 2, "x = 'abc' is not a number"),
        ("x,y\n1,2\n\n7\n", 4, "no y value"),
        ("x,y\n1,2\n,3\n", 3, "no x value"),
    ],
)
def test_a_bad_points_value_names_the_file_and_the_line(tmp_path, text, line, what):
    p = tmp_path / "002.csv"
    p.write_text(text)
    with pytest.raises(ValueError) as err:
        read_points_csv(p, fix="FIX")
    assert str(err.value) == f"{p}, line {line}: {what}; FIX"


def test_points_outside_the_image_name_the_line(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("x,y\n0,0\n15,11\n15.5,3\n")
    assert read_points_csv(p, size=(16, 12), slack=0.5).shape == (3, 2)  # within half a pixel
    p.write_text("x,y\n0,0\n15,11\n16,3\n")
    with pytest.raises(ValueError) as err:
        read_points_csv(p, fix="FIX", size=(16, 12))
    assert str(err.value) == (
        f"{p}, line 4: point x=16, y=3 lies outside the 16x12 image "
        f"(expected 0 <= x <= 15, 0 <= y <= 11, 0-based pixels); FIX"
    )


@pytest.mark.parametrize(
    "content, what",
    [(b"col,row\n1,1\n", "expected a header line with columns x,y"), (b"", "expected a header line"),
     (b"x,y\n\xff\xfe1,2\n", "not a UTF-8 text file")],
)
def test_a_points_file_without_its_header_or_text_is_named(tmp_path, content, what):
    p = tmp_path / "p.csv"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=what) as err:
        read_points_csv(p)
    assert str(err.value).startswith(f"{p}: ")


@pytest.mark.parametrize(
    "text, what",
    [
        ("image_id,split\na,train\nb,training\n", "line 3: split 'training' of image 'b' is not one of train, val, test"),
        ("image_id,split\na,train\na,test\n", "line 3: image 'a' is listed again (first on line 2)"),
        ("image_id,split\n,train\n", "line 2: no image_id"),
        ("id,split\na,train\n", "expected a header line image_id,split"),
    ],
)
def test_a_bad_split_row_names_the_file_and_the_line(tmp_path, text, what):
    p = tmp_path / "split.csv"
    p.write_text(text)
    with pytest.raises(ValueError) as err:
        read_split_csv(p, ("train", "val", "test"), fix="FIX")
    assert str(err.value).startswith(str(p)) and what in str(err.value) and str(err.value).endswith("; FIX")


def test_split_rows_are_read_in_order(tmp_path):
    p = tmp_path / "split.csv"
    p.write_text("image_id,split\nb,test\na,unused\n")
    assert list(read_split_csv(p).items()) == [("b", "test"), ("a", "unused")]
