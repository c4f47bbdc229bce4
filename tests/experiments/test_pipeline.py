"""The DVC pipeline, end to end on a tiny study (the CI smoke run).

A copy of the repository (its tracked and unignored files) in a temporary git repository, with
params.yaml shrunk to a few iterations and one seed: ``dvc repro`` makes every table and
figure; a second ``dvc repro`` runs nothing; a copy at another path that runs one stage of each
kind again writes the same ``dvc.lock`` and results byte for byte; editing any file a stage imports
makes ``dvc status`` report that stage; ``dvc exp run -S tghem.lambda_pers=...`` reruns exactly
what declares that setting and what reads it. The analysis finds every run the study defines from
the records the stages wrote.

``python -m pipelines.verify`` reruns committed stages in a worktree and compares them with the lock.

Cost: one full ``dvc repro`` of the tiny study (14 stages), six forced stages, three stages rerun by
``pipelines.verify``, one ``dvc exp run``.
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

from experiments.analysis.discovery import locate_runs, read_records, wanted_runs
from experiments.analysis.study import ABLATIONS, read_study
from experiments.core.settings import read_params_file, validate
from tests.helpers.imports import closure_files
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.slow

TABLES = ["main", "comparison", "ablation_lambda_pers", "ablation_ohem_min_kept"]
FIGURES = ["methods", "lambda_pers", "ohem_min_kept", "training", "qualitative", "persistence"]


def _tiny_params(text: str) -> dict:
    params = yaml.safe_load(text)
    params["study"]["seeds"] = [0]
    # TG-HEM (a crop-weighting loss) and one loss of another section: every kind of stage; each
    # method's training itself is tested in tests/experiments/training.
    params["study"]["methods"] = ["tghem", "focal"]
    params["ablation"]["lambda_pers"] = [0.0]
    params["ablation"]["ohem_min_kept"] = [100]
    params["model"]["base_channels"] = 4
    params["train"].update(iterations=3, crops_per_image=2, crop_size=32, val_every=3, checkpoint_every=3)
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
        # The committed lock and results are the default study's: the tiny study makes its own. The real
        # studies' pipelines (studies/) stay out: DVC rebuilds its index of every pipeline in the
        # repository after each stage of `dvc exp run` and for every `exp show`/`status`/`metrics`, and
        # theirs hold some 400 stages (with them: `exp run` of 4 stages 87 s, `exp show` 16 s; without: 35 s, 2 s).
        if not src.is_file() or name == "dvc.lock" or name.startswith(("results/", "data/", "runs/", "evals/", "studies/")):
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


def make_repo(path: Path) -> Repo:
    """A fresh copy of the repository at ``path`` with the tiny study committed, before any ``dvc repro``."""
    _copy_repository(path)
    params = _tiny_params((ROOT / "params.yaml").read_text())
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    r = Repo(path)
    r.run("git", "init", "-q")
    r.run("git", "add", "-A")
    r.run("git", "commit", "-q", "-m", "tiny study")
    return r


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Repo:
    pytest.importorskip("dvc")
    r = make_repo(tmp_path_factory.mktemp("study"))
    r.first = r.dvc("repro")
    return r


def _stage_names(params: dict) -> set[str]:
    s, a = params["study"], params["ablation"]
    names = {f"prepare@{d}" for d in s["datasets"]} | {f"oracle@{d}" for d in s["datasets"]} | {"aggregate", "report"}
    for d in s["datasets"]:
        for m in s["methods"]:
            for seed in s["seeds"]:
                names |= {f"train@{d}-{m}-{seed}", f"evaluate@{d}-{m}-{seed}"}
    for name in (n for n in ABLATIONS if n in a):
        for v in a[name]:
            for seed in a["seeds"]:
                names |= {f"train_{name}@{v}-{seed}", f"evaluate_{name}@{v}-{seed}"}
    return names


def test_repro_runs_every_stage_and_writes_tables_and_figures(repo):
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    assert repo.ran(repo.first) == _stage_names(params)
    for name in TABLES:
        for ext in ("md", "tex"):
            assert (repo.path / "results" / "synthetic" / "tables" / f"{name}.{ext}").stat().st_size > 0
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (repo.path / "results" / "synthetic" / "figures" / f"{name}.{ext}").stat().st_size > 0
    assert "tghem" in (repo.path / "results" / "synthetic" / "tables" / "main.md").read_text()


def _located(repo) -> dict:
    """The study's runs as the aggregate stage finds them: ``{(group, dataset, method, seed, setting, value): Located}``."""
    raw, source = read_params_file(repo.path / "params.yaml")
    wanted = wanted_runs(read_study(repo.path / "params.yaml"), validate(raw, source), raw, source)
    found = locate_runs(wanted, read_records([repo.path / "evals" / "main", repo.path / "evals" / "ablation"]), repo.path)
    return {(x.wanted.group, x.wanted.dataset, x.wanted.method, x.wanted.seed, x.wanted.setting, x.wanted.value): x
            for x in found}


def test_the_analysis_finds_every_run_from_the_records_the_stages_wrote(repo):
    study, found = read_study(repo.path / "params.yaml"), _located(repo)
    assert len(found) == len(study.main_runs()) + len(study.ablation_runs())
    for x in found.values():
        assert (x.train_dir / "best.pt").is_file() and (x.eval_dir / "metrics.json").is_file()
        if x.wanted.group == "main":
            assert x.train_dir == repo.path / "runs" / "main" / x.wanted.dataset / x.wanted.method / f"seed{x.wanted.seed}"


def _status(r: Repo) -> set[str]:
    """The paths git reports as changed or new (whether DVC staged them or not)."""
    return {line[3:] for line in r.run("git", "status", "--porcelain", "--untracked-files=normal").splitlines()}


def test_a_moved_copy_rerun_writes_the_same_lock_and_leaves_git_clean(repo, tmp_path):
    """Nothing a run of the same settings varies (timings, host, commit, its folder) is hashed.

    The study's results are committed; a copy of the repository at another path then runs one
    stage of every kind again (``--force``): its ``dvc.lock`` and results are byte for byte the
    committed ones, so git has nothing to report.
    """
    # What the runs write that varies is ignored by git and DVC alike; only the study's own results are new.
    assert _status(repo) == {"dvc.lock", "results/"}
    assert list((repo.path / "runs").rglob("timing.csv")) and list((repo.path / "runs").rglob("environment.json"))
    repo.run("git", "add", "dvc.lock", "results")
    repo.run("git", "commit", "-q", "-m", "the tiny study's results")
    moved = Repo(tmp_path / "moved")
    shutil.copytree(repo.path, moved.path, symlinks=True)
    stages = ["prepare@synthetic", "oracle@synthetic", "train@synthetic-tghem-0", "evaluate@synthetic-tghem-0",
              "aggregate", "report"]
    out = moved.dvc("repro", "--force", "--single-item", *stages)
    assert moved.ran(out) == set(stages)
    assert _status(moved) == set(), moved.run("git", "diff", "--stat")
    assert repo.ran(repo.dvc("repro")) == set() and _status(repo) == set()


def _verify(r: Repo, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.verify", *args], cwd=r.path, env=r.env,
                          capture_output=True, text=True)


def _commit_lock(r: Repo) -> None:
    """Commit the study's lock and results if HEAD lacks them (the moved-copy test commits them first)."""
    if not r.run("git", "ls-tree", "--name-only", "HEAD", "dvc.lock").strip():
        r.run("git", "add", "dvc.lock", "results")
        r.run("git", "commit", "-q", "-m", "the tiny study's results")


def test_verify_reruns_committed_stages_in_a_worktree_and_finds_them_equal(repo):
    """``python -m pipelines.verify``: the named stages rerun (forced) in a worktree of HEAD; on the
    machine that made the lock every output equals the committed one; the checkout is untouched."""
    _commit_lock(repo)
    before = repo.run("git", "status", "--porcelain")
    done = _verify(repo, "prepare@*", "train@synthetic-tghem-0")
    assert done.returncode == 0, done.stdout + done.stderr
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    for stage in ("prepare@synthetic", "train@synthetic-tghem-0"):
        assert f"{stage} (named; ran " in done.stdout
        for out in lock[stage]["outs"]:
            assert f"  same     {out['path']}  {out['md5'][:8]}" in done.stdout, (out["path"], done.stdout)
    n = len(lock["prepare@synthetic"]["outs"]) + len(lock["train@synthetic-tghem-0"]["outs"])
    assert f"{n} of {n} outputs equal the committed ones" in done.stdout
    assert "oracle@synthetic" not in done.stdout  # neither named nor read by what was named
    assert repo.run("git", "status", "--porcelain") == before
    assert len(repo.run("git", "worktree", "list").splitlines()) == 1  # its worktree is removed
    # the plan of the last stage: every other stage upstream, all restored (from the cache, or git for
    # the results); nothing runs
    dry = _verify(repo, "report", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    n = len(lock) - 1
    assert f"verify: reruns 1 stage (report); reads {n} upstream: {n} restored, 0 to run first" in dry.stdout
    assert "Running" not in dry.stdout + dry.stderr


def test_verify_reports_an_output_that_differs_from_the_lock_and_exits_1(repo, tmp_path):
    """A clone (no DVC cache) whose committed lock claims another hash for the prepared data:
    verifying ``oracle`` runs ``prepare`` too, since its output is in no cache, and names that
    output; the oracle, made from the data as prepared, equals the lock's. An unknown stage is a
    usage error listing the groups."""
    _commit_lock(repo)
    clone = Repo(tmp_path / "clone")
    repo.run("git", "clone", "-q", str(repo.path), str(clone.path))
    lock = yaml.safe_load((clone.path / "dvc.lock").read_text())
    out = lock["stages"]["prepare@synthetic"]["outs"][0]
    true_md5, out["md5"] = out["md5"], "0" * 32 + ".dir"
    (clone.path / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    clone.run("git", "commit", "-q", "-am", "a lock that claims another prepared dataset")
    dry = _verify(clone, "oracle@synthetic", "--dry-run")
    assert "reads 1 upstream: 0 restored, 1 to run first (prepare@synthetic)" in dry.stdout, dry.stdout
    # --study spelled as an absolute path is the same study; a folder outside the repository is refused
    absolute = _verify(clone, "oracle@synthetic", "--dry-run", "--study", str(clone.path))
    assert absolute.returncode == 0 and absolute.stdout == dry.stdout, absolute.stdout + absolute.stderr
    outside = _verify(clone, "oracle@synthetic", "--dry-run", "--study", str(tmp_path))
    assert outside.returncode == 2 and outside.stderr == (
        f"verify: --study {str(tmp_path)!r}: expected a study folder holding a params.yaml inside the repository "
        f"root {clone.path.resolve()} (the current folder), got {tmp_path.resolve()}\n"), outside.stderr
    done = _verify(clone, "oracle@synthetic")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "prepare@synthetic (upstream, not in the cache; ran " in done.stdout
    assert f"  DIFFERS  {out['path']}  committed 00000000.dir, here {true_md5[:8]}.dir" in done.stdout
    oracle = lock["stages"]["oracle@synthetic"]["outs"][0]
    assert f"  same     {oracle['path']}  {oracle['md5'][:8]}" in done.stdout
    assert "1 of 2 outputs equal the committed ones" in done.stdout
    wrong = _verify(clone, "trian@*")
    assert wrong.returncode == 2
    assert "no stage matches 'trian@*'" in wrong.stderr
    assert all(f" {group}," in wrong.stderr for group in ("oracle", "prepare", "train", "train_lambda_pers"))


EDITED = {
    "prepare": "experiments/data/splits.py",
    "train": "experiments/training/crops.py",
    "evaluate": "experiments/model/tiling.py",
    "train_lambda_pers": "baselines/focal.py",
    "train_ohem_min_kept": "tghem/ohem.py",
    "evaluate_lambda_pers": "experiments/evaluation/inference.py",
    "evaluate_ohem_min_kept": "experiments/core/prepared.py",
    "aggregate": "experiments/analysis/statistics.py",
    "report": "experiments/analysis/figures.py",
}
"""One file per stage group that its command imports, to edit."""


def _module_of(group: str) -> str:
    definition = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][group]
    words = definition.get("do", definition)["cmd"].split()
    return words[words.index("-m") + 1]


def test_editing_a_file_a_stage_imports_changes_that_stage(repo):
    """Each group's file is edited (all at once: one ``dvc status``); every stage of the group names it as changed."""
    for group, rel in EDITED.items():
        assert ROOT / rel in closure_files(_module_of(group)), f"{rel} is not imported by stage {group}"
    originals = {rel: (repo.path / rel).read_bytes() for rel in EDITED.values()}
    try:
        for rel, original in originals.items():
            (repo.path / rel).write_bytes(original + b"\n# an edit that changes nothing but the file\n")
        status = json.loads(repo.dvc("status", "dvc.yaml", "--json"))
    finally:
        for rel, original in originals.items():
            (repo.path / rel).write_bytes(original)
    for group, rel in EDITED.items():
        stages = [name for name in status if name == group or name.startswith(f"{group}@")]
        assert stages, f"editing {rel} left stage {group} up to date: {sorted(status)}"
        for name in stages:
            changes = {k: v for entry in status[name] if isinstance(entry, dict) for k, v in entry.items()}
            assert any(rel.startswith(dep) for dep in changes.get("changed deps", {})), (name, status[name])
    assert "up to date" in repo.dvc("status", "dvc.yaml")


def test_metrics_and_plots_fit_a_terminal(repo):
    """DVC's metrics are the headline (one row per dataset, lines under 300 characters); the plots overlay methods."""
    shown = json.JSONDecoder().raw_decode(repo.dvc("metrics", "show", "--json"))[0]  # stderr follows the JSON
    files = next(iter(shown.values()))["data"]  # the workspace's (DVC names it "" or "workspace")
    assert set(files) == {"results/synthetic/headline/synthetic.json"}  # (the copy has no studies/)
    assert set(files["results/synthetic/headline/synthetic.json"]["data"]) == {"oracle", "tghem", "focal"}
    table = [line for line in repo.dvc("metrics", "show").splitlines() if line.strip()]
    assert max(map(len, table)) < 300, table
    assert "tghem.f1" in table[0] and "focal.mae" in table[0]
    assert any(line.startswith("results/synthetic/headline/synthetic.json ") for line in table)
    plots = json.JSONDecoder().raw_decode(repo.dvc("plots", "show", "--json"))[0]["data"]
    assert set(plots) == {"results/synthetic/val_curves.csv", "results/synthetic/curves.csv"}
    for name, y in (("results/synthetic/val_curves.csv", "f1"), ("results/synthetic/curves.csv", "loss")):
        spec = plots[name][0]["content"]
        assert spec["spec"]["encoding"]["color"]["field"] == "method"
        assert spec["spec"]["encoding"]["y"]["field"] == y
        assert {row["method"] for row in spec["data"]["values"]} >= {"tghem", "focal"}


def test_rerun_with_nothing_changed_runs_nothing(repo):
    out = repo.dvc("repro")
    assert repo.ran(out) == set()
    assert "up to date" in repo.dvc("status", "dvc.yaml")


def _lambda_dependents(params: dict) -> set[str]:
    """Stages that declare tghem.lambda_pers: every main training (a DVC matrix declares every
    method's section for all methods) and its evaluation, the top-k and top_dimension ablations (at
    the default lambda), and what reads them; the lambda ablation sets its own value and is not among them."""
    names = {"aggregate", "report"}
    for d in params["study"]["datasets"]:
        for m in params["study"]["methods"]:
            for seed in params["study"]["seeds"]:
                names |= {f"train@{d}-{m}-{seed}", f"evaluate@{d}-{m}-{seed}"}
    for name in ("ohem_min_kept", "top_dimension"):
        for v in params["ablation"][name]:
            for seed in params["ablation"]["seeds"]:
                names |= {f"train_{name}@{v}-{seed}", f"evaluate_{name}@{v}-{seed}"}
    return names


def test_dvc_exp_run_set_param_reruns_what_declares_it_but_not_the_lambda_ablation(repo):
    out = repo.dvc("exp", "run", "-S", "tghem.lambda_pers=0.1", "dvc.yaml")  # the README's command
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    assert params["tghem"]["lambda_pers"] == 0.1
    assert repo.ran(out) == _lambda_dependents(params)
    assert "No file hash info found" not in out  # (the real studies are not in the copy: see _copy_repository)
    run = _located(repo)[("main", "synthetic", "tghem", 0, None, None)]
    assert json.loads((run.train_dir / "train.json").read_text())["config"]["tghem"]["lambda_pers"] == 0.1
    table = repo.dvc("exp", "show", "--no-pager", "--csv")
    assert "0.1" in table
    changed = repo.dvc("exp", "show", "--no-pager", "--csv", "--only-changed").splitlines()[0].split(",")
    # columns: Experiment, rev, typ, Created, the headline values that changed, the swept param
    # (named by its file where several params files exist)
    assert any(c.endswith("tghem.lambda_pers") for c in changed) and len(changed) < 40, changed
    # the README's view: dependency hashes dropped, the swept setting and the headline metrics kept
    readme = repo.dvc("exp", "show", "--no-pager", "--csv", "--only-changed", "--drop",
                      "^(runs|evals|data)/|^results/[^:]*$").splitlines()[0].split(",")
    assert readme[:4] == ["Experiment", "rev", "typ", "Created"]
    assert any(c.endswith("tghem.lambda_pers") for c in readme[4:]), readme
    assert all(c.endswith((".f1", ".mae", "tghem.lambda_pers")) for c in readme[4:]), readme
