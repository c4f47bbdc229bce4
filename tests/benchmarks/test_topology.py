"""benchmarks.topology and benchmarks.topology_step: what they time is the work they claim, and bad
options are usage errors before any work (no timing asserted)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import topology, topology_step
from benchmarks.environment import benchmark_environment, environment_line


def small_crops():
    crops = topology.make_crops(batch=2, size=64, seed=1)
    return crops, crops.logits["near-converged"] >= 0.0


def test_the_paths_agree_and_a_disagreement_stops_the_timing(monkeypatch):
    crops, binary = small_crops()
    result = topology.compare_backends(crops.dots, binary, repeats=1, workers=1)
    assert result["max_rel_diff"] <= topology.AGREEMENT
    assert set(result) == {"gudhi_s", "ripser_inline_s", "fast_inline_s", "fast_s", "components", "max_rel_diff"}

    real = topology.TopoGuide.discrepancies

    def off_for_ripser(self, *args):  # a path that computes something else
        values = real(self, *args)
        return values * 1.01 if self.backend == "ripser" else values

    monkeypatch.setattr(topology.TopoGuide, "discrepancies", off_for_ripser)
    with pytest.raises(RuntimeError, match=r"^the paths disagree: D differs from gudhi's by 1\.0e-02 \(relative\)"):
        topology.compare_backends(crops.dots, binary, repeats=1, workers=1)


def test_edge_collapse_is_timed_apart_from_building_the_trees():
    import gudhi

    crops, binary = small_crops()
    c = topology.edge_collapse_cost(crops.dots, binary, repeats=2)
    assert {"kernel_s", "collapse_s", "build_s"} <= set(c) and all(c[k] > 0 for k in ("kernel_s", "collapse_s", "build_s"))
    # the edge counts, against gudhi's own Rips complex of the same points (edges of length <= 50)
    from tghem.rips import _unique_points
    from tghem.topology import component_centroids, dot_points

    edges = after = 0
    for points in [dot_points(d) for d in crops.dots] + [component_centroids(b) for b in binary]:
        unique = _unique_points(points)[0] if len(points) else points
        tree = gudhi.RipsComplex(points=unique, max_edge_length=50.0).create_simplex_tree(max_dimension=1)
        edges += sum(1 for s, _ in tree.get_skeleton(1) if len(s) == 2)
        tree.collapse_edges()
        after += sum(1 for s, _ in tree.get_skeleton(1) if len(s) == 2)
    assert (c["edges"], c["edges_after"]) == (edges, after) and after < edges


@pytest.mark.parametrize("module", [topology, topology_step])
@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "argument --repeats: expected an int >= 1, got '0'"),
    (["--workers", "abc"], "argument --workers: expected 'auto' or an int >= 0, got 'abc'"),
    (["--workers", "-2"], "argument --workers: expected 'auto' or an int >= 0, got '-2'"),
    (["--batch", "0"], "argument --batch: expected an int >= 1, got '0'"),
    (["--size", "40"], "argument --size: expected a multiple of 16 (the U-Net halves it four times), got '40'"),
    (["--size", "-5"], "argument --size: expected an int >= 16, got '-5'"),
    (["--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
    (["--vgg-cells", "."], "--vgg-cells: expected a folder of VGG-cells *dots.png files, got '.' (none there)"),
])
def test_bad_options_exit_2_before_any_work(module, capsys, monkeypatch, args, message):
    monkeypatch.setattr(topology, "compare_backends", lambda *a, **k: pytest.fail("timed before checking the options"))
    with pytest.raises(SystemExit) as code:
        module.main(args)
    assert code.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m {module.__name__}: error: {message}"


@pytest.mark.parametrize("args, message", [
    (["--large-crop", "--large-size", "0"], "argument --large-size: expected an int >= 16, got '0'"),
    (["--large-crop", "--spacing", "0"], "argument --spacing: expected an int >= 2, got '0'"),
    (["--large-crop", "--large-size", "32", "--spacing", "16"], "--spacing: expected at most a quarter of --large-size (8), got 16"),
    (["--base-channels", "0"], "argument --base-channels: expected an int >= 1, got '0'"),
])
def test_bad_options_of_one_command(capsys, args, message):
    module = topology_step if args[0] == "--base-channels" else topology
    with pytest.raises(SystemExit) as code:
        module.main(args)
    assert code.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m {module.__name__}: error: {message}"


def test_the_environment_line_names_the_machine_and_the_versions():
    env = benchmark_environment()
    line = environment_line(env)
    assert line.startswith(f"CPU {env['cpu_model']} ({env['cpu_kind']}), ")
    assert f"{env['torch_threads']} torch threads" in line
    for name in ("torch", "numba", "gudhi"):
        assert f"{name} {env['packages'][name]}" in line
    assert np.isfinite(env["cpu_count"])
