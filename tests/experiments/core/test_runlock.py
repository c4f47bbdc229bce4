"""One process per run folder: the lock file, its owner in the message, stale locks taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from experiments.core.fsutil import OutputError
from experiments.core.runlock import LOCK_NAME, RunInUseError, lock_holder, run_lock
from tests.helpers.paths import ROOT

HOLDER = """
import sys
from experiments.core.runlock import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def holder(tmp_path):
    """Start another process that owns ``tmp_path / 'run'``; yields (process, folder)."""
    folder = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    assert proc.stdout.readline() == "locked\n"
    yield proc, folder
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_writer_fails_at_once_naming_the_owner(holder):
    proc, folder = holder
    owner = json.loads((folder / LOCK_NAME).read_text())
    assert owner["pid"] == proc.pid and owner["host"] == socket.gethostname()
    with pytest.raises(RunInUseError) as err:
        with run_lock(folder):
            pytest.fail("the lock was taken twice")
    assert str(err.value) == (
        f"--out: {folder} is in use by another process (pid {proc.pid} on host {socket.gethostname()}, since "
        f"{owner['started']}; lock file {folder / LOCK_NAME}); wait for it to finish or stop it, or choose another --out"
    )
    assert lock_holder(folder) == owner
    # The owner finishes: the lock file goes, and the folder is free.
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "released\n"
    assert proc.wait() == 0
    assert not folder.exists()  # it made the folder, and left it empty: removed with the lock
    assert lock_holder(folder) is None
    with run_lock(folder) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not folder.exists()


def test_a_killed_owners_lock_is_taken_over_with_a_note(holder, capsys):
    proc, folder = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / LOCK_NAME).exists()  # kill -9 leaves the file behind
    assert lock_holder(folder) is None  # but nobody holds it
    with run_lock(folder) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    note = capsys.readouterr().err
    assert note.startswith(f"note: {folder / LOCK_NAME}: taking over the lock of pid {proc.pid} on host ")
    assert note.endswith("which is no longer running (it stopped without releasing it)\n")
    assert not (folder / LOCK_NAME).exists()


def test_the_lock_goes_on_errors_and_ctrl_c_and_a_new_empty_folder_with_it(tmp_path):
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with run_lock(tmp_path / "new"):
                assert (tmp_path / "new" / LOCK_NAME).is_file()
                raise exc
        assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "log.csv").write_text("x")
    with pytest.raises(KeyboardInterrupt):
        with run_lock(tmp_path / "old"):
            raise KeyboardInterrupt
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["log.csv"]


def test_a_failed_run_removes_the_empty_parents_it_made_and_nothing_else(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(ValueError, match="boom"):
        with run_lock(tmp_path / "kept" / "a" / "b" / "run"):
            raise ValueError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and not any((tmp_path / "kept").iterdir())
    # A parent that something else wrote into meanwhile stays, with what it holds.
    with pytest.raises(ValueError, match="boom"):
        with run_lock(tmp_path / "kept" / "a" / "run"):
            (tmp_path / "kept" / "a" / "other.txt").write_text("x")
            raise ValueError("boom")
    assert [p.name for p in (tmp_path / "kept" / "a").iterdir()] == ["other.txt"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_the_file_system_cannot_make_is_one_line_naming_the_option():
    with pytest.raises(OutputError, match=r"^--out: cannot create /proc/tghem_run/x: No such file or directory; "
                                          r"choose a folder elsewhere$"):
        with run_lock("/proc/tghem_run/x"):
            pass


def test_the_same_folder_twice_in_one_process_is_refused_too(tmp_path):
    with run_lock(tmp_path / "run"):
        with pytest.raises(RunInUseError, match=f"pid {os.getpid()} on host"):
            with run_lock(tmp_path / "run", option="--run"):
                pass
        assert (tmp_path / "run" / LOCK_NAME).is_file()  # the refused attempt removed nothing
    assert not (tmp_path / "run").exists()


def test_the_lock_file_is_kept_out_of_dvc_hashes():
    lines = (ROOT / ".dvcignore").read_text().splitlines()
    assert LOCK_NAME in lines
