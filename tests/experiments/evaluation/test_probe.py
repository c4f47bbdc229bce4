"""The probe tool (``python -m experiments.probe``): what a run's network outputs at the dots and elsewhere."""

import math

import numpy as np
import pytest
import torch

from experiments import evaluate, probe, train
from experiments.core.prepared import load_split, read_meta
from experiments.data.preparation import prepare
from experiments.data.synthetic import SyntheticConfig
from experiments.core.runtime import check_amp
from experiments.evaluation.inference import eval_settings, evaluate_samples
from experiments.evaluation.metrics import summarize
from experiments.model.checkpoint import model_from_checkpoint
from experiments.model.checkpoint import load_checkpoint, save_checkpoint
from tests.helpers.errors import one_line_error
from tests.helpers.tiny_run import TINY, tiny_data_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "run"
    argv = ["--dataset", "synthetic", "--method", "ohem", "--seed", "0", "--data-dir", str(tiny_data_dir()),
            "--out", str(out), "--quiet"]
    for item in TINY:
        argv += ["--set", item]
    assert train.main(argv) == 0
    return out


def constant_run(run, folder, bias):
    """A copy of ``run`` whose network outputs the logit ``bias`` at every pixel (zero head weights)."""
    state = load_checkpoint(run / "last.pt")
    state["model"]["head.weight"] = torch.zeros_like(state["model"]["head.weight"])
    state["model"]["head.bias"] = torch.full_like(state["model"]["head.bias"], bias)
    folder.mkdir()
    save_checkpoint(folder / "last.pt", state)
    return folder


def test_summary_closed_form():
    maps = [np.array([[0.1, 0.3], [0.3, 0.7]]), np.array([[0.5, 0.2]])]
    s = probe.summarize_probabilities(maps, [np.array([0.7]), np.array([0.5, 0.2])])
    assert s["pixels"]["n"] == 6 and s["pixels"]["max"] == 0.7
    assert s["pixels"]["mean"] == round((0.1 + 0.3 + 0.3 + 0.7 + 0.5 + 0.2) / 6, 4)
    assert s["pixels"]["share_at_least_0.5"] == round(2 / 6, 4)
    assert s["dots"]["n"] == 3 and s["dots"]["mean"] == round(1.4 / 3, 4) and s["dots"]["q50"] == 0.5
    assert s["dot_to_image_mean_ratio"] == round((1.4 / 3) / (2.1 / 6), 4)
    assert s["per_image_max"] == [0.7, 0.5]
    empty = probe.summarize_probabilities([np.zeros((2, 2))], [np.zeros(0)])
    assert empty["dots"] == {"n": 0} and empty["dot_to_image_mean_ratio"] is None


@pytest.mark.parametrize("bias", [-1.0, 0.25])
def test_a_constant_network_is_flat_and_does_not_tell_dots_apart(run, tmp_path, bias):
    doc = probe.probe_run(constant_run(run, tmp_path / "const", bias), tiny_data_dir(), "val")
    value = round(float(torch.sigmoid(torch.tensor(bias))), 4)
    samples = load_split(tiny_data_dir() / "prepared" / "synthetic", "val")
    assert doc["images"] == len(samples) == 2
    assert doc["pixels"]["n"] == sum(math.prod(s.image.shape[:2]) for s in samples)
    assert doc["dots"]["n"] == sum(len(s.points) for s in samples)
    for name in ("pixels", "dots"):
        assert doc[name]["max"] == doc[name]["mean"] == doc[name]["q99"] == value
        assert doc[name]["share_at_least_0.5"] == (1.0 if bias >= 0 else 0.0)
    assert doc["dot_to_image_mean_ratio"] == 1.0
    assert doc["per_image_max"] == [value, value]


def test_a_trained_run_and_the_command_line(run, capsys):
    doc = probe.probe_run(run, tiny_data_dir(), "test", checkpoint="best", images=1)
    assert doc["images"] == 1 and doc["method"] == "ohem" and doc["dataset"] == "synthetic"
    assert 0.0 <= doc["pixels"]["q50"] <= doc["pixels"]["q90"] <= doc["pixels"]["q99"] <= doc["pixels"]["max"] <= 1.0
    assert probe.main([str(run), "--data-dir", str(tiny_data_dir()), "--images", "1"]) == 0
    printed = capsys.readouterr().out
    assert "1 val images" in printed and "mean at the dots / mean of the image" in printed
    assert "map >=" not in printed
    assert probe.main([str(run), "--data-dir", str(tiny_data_dir()), "--images", "1", "--thresholds", "0.25", "0.5"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "map >=" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["map >= 0.25", "map >= 0.5"]


def test_threshold_one_half_scores_exactly_what_evaluation_scores(run):
    doc = probe.probe_run(run, tiny_data_dir(), "val", thresholds=(0.5, 0.3))
    state = load_checkpoint(run / "last.pt")
    model, cfg = model_from_checkpoint(state, torch.device("cpu"), run / "last.pt")
    prepared = tiny_data_dir() / "prepared" / "synthetic"
    settings = eval_settings(cfg, read_meta(prepared))
    autocast = check_amp(cfg["eval"]["amp"], torch.device("cpu"), "eval.amp")
    results, _ = evaluate_samples(model, load_split(prepared, "val"), settings, torch.device("cpu"),
                                  cfg["model"]["channels_last"], autocast)
    expected = summarize(results, settings["match_radius"])
    at_half, at_lower = doc["thresholds"]
    assert at_half == {"threshold": 0.5, **{k: expected[k] for k in probe.THRESHOLD_SCORES}}
    assert at_lower["threshold"] == 0.3 and 0.0 <= at_lower["f1"] <= 1.0


@pytest.mark.parametrize("bias", [-1.0, 0.25])
def test_a_constant_map_detects_one_blob_per_image_below_its_value_and_nothing_above(run, tmp_path, bias):
    value = float(torch.sigmoid(torch.tensor(bias)))
    doc = probe.probe_run(constant_run(run, tmp_path / "const", bias), tiny_data_dir(), "val",
                          thresholds=(value - 0.01, value + 0.01))
    samples = load_split(tiny_data_dir() / "prepared" / "synthetic", "val")
    n_gt = [len(s.points) for s in samples]
    below, above = doc["thresholds"]
    # Above the constant: no point, so recall 0, F1 0 and the count error is the ground-truth count.
    assert above["f1"] == 0.0 and above["recall"] == 0.0 and above["mae"] == pytest.approx(np.mean(n_gt))
    # Below it: the whole image is one blob, one point per image.
    assert below["mae"] == pytest.approx(np.mean([abs(n - 1) for n in n_gt]))


def test_errors(run, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="last.pt does not exist"):
        probe.probe_run(tmp_path, tiny_data_dir())
    with pytest.raises(ValueError, match="images: expected a positive int or None, got 0"):
        probe.probe_run(run, tiny_data_dir(), images=0)
    # Usage errors (exit 2) before the checkpoint is read: a split, an image count or a threshold that cannot be.
    for argv, message in ((["--checkpoint", "middle"], "argument --checkpoint: invalid choice: 'middle'"),
                          (["--split", "foo"], "argument --split: invalid choice: 'foo' (choose from 'train', 'val', "
                                               "'test', 'unused', 'all')"),
                          (["--images", "0"], "argument --images: expected an int >= 1, got '0'"),
                          (["--thresholds", "0.3", "1.5"], "argument --thresholds: expected a probability strictly "
                                                           "between 0 and 1, got '1.5'"),
                          (["--thresholds", "x"], "argument --thresholds: expected a probability strictly between 0 "
                                                  "and 1, got 'x'")):
        with pytest.raises(SystemExit) as exit_info:
            probe.main([str(tmp_path / "no-run"), *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    for bad in (0.0, 1.0, -0.2, True, "0.5"):
        with pytest.raises(ValueError, match=rf"thresholds: expected probabilities strictly between 0 and 1, got {bad!r}"):
            probe.probe_run(run, tiny_data_dir(), thresholds=(0.5, bad))


def test_eval_threshold_binarises_as_the_probe_does_at_that_threshold(run):
    """eval.threshold (validation and evaluation) scores what the probe scores at that threshold."""
    doc = probe.probe_run(run, tiny_data_dir(), "val", thresholds=(0.3, 0.7))
    state = load_checkpoint(run / "last.pt")
    model, cfg = model_from_checkpoint(state, torch.device("cpu"), run / "last.pt")
    prepared = tiny_data_dir() / "prepared" / "synthetic"
    autocast = check_amp(cfg["eval"]["amp"], torch.device("cpu"), "eval.amp")
    scores = []
    for row in doc["thresholds"]:
        settings = eval_settings({**cfg, "eval": {**cfg["eval"], "threshold": row["threshold"]}}, read_meta(prepared))
        assert settings["threshold"] == row["threshold"]
        results, _ = evaluate_samples(model, load_split(prepared, "val"), settings, torch.device("cpu"),
                                      cfg["model"]["channels_last"], autocast)
        expected = summarize(results, settings["match_radius"])
        assert row == {"threshold": row["threshold"], **{k: expected[k] for k in probe.THRESHOLD_SCORES}}
        scores.append(expected["n_pred"])
    assert scores[0] != scores[1]  # the two thresholds see different blobs on this run


def test_evaluation_reads_the_dataset_s_own_settings(run, tmp_path):
    """A params file's per_dataset entry of the evaluated dataset applies, as --set does; another's does not."""
    import yaml
    from experiments.core.settings import PARAMS_PATH
    from experiments.evaluation.run import evaluate_run

    raw = yaml.safe_load(PARAMS_PATH.read_text())
    raw["per_dataset"] = {"synthetic": {"eval": {"threshold": 0.3}}, "other": {"eval": {"threshold": 0.9}}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    by_file, _ = evaluate_run(run, tiny_data_dir(), "val", tmp_path / "file", params_path=path)
    by_set, _ = evaluate_run(run, tiny_data_dir(), "val", tmp_path / "set", overrides=["eval.threshold=0.3"])
    default, _ = evaluate_run(run, tiny_data_dir(), "val", tmp_path / "default")
    assert by_file == {**by_set, "run_dir": by_file["run_dir"]}
    assert (by_file["n_pred"], by_file["f1"]) != (default["n_pred"], default["f1"])


def test_data_prepared_again_from_other_files_is_refused_as_evaluation_refuses_it(run, tmp_path, capsys):
    other = tmp_path / "data"
    cfg = SyntheticConfig(num_train=3, num_val=2, num_test=2, image_size=(64, 64), count_range=(10, 20), cluster_spread=8.0)
    prepare("synthetic", other, synthetic=cfg, seed=5, quiet=True)  # the same name and sizes, other images
    prepared = other / "prepared" / "synthetic"
    before, after = load_checkpoint(run / "last.pt")["run"]["dataset_digest"], read_meta(prepared)["content_digest"]
    assert before == read_meta(tiny_data_dir() / "prepared" / "synthetic")["content_digest"] != after
    message = one_line_error(lambda: probe.main([str(run), "--data-dir", str(other), "--thresholds", "0.5"]), capsys)
    assert message == (
        f"RUN_DIR: {run} was trained on the prepared dataset 'synthetic' with content digest {before}, but {prepared} "
        f"now has {after} (prepared again from other files); probing it there would mix two data sets: train the run "
        f"again on this data, or prepare the data it was trained on")
    evaluated = one_line_error(lambda: evaluate.main(["--run", str(run), "--data-dir", str(other), "--out",
                                                      str(tmp_path / "eval")]), capsys)
    assert evaluated == message.replace("RUN_DIR:", "--run:").replace("probing it", "evaluating it")


@pytest.mark.parametrize("extra", [[], ["--thresholds", "0.5"], ["--json"]])
def test_a_split_without_images_is_named(run, capsys, extra):
    prepared = tiny_data_dir() / "prepared" / "synthetic"
    assert read_meta(prepared)["counts"]["unused"]["images"] == 0
    message = one_line_error(lambda: probe.main([str(run), "--data-dir", str(tiny_data_dir()), "--split", "unused", *extra]),
                             capsys)
    assert message == (f"--split unused: the prepared dataset 'synthetic' ({prepared}) has no unused images; "
                       f"probe a split that has some")
