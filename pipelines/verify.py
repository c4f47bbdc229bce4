"""Rerun some of a study's committed stages on this machine and compare their outputs with its lock.

    python -m pipelines.verify [--study STUDY_DIR] STAGE [STAGE ...] [--dry-run] [--keep]

A committed ``dvc.lock`` is the study's claim: this command, on this code and these inputs,
wrote files with these hashes. This tool checks the claim for the stages named (names or shell
patterns over them, e.g. ``'train@vgg_cells-tghem-*'``) without touching the checkout: it makes a
git worktree of ``HEAD`` in a temporary folder (sharing this checkout's DVC cache), restores or
makes each stage's inputs there, reruns each named stage (``dvc repro --single-item --force
--no-run-cache``), and compares every output hash the rerun wrote with the one committed in
``HEAD``'s lock. An upstream stage whose outputs are in the cache is checked out, not rerun; one
that is not is run too, and compared as well (its outputs are the named stage's inputs): the
tool says first how many of those it will run (``--dry-run``: only that). A relative
``TGHEM_DATA_MIRROR`` is taken from the current folder.

Training and evaluation results are bit for bit the same only on the kind of CPU that made them
(bf16 kernels round differently on each; docs: training): the report names this machine's CPU
kind and the one the study's runs recorded (``results/<study>/runs.csv``). Stages whose outputs
hold no result of a network (``prepare``, ``oracle``, a run's ``settings.json``) match on any
machine.

Exit status: 0 every output equals the committed one; 1 some differ (listed); 2 no comparison was
made (not a git checkout, no committed lock, a pattern that names no stage, a stage with no
committed lock entry, or a DVC command that failed: its output is shown). The
worktree is removed at the end (``--keep``: left for inspection); nothing else is deleted.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from experiments.core.runtime import host_environment
from experiments.data.download import MIRROR_ENV

from .layout import layout, study_folder


class VerifyError(Exception):
    """A request the tool cannot carry out (exit status 2)."""


@dataclass(frozen=True)
class Compared:
    """One output of a rerun stage against the committed lock.

    Attributes:
        stage: the stage's name.
        path: the output's path (relative to the repository root).
        committed: its hash in ``HEAD``'s lock (None: the lock has no such output).
        here: its hash after the rerun (None: the rerun wrote no such output).
    """

    stage: str
    path: str
    committed: str | None
    here: str | None

    @property
    def same(self) -> bool:
        return self.committed is not None and self.committed == self.here


def _environment() -> dict[str, str]:
    """This process's environment, with the data mirror made absolute (the stages run in the worktree)."""
    env = dict(os.environ)
    if env.get(MIRROR_ENV):
        env[MIRROR_ENV] = str(Path(env[MIRROR_ENV]).resolve())
    return env


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_environment())
    if check and done.returncode:
        raise VerifyError(f"`{' '.join(args)}` failed ({done.returncode}) in {cwd}:\n{done.stdout}{done.stderr}")
    return done


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def committed_file(root: Path, rel: str) -> str | None:
    """The text of ``rel`` as committed in ``HEAD`` (None: not in ``HEAD``)."""
    done = _run(["git", "show", f"HEAD:{rel}"], root, check=False)
    return done.stdout if done.returncode == 0 else None


def lock_outputs(lock: dict) -> dict[str, dict[str, str]]:
    """``{stage: {output path: hash}}`` of a parsed ``dvc.lock``.

    Example:
        >>> lock_outputs({"stages": {"a": {"outs": [{"path": "x", "md5": "1"}]}, "b": {"cmd": "c"}}})
        {'a': {'x': '1'}, 'b': {}}
    """
    return {name: {o["path"]: o.get("md5") for o in entry.get("outs", [])}
            for name, entry in (lock.get("stages") or {}).items()}


def upstream(lock: dict, targets: list[str]) -> list[str]:
    """The stages whose outputs the ``targets`` read, directly or not, in an order that runs each
    after what it reads, and the targets last (each once). A stage reads another's output when a
    dependency is that output, a folder holding it (an aggregation's ``evals/main``) or inside it.

    Example:
        >>> lock = {"stages": {"p": {"outs": [{"path": "d"}]},
        ...                    "t": {"deps": [{"path": "d"}], "outs": [{"path": "runs/m"}]},
        ...                    "e": {"deps": [{"path": "runs/m"}, {"path": "d"}], "outs": [{"path": "evals/r"}]},
        ...                    "a": {"deps": [{"path": "evals"}], "outs": [{"path": "results"}]}}}
        >>> upstream(lock, ["e", "t"])
        ['p', 't', 'e']
        >>> upstream(lock, ["a"])
        ['p', 't', 'e', 'a']
    """
    stages = lock["stages"]
    outs = [(o["path"], name) for name, entry in stages.items() for o in entry.get("outs", [])]

    def producers(path: str) -> list[str]:  # the stages whose outputs are the path, inside it, or hold it
        return [name for out, name in outs if out == path or out.startswith(path + "/") or path.startswith(out + "/")]

    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in stages[name].get("deps", []):
            for producer in producers(dep["path"]):
                if producer != name:
                    visit(producer)
        order.append(name)

    for name in targets:
        visit(name)
    return [n for n in order if n not in targets] + [n for n in order if n in targets]


def select(patterns: list[str], names: list[str]) -> list[str]:
    """The stage names that the patterns match (a name or a shell pattern), in pipeline order.

    Raises:
        VerifyError: a pattern matches no stage (the message lists the stage groups).

    Example:
        >>> select(["train@*-0"], ["prepare@a", "train@a-0", "train@a-1"])
        ['train@a-0']
    """
    for p in patterns:
        if not any(fnmatch.fnmatchcase(n, p) for n in names):
            groups = sorted({n.split("@")[0] for n in names})
            raise VerifyError(f"no stage matches {p!r}; the pipeline's stage groups: {', '.join(groups)} "
                              "(a stage is GROUP@ITEM, e.g. train@vgg_cells-tghem-0; quote shell patterns)")
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def compare(stages: list[str], committed: dict[str, dict[str, str]], here: dict[str, dict[str, str]]) -> list[Compared]:
    """Each output of each stage in ``stages``, committed hash against this machine's.

    Example:
        >>> [c.same for c in compare(["a"], {"a": {"x": "1", "y": "2"}}, {"a": {"x": "1", "y": "3"}})]
        [True, False]
    """
    out = []
    for stage in stages:
        before, after = committed.get(stage, {}), here.get(stage, {})
        out += [Compared(stage, path, before.get(path), after.get(path))
                for path in sorted(before.keys() | after.keys())]
    return out


def study_cpu_kinds(root: Path, results: str) -> list[str]:
    """The CPU kinds recorded by the study's committed runs (``results/<study>/runs.csv``'s ``cpu_kind``;
    none when the file or the column is missing, as in studies run before runs recorded it)."""
    text = committed_file(root, f"{results}/runs.csv")
    if not text:
        return []
    return sorted({row["cpu_kind"] for row in csv.DictReader(io.StringIO(text)) if row.get("cpu_kind")})


def cpu_kinds(root: Path, results: str) -> tuple[str, bool | None]:
    """This machine's CPU kind beside the study's (:func:`study_cpu_kinds`), in words, and whether
    they are the same (None: the study names none). ``.ci/run`` asks it too: a default study that
    is not reproduced on its own kind fails CI."""
    here, made = host_environment()["cpu_kind"], study_cpu_kinds(root, results)
    if not made:
        return f"this machine: {here}; the study's runs: unknown ({results}/runs.csv in HEAD names none)", None
    return f"this machine: {here}; the study's runs: {', '.join(made)}", here in made


def _short(h: str | None) -> str:
    return "(none)" if h is None else h[:8] + (".dir" if h.endswith(".dir") else "")


def report(results: list[Compared], ran: dict[str, float], targets: list[str]) -> str:
    """The comparison as text: one block per stage that ran, one line per output."""
    lines = []
    for stage in [s for s in ran if s not in targets] + [s for s in targets if s in ran]:
        role = "named" if stage in targets else "upstream, not in the cache"
        lines.append(f"{stage} ({role}; ran {ran[stage]:.0f} s)")
        for c in (c for c in results if c.stage == stage):
            if c.same:
                lines.append(f"  same     {c.path}  {_short(c.here)}")
            else:
                lines.append(f"  DIFFERS  {c.path}  committed {_short(c.committed)}, here {_short(c.here)}")
    n_same = sum(c.same for c in results)
    lines.append(f"{n_same} of {len(results)} outputs equal the committed ones")
    return "\n".join(lines)


def available(root: Path, outputs: dict[str, dict[str, str]]) -> dict[str, bool]:
    """For each stage of ``outputs`` (``{stage: {path: hash}}``), whether a worktree of ``HEAD`` can
    have all its outputs without running it: each is in the DVC cache of the checkout at ``root`` (a
    folder: its listing), or committed to git in ``HEAD`` (an output DVC does not cache, such as a
    study's results)."""
    from dvc.repo import Repo

    tracked = set(_run(["git", "ls-tree", "-r", "--name-only", "HEAD"], root).stdout.splitlines())

    def committed(path: str) -> bool:  # the file, or a folder holding a committed file
        return path in tracked or any(name.startswith(path + "/") for name in tracked)

    with Repo(str(root)) as repo:
        return {stage: all((h is not None and repo.cache.local.exists(h)) or committed(path)
                           for path, h in outs.items())
                for stage, outs in outputs.items()}


def plan(order: list[str], targets: list[str], cached: dict[str, bool]) -> str:
    """What a verification will do, in words: the stages it reruns, and those it reads, available or not.

    Example:
        >>> print(plan(["p", "t", "e"], ["e"], {"p": True, "t": False}))
        verify: reruns 1 stage (e); reads 2 upstream: 1 restored, 1 to run first (t)
    """
    upstream_names = [n for n in order if n not in targets]
    to_run = [n for n in upstream_names if not cached[n]]
    shown = ", ".join(to_run[:8]) + (f", ... ({len(to_run) - 8} more)" if len(to_run) > 8 else "")
    return (f"verify: reruns {len(targets)} stage{'s' if len(targets) != 1 else ''} ({', '.join(targets[:8])}"
            f"{', ...' if len(targets) > 8 else ''}); reads {len(upstream_names)} upstream: "
            f"{len(upstream_names) - len(to_run)} restored, {len(to_run)} to run first"
            + (f" ({shown})" if to_run else ""))


def verify(root: Path, study_dir: str, patterns: list[str], keep: bool = False, dry_run: bool = False,
           log=print) -> list[Compared]:
    """Rerun the stages ``patterns`` names in a worktree of ``HEAD``; compare them with its lock.

    Returns:
        every output of every stage that ran (the named ones and upstream stages made anew); with
        ``dry_run``, nothing runs and the list is empty (the plan is logged).

    Raises:
        VerifyError: no committed lock, a pattern that matches no stage, a stage with no lock entry,
            or a DVC command that failed.
    """
    study = layout(study_dir)
    lock_file = study.lock_file
    text = committed_file(root, lock_file)
    if text is None:
        raise VerifyError(f"{lock_file} is not committed in HEAD: there is nothing to compare with")
    lock = yaml.safe_load(text) or {}
    committed = lock_outputs(lock)
    cache = _run(_dvc("cache", "dir"), root).stdout.strip()
    workdir = Path(tempfile.mkdtemp(prefix="tghem-verify."))
    tree = workdir / "repo"
    try:
        _run(["git", "worktree", "add", "--detach", "--quiet", str(tree), "HEAD"], root)
        names = _run(_dvc("stage", "list", "--name-only", study.pipeline_file), tree).stdout.split()
        names = [n.split(":")[-1] for n in names]
        targets = select(patterns, names)
        missing = [n for n in targets if n not in committed]
        if missing:
            raise VerifyError(f"{lock_file} in HEAD has no entry for {', '.join(missing)}: run and commit them first")
        live = {"stages": {k: v for k, v in (lock.get("stages") or {}).items() if k in names}}  # not removed stages
        order = upstream(live, targets)
        cached = available(root, {n: committed[n] for n in order if n not in targets})
        log(plan(order, targets, cached))
        if dry_run:
            return []
        _run(_dvc("cache", "dir", "--local", cache), tree)
        ran: dict[str, float] = {}
        for name in order:
            address = f"{study.pipeline_file}:{name}"
            if name in targets:
                args = ["repro", "--single-item", "--force", "--no-run-cache", address]
            else:
                _run(_dvc("checkout", "--quiet", address), tree, check=False)  # what the cache holds
                args = ["repro", "--single-item", address]
            log(f"verify: dvc {' '.join(args)}")
            start = time.perf_counter()
            done = _run(_dvc(*args), tree)
            said = done.stdout + done.stderr
            if name in targets or re.search(rf"Running stage '(?:[^']*:)?{re.escape(name)}'", said):
                ran[name] = time.perf_counter() - start
        here = lock_outputs(yaml.safe_load((tree / lock_file).read_text()) or {})
        compared = compare(list(ran), committed, here)
        log(report(compared, ran, targets))
        return compared
    finally:
        if keep:
            log(f"verify: the worktree is kept at {tree} (remove it with: git worktree remove --force {tree})")
        else:
            _run(["git", "worktree", "remove", "--force", str(tree)], root, check=False)
            shutil.rmtree(workdir, ignore_errors=True)  # made here by mkdtemp; a half-made worktree too


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.verify",
                                description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("stages", nargs="+", metavar="STAGE", help="stage names or shell patterns (quoted), e.g. 'oracle@*'")
    p.add_argument("--study", default=".", help="the study's folder ('.': the default study; e.g. studies/benchmark)")
    p.add_argument("--keep", action="store_true", help="leave the temporary worktree for inspection")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would rerun and what would run first (upstream stages not in the cache); run nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = Path(_run(["git", "rev-parse", "--show-toplevel"], Path.cwd()).stdout.strip())
        try:
            args.study = study_folder(args.study, root, Path.cwd(), "--study")
        except ValueError as e:
            raise VerifyError(str(e)) from None
        kinds, same_kind = cpu_kinds(root, layout(args.study).results)
        print(f"verify: {kinds}")
        if _run(["git", "status", "--porcelain", "--untracked-files=no"], root).stdout.strip():
            print("verify: this checkout has uncommitted changes; they are not verified (the worktree holds HEAD)")
        compared = verify(root, args.study, args.stages, keep=args.keep, dry_run=args.dry_run)
    except VerifyError as e:
        print(f"verify: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verify: interrupted; the temporary worktree is removed (kept with --keep)", file=sys.stderr)
        return 130
    if args.dry_run:
        return 0
    if same_kind is False and not all(c.same for c in compared):
        print("verify: this CPU kind is not the one the study's runs recorded: outputs of training and "
              "evaluation may differ in their last bits here; those of prepare, oracle and settings.json may not")
    return 0 if all(c.same for c in compared) else 1


if __name__ == "__main__":
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    sys.exit(main())
