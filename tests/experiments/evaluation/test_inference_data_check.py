"""check_same_data: a run is refused on its own dataset prepared again from other files, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.evaluation.inference import check_same_data

RUN = {"dataset": "vgg_cells", "dataset_digest": "ab" * 32}


def test_the_same_dataset_with_the_recorded_digest_passes():
    assert check_same_data(RUN, "vgg_cells", {"content_digest": "ab" * 32}, Path("p"), Path("r")) is None


def test_another_dataset_on_purpose_is_not_checked():
    """evaluate --dataset mbm on a VGG run: the digests differ by design, and nothing is refused."""
    assert check_same_data(RUN, "mbm", {"content_digest": "cd" * 32}, Path("data/prepared/mbm"), Path("r")) is None


def test_a_checkpoint_without_a_digest_is_not_checked():
    old = {"dataset": "vgg_cells"}  # written before runs recorded the digest
    assert check_same_data(old, "vgg_cells", {"content_digest": "cd" * 32}, Path("p"), Path("r")) is None
    assert check_same_data({**old, "dataset_digest": None}, "vgg_cells", {}, Path("p"), Path("r")) is None


def test_its_own_dataset_prepared_again_is_refused_naming_both_digests():
    now = "cd" * 32
    with pytest.raises(ValueError) as caught:
        check_same_data(RUN, "vgg_cells", {"content_digest": now}, Path("data/prepared/vgg_cells"), Path("runs/main/x"), "RUN_DIR",
                        "probing it")
    assert str(caught.value) == (
        f"RUN_DIR: runs/main/x was trained on the prepared dataset 'vgg_cells' with content digest {'ab' * 32}, but "
        f"data/prepared/vgg_cells now has {now} (prepared again from other files); probing it there would mix two "
        f"data sets: train the run again on this data, or prepare the data it was trained on")
