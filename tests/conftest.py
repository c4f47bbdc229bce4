"""Fixtures of the tests: the process's Ctrl-C handling as in a terminal; tiny crowd datasets in their published layout.
The order of the tests: slow ones first."""

import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat


def pytest_collection_modifyitems(items):
    """The modules with tests marked ``slow`` first; otherwise the order of collection.

    pytest-xdist hands whole modules to its workers in this order (``--no-loadscope-reorder``,
    pyproject.toml): started last, the DVC smoke study (a third of the suite) would leave one worker
    running it alone long after the other has finished.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_as_in_a_terminal():
    """Python's own SIGINT handler, as a process started from a terminal has.

    A command started in the background by a shell without job control (``cmd &`` in a script, as
    some CI runners and ``nohup ... &`` do) starts with SIGINT ignored, and an ignored signal stays
    ignored in every process it starts: the tests of what Ctrl-C does (a training run, a stage
    starting) would test a process that cannot be interrupted.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def _write_shanghaitech_mat(path: Path, points: np.ndarray) -> None:
    """Write a .mat in the published structure: image_info{1}.location / .number."""
    rec = np.zeros((1, 1), dtype=[("location", "O"), ("number", "O")])
    rec[0, 0]["location"] = np.asarray(points, np.float64).reshape(-1, 2)
    rec[0, 0]["number"] = np.array([[float(len(points))]])
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = rec
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"image_info": cell})


def _make_shanghaitech(base: Path, part="B", w=64, h=48):
    """A tiny ShanghaiTech part in the published layout; returns {id: 1-based points}."""
    rng = np.random.default_rng(0)
    truth = {}
    for split, n_img in (("train", 4), ("test", 2)):
        d = base / "ShanghaiTech" / f"part_{part}" / f"{split}_data"
        (d / "images").mkdir(parents=True)
        for i in range(1, n_img + 1):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d / "images" / f"IMG_{i}.jpg")
            pts = np.stack([rng.uniform(1, w, 7), rng.uniform(1, h, 7)], 1)
            pts[0] = [1.0, 1.0]  # MATLAB's first pixel centre
            pts[1] = [w + 0.4, 0.3]  # annotation just outside, as happens in the published files
            _write_shanghaitech_mat(d / "ground-truth" / f"GT_IMG_{i}.mat", pts)
            truth[f"{split}_IMG_{i}"] = pts
    return truth


@pytest.fixture
def write_shanghaitech_mat():
    """Function writing a ShanghaiTech ground-truth .mat: ``(path, points)``."""
    return _write_shanghaitech_mat


@pytest.fixture
def make_shanghaitech():
    """Function writing a tiny ShanghaiTech part: ``(base, part, w, h) -> {id: 1-based points}``."""
    return _make_shanghaitech
