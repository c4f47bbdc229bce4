"""pipelines.references: a machine's own outputs of the default study, and CI's check against them."""
from __future__ import annotations

import json

import pytest
import yaml

from pipelines import references

LOCK = {"schema": "2.0", "stages": {
    "prepare@synthetic": {"cmd": "c", "outs": [{"path": "data/prepared/synthetic", "md5": "a1.dir", "size": 1}]},
    "train@synthetic-tghem-0": {"cmd": "c", "outs": [{"path": "runs/x", "md5": "b2.dir"}, {"path": "runs/x/log", "md5": "c3"}]},
    "report": {"cmd": "c"},
}}


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    return tmp_path


def set_lock(root, path, md5):
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for entry in lock["stages"].values():
        for out in entry.get("outs", []):
            if out["path"] == path:
                out["md5"] = md5
                break
        else:
            continue
        break
    else:
        lock["stages"]["new"] = {"cmd": "c", "outs": [{"path": path, "md5": md5}]}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))


def test_a_reference_records_this_machine_and_every_output_of_the_lock(checkout, capsys):
    assert references.main(["write", "--root", str(checkout)]) == 0
    path = checkout / references.REFERENCE_DIR / references.file_name(references.machine())
    assert capsys.readouterr().out == f"wrote {path}\n"
    ref = json.loads(path.read_text())
    assert ref == {"machine": references.machine(), "commit": None,  # not a git checkout
                   "outputs": {"data/prepared/synthetic": "a1.dir", "runs/x": "b2.dir", "runs/x/log": "c3"}}
    assert set(references.machine()) == {"cpu_model", "cpu_flags", "cpu_capability"}


def test_check_passes_on_the_same_outputs_and_lists_new_ones(checkout, capsys):
    references.write(checkout)
    assert references.main(["check", "--root", str(checkout)]) == 0
    assert capsys.readouterr().out.endswith("3 of 3 outputs equal the reference\n")
    set_lock(checkout, "results/new", "d4")  # a stage added since the reference: listed, not a failure
    text, same = references.check(checkout)
    assert same is True and "  new      results/new  (not in the reference)" in text.splitlines()


def test_check_fails_on_an_output_that_came_out_otherwise(checkout, capsys):
    references.write(checkout)
    set_lock(checkout, "runs/x/log", "zz")
    assert references.main(["check", "--root", str(checkout)]) == 1
    out = capsys.readouterr().out
    assert "  DIFFERS  runs/x/log  reference c3, here zz" in out.splitlines()
    assert out.endswith("2 of 3 outputs equal the reference\n")


def test_an_output_no_stage_writes_any_more_is_listed(checkout):
    references.write(checkout)
    lock = yaml.safe_load((checkout / "dvc.lock").read_text())
    del lock["stages"]["prepare@synthetic"]  # a stage removed since the reference was made
    (checkout / "dvc.lock").write_text(yaml.safe_dump(lock))
    text, same = references.check(checkout)
    assert same is True
    assert text.splitlines()[1:] == ["  gone     data/prepared/synthetic  (in the reference, written by no stage now)",
                                     "2 of 2 outputs equal the reference"]


def test_the_committed_references_are_well_formed():
    from tests.helpers.paths import ROOT

    files = sorted((ROOT / references.REFERENCE_DIR).glob("*.json"))
    assert files  # at least the development machine's
    for path in files:
        ref = json.loads(path.read_text())
        assert set(ref) == {"machine", "commit", "outputs"} and set(ref["machine"]) == set(references.MACHINE_KEYS)
        assert path.name == references.file_name(ref["machine"])
        assert ref["outputs"] and all(isinstance(k, str) and isinstance(v, str) for k, v in ref["outputs"].items())


def test_another_machines_reference_is_not_this_ones(checkout, capsys, monkeypatch):
    references.write(checkout)
    set_lock(checkout, "runs/x/log", "zz")
    monkeypatch.setattr(references, "machine", lambda: {"cpu_model": "Other CPU", "cpu_flags": [], "cpu_capability": "AVX2"})
    assert references.main(["check", "--root", str(checkout)]) == 0
    assert capsys.readouterr().out == ("no reference for this machine (Other_CPU-AVX2.json in .ci/references): "
                                       "nothing checked\n")


def test_no_comparison_is_exit_2(checkout, capsys):
    references.write(checkout)
    ref = next((checkout / references.REFERENCE_DIR).glob("*.json"))
    ref.write_text('{"machine": ')
    assert references.main(["check", "--root", str(checkout)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {ref}: not a reference (JSONDecodeError: ")
    (checkout / "dvc.lock").unlink()
    assert references.main(["check", "--root", str(checkout)]) == 2
    assert capsys.readouterr().err == f"error: {checkout / 'dvc.lock'} does not exist: run `dvc repro` first\n"


def test_ci_fails_on_a_difference_from_this_machines_reference():
    from tests.helpers.paths import ROOT

    text = (ROOT / ".ci" / "run").read_text()
    assert "python -m pipelines.references check || changed_on_reference=1" in text
    assert 'if [ "$changed_on_reference" -eq 1 ]; then' in text and text.rstrip().endswith('exit "$tests"')
