"""Training under faults (issue 21): pre-emption signals, a resume in another environment, a
non-finite loss, leftovers of a killed write."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch

from experiments import train
from experiments.core import runtime
from experiments.model.checkpoint import load_checkpoint
from experiments.training import loop, methods, stopping
from tests.helpers.tiny_run import TINY, tiny_data_dir

TRACKED = ("best.pt", "last.pt", "train.json", "val.csv", "log.csv", "crops.csv")


def argv(out, *extra):
    args = ["--dataset", "synthetic", "--method", "tghem", "--seed", "0", "--data-dir", str(tiny_data_dir()),
            "--out", str(out), "--quiet", *extra]
    for item in TINY:
        args += ["--set", item]
    return args


def signal_at(monkeypatch, iteration, signum):
    """Make the process receive ``signum`` while it computes ``iteration`` (0-based)."""
    step = loop.Trainer.step

    def stepping(self, net, it):
        if it == iteration:
            os.kill(os.getpid(), signum)
        return step(self, net, it)

    monkeypatch.setattr(loop.Trainer, "step", stepping)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert train.main(argv(out)) == 0
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_the_resume_is_bitwise(full, tmp_path, monkeypatch, capsys, signum):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        signal_at(m, 2, signum)
        assert train.main(argv(out)) == 128 + signum
    err = capsys.readouterr().err
    name = signal.Signals(signum).name
    assert err == (f"interrupted: {name}: training stopped at iteration 3 of 6, {out / 'last.pt'} saved; continue "
                   f"with --resume (bitwise the uninterrupted run)\n")
    assert load_checkpoint(out / "last.pt")["iteration"] == 3  # nothing lost (checkpoint_every is 2)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert train.main(argv(out, "--resume")) == 0
    for name in TRACKED:
        assert (out / name).read_bytes() == (full / name).read_bytes(), name


def test_train_json_records_the_determinism_environment(full):
    env = json.loads((full / "train.json").read_text())["environment"]
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(env["cpu_flags"]) <= set(runtime.ISA_FLAGS) and " / " in env["cpu_kind"]
    assert set(env) == {"torch_threads", "cpu_model", "cpu_kind", "cpu_capability", "cpu_flags"}  # no host/time/pid
    assert json.loads((full / "environment.json").read_text())["cpu_kind"] == env["cpu_kind"]
    assert load_checkpoint(full / "last.pt")["run"]["environment"] == env


def test_resume_under_another_thread_count_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(argv(out, "--stop-after", "2")) == 0
    threads = torch.get_num_threads()
    before = (out / "last.pt").read_bytes()
    torch.set_num_threads(threads + 1)
    try:
        with pytest.raises(SystemExit) as code:
            train.run_stage(lambda: train.main(argv(out, "--resume")))
    finally:
        torch.set_num_threads(threads)
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --resume: last.pt was trained in another environment (torch_threads: {threads} "
                          f"in last.pt, {threads + 1} now); the resumed run would not be bitwise equal")
    assert err.count("\n") == 1 and f"resume with OMP_NUM_THREADS={threads}" in err
    assert (out / "last.pt").read_bytes() == before


def test_cpu_kind():
    assert runtime.cpu_kind("Intel(R) Xeon(R) Platinum 8480+", {"amx_bf16", "avx512f"}) == "Intel Xeon / AMX-BF16"
    assert runtime.cpu_kind(None, set()) == "unknown CPU / no AVX2"


def test_a_non_finite_loss_stops_at_once_naming_iteration_weights_and_d(tmp_path, monkeypatch):
    forward = methods.MethodLoss.forward
    calls = []

    def overflowing(self, logits, mask, dots):
        loss = forward(self, logits, mask, dots)
        calls.append(1)
        if len(calls) == 2:
            self.last_stats["loss"] = math.inf
            self.last_crops[0]["weight"] = math.inf
            return loss * math.inf
        return loss

    monkeypatch.setattr(methods.MethodLoss, "forward", overflowing)
    out = tmp_path / "run"
    with pytest.raises(stopping.NonFiniteLossError, match=r"^iteration 2: the tghem loss is inf \(pixel term [0-9.]+\); "
                                                      r"crop weights \[inf, [0-9.]+\], D \[[0-9.]+, [0-9.]+\]"):
        train.main(argv(out))
    assert not (out / "last.pt").exists()


def test_a_diverged_network_stops_naming_the_iteration_not_the_loss_input(tmp_path, capsys):
    """lr = 1e30 overflows the weights at the first step: the next forward pass is not finite. The
    loss's own input check would say "pred_logits must be finite" without the iteration."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as code:
        from experiments.core.cli import run_stage
        run_stage(lambda: train.main(argv(out, "--set", "train.lr=1e30", "--set", "train.val_every=0")))
    assert code.value.code == 1
    assert capsys.readouterr().err == ("error: iteration 2: the network's output holds NaN or infinite values, before "
                                       "the tghem loss: the training diverged (or its weights overflowed); lower "
                                       "train.lr and train anew\n")
    assert not (out / "last.pt").exists()


def test_leftovers_in_the_run_folder_are_removed_at_start(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    leftover = out / f".last.pt.{2 ** 22 - 1}-abcdefgh.tmp"
    leftover.write_bytes(b"half a checkpoint")
    assert train.main(argv(out, "--stop-after", "1")) == 0
    assert not leftover.exists()


def test_ctrl_c_while_a_stage_starts_is_one_line():
    import subprocess
    import sys

    from tests.helpers.paths import ROOT

    p = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.argv[0] = '-m'; import experiments; "
                          "print('ready', flush=True); time.sleep(30)"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err == "interrupted (SIGINT) while starting; nothing was written\n"
