"""The DVC pipeline, end to end on a tiny study (the CI smoke run).

A copy of the repository (its tracked and unignored files) in a temporary git repository, with
params.yaml shrunk to a few iterations and one seed: ``dvc repro`` makes every table and
figure; a second ``dvc repro`` runs nothing; changing ``tghem.lambda_pers`` reruns exactly the
TG-HEM runs and what reads them; ``dvc exp run -S`` works. The stage matrices of dvc.yaml write
the folders :mod:`experiments.study` names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.study import ABLATION_SETTINGS, ablation_run, main_run, read_study

ROOT = Path(__file__).resolve().parents[1]

TABLES = ["main", "comparison", "ablation_lambda_pers", "ablation_ohem_min_kept"]
FIGURES = ["methods", "lambda_pers", "ohem_min_kept", "training", "qualitative", "persistence"]


def _tiny_params(text: str) -> dict:
    params = yaml.safe_load(text)
    params["study"]["seeds"] = [0]
    params["ablation"]["lambda_pers"] = [0.0]
    params["ablation"]["ohem_min_kept"] = [100]
    params["model"]["base_channels"] = 4
    params["train"].update(iterations=3, crops_per_image=2, crop_size=32, val_every=3, checkpoint_every=3)
    params["tghem"]["ohem_min_kept"] = 200
    params["ohem"]["min_kept"] = 200
    params["eval"]["tile_size"] = 64
    return params


def _copy_repository(dst: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the pipeline smoke test copies the repository with git; this is not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        # Committed results are the default run's: the smoke study must make its own.
        if not src.is_file() or name.startswith(("results/", "data/", "runs/", "evals/")):
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name)


class Repo:
    """A scratch copy of the repository with its own git history and DVC cache."""

    def __init__(self, path: Path):
        self.path = path
        bindir = str(Path(sys.executable).parent)
        self.env = dict(
            os.environ,
            PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
            GIT_AUTHOR_NAME="smoke", GIT_AUTHOR_EMAIL="smoke@example.org",
            GIT_COMMITTER_NAME="smoke", GIT_COMMITTER_EMAIL="smoke@example.org",
            DVC_NO_ANALYTICS="1",
        )
        self.env.pop("TGHEM_DATA_MIRROR", None)

    def run(self, *args: str) -> str:
        done = subprocess.run(list(args), cwd=self.path, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args)

    def ran(self, output: str) -> set[str]:
        return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Repo:
    pytest.importorskip("dvc")
    path = tmp_path_factory.mktemp("study")
    _copy_repository(path)
    params = _tiny_params((ROOT / "params.yaml").read_text())
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    r = Repo(path)
    r.run("git", "init", "-q")
    r.run("git", "add", "-A")
    r.run("git", "commit", "-q", "-m", "tiny study")
    r.first = r.dvc("repro")
    return r


def _stage_names(params: dict) -> set[str]:
    s, a = params["study"], params["ablation"]
    names = {f"prepare@{d}" for d in s["datasets"]} | {"aggregate", "report"}
    for d in s["datasets"]:
        for m in s["methods"]:
            for seed in s["seeds"]:
                names |= {f"train@{d}-{m}-{seed}", f"evaluate@{d}-{m}-{seed}"}
    for setting in ABLATION_SETTINGS:
        for v in a[setting]:
            names |= {f"train_{setting}@{v}", f"evaluate_{setting}@{v}"}
    return names


def test_repro_runs_every_stage_and_writes_tables_and_figures(repo):
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    assert repo.ran(repo.first) == _stage_names(params)
    for name in TABLES:
        for ext in ("md", "tex"):
            assert (repo.path / "results" / "tables" / f"{name}.{ext}").stat().st_size > 0
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (repo.path / "results" / "figures" / f"{name}.{ext}").stat().st_size > 0
    assert "tghem" in (repo.path / "results" / "tables" / "main.md").read_text()


def test_stage_folders_are_the_ones_experiments_study_names(repo):
    study = read_study(repo.path / "params.yaml")
    for d, m, s in study.main_runs():
        paths = main_run(d, m, s, repo.path)
        assert (paths.train / "best.pt").is_file() and (paths.eval / "metrics.json").is_file()
    for setting, values in study.ablation.items():
        for v in values:
            paths = ablation_run(setting, v, repo.path)
            assert (paths.train / "log.csv").is_file() and (paths.eval / "metrics.json").is_file()


def test_metrics_and_plots_are_declared(repo):
    shown = repo.dvc("metrics", "show", "--json")
    assert "results/metrics.json" in shown
    assert "main" in shown and "comparison" in shown
    plots = repo.dvc("plots", "show", "--json")
    assert "results/curves.csv" in plots
    assert "runs/main/synthetic/tghem/seed0/log.csv" in plots


def test_rerun_with_nothing_changed_runs_nothing(repo):
    out = repo.dvc("repro")
    assert repo.ran(out) == set()
    assert "up to date" in repo.dvc("status")


def _lambda_dependents(params: dict) -> set[str]:
    """Stages that read tghem.lambda_pers: the TG-HEM runs, the top-k ablation (at the default
    lambda), and what reads them; the lambda ablation sets its own value and is not among them."""
    names = {"aggregate", "report"}
    for d in params["study"]["datasets"]:
        for seed in params["study"]["seeds"]:
            names |= {f"train@{d}-tghem-{seed}", f"evaluate@{d}-tghem-{seed}"}
    for v in params["ablation"]["ohem_min_kept"]:
        names |= {f"train_ohem_min_kept@{v}", f"evaluate_ohem_min_kept@{v}"}
    return names


def test_changing_lambda_reruns_only_the_tghem_stages(repo):
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["tghem"]["lambda_pers"] = 0.25
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = repo.dvc("repro")
    assert repo.ran(out) == _lambda_dependents(params)
    settings = json.loads((main_run("synthetic", "tghem", 0, repo.path).train / "train.json").read_text())["config"]
    assert settings["tghem"]["lambda_pers"] == 0.25


def test_dvc_exp_run_set_param(repo):
    out = repo.dvc("exp", "run", "-S", "tghem.lambda_pers=0.1")
    assert repo.ran(out) == _lambda_dependents(yaml.safe_load((repo.path / "params.yaml").read_text()))
    table = repo.dvc("exp", "show", "--no-pager", "--csv")
    assert "0.1" in table


@pytest.mark.parametrize("name", ["params.yaml", "params.paper.yaml"])
def test_params_files_validate_with_the_same_keys(name):
    from experiments.config import read_params

    read_params(ROOT / name)
    study = read_study(ROOT / name)
    assert study.methods[0] == "tghem"
    default, other = (yaml.safe_load((ROOT / n).read_text()) for n in ("params.yaml", name))
    assert {s: set(v) for s, v in default.items()} == {s: set(v) for s, v in other.items()}


def test_paper_scale_study():
    study = read_study(ROOT / "params.paper.yaml")
    assert set(study.datasets) == {"vgg_cells", "mbm", "adi"} and len(study.seeds) == 5
    cfg = yaml.safe_load((ROOT / "params.paper.yaml").read_text())
    assert cfg["model"]["base_channels"] == 64 and cfg["train"]["crop_size"] == 256
    assert cfg["tghem"]["ohem_min_kept"] == cfg["ohem"]["min_kept"] == 15000


def test_committed_results_regenerate_identically(tmp_path):
    """results/tables and results/figures are exactly what report renders from results/*.json|csv."""
    from experiments.report import report

    results = ROOT / "results"
    if not (results / "metrics.json").is_file():
        pytest.skip("results/ has not been generated in this checkout (run `dvc repro`)")
    qualitative = json.loads((results / "qualitative.json").read_text())
    if not (ROOT / "data" / "prepared" / qualitative["dataset"]).is_dir():
        pytest.skip(f"data/prepared/{qualitative['dataset']} is absent (run `dvc repro prepare`)")
    for name in ("metrics.json", "runs.csv", "curves.csv", "qualitative.json"):
        shutil.copy2(results / name, tmp_path / name)
    written = report(tmp_path, ROOT / "data")
    assert written
    for path in written:
        relative = path.relative_to(tmp_path)
        assert path.read_bytes() == (results / relative).read_bytes(), f"{relative} differs from the committed file"
    committed = {p.relative_to(results) for sub in ("tables", "figures") for p in (results / sub).iterdir()}
    assert committed == {p.relative_to(tmp_path) for p in written}
