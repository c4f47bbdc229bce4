"""Atomic writes: modes that follow the umask, unwritable folders named, damaged JSON named."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from experiments.core import fsutil
from experiments.core.cli import run_stage
from experiments.core.fsutil import UnwritableError, atomic_write_bytes, read_json
from experiments.core.outputs import atomic_dir
from tests.helpers.paths import ROOT


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)])
def test_files_and_folders_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert fsutil.current_umask() == mask
    atomic_write_bytes(tmp_path / "a" / "f.bin", b"x")
    assert mode(tmp_path / "a" / "f.bin") == file_mode
    with atomic_dir(tmp_path / "folder", "test") as tmp:
        (tmp / "inner.txt").write_text("y")
    assert mode(tmp_path / "folder") == dir_mode
    assert mode(tmp_path / "folder" / "inner.txt") == file_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "folder"]  # no temporary left


def deny(*args, **kwargs):
    raise PermissionError(13, "Permission denied", kwargs.get("dir"))


def test_an_unwritable_folder_is_named_and_nothing_is_left(tmp_path, monkeypatch, capsys):
    # Tests run as root here, where chmod cannot deny a write: the system's refusal is simulated.
    monkeypatch.setattr(tempfile, "mkstemp", deny)
    monkeypatch.setattr(tempfile, "mkdtemp", deny)
    with pytest.raises(UnwritableError) as err:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    message = str(err.value)
    assert message == (f"{tmp_path}: cannot write here (permission denied); make it writable "
                       f"(`chmod u+w {tmp_path}`, or ask its owner) or choose another output folder")
    with pytest.raises(UnwritableError, match=f"^{tmp_path}: cannot write here"):
        with atomic_dir(tmp_path / "out", "test"):
            pass
    assert list(tmp_path.iterdir()) == []
    # A stage prints it as one line and exits with 1.
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: atomic_write_bytes(tmp_path / "f.bin", b"x"))
    assert code.value.code == 1
    assert capsys.readouterr().err == f"error: {message}\n"


def test_a_bare_permission_error_is_one_line_naming_the_path(capsys):
    def main():
        raise PermissionError(13, "Permission denied", "/some/run/best.pt")

    with pytest.raises(SystemExit) as code:
        run_stage(main)
    assert code.value.code == 1
    assert capsys.readouterr().err == ("error: /some/run/best.pt: permission denied (Permission denied); give "
                                       "yourself access to it (`ls -ld` shows its owner and mode) or use another folder\n")


def without_override() -> list[str]:
    """A command prefix under which file modes are enforced: none for a user; for root, setpriv
    dropping the capability to override them (skip where there is no setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: read-only folders cannot be enforced")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


WRITE = """
import sys
from experiments.core.cli import run_stage
from experiments.core.fsutil import atomic_write_bytes
from experiments.core.outputs import atomic_dir
target, what = sys.argv[1], sys.argv[2]
if what == "file":
    run_stage(lambda: atomic_write_bytes(target, b"x"))
else:
    run_stage(lambda: atomic_dir(target, "test").__enter__())
"""


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_folder_for_real(tmp_path, what):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        cmd = [*without_override(), sys.executable, "-c", WRITE, str(ro / "sub" / "out"), what]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                             timeout=120)
    finally:
        ro.chmod(0o755)
    assert out.returncode == 1, out.stderr
    assert out.stderr == (f"error: {ro}: cannot write here (permission denied on {ro / 'sub'}); make it writable "
                          f"(`chmod u+w {ro}`, or ask its owner) or choose another output folder\n")
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("content, what", [
    (b'{"f1": 0.5,\n', "damaged or truncated, not valid JSON (Expecting property name enclosed in double quotes at line 2 column 1)"),
    (b"", "damaged or truncated, empty"),
    (b"\xff\xfe", "damaged (not UTF-8 text)"),
    (b'{"a": {"f1": NaN}}', "a.f1 is nan, expected a finite number"),
    (b'{"a": [1, Infinity]}', "a.1 is inf, expected a finite number"),
])
def test_damaged_json_is_named_with_the_fix(tmp_path, content, what):
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        read_json(path, "evaluate again: `dvc repro evaluate@x`")
    assert str(err.value) == f"{path}: {what}; evaluate again: `dvc repro evaluate@x`"


def test_read_json_reads_good_files_and_names_missing_ones(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"f1": 0.5, "n": [1, 2]}))
    assert read_json(tmp_path / "a.json", "fix") == {"f1": 0.5, "n": [1, 2]}
    with pytest.raises(FileNotFoundError, match=f"^{tmp_path / 'b.json'} does not exist; fix$"):
        read_json(tmp_path / "b.json", "fix")
