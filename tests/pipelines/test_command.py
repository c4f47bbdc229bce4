"""``python -m pipelines``, the command: it names a study folder alike however it is spelled, refuses a
folder outside the repository root and a ``dvc.yaml`` it did not write, and reports a bad study
argument in one ``error: ...`` line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from experiments.core.cli import run_stage
from pipelines import __main__ as pipeline
from tests.helpers.paths import ROOT


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository root holding the default study's settings and the cells study's, as the current folder."""
    root = tmp_path / "repo"
    (root / "studies" / "cells").mkdir(parents=True)
    for study in ("", "studies/cells/"):
        shutil.copy(ROOT / f"{study}params.yaml", root / f"{study}params.yaml")
    monkeypatch.chdir(root)
    return root


def _fails(argv: list[str], capsys) -> str:
    """The one line ``python -m pipelines ARGV`` prints on stderr, with exit status 1."""
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: pipeline.main(argv))
    err = capsys.readouterr().err
    assert code.value.code == 1 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("spelling,study", [("{root}/studies/cells", "studies/cells"),
                                            ("studies/cells/../cells", "studies/cells"),
                                            ("studies/../studies/cells", "studies/cells"),
                                            ("{root}", "."), ("studies/..", ".")])
def test_every_spelling_of_a_study_folder_writes_its_committed_pipeline(repo, capsys, spelling, study):
    assert pipeline.main([spelling.format(root=repo)]) == 0
    written = "dvc.yaml" if study == "." else f"{study}/dvc.yaml"
    assert (repo / written).read_bytes() == (ROOT / written).read_bytes()
    assert capsys.readouterr().out == f"{written}: written\n"
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("dvc.yaml")) == [written]


@pytest.mark.parametrize("outside", ["{tmp}/other", "..", "../other"])
def test_a_folder_outside_the_repository_is_refused(repo, capsys, outside):
    (repo.parent / "other").mkdir()
    shutil.copy(ROOT / "params.yaml", repo.parent / "other" / "params.yaml")
    err = _fails([outside.format(tmp=repo.parent)], capsys)
    got = repo.parent / ("" if outside == ".." else "other")
    assert re.fullmatch(rf"error: STUDY_DIR '{re.escape(outside.format(tmp=repo.parent))}': expected a study folder "
                        rf"holding a params\.yaml inside the repository root {re.escape(str(repo))} \(the current "
                        rf"folder\), got {re.escape(str(got))}\n", err), err
    assert list(repo.parent.rglob("dvc.yaml")) == []


def test_a_dvc_yaml_it_did_not_write_is_left_byte_identical(repo, capsys):
    mine = b"# my own pipeline\nstages:\n  hello:\n    cmd: echo hello\n"
    (repo / "studies" / "cells" / "dvc.yaml").write_bytes(mine)
    err = _fails([".", "studies/cells"], capsys)
    assert re.fullmatch(r"error: studies/cells/dvc\.yaml: expected a dvc\.yaml written by `python -m pipelines` "
                        r"\(first line '# GENERATED from \.\.\.'\), got one whose first line is '# my own pipeline'; "
                        r"left as it is: move it away to generate the pipeline of studies/cells\n", err), err
    assert (repo / "studies" / "cells" / "dvc.yaml").read_bytes() == mine
    assert not (repo / "dvc.yaml").exists()  # every study is checked before anything is written
    assert pipeline.main(["studies/cells", "--check"]) == 1
    assert capsys.readouterr().err == "not the generated pipeline: studies/cells/dvc.yaml; run `python -m pipelines`\n"
    assert (repo / "studies" / "cells" / "dvc.yaml").read_bytes() == mine


BAD_STUDIES = {
    "nonexist": (None, r"expected a study folder holding a params\.yaml, got no such folder: nonexist"),
    "README.md": (None, r"expected a study folder holding a params\.yaml, got a file: README\.md"),
    "studies": (None, r"expected a study folder holding a params\.yaml, got studies with no params\.yaml file in it"),
    "studies/yaml": ("study: [\n",
                     r"params: studies/yaml/params\.yaml is not valid YAML: while parsing a flow node expected the "
                     r"node content, but found '<stream end>' in \"studies/yaml/params\.yaml\", line 2, column 1"),
    "studies/nostudy": ("extends: ../../params.yaml\ntrain: {iterations: 3}\n",
                        r"studies/nostudy/params\.yaml: section 'study': expected a mapping with keys \['datasets', "
                        r"'launcher', 'methods', 'seeds'\], got None"),
    "studies/nobase": ("extends: ../../nope.yaml\n",
                       r"params: studies/nobase/\.\./\.\./nope\.yaml does not exist; name an existing base file in the "
                       r"extends: of studies/nobase/params\.yaml"),
}


@pytest.mark.parametrize("study", BAD_STUDIES)
def test_a_bad_study_is_one_error_line_naming_it(repo, capsys, study):
    settings, message = BAD_STUDIES[study]
    (repo / "README.md").write_text("# a file\n")
    if settings is not None:
        (repo / study).mkdir(parents=True)
        (repo / study / "params.yaml").write_text(settings)
    err = _fails(["--check", study], capsys)
    assert re.fullmatch(rf"error: STUDY_DIR '{study}': {message}\n", err), err
    assert "--params" not in err  # an option of the stage commands, not of this one


def test_run_outside_the_root_it_says_so(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "studies" / "cells")
    err = _fails([], capsys)
    cells = re.escape(str(repo / "studies" / "cells"))
    assert re.fullmatch(rf"error: STUDY_DIR '\.': params\.yaml: extends: expected a base settings file inside the "
                        rf"repository root {cells}, got {re.escape(str(repo / 'params.yaml'))}; run `python -m "
                        rf"pipelines` from the repository root\n", err), err
    monkeypatch.chdir(repo.parent)  # no study here at all
    err = _fails([], capsys)
    assert err == (f"error: STUDY_DIR '.': expected a study folder holding a params.yaml, got . ({repo.parent}, the "
                   f"current folder) with no params.yaml file in it\n")
    assert list(repo.parent.rglob("dvc.yaml")) == []


def test_the_command_line_prints_no_traceback(repo, capsys):
    done = subprocess.run([sys.executable, "-m", "pipelines", "nonexist"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("error: STUDY_DIR 'nonexist': expected a study folder holding a params.yaml, got no such "
                           "folder: nonexist\n")
    with pytest.raises(SystemExit) as code:  # argparse's own errors: exit 2
        pipeline.main(["--bogus"])
    assert code.value.code == 2 and capsys.readouterr().err.endswith("error: unrecognized arguments: --bogus\n")
