"""A tiny prepared synthetic dataset and tiny training settings, shared by the training tests."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from experiments.data.preparation import prepare
from experiments.data.synthetic import SyntheticConfig
from tests.helpers.paths import ROOT

# Small enough that a run of a few iterations takes about a second on 2 CPU cores, large
# enough that the network, OHEM, the topology and the tiling all do real work.
TINY = [
    "model.base_channels=4",
    "train.crop_size=32",
    "train.crops_per_image=2",
    "train.iterations=6",
    "train.val_every=3",
    "train.checkpoint_every=2",
    "ohem.min_kept=200",
    "tghem.warmup=0",  # the weights from the first step (the warm-up has a test of its own)
    "eval.batch_size=4",
]


@functools.lru_cache(maxsize=None)
def tiny_data_dir() -> Path:
    """A data folder with ``prepared/synthetic``: 3 train, 2 val, 2 test images of 64 x 64 (once per session)."""
    tmp = Path(tempfile.mkdtemp(prefix="tghem_tiny_data_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    cfg = SyntheticConfig(num_train=3, num_val=2, num_test=2, image_size=(64, 64), count_range=(10, 20), cluster_spread=8.0)
    prepare("synthetic", tmp, synthetic=cfg, quiet=True)
    return tmp
