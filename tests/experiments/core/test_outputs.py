"""No stage deletes what it did not write; multi-file outputs are published whole; leftovers of a
killed write are removed and never hashed (issue 21)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from experiments import evaluate
from experiments.core import fsutil
from experiments.core.cli import run_stage
from experiments.core.fsutil import NotAnOutputError, OutputError, atomic_write_bytes, remove_leftovers
from experiments.core.outputs import OUTPUT_MARKER, PUBLISHING, atomic_dir, check_replaceable, publish_files, settle
from experiments.core.runfolder import RUN_MARKER
from tests.helpers.paths import ROOT


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dead_pid() -> int:
    pid = 2 ** 22 - 1  # above Linux's default pid_max
    assert not fsutil.pid_alive(pid)
    return pid


@pytest.fixture
def fake_run(tmp_path):
    """A finished run folder as the user owns it (evaluate refuses before reading the checkpoint)."""
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    for name in ("best.pt", "last.pt", "train.json", "log.csv"):
        (run / name).write_bytes(name.encode())
    return run


def stage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: evaluate.main(argv))
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("where, expected", [
    ("run", "is or holds the run"),             # --out RUN: would delete best.pt, last.pt, the logs
    ("runs", "is or holds the run"),            # --out runs: would delete every run
    ("run/points", "lies inside the run folder"),
    ("mine", "is not an output of evaluate"),   # a folder of the user's
    ("file", "is an existing file"),
])
def test_evaluate_refuses_an_out_it_did_not_write(tmp_path, fake_run, capsys, where, expected):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("keep me too")
    out = {"run": fake_run, "runs": fake_run.parent, "run/points": fake_run / "points",
           "mine": mine, "file": tmp_path / "file"}[where]
    before = tree(tmp_path)
    err = stage_error(capsys, ["--run", str(fake_run), "--out", str(out), "--data-dir", str(tmp_path)])
    assert err.startswith(f"error: --out: {out}") and expected in err
    assert tree(tmp_path) == before


def test_a_stage_replaces_its_own_output_marked_or_recognised(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out, "evaluate") as tmp:
        (tmp / "a.txt").write_text("1")
    assert (out / OUTPUT_MARKER).read_text() == "evaluate\n"  # constant: DVC-hashed or not, never varies
    with atomic_dir(out, "evaluate") as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(tree(out)) == [OUTPUT_MARKER, "b.txt"]
    with pytest.raises(NotAnOutputError, match=f"^--out: {out} exists and is not an output of report"):
        with atomic_dir(out, "report", "--out"):
            pass
    # An unmarked folder (written before markers, or restored by DVC, which ignores the marker)
    # is recognised by its entries only if the stage says so.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "metrics.json").write_text("{}")
    with atomic_dir(legacy, "evaluate", recognise={"metrics.json"}.__eq__) as tmp:
        (tmp / "metrics.json").write_text("{}\n")
    assert (legacy / "metrics.json").read_text() == "{}\n"


def test_a_marked_output_that_received_foreign_entries_is_not_replaced(tmp_path):
    """A stage's own folder into which a user (or another stage) has since written is refused, not
    replaced: replacing it would delete what the stage did not write."""
    out = tmp_path / "out"
    recognise = {"metrics.json"}.__eq__
    with atomic_dir(out, "evaluate", "--out", recognise) as tmp:
        (tmp / "metrics.json").write_text("{}")
    (out / "keep.txt").write_text("mine")
    before = tree(out)
    with pytest.raises(NotAnOutputError, match=rf"^--out: {out} is an output of evaluate but holds more than evaluate "
                                               r"writes \(its entries: keep.txt, metrics.json\)"):
        with atomic_dir(out, "evaluate", "--out", recognise) as tmp:
            (tmp / "metrics.json").write_text("new")
    assert tree(out) == before and not list(tmp_path.glob(".out.*"))
    (out / "keep.txt").unlink()
    for i in range(8):  # many entries: the message names six
        (out / f"f{i}.txt").write_text("x")
    with pytest.raises(NotAnOutputError, match=r"\(its entries: f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, f5.txt and 3 more\)"):
        check_replaceable(out, "evaluate", "--out", recognise)
    for i in range(8):
        (out / f"f{i}.txt").unlink()
    with atomic_dir(out, "evaluate", "--out", recognise) as tmp:  # its own entries again: replaced
        (tmp / "metrics.json").write_text("new")
    assert (out / "metrics.json").read_text() == "new"


def test_train_refuses_a_folder_another_stage_replaces_whole(tmp_path, capsys):
    from experiments import train
    from experiments.core.outputs import check_not_an_output

    prepared = tmp_path / "prepared"
    with atomic_dir(prepared, "prepare") as tmp:
        (tmp / "meta.json").write_text("{}")
    before = tree(tmp_path)
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: train.main(["--dataset", "synthetic", "--method", "tghem", "--seed", "0",
                                      "--data-dir", str(tmp_path), "--out", str(prepared)]))
    assert code.value.code == 1
    assert capsys.readouterr().err == (f"error: --out: {prepared} is an output folder of prepare, which replaces it "
                                       f"whole; name a folder of its own\n")
    assert tree(tmp_path) == before
    check_not_an_output(tmp_path / "missing", "--out")  # a new folder, an empty one or a run's: fine
    check_not_an_output(tmp_path, "--out")


def test_leftovers_of_a_killed_write_are_removed_and_never_hashed(tmp_path):
    pid = dead_pid()
    partial = tmp_path / f".seed0.{pid}-abcdefgh.partial"
    partial.mkdir()
    (partial / "metrics.json").write_text("half")
    aside = tmp_path / f".seed0.old-{pid}"
    aside.mkdir()
    tmpfile = tmp_path / f".last.pt.{pid}-abcdefgh.tmp"
    tmpfile.write_bytes(b"half a checkpoint")
    live = tmp_path / f".seed0.{os.getpid()}-abcdefgh.partial"  # a running writer's: kept
    live.mkdir()
    with atomic_dir(tmp_path / "seed0", "evaluate"):
        pass
    atomic_write_bytes(tmp_path / "last.pt", b"x")
    assert not partial.exists() and not aside.exists() and not tmpfile.exists() and live.exists()
    # Until a write removes them, DVC ignores them (.dvcignore), so they change no hash.
    from dvc.fs import LocalFileSystem
    from dvc.ignore import DvcIgnoreFilter

    ignore = DvcIgnoreFilter(LocalFileSystem(), str(ROOT))
    for name in (partial.name, aside.name, tmpfile.name, PUBLISHING, OUTPUT_MARKER, RUN_MARKER):
        assert ignore.is_ignored_file(str(ROOT / "evals" / "main" / name)), name
    for name in ("last.pt", "metrics.json", "points"):
        assert not ignore.is_ignored_file(str(ROOT / "evals" / "main" / name)), name


def test_leftovers_without_a_pid_are_removed_only_under_a_lock(tmp_path):
    old = tmp_path / ".last.pt.abcdefgh.tmp"  # named before pids were recorded: whose, no one can tell
    old.write_bytes(b"half")
    assert remove_leftovers(tmp_path, "last.pt") == [] and old.exists()
    assert remove_leftovers(tmp_path, "last.pt", locked=True) == [old] and not old.exists()
    live = tmp_path / f".last.pt.{os.getpid()}-abcdefgh.tmp"  # a live writer's stays even then
    live.write_bytes(b"half")
    assert remove_leftovers(tmp_path, "last.pt", locked=True) == [] and live.exists()


def test_published_files_are_all_old_or_all_new(tmp_path, monkeypatch):
    out = tmp_path / "results"
    publish_files(out, {"metrics.json": "old", "runs.csv": "old"}, "aggregate")
    (out / "tables").mkdir()  # another stage's output in the same folder: left alone
    real_replace = os.replace

    def killed_after(n):
        calls = []

        def replace(src, dst):
            if len(calls) == n:
                raise KeyboardInterrupt
            calls.append(dst)
            real_replace(src, dst)
        return replace

    # Killed before the commit: all old, no leftover.
    monkeypatch.setattr(os, "replace", killed_after(0))
    with pytest.raises(KeyboardInterrupt):
        publish_files(out, {"metrics.json": "new", "runs.csv": "new"}, "aggregate")
    monkeypatch.setattr(os, "replace", real_replace)
    assert tree(out) == {OUTPUT_MARKER: b"aggregate\n", "metrics.json": b"old", "runs.csv": b"old"}
    # Killed after the commit, one file moved: a reader settles first and sees all new.
    monkeypatch.setattr(os, "replace", killed_after(2))
    with pytest.raises(KeyboardInterrupt):
        publish_files(out, {"metrics.json": "new", "runs.csv": "new"}, "aggregate")
    monkeypatch.setattr(os, "replace", real_replace)
    settle(out)
    assert tree(out) == {OUTPUT_MARKER: b"aggregate\n", "metrics.json": b"new", "runs.csv": b"new"}
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "metrics.json", "runs.csv", "tables"]


def test_publishing_refuses_to_overwrite_someone_elses_files(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "runs.csv").write_text("my table")
    with pytest.raises(NotAnOutputError, match=f"^--out: {mine} holds runs.csv but is not an output of aggregate"):
        publish_files(mine, {"metrics.json": "x", "runs.csv": "x"}, "aggregate")
    assert tree(mine) == {"runs.csv": b"my table"}


def test_a_full_disk_is_one_line_naming_the_path_and_nothing_is_left(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as err:
        with atomic_dir(out, "evaluate", "--out") as tmp:
            (tmp / "metrics.json").write_bytes(b"{}")
    assert str(err.value) == (f"--out: cannot write {out}: No space left on device; the disk is full: free space "
                              f"or write elsewhere; nothing partial was left")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="the disk is full"):
        publish_files(out, {"metrics.json": "x"}, "aggregate")
    assert list(out.iterdir()) == []


def test_a_file_where_a_folder_is_needed_is_one_line(tmp_path):
    (tmp_path / "f").write_text("keep")
    with pytest.raises(OutputError, match=f"^output: cannot write {tmp_path / 'f'}.*an existing file"):
        atomic_write_bytes(tmp_path / "f" / "last.pt", b"x")
    with pytest.raises(NotAnOutputError, match="is an existing file"):
        with atomic_dir(tmp_path / "f", "evaluate"):
            pass
    assert (tmp_path / "f").read_text() == "keep"


def test_train_out_naming_a_file_and_a_missing_or_empty_mirror_are_one_line(tmp_path, capsys, monkeypatch):
    from experiments import prepare, train

    (tmp_path / "file").write_text("keep")
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: train.main(["--dataset", "synthetic", "--method", "tghem", "--data-dir", str(tmp_path),
                                      "--out", str(tmp_path / "file"), "--quiet"]))
    assert code.value.code == 1
    assert capsys.readouterr().err == (f"error: --out: {tmp_path / 'file'} is an existing file, not a folder; name "
                                       f"a folder for the run\n")
    assert (tmp_path / "file").read_text() == "keep"
    (tmp_path / "empty").mkdir()
    monkeypatch.delenv("TGHEM_DATA_MIRROR", raising=False)
    for mirror, what in ((tmp_path / "nope", "does not exist"), (tmp_path / "empty", "is empty"),
                         (tmp_path / "file", "is not a folder")):
        with pytest.raises(SystemExit) as code:
            run_stage(lambda: prepare.main(["--dataset", "vgg_cells", "--data-dir", str(tmp_path / "data"),
                                            "--mirror", str(mirror), "--quiet"]))
        assert code.value.code == 1
        assert capsys.readouterr().err == (f"error: --mirror: {mirror} {what}; name the folder holding the datasets "
                                           f"(or unset it to download)\n")


def test_a_system_error_anywhere_in_a_stage_is_one_line(capsys):
    def main():
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/log.csv")

    with pytest.raises(SystemExit) as code:
        run_stage(main)
    assert code.value.code == 1
    assert capsys.readouterr().err == ("error: /runs/x/log.csv: No space left on device; the disk is full: free "
                                       "space or write elsewhere; nothing partial was left\n")


def test_publishing_into_a_folder_another_stage_replaces_whole_is_refused(tmp_path):
    tables = tmp_path / "results" / "tables"
    with atomic_dir(tables, "report") as tmp:
        (tmp / "main.md").write_text("a table")
    before = tree(tables)
    with pytest.raises(NotAnOutputError, match=f"^--out: {tables} is an output folder of report, which replaces it whole"):
        publish_files(tables, {"metrics.json": "x", "runs.csv": "x"}, "aggregate")
    assert tree(tables) == before


def test_the_oracle_replaces_only_a_folder_of_its_own_names(tmp_path):
    from experiments.evaluation.oracle import oracle_dataset
    from tests.helpers.tiny_run import tiny_data_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("{}")
    (mine / "per_image_mynotes.csv").write_text("my notes")
    before = tree(mine)
    with pytest.raises(NotAnOutputError, match=f"^--out: {mine} exists and is not an output of oracle"):
        oracle_dataset(tiny_data_dir(), "synthetic", mine)
    assert tree(mine) == before
    # An unmarked folder of the oracle's own names (from before the markers) is replaced.
    (mine / "per_image_mynotes.csv").unlink()
    (mine / "per_image_test.csv").write_text("old")
    assert oracle_dataset(tiny_data_dir(), "synthetic", mine)["dataset"] == "synthetic"
    assert (mine / OUTPUT_MARKER).read_text() == "oracle\n"
