"""Configuration abuse (issue 21): a key twice, --params naming a folder, a seed out of range, a setting
the stage would ignore."""

from __future__ import annotations

import pytest

from experiments import oracle, train
from experiments.core.settings import ConfigError, read_params_file
from experiments.training.loop import MAX_SEED, TrainJob


def test_a_key_given_twice_in_a_section_is_refused_naming_key_and_lines(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  lr: 0.001\n  iterations: 10\n  lr: 0.1\neval:\n  lr: 1\n")
    with pytest.raises(ConfigError, match=rf"^{params}: line 4: key 'lr' given twice in one section \(first at "
                                          rf"line 2\); keep one$"):
        read_params_file(params)


def test_params_naming_a_folder_says_so(tmp_path, capsys):
    with pytest.raises(ConfigError, match=rf"^params: {tmp_path} is a folder, not a file \(e.g. {tmp_path}/params.yaml\); "
                                          rf"pass --params PATH to a params.yaml$"):
        read_params_file(tmp_path)
    # A study's missing base: the fix is its extends:, not --params (the study file was found).
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "params.yaml").write_text("extends: ../nope.yaml\n")
    with pytest.raises(ConfigError, match=rf"^params: {tmp_path}/study/../nope.yaml does not exist; name an existing "
                                          rf"base file in the extends: of {tmp_path}/study/params.yaml$"):
        read_params_file(tmp_path / "study" / "params.yaml")
    with pytest.raises(SystemExit) as code:
        train.main(["--dataset", "synthetic", "--method", "tghem", "--out", str(tmp_path / "run"),
                    "--params", str(tmp_path)])
    assert code.value.code == 2 and f"params: {tmp_path} is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [2 ** 40, -1])
def test_a_seed_out_of_range_names_seed_and_the_bound(tmp_path, seed):
    with pytest.raises(ValueError, match=rf"^--seed: expected an int in \[0, {MAX_SEED}\] \(2\*\*32 - 1, numpy's seed "
                                         rf"range\), got {seed}$"):
        TrainJob("synthetic", "tghem", seed, tmp_path / "run")
    TrainJob("synthetic", "tghem", MAX_SEED, tmp_path / "run")


def test_the_oracle_refuses_a_setting_that_changes_nothing_it_scores(tmp_path, capsys):
    """Only data.* (the target) and eval.* (its scoring) reach the oracle; train.lr was accepted and
    ignored, so a user could believe it had an effect."""
    with pytest.raises(SystemExit) as code:
        oracle.main(["--dataset", "synthetic", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--set", "train.lr=0.1"])
    assert code.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m experiments.oracle: error: --set 'train.lr=0.1': the oracle takes data.* and eval.* settings only "
        "(the target and its scoring); no other setting changes what it scores")
    assert list(tmp_path.iterdir()) == []
