"""prepare converts or refuses what later stages cannot read; ids are matched exactly (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from experiments.core.depth import to_8bit
from experiments.core.prepared import image_file, load_split, read_image
from experiments.data import preparation as prep


def folder_dataset(root, images: dict):
    (root / "images").mkdir(parents=True)
    (root / "points").mkdir()
    for name, image in images.items():
        image.save(root / "images" / name)
        stem = name.rsplit(".", 1)[0]
        if not stem.startswith("."):
            (root / "points" / f"{stem}.csv").write_text("x,y\n3,4\n")
    return root


def test_16_bit_and_float_images_are_converted_and_hidden_files_ignored(tmp_path):
    deep = np.array([[1000, 3000, 2000, 1000]] * 8, np.uint16)
    grey = Image.new("L", (4, 8), 7)
    src = folder_dataset(tmp_path / "src", {
        "a.png": Image.fromarray(deep),                              # 16-bit PNG (PIL mode I;16)
        "a.b.tif": Image.fromarray(deep.astype(np.float32) / 7.0),   # float TIFF (mode F)
        "img[1].png": grey,
        ".x.png": grey,                                              # hidden: left out, as every reader does
    })
    out, meta = prep.prepare("folder", tmp_path / "data", source=src, seed=0, quiet=True)
    assert meta["counts"]["all"]["images"] == 3
    samples = {s.image_id: s for s in load_split(out, "all")}  # what train reads: no "expected an 8-bit image"
    assert sorted(samples) == ["a", "a.b", "img[1]"]
    expected = to_8bit(deep)
    assert expected[0].tolist() == [0, 255, 128, 0]  # [min, max] -> [0, 255], rounded
    assert np.array_equal(samples["a"].image, expected) and np.array_equal(samples["a.b"].image, expected)
    # Ids matched exactly, not as glob patterns.
    assert image_file(out, "a").name == "a.png" and image_file(out, "a.b").name == "a.b.png"
    assert image_file(out, "img[1]").name == "img[1].png"
    assert np.array_equal(read_image(image_file(out, "img[1]")), np.asarray(grey))


def test_an_image_that_cannot_be_converted_is_named(tmp_path):
    src = folder_dataset(tmp_path / "src", {f"{i}.tif": Image.new("L", (8, 8)) for i in range(3)})
    Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(src / "images" / "0.tif")
    with pytest.raises(ValueError, match=rf"^{src / 'images' / '0.tif'}: the image holds NaN or infinite pixels; "
                                         rf"fix or remove it$"):
        prep.prepare("folder", tmp_path / "data", source=src, seed=0, quiet=True)
    assert not (tmp_path / "data" / "prepared").exists() or not any((tmp_path / "data" / "prepared").iterdir())


def test_a_16_bit_colour_png_is_refused_not_truncated(tmp_path):
    """Pillow opens a 48-bit RGB PNG as 8-bit "RGB" (each sample's high byte): the header's bit depth
    tells it apart, and prepare names the file instead of copying it."""
    import cv2

    from experiments.core.depth import png_depth

    src = folder_dataset(tmp_path / "src", {f"{i}.png": Image.new("RGB", (8, 8), (9, 9, 9)) for i in range(3)})
    deep = np.zeros((8, 8, 3), np.uint16)
    deep[..., 2] = np.arange(1000, 4200, 50).reshape(8, 8)  # the R channel (OpenCV writes BGR)
    assert cv2.imwrite(str(src / "images" / "1.png"), deep)
    assert Image.open(src / "images" / "1.png").mode == "RGB"  # what made the file pass as 8-bit
    assert png_depth(src / "images" / "1.png") == (16, 2) and png_depth(src / "images" / "0.png") == (8, 2)
    assert png_depth(src / "points" / "0.csv") is None
    with pytest.raises(ValueError, match=rf"^{src / 'images' / '1.png'}: a 16-bit colour PNG \(colour type 2\), "
                                         r"which this project does not convert"):
        prep.prepare("folder", tmp_path / "data", source=src, seed=0, quiet=True)
