"""Training end to end on a tiny synthetic set: outputs, determinism to the byte, exact resume, CLI errors."""

import numpy as np
import csv
import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch

from experiments import evaluate, train
from experiments.evaluation.run import evaluate_run
from experiments.model.checkpoint import load_checkpoint
from pipelines.stages import RUN_FILES
from tests.helpers.tiny_run import ROOT, TINY, tiny_data_dir

TRACKED = RUN_FILES
"""The files of a run that DVC hashes (the training stages' outs, as the pipeline generator declares them)."""


def run_train(out, method="tghem", seed=0, extra=(), args=()):
    argv = ["--dataset", "synthetic", "--method", method, "--seed", str(seed), "--data-dir", str(tiny_data_dir()),
            "--out", str(out), "--quiet", *args]
    for item in [*TINY, *extra]:
        argv += ["--set", item]
    assert train.main(argv) == 0
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Uninterrupted tghem run, its repeat, an interrupted + resumed one, and another seed."""
    base = tmp_path_factory.mktemp("runs")
    full = run_train(base / "full")
    again = run_train(base / "again")
    resumed = run_train(base / "resumed", args=["--stop-after", "3"])
    interrupted_log = read_csv(resumed / "log.csv")
    interrupted_iteration = load_checkpoint(resumed / "last.pt")["iteration"]
    run_train(resumed, args=["--resume"])
    other = run_train(base / "seed1", seed=1)
    return {"full": full, "again": again, "resumed": resumed, "other": other,
            "interrupted_log": interrupted_log, "interrupted_iteration": interrupted_iteration}


def test_outputs_of_a_run(runs):
    out = runs["full"]
    log = read_csv(out / "log.csv")
    assert list(log[0]) == ["iteration", "loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean",
                            "count_error_mean", "lr"]
    assert [int(r["iteration"]) for r in log] == [1, 2, 3, 4, 5, 6]
    for r in log:
        loss, seg, w_mean, w_max, d = (float(r[k]) for k in ("loss", "seg_loss", "weight_mean", "weight_max", "discrepancy_mean"))
        assert w_max >= w_mean >= 1.0 and d >= 0
        assert w_mean == pytest.approx(1 + 0.5 * d)  # lambda_pers = 0.5: w_k = 1 + lambda D_k
        assert seg > 0 and loss >= seg * 0.999  # weights >= 1
    assert float(log[0]["lr"]) == pytest.approx(1e-3)
    assert float(log[5]["lr"]) == pytest.approx(1e-3 * (1 - 5 / 6) ** 0.9)
    val = read_csv(out / "val.csv")
    assert [int(r["iteration"]) for r in val] == [3, 6]
    summary = json.loads((out / "train.json").read_text())
    assert summary["iterations"] == 6 and summary["finished"]
    # Nothing of the clock, the machine or the commit in a tracked file: those go to the untracked files.
    for key in ("it_per_s", "wall_seconds", "train_seconds", "git_commit", "platform", "resumed_from"):
        assert key not in json.dumps(summary)
    environment = json.loads((out / "environment.json").read_text())
    assert environment["it_per_s"] > 0 and environment["train_seconds"] > 0 and environment["git_commit"]
    assert environment["train_json_sha256"] == hashlib.sha256((out / "train.json").read_bytes()).hexdigest()
    timing = read_csv(out / "timing.csv")
    assert [int(r["iteration"]) for r in timing] == [1, 2, 3, 4, 5, 6]
    assert sum(float(r["seconds"]) for r in timing) == pytest.approx(environment["train_seconds"], abs=1e-3)
    assert summary["best_val_f1"] == max(float(r["f1"]) for r in val)
    assert summary["versions"]["packages"]["torch"] == torch.__version__
    assert summary["versions"]["packages"]["numpy"]
    assert summary["config"]["train"]["iterations"] == 6 and summary["config"]["model"]["base_channels"] == 4
    last = load_checkpoint(out / "last.pt")
    assert last["iteration"] == 6 and last["run"]["method"] == "tghem"
    assert set(last["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert {"model", "optimizer", "scheduler", "scaler", "best"} <= set(last) and "train_seconds" not in last
    assert set(last["run"]["versions"]) == {"python", "packages", "cuda", "cudnn"}  # no host, no commit
    best = load_checkpoint(out / "best.pt")
    assert best["iteration"] == summary["best_iteration"] and best["best"]["f1"] == summary["best_val_f1"]


def test_settings_json_records_the_settings_resolved_against_the_dataset(runs):
    """settings.json: train.json's settings with the values left to the dataset taken from its meta.json."""
    record = json.loads((runs["full"] / "settings.json").read_text())
    config = json.loads((runs["full"] / "train.json").read_text())["config"]
    meta = json.loads((tiny_data_dir() / "prepared" / "synthetic" / "meta.json").read_text())
    assert config["data"]["mask_radius"] is None and config["eval"]["match_radius"] is None  # the study's defaults
    assert config["eval"]["mean_f1_max_radius"] is None and config["eval"]["tile_size"] is None
    expected = json.loads(json.dumps(config))
    expected["data"]["mask_radius"] = meta["mask_radius"]
    expected["eval"].update(match_radius=meta["match_radius"], mean_f1_max_radius=int(meta["match_radius"]),
                            tile_size=config["train"]["crop_size"])
    assert record == {"dataset": "synthetic", "settings": expected,
                      "from_dataset": ["data.mask_radius", "eval.match_radius", "eval.mean_f1_max_radius", "eval.tile_size"]}
    assert (meta["mask_radius"], meta["match_radius"], expected["eval"]["tile_size"]) == (3, 5.0, 32)
    # Its validation matched at the radius it records.
    assert load_checkpoint(runs["full"] / "best.pt")["best"]["metrics"]["match_radius"] == expected["eval"]["match_radius"]


def test_same_seed_same_bytes_in_every_tracked_file(runs):
    """Two runs of the same settings write what DVC hashes byte for byte (a stable dvc.lock)."""
    for name in TRACKED:
        assert (runs["full"] / name).read_bytes() == (runs["again"] / name).read_bytes(), name
    assert (runs["full"] / "timing.csv").read_bytes() != (runs["again"] / "timing.csv").read_bytes()


def test_same_seed_same_weights_other_seed_other_weights(runs):
    a = load_checkpoint(runs["full"] / "last.pt")["model"]
    b = load_checkpoint(runs["again"] / "last.pt")["model"]
    c = load_checkpoint(runs["other"] / "last.pt")["model"]
    assert same_state(a, b)
    assert not same_state(a, c)
    la, lb = read_csv(runs["full"] / "log.csv"), read_csv(runs["again"] / "log.csv")
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    assert read_csv(runs["full"] / "val.csv") == read_csv(runs["again"] / "val.csv")


def test_interrupted_then_resumed_equals_uninterrupted(runs):
    assert runs["interrupted_iteration"] == 3 and len(runs["interrupted_log"]) == 3
    full = load_checkpoint(runs["full"] / "last.pt")
    resumed = load_checkpoint(runs["resumed"] / "last.pt")
    assert same_state(full["model"], resumed["model"])  # bitwise
    fo, ro = full["optimizer"]["state"], resumed["optimizer"]["state"]
    assert fo.keys() == ro.keys() and all(same_state(fo[k], ro[k]) for k in fo)
    assert full["scheduler"] == resumed["scheduler"]
    # A resumed run writes the same tracked bytes as an uninterrupted one, checkpoints included.
    for name in TRACKED:
        assert (runs["resumed"] / name).read_bytes() == (runs["full"] / name).read_bytes(), name
    environment = json.loads((runs["resumed"] / "environment.json").read_text())
    assert environment["resumed_from"] == 3 and environment["iterations_this_invocation"] == 3
    assert [int(r["iteration"]) for r in read_csv(runs["resumed"] / "timing.csv")] == [1, 2, 3, 4, 5, 6]


def test_evaluate_a_run(runs, tmp_path):
    out = tmp_path / "eval"
    assert evaluate.main(["--run", str(runs["full"]), "--data-dir", str(tiny_data_dir()), "--out", str(out), "--quiet",
                          "--set", "eval.batch_size=4"]) == 0  # the run's own eval settings (TINY)
    m = json.loads((out / "metrics.json").read_text())
    for key in ("precision", "recall", "f1", "mae", "rmse", "match_radius", "n_images", "game3", "f1_mean_radii"):
        assert key in m
    assert m["n_images"] == 2 and m["match_radius"] == 5.0 and m["split"] == "test"
    assert "eval_overrides" not in m  # the eval settings the run trained with: its settings.json holds them
    rows = read_csv(out / "per_image.csv")
    assert list(rows[0]) == ["image_id", "n_gt", "n_pred", "tp", "fp", "fn", "tp_greedy"]
    assert sum(int(r["tp"]) for r in rows) == m["tp"] and sum(int(r["n_pred"]) for r in rows) == m["n_pred"]
    for r in rows:
        points = (out / "points" / f"{r['image_id']}.csv").read_text().splitlines()
        assert points[0] == "x,y" and len(points) - 1 == int(r["n_pred"])
        assert int(r["tp"]) + int(r["fp"]) == int(r["n_pred"]) and int(r["tp"]) + int(r["fn"]) == int(r["n_gt"])
    errors = [int(r["n_pred"]) - int(r["n_gt"]) for r in rows]
    assert m["mae"] == pytest.approx(sum(map(abs, errors)) / 2)
    assert m["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 2))


def test_validation_in_training_equals_the_evaluation_stage(runs, tmp_path):
    # The last validation row (iteration 6) is last.pt's model on the val split.
    out = tmp_path / "val"
    evaluate_run(runs["full"], tiny_data_dir(), "val", out, checkpoint="last", overrides=["eval.batch_size=4"])
    m = json.loads((out / "metrics.json").read_text())
    assert "eval_overrides" not in m  # the run's own eval settings, as its validation
    last_val = read_csv(runs["full"] / "val.csv")[-1]
    assert m["f1"] == pytest.approx(float(last_val["f1"]), abs=1e-12)
    assert m["mae"] == pytest.approx(float(last_val["mae"]), abs=1e-12)


def test_an_evaluation_records_the_eval_settings_it_used_in_place_of_the_runs(runs, tmp_path, capsys):
    def evaluated(name, *settings):
        argv = ["--run", str(runs["full"]), "--data-dir", str(tiny_data_dir()), "--out", str(tmp_path / name)]
        assert evaluate.main(argv + [arg for item in settings for arg in ("--set", item)]) == 0
        return json.loads((tmp_path / name / "metrics.json").read_text()), capsys.readouterr().out

    own, said = evaluated("own", "eval.batch_size=4")  # the run trained (and validated) with TINY's batch size 4
    other, said_other = evaluated("other", "eval.batch_size=4", "eval.threshold=0.95", "eval.tile_overlap=0.25")
    default, _ = evaluated("default")
    assert "eval settings other than" not in said
    assert said_other.splitlines()[-1] == ("  with eval settings other than the run trained with: eval.threshold=0.95 "
                                           "(metrics.json: eval_overrides)")
    # Only the values that differ from the run's own (tile_overlap 0.25 is the run's too), and they took effect.
    assert "eval_overrides" not in own
    assert other.pop("eval_overrides") == {"threshold": 0.95} and other["n_pred"] < own["n_pred"]
    assert default.pop("eval_overrides") == {"batch_size": 8}
    assert json.loads((runs["full"] / "settings.json").read_text())["settings"]["eval"]["batch_size"] == 4
    assert set(own) == set(other) == set(default)


@pytest.mark.parametrize("method", ["ohem", "focal", "cldice", "dice_bce"])
def test_every_baseline_trains(method, tmp_path):
    out = run_train(tmp_path / method, method=method, extra=["train.iterations=2", "train.val_every=0"])
    log = read_csv(out / "log.csv")
    assert len(log) == 2 and all(r["weight_mean"] == "1.0" and r["discrepancy_mean"] == "" for r in log)
    assert all(float(r["loss"]) == float(r["seg_loss"]) > 0 for r in log)
    summary = json.loads((out / "train.json").read_text())
    assert summary["best_val_f1"] is None and summary["best_iteration"] == 2  # no validation: best.pt = final
    assert load_checkpoint(out / "best.pt")["iteration"] == 2


def test_best_checkpoint_ties_go_to_the_later_iteration(tmp_path, monkeypatch):
    """Validation F1 tied (here 0 at every validation, a run that never detects): best.pt is the last one."""
    from experiments.training import loop

    validate = loop.Trainer.validate

    def never_detects(self, net):
        return {**validate(self, net), "f1": 0.0}

    monkeypatch.setattr(loop.Trainer, "validate", never_detects)
    out = run_train(tmp_path / "tied", extra=["train.iterations=2", "train.val_every=1", "train.checkpoint_every=2"])
    summary = json.loads((out / "train.json").read_text())
    assert [r["f1"] for r in read_csv(out / "val.csv")] == ["0.0", "0.0"]
    assert summary["best_val_f1"] == 0.0 and summary["best_iteration"] == 2
    assert load_checkpoint(out / "best.pt")["iteration"] == 2


def test_cli_errors(tmp_path, capsys):
    data = str(tiny_data_dir())
    base = ["--dataset", "synthetic", "--method", "tghem", "--data-dir", data, "--quiet"]
    with pytest.raises(SystemExit) as e:
        train.main([*base, "--out", str(tmp_path / "a"), "--set", "train.iteratons=5"])
    assert e.value.code == 2
    assert "unknown key; did you mean 'train.iterations'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main([*base, "--out", str(tmp_path / "a"), "--set", "train.crop_size=40"])
    assert "train.crop_size: expected an int in [16, 4096], a multiple of 16, got 40" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main([*base, "--out", str(tmp_path / "a"), "--method", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    # Out-of-range numbers are usage errors too (exit 2), as every other bad argument.
    for option, value, expected in (("--seed", "-1", "an int in [0, 4294967295]"), ("--seed", "4294967296", "an int in [0, 4294967295]"),
                                    ("--stop-after", "0", "an int >= 1"), ("--stop-after", "x", "an int >= 1")):
        with pytest.raises(SystemExit) as e:
            train.main([*base, "--out", str(tmp_path / "a"), option, value])
        assert e.value.code == 2
        assert capsys.readouterr().err.endswith(f"error: argument {option}: expected {expected}, got '{value}'\n")
    assert not (tmp_path / "a").exists()
    with pytest.raises(FileNotFoundError, match="run `python -m experiments.prepare --dataset vgg_cells"):
        train.main([*base[:-1], "--dataset", "vgg_cells", "--out", str(tmp_path / "a")])
    with pytest.raises(FileNotFoundError, match="--resume: .*last.pt does not exist"):
        train.main([*base, "--out", str(tmp_path / "a"), "--resume"])
    with pytest.raises(ValueError, match="train.amp: fp16 autocast is offered on CUDA GPUs, but the device is cpu; use bf16 or none"):
        train.main([*base, "--out", str(tmp_path / "a"), "--amp", "fp16", "--device", "cpu", *sum((["--set", s] for s in TINY), [])])
    assert not (tmp_path / "a").exists()
    with pytest.raises(FileNotFoundError, match="best.pt does not exist"):
        evaluate.main(["--run", str(tmp_path / "nothing"), "--data-dir", data])


def test_cli_refuses_to_overwrite_or_to_resume_a_different_run(runs, tmp_path, capsys):
    data = str(tiny_data_dir())
    base = ["--dataset", "synthetic", "--method", "tghem", "--data-dir", data, "--quiet"]
    with pytest.raises(ValueError, match="already holds a run"):
        train.main([*base, "--out", str(runs["full"])])
    with pytest.raises(ValueError, match="train.lr: 0.001 in last.pt, 0.01 now"):
        train.main([*base, "--out", str(runs["full"]), "--resume", *sum((["--set", s] for s in TINY), []),
                    "--set", "train.lr=0.01"])
    with pytest.raises(SystemExit):
        evaluate.main(["--run", str(runs["full"]), "--data-dir", data, "--set", "train.crop_size=64"])
    assert "evaluate takes eval.* settings only" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["experiments.train", "experiments.evaluate", "benchmarks.train"])
def test_help(module):
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: python -m {module}")
    if module == "experiments.train":
        for key in ("train.iterations", "train.crops_per_image", "train.crop_size", "model.base_channels",
                    "tghem.lambda_pers", "ohem.min_kept", "ohem.thresh", "torchrun"):
            assert key in out.stdout


def test_error_exit_status_from_the_command_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", "--run", str(tmp_path), "--data-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 1 and out.stderr.startswith("error: --run:") and "best.pt does not exist" in out.stderr


def test_crops_log_has_every_crop_of_every_iteration(runs):
    out = runs["full"]
    crops = read_csv(out / "crops.csv")
    log = read_csv(out / "log.csv")
    assert list(crops[0]) == ["iteration", "crop", "n_gt", "n_pred", "discrepancy", "weight"]
    per_iteration = {}
    for row in crops:
        per_iteration.setdefault(int(row["iteration"]), []).append(row)
    assert sorted(per_iteration) == [1, 2, 3, 4, 5, 6]
    for r in log:
        rows = per_iteration[int(r["iteration"])]
        weights = [float(c["weight"]) for c in rows]
        errors = [abs(int(c["n_pred"]) - int(c["n_gt"])) for c in rows]
        assert np.mean(weights) == pytest.approx(float(r["weight_mean"]), rel=1e-6)
        assert np.mean(errors) == pytest.approx(float(r["count_error_mean"]))
        assert weights == pytest.approx([1 + 0.5 * float(c["discrepancy"]) for c in rows], rel=1e-6)


def test_the_warm_up_trains_on_the_pixel_term_then_applies_the_weights(tmp_path):
    # tghem.warmup = 0.5 of 6 iterations: steps 1-3 all weights 1 (D still logged), then 1 + lambda D.
    out = run_train(tmp_path / "warm", extra=["tghem.warmup=0.5"])
    by_iteration = {}
    for row in read_csv(out / "crops.csv"):
        by_iteration.setdefault(int(row["iteration"]), []).append((float(row["discrepancy"]), float(row["weight"])))
    assert sorted(by_iteration) == [1, 2, 3, 4, 5, 6]
    for it, rows in by_iteration.items():
        expected = [1.0 if it <= 3 else 1 + 0.5 * d for d, _ in rows]
        assert [w for _, w in rows] == pytest.approx(expected, rel=1e-6), it
    assert any(d > 0 for it in (1, 2, 3) for d, _ in by_iteration[it])  # D is computed during the warm-up
