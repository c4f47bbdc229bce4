"""studies/run.sh under faults (issue 21), with a stand-in ``dvc`` that records its calls and
where it ran: a mistyped group, a busy repository, a killed runner, the checkout written only at
the end."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time

import pytest

from tests.helpers.paths import ROOT

RUNNER = ROOT / "studies" / "run.sh"
FAKE_DVC = """#!/usr/bin/env bash
case "$1" in
  cache) echo "$FAKE_CACHE" ;;
  stage) printf '%s\\n' studies/x/dvc.yaml:prepare@a studies/x/dvc.yaml:train@a-0 studies/x/dvc.yaml:evaluate@a-0 \\
           studies/x/dvc.yaml:evaluate@a-1 studies/x/dvc.yaml:evaluate_lambda_pers@0.5-0 ;;
  repro) echo "$*" >> "$FAKE_LOG"; echo "$PWD ${TGHEM_DATA_MIRROR:-}" >> "$FAKE_WHERE"
         if [ -n "${FAKE_SLEEP:-}" ] && [[ "$*" == *evaluate* ]]; then echo $$ >> "$FAKE_PIDS"; sleep 60; fi ;;
esac
"""


@pytest.fixture
def repo(tmp_path):
    """A git repository with a study folder, and the environment that puts the stand-in dvc first."""
    repo = tmp_path / "repo"
    (repo / "studies" / "x").mkdir(parents=True)
    (repo / "studies" / "x" / "dvc.yaml").write_text("stages: {}\n")
    (repo / ".dvc" / "tmp").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "studies"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dvc").write_text(FAKE_DVC)
    (bin_dir / "dvc").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_CACHE=str(tmp_path / "cache"),
               FAKE_LOG=str(tmp_path / "calls"), FAKE_WHERE=str(tmp_path / "where"), FAKE_PIDS=str(tmp_path / "pids"),
               TMPDIR=str(tmp_path))
    env.pop("TGHEM_DATA_MIRROR", None)
    return repo, env


def run(repo, env, *args):
    return subprocess.run(["bash", str(RUNNER), "studies/x", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=60)


def calls(env) -> list[str]:
    try:
        return open(env["FAKE_LOG"]).read().splitlines()
    except FileNotFoundError:
        return []


def where(env) -> list[tuple[str, str]]:
    """(folder, TGHEM_DATA_MIRROR) of each ``dvc repro`` call."""
    return [tuple(line.split(" ", 1)) for line in open(env["FAKE_WHERE"]).read().splitlines()]


def test_an_unknown_group_is_refused_listing_the_groups(repo):
    repo, env = repo
    done = run(repo, env, "1", "evaluate_lamda_pers")
    assert done.returncode == 2
    assert done.stderr == ("run.sh: no group or evaluate stage 'evaluate_lamda_pers' in studies/x/dvc.yaml; "
                           "groups: evaluate evaluate_lambda_pers\n")
    assert calls(env) == []  # above all, no bare `dvc repro` of the root pipeline


def test_a_known_group_reproduces_only_its_stages(repo):
    repo, env = repo
    done = run(repo, env, "1", "evaluate_lambda_pers")
    assert done.returncode == 0, done.stderr
    assert calls(env) == ["repro --quiet --glob studies/x/dvc.yaml:prepare@*",
                          "repro studies/x/dvc.yaml:evaluate_lambda_pers@0.5-0 --quiet",
                          "repro studies/x/dvc.yaml:evaluate_lambda_pers@0.5-0"]


def test_the_jobs_run_in_worktrees_and_only_the_last_step_in_the_checkout(repo, tmp_path):
    """Preparing and every job's share run in worktrees under TMPDIR (removed at the end); only the
    final ``dvc repro``, which writes the study's lock, runs in the checkout. A relative data mirror
    is taken from the folder the runner was started in."""
    repo, env = repo
    done = run(repo, dict(env, TGHEM_DATA_MIRROR="../mirror"), "2")
    assert done.returncode == 0, done.stderr
    assert calls(env)[0] == "repro --quiet --glob studies/x/dvc.yaml:prepare@*"
    assert calls(env)[-1] == "repro studies/x/dvc.yaml"
    folders = [folder for folder, _ in where(env)]
    assert folders[-1] == str(repo)
    jobs = os.path.dirname(folders[0])  # the runner's temporary folder, removed at the end
    assert jobs.startswith(f"{tmp_path}/tghem-jobs.") and not os.path.exists(jobs)
    assert folders[0] == f"{jobs}/job0"  # preparing: in job 0's worktree
    assert sorted(set(folders[1:-1])) == [f"{jobs}/job0", f"{jobs}/job1"]
    assert {mirror for _, mirror in where(env)} == {f"{repo}/../mirror"}
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(listed.splitlines()) == 1


def test_a_pattern_reproduces_the_stages_it_matches(repo):
    """A block of a long study: the main runs of one seed, by a shell pattern over the stage names."""
    repo, env = repo
    done = run(repo, env, "1", "evaluate@*-1")
    assert done.returncode == 0, done.stderr
    assert calls(env) == ["repro --quiet --glob studies/x/dvc.yaml:prepare@*",
                          "repro studies/x/dvc.yaml:evaluate@a-1 --quiet",
                          "repro studies/x/dvc.yaml:evaluate@a-1"]
    # a pattern never reaches a stage that is not an evaluate stage
    assert run(repo, env, "1", "train@*").returncode == 2


def test_a_busy_repository_is_one_line_naming_the_lock(repo):
    repo, env = repo
    lock = repo / ".dvc" / "tmp" / "lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # as DVC holds it while it works
        done = run(repo, env, "1")
    assert done.returncode == 1
    assert done.stderr == (f"run.sh: {repo} is busy: another DVC process holds {lock}; wait for it to finish "
                           f"(or stop it) and run again\n")
    assert calls(env) == []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killing_the_runner_stops_its_jobs_and_removes_their_worktrees(repo, tmp_path):
    repo, env = repo
    runner = subprocess.Popen(["bash", str(RUNNER), "studies/x", "2"], cwd=repo, env=dict(env, FAKE_SLEEP="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(pids_file.read_text().split() if pids_file.exists() else []) < 2:
        time.sleep(0.1)
    jobs = [int(p) for p in pids_file.read_text().split()]
    assert len(jobs) == 2
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=30)
    assert runner.returncode == 143 and err.endswith("run.sh: terminated; stopping the jobs\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in jobs):
        time.sleep(0.1)
    assert not any(alive(p) for p in jobs)
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(listed.splitlines()) == 1  # the jobs' worktrees are gone
    # stopped before its last step, the runner ran nothing in the checkout (its lock is as it was)
    assert str(repo) not in {folder for folder, _ in where(env)}
