"""Checkpoints: a damaged or foreign file is one line naming it and what to do, never pickle's advice."""

from __future__ import annotations

import pickle

import pytest
import torch

from experiments.model.checkpoint import (
    CHECKPOINT_FORMAT,
    build_model,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)

CFG = {"data": {"channels": 3}, "model": {"base_channels": 4, "norm": "batch", "channels_last": False}}
RUN = {"dataset": "synthetic", "dataset_digest": "ab" * 32, "method": "tghem", "seed": 0, "world_size": 1,
       "amp": "none", "config": CFG, "versions": {"torch": str(torch.__version__)}}


def best_state(**changes) -> dict:
    state = {"format": CHECKPOINT_FORMAT, "kind": "best", "iteration": 4, "model": build_model(CFG).state_dict(),
             "best": {"f1": 0.5, "iteration": 4, "metrics": {"f1": 0.5}}, "run": RUN}
    state.update(changes)
    return state


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "runs" / "x"
    d.mkdir(parents=True)
    save_checkpoint(d / "best.pt", best_state())
    return d


def advice(path) -> str:
    run = path.parent
    tail = "`--checkpoint last` evaluates last.pt instead" if path.name == "best.pt" else "--resume cannot continue from it"
    return (f"delete {run} and run its training command again (`python -m experiments.train ... --out {run}`, "
            f"or `dvc repro` of its stage); {tail}")


def test_a_good_checkpoint_loads_and_builds_its_model(run_dir):
    state = load_checkpoint(run_dir / "best.pt", "best")
    assert state["iteration"] == 4 and state["run"]["dataset_digest"] == "ab" * 32
    model, cfg = model_from_checkpoint(state, torch.device("cpu"), run_dir / "best.pt")
    assert cfg == CFG and not model.training


@pytest.mark.parametrize("damage", ["truncated", "empty", "random", "pickle"])
def test_a_damaged_file_is_one_line_naming_it_and_the_fix(run_dir, damage):
    path = run_dir / "best.pt"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(bytes(range(256)) * 8)
    else:  # an old-style pickle that would run code: weights_only refuses it
        path.write_bytes(pickle.dumps(ValueError("x")))
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    if damage == "empty":
        assert message == f"checkpoint: {path} is damaged (empty, 0 bytes); {advice(path)}"
    else:
        assert message.startswith(f"checkpoint: {path} is damaged (truncated, overwritten, or not a checkpoint of "
                                  f"this project: torch.load raised ")
        assert message.endswith(f"; {advice(path)}")
    assert "\n" not in message and "weights_only" not in message and "pickle" not in message.lower()


@pytest.mark.parametrize("changes, expected", [
    ({"format": 0}, "expected format 1, got 0"),
    ({"kind": "last"}, "kind 'last', expected 'best' (a renamed or copied file?)"),
    ({"iteration": -1}, "iteration -1, expected an int >= 0"),
    ({"model": {"w": [1.0]}}, "'model' is not a state dict of tensors"),
    ({"best": {"f1": float("nan")}}, "best.f1 nan, expected null or a number in [0, 1]"),
    ({"run": {k: v for k, v in RUN.items() if k != "config"}}, "keys ['run.config'] missing or wrong"),
])
def test_content_is_checked(run_dir, changes, expected):
    path = run_dir / "best.pt"
    save_checkpoint(path, best_state(**changes))
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, "best")
    assert str(err.value) == f"checkpoint: {path}: {expected}; {advice(path)}"


def test_a_last_checkpoint_needs_the_resumable_state(run_dir):
    path = run_dir / "last.pt"
    save_checkpoint(path, best_state(kind="last"))
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, "last")
    assert str(err.value) == (f"checkpoint: {path}: keys ['optimizer', 'scheduler', 'scaler', 'rng'] missing or "
                              f"wrong; {advice(path)}")


def test_diverged_weights_and_weights_of_other_settings_are_named(run_dir):
    path = run_dir / "best.pt"
    weights = build_model(CFG).state_dict()
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_checkpoint(path, best_state(model=weights))
    with pytest.raises(ValueError, match=rf"^checkpoint: {path}: weight '{name}' holds NaN or inf \(the training "
                                         rf"diverged\); delete {run_dir} and train it again"):
        load_checkpoint(path)
    other = dict(CFG, model=dict(CFG["model"], base_channels=8))
    save_checkpoint(path, best_state(run=dict(RUN, config=other)))
    with pytest.raises(ValueError) as err:
        model_from_checkpoint(load_checkpoint(path), torch.device("cpu"), path)
    msg = str(err.value)
    assert msg.startswith(f"checkpoint: {path}: its weights do not fit its run settings (Error(s) in loading "
                          f"state_dict for UNet:; size mismatch for ")  # the first mismatch named, shapes and all
    assert "torch.Size([8, " in msg and "\n" not in msg and "\t" not in msg
