"""``python -m pipelines.verify`` interrupted: its temporary worktree goes, and Ctrl-C is one line."""

from __future__ import annotations

import tempfile

import pytest

from pipelines import verify
from tests.helpers.paths import ROOT


def test_an_interrupted_worktree_add_leaves_no_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_run = verify._run

    def run(args, cwd, check=True):
        if args[:3] == ["git", "worktree", "add"]:
            (tmp_path / next(tmp_path.iterdir()).name / "repo").mkdir()  # half made, then Ctrl-C
            raise KeyboardInterrupt
        return real_run(args, cwd, check=check)

    monkeypatch.setattr(verify, "_run", run)
    with pytest.raises(KeyboardInterrupt):
        verify.verify(ROOT, ".", ["report"], dry_run=True, log=lambda *_: None)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "verify", interrupted)
    assert verify.main(["report", "--dry-run"]) == 130
    assert capsys.readouterr().err == "verify: interrupted; the temporary worktree is removed (kept with --keep)\n"
