"""A two-process DistributedDataParallel run (gloo on CPU) through torchrun, as a user starts it."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from experiments.core.prepared import load_split
from experiments.core.runtime import seed_everything
from experiments.core.settings import load_params
from experiments.evaluation.run import evaluate_run
from experiments.model.checkpoint import load_checkpoint
from experiments.model.unet import UNet
from experiments.training.crops import CropSampler
from experiments.training.methods import build_method
from tests.helpers.tiny_run import ROOT, TINY, tiny_data_dir

pytestmark = pytest.mark.slow

# float32 NCHW, as the replay below runs: it compares weights to float rounding, and bf16 rounds a batch of both
# ranks' crops differently from two halves (bf16 runs are deterministic, not batch-invariant).
DDP_SETTINGS = ["model.norm=group", "train.amp=none", "eval.amp=none", "model.channels_last=false"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "experiments.train", "--dataset", "synthetic", "--method", "tghem", "--seed", "3",
           "--data-dir", str(tiny_data_dir()), "--out", str(out), "--device", "cpu"]
    for item in [*TINY, *DDP_SETTINGS]:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_two_process_run_completes_with_rank_zero_outputs(ddp_run):
    out, done = ddp_run
    summary = json.loads((out / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["finished"] and summary["iterations"] == 6
    assert summary["crops_per_iteration"] == 4  # 2 crops per rank
    log = read_csv(out / "log.csv")
    assert [int(r["iteration"]) for r in log] == [1, 2, 3, 4, 5, 6]  # one writer: each row once
    assert all(float(r["weight_max"]) >= float(r["weight_mean"]) >= 1 for r in log)
    last = load_checkpoint(out / "last.pt")
    assert last["run"]["world_size"] == 2 and last["iteration"] == 6
    assert not any(k.startswith("module.") for k in last["model"])  # the bare network, loadable anywhere
    assert done.stdout.count("6/6 iterations") == 1  # only rank 0 reports


def test_gathered_validation_equals_single_process_evaluation(ddp_run, tmp_path):
    # Each rank validated one of the two val images; the gathered F1 at the last iteration must
    # be the F1 of last.pt evaluated on the whole val split by one process.
    out, _ = ddp_run
    m, _ = evaluate_run(out, tiny_data_dir(), "val", tmp_path / "val", checkpoint="last",
                        overrides=["eval.batch_size=4", "eval.amp=none"])  # as the run validated (DDP_SETTINGS)
    last_val = read_csv(out / "val.csv")[-1]
    assert int(last_val["iteration"]) == 6 and int(last_val["n_images"]) == 2 == m["n_images"]
    assert m["f1"] == pytest.approx(float(last_val["f1"]), abs=1e-12)
    assert m["mae"] == pytest.approx(float(last_val["mae"]), abs=1e-12)


def test_ddp_equals_one_process_training_on_both_ranks_crops(ddp_run):
    # With GroupNorm (no statistics across crops) and per-crop losses, averaging two ranks'
    # gradients is training on the union of their crops. Replaying that in one process checks
    # that each rank drew its own crops (rank r's batch_at) and that gradients, the learning-rate
    # schedule and the logged, gathered losses are right.
    out, _ = ddp_run
    cfg = load_params(overrides=[*TINY, *DDP_SETTINGS])
    t = cfg["train"]
    seed_everything(3)
    model = UNet(in_channels=3, base_channels=4, norm="group")
    criterion = build_method("tghem", cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=t["iterations"], power=t["poly_power"])
    sampler = CropSampler(t["crop_size"], t["crops_per_image"], radius=3, gap=cfg["data"]["mask_gap"], channels=3, seed=3)
    samples = load_split(tiny_data_dir() / "prepared" / "synthetic", "train")
    losses = []
    for it in range(t["iterations"]):
        parts = [sampler.batch_at(samples, it, rank, 2).tensors() for rank in range(2)]
        image, mask, dots = (torch.cat(x) for x in zip(*parts))
        loss = criterion(model(image), mask, dots)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    ddp = load_checkpoint(out / "last.pt")["model"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5)
    logged = [float(r["loss"]) for r in read_csv(out / "log.csv")]
    assert logged == pytest.approx(losses, rel=1e-5)
