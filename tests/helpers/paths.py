"""Where the tests find the repository and the local mirror of the public datasets."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
MIRROR = Path(os.environ.get("TGHEM_DATA_MIRROR") or ROOT.parent / "shared" / "datasets")
"""The mirror of the public datasets: ``$TGHEM_DATA_MIRROR``, else ``../shared/datasets``."""


def mirror_layout(relative: str) -> Path:
    """``MIRROR / relative``, or skip the test (with the reason) where the mirror lacks it."""
    path = MIRROR / relative
    if not path.is_dir():
        pytest.skip(f"public dataset mirror not found at {path} (set TGHEM_DATA_MIRROR)")
    return path
