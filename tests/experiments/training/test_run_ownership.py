"""A run folder's owner, its dataset's digest, its modes and its damaged files, end to end on tiny runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat

import pytest

from experiments import evaluate, train
from experiments.core.prepared import read_meta
from experiments.core.fsutil import NotAnOutputError
from experiments.core.runlock import LOCK_NAME, run_lock
from experiments.data.preparation import prepare
from experiments.data.synthetic import SyntheticConfig
from experiments.model.checkpoint import load_checkpoint
from experiments.training import loop
from experiments.core.runfolder import RUN_MARKER
from tests.helpers.errors import one_line_error
from tests.helpers.tiny_run import TINY, tiny_data_dir

TRACKED = ("best.pt", "last.pt", "train.json", "val.csv", "log.csv")


def argv(out, data_dir, *extra):
    args = ["--dataset", "synthetic", "--method", "tghem", "--seed", "0", "--data-dir", str(data_dir),
            "--out", str(out), "--quiet", *extra]
    for item in TINY:
        args += ["--set", item]
    return args


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A copy of the tiny data folder that a test may prepare again."""
    d = tmp_path_factory.mktemp("data") / "data"
    shutil.copytree(tiny_data_dir(), d)
    return d


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """One finished tiny run, trained under umask 002 (a group-shared folder)."""
    out = tmp_path_factory.mktemp("run") / "run"
    old = os.umask(0o002)
    try:
        assert train.main(argv(out, data_dir)) == 0
    finally:
        os.umask(old)
    return out


def test_a_finished_run_leaves_no_lock_and_files_the_umask_allows(run):
    assert not (run / LOCK_NAME).exists()
    assert mode(run) == 0o775
    for name in (*TRACKED, "timing.csv", "environment.json"):
        assert mode(run / name) == 0o664, name


def test_the_run_records_its_datasets_digest(run, data_dir):
    digest = read_meta(data_dir / "prepared" / "synthetic")["content_digest"]
    assert len(digest) == 64
    assert json.loads((run / "train.json").read_text())["dataset_digest"] == digest
    for name in ("best.pt", "last.pt"):
        assert load_checkpoint(run / name)["run"]["dataset_digest"] == digest


def test_a_second_train_into_an_owned_folder_fails_at_once(tmp_path, capsys):
    out = tmp_path / "run"
    with run_lock(out) as lock:
        owner = json.loads(lock.read_text())
        message = one_line_error(lambda: train.main(argv(out, tiny_data_dir())), capsys)
        assert message == (
            f"--out: {out} is in use by another process (pid {os.getpid()} on host {socket.gethostname()}, since "
            f"{owner['started']}; lock file {lock}); wait for it to finish or stop it, or choose another --out"
        )
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the second writer wrote nothing
        assert json.loads(lock.read_text()) == owner
        # Evaluating a run that is being trained is refused too.
        message = one_line_error(lambda: evaluate.main(["--run", str(out), "--data-dir", str(tiny_data_dir())]), capsys)
        assert message == (f"--run: {out} is still being trained (pid {os.getpid()} on host {socket.gethostname()}; "
                           f"lock file {lock}); evaluate it when the training has finished")


def test_ctrl_c_during_training_releases_the_folder(tmp_path, monkeypatch):
    def interrupted(self, net, iteration):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop.Trainer, "step", interrupted)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train.main(argv(out, tiny_data_dir()))
    assert not (out / LOCK_NAME).exists()
    # A run that fails before writing anything leaves no folder either.
    with pytest.raises(FileNotFoundError, match="--resume"):
        train.main(argv(tmp_path / "never", tiny_data_dir(), "--resume"))
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("name", ["best.pt", "last.pt"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "random"])
def test_a_damaged_checkpoint_is_one_line_and_leaves_nothing(run, tmp_path, capsys, name, damage):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    path = copy / name
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 3], "empty": b"", "random": os.urandom(4096)}[damage])
    if name == "best.pt":
        message = one_line_error(lambda: evaluate.main(["--run", str(copy), "--data-dir", str(tiny_data_dir())]), capsys)
        assert not (copy / "eval").exists()
    else:
        message = one_line_error(lambda: train.main(argv(copy, tiny_data_dir(), "--resume")), capsys)
        assert (copy / "log.csv").read_bytes() == (run / "log.csv").read_bytes()  # the logs are not cut back
    assert message.startswith(f"checkpoint: {path} is damaged (")
    assert f"delete {copy} and run its training command again" in message
    assert "weights_only" not in message and not (copy / LOCK_NAME).exists()


def test_a_dataset_prepared_again_from_other_files_is_refused(run, data_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    prepared = data_dir / "prepared" / "synthetic"
    before = read_meta(prepared)["content_digest"]
    cfg = SyntheticConfig(num_train=3, num_val=2, num_test=2, image_size=(64, 64), count_range=(10, 20), cluster_spread=8.0)
    prepare("synthetic", data_dir, synthetic=cfg, seed=1, quiet=True)  # other images, the same name
    after = read_meta(prepared)["content_digest"]
    assert after != before
    try:
        message = one_line_error(lambda: evaluate.main(["--run", str(copy), "--data-dir", str(data_dir)]), capsys)
        assert message == (
            f"--run: {copy} was trained on the prepared dataset 'synthetic' with content digest {before}, but "
            f"{prepared} now has {after} (prepared again from other files); evaluating it there would mix two data "
            f"sets: train the run again on this data, or prepare the data it was trained on"
        )
        assert not (copy / "eval").exists()
        message = one_line_error(lambda: train.main(argv(copy, data_dir, "--resume")), capsys)
        assert message == (
            f"--resume: last.pt was trained on the prepared dataset 'synthetic' with content digest {before}, but it "
            f"now has {after} (prepared again from other files); resume needs the data the run started on: prepare "
            f"that again, or train anew in another --out"
        )
    finally:
        prepare("synthetic", data_dir, synthetic=cfg, quiet=True)
    assert read_meta(prepared)["content_digest"] == before


def test_an_unwritable_evaluation_folder_is_named(run, tmp_path, monkeypatch, capsys):
    import tempfile

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    # Run as root here, chmod cannot deny a write: the system's refusal is simulated.
    monkeypatch.setattr(tempfile, "mkdtemp", deny)
    out = tmp_path / "shared" / "eval"
    message = one_line_error(
        lambda: evaluate.main(["--run", str(run), "--data-dir", str(tiny_data_dir()), "--out", str(out)]), capsys)
    assert message == (f"{out.parent}: cannot write here (permission denied); make it writable "
                       f"(`chmod u+w {out.parent}`, or ask its owner) or choose another output folder")
    assert list(out.parent.iterdir()) == []


def test_a_folder_holding_someone_elses_files_of_a_runs_names_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    own = {"notes.txt": b"keep\n", "log.csv": b"my,own,log\n", "train.json": b'{"mine": 1}\n'}
    for name, data in own.items():
        (out / name).write_bytes(data)
    message = one_line_error(lambda: train.main(argv(out, tiny_data_dir())), capsys)
    assert message == (f"--out: {out} holds train.json, log.csv, which no training run wrote (no {RUN_MARKER}); "
                       f"train would overwrite them: name a new folder, or move them away")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == own  # nothing written, nothing replaced


def test_a_runs_own_folder_is_marked_and_may_be_trained_into_again(run, tmp_path):
    assert (run / RUN_MARKER).read_text() == "train\n"
    # What DVC leaves when it reruns a stage: the tracked outputs removed, timing.csv and environment.json kept.
    # A folder made before the marker existed is recognised by its environment.json.
    for marked in (True, False):
        copy = tmp_path / f"rerun-{marked}"
        shutil.copytree(run, copy)
        for name in (*TRACKED, "crops.csv", "settings.json", *(() if marked else (RUN_MARKER,))):
            (copy / name).unlink()
        assert train.main(argv(copy, tiny_data_dir())) == 0
        for name in TRACKED:
            assert (copy / name).read_bytes() == (run / name).read_bytes(), name
    # environment.json of someone else does not make the folder a run's.
    copy = tmp_path / "foreign"
    copy.mkdir()
    (copy / "environment.json").write_text('{"conda": "base"}\n')
    with pytest.raises(NotAnOutputError, match=r"holds environment.json, which no training run wrote"):
        train.main(argv(copy, tiny_data_dir()))


def test_evaluating_a_run_that_stopped_early_is_refused_unless_asked_for(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(argv(out, tiny_data_dir(), "--stop-after", "2")) == 0
    total = json.loads((out / "train.json").read_text())["total_iterations"]
    message = one_line_error(lambda: evaluate.main(["--run", str(out), "--data-dir", str(tiny_data_dir()),
                                                    "--checkpoint", "last", "--quiet"]), capsys)
    assert message == (f"--run: {out} stopped at iteration 2 of {total} (train.json: finished false); continue it (its "
                       f"training command with --resume), or pass --allow-unfinished to evaluate its checkpoint as it is")
    assert not (out / "eval").exists()
    assert evaluate.main(["--run", str(out), "--data-dir", str(tiny_data_dir()), "--checkpoint", "last",
                          "--allow-unfinished"]) == 0
    assert "had not finished training (metrics.json: training_finished false)" in capsys.readouterr().out
    assert json.loads((out / "eval" / "test" / "metrics.json").read_text())["training_finished"] is False
    # Finished, the same folder evaluates without the flag, and metrics.json has no such key.
    assert train.main(argv(out, tiny_data_dir(), "--resume")) == 0
    assert evaluate.main(["--run", str(out), "--data-dir", str(tiny_data_dir()), "--checkpoint", "last", "--quiet"]) == 0
    assert "training_finished" not in json.loads((out / "eval" / "test" / "metrics.json").read_text())


def test_a_run_killed_outright_is_refused_by_its_left_lock(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "train.json").unlink()  # a first invocation killed with -9: no train.json, the lock file left
    (copy / LOCK_NAME).write_text('{"pid": 999999999, "host": "gone"}\n')
    message = one_line_error(lambda: evaluate.main(["--run", str(copy), "--data-dir", str(tiny_data_dir())]), capsys)
    assert message.startswith(f"--run: {copy} was stopped while training (its {LOCK_NAME} is left and there is no "
                              f"train.json); continue it")
