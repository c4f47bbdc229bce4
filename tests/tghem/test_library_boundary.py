"""The library a user takes alone: targets, point conversions and point matching ship in ``tghem``,
the benchmark imports them from there, and ``tghem`` runs without the study's packages."""
from __future__ import annotations

import doctest
import subprocess
import sys
import textwrap

import numpy as np

import tghem
from experiments.core import targets as study_targets
from experiments.evaluation import metrics
from experiments.training import crops
from tests.helpers.markdown_examples import python_blocks, stated_outputs
from tests.helpers.paths import ROOT

STUDY_ONLY = ("dvc", "pandas", "matplotlib", "yaml", "tqdm", "PIL", "experiments", "baselines", "benchmarks")
"""What ``pip install .`` does not bring, or what is not part of the package."""

BLOCKER = textwrap.dedent(f"""
    import sys
    for name in {STUDY_ONLY!r}:
        sys.modules[name] = None  # what a missing package looks like to import and importlib.util.find_spec
""")


def run_without_study_packages(code: str, cwd) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, outside the checkout (``tghem`` as installed), in which the
    study's packages cannot be imported."""
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_benchmark_uses_the_library_s_target_points_and_matching():
    assert crops.dilated_mask is tghem.dilated_mask and crops.dot_map is tghem.dot_map
    assert metrics.match_points is tghem.match_points and metrics.Counts is tghem.Counts
    assert metrics.detection_counts is tghem.detection_counts
    assert not hasattr(study_targets, "dilated_mask")  # the study keeps only its rule (radius, gap)


def test_the_library_alone_builds_a_target_trains_a_step_and_scores_points(tmp_path):
    out = run_without_study_packages("""
        import numpy as np, torch
        import tghem
        points = np.array([[10.0, 12.0], [40.0, 30.0], [50.0, 50.0]])  # far apart: 3 digital disks of r = 3, 29 px each
        mask = tghem.dilated_mask(points, (64, 64), 3, gap=True)
        dots = tghem.dot_map(points, (64, 64))
        logits = torch.zeros(1, 1, 64, 64, requires_grad=True)
        loss = tghem.TGHEM(ohem_min_kept=100, topo_workers=0)(logits, torch.from_numpy(mask)[None], torch.from_numpy(dots)[None])
        loss.backward()
        counts = tghem.detection_counts(tghem.component_centroids(mask, "component"), points, 5.0)
        print(int(mask.sum()), int(dots.sum()), counts.tp, counts.fp, counts.fn, bool(torch.isfinite(loss)))
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["87", "3", "3", "0", "0", "True"]


def test_the_blocker_blocks(tmp_path):
    out = run_without_study_packages("import pandas", tmp_path)
    assert out.returncode != 0 and "ModuleNotFoundError: import of pandas halted" in out.stderr


def test_the_readme_s_own_loop_examples_run_with_the_library_alone(tmp_path):
    """``pip install .`` then the README's examples: every block that imports only ``tghem`` (and
    numpy/torch) runs, and prints the same, where the study's packages cannot be imported."""
    blocks = [b for b in python_blocks((ROOT / "README.md").read_text()) if "from tghem import" in b]
    assert len(blocks) >= 2 and any("dilated_mask" in b for b in blocks)  # the target is the library's
    for block in blocks:
        out = run_without_study_packages(block, tmp_path)
        assert out.returncode == 0, out.stderr
        stated = " ".join(text for _, text in sorted(stated_outputs(block).items()))
        checker = doctest.OutputChecker()
        assert checker.check_output(stated, out.stdout, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE), (stated, out.stdout)
