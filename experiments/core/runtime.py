"""Run environment: device choice, seeding, RNG states and the software versions of a run."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
AMP_CHOICES = ("none", "bf16", "fp16")
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
RECORDED_PACKAGES = (
    "torch", "numpy", "scipy", "opencv-python-headless", "gudhi", "pot", "tqdm", "PyYAML", "pillow", "tghem",
)


def mps_available() -> bool:
    """Whether Apple's Metal backend can be used."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """The device of a run: ``'auto'`` picks CUDA, then MPS, then the CPU.

    Args:
        preference: one of :data:`DEVICE_CHOICES`.
        local_rank: GPU index of this process on its machine (torchrun's ``LOCAL_RANK``).

    Raises:
        ValueError: unknown preference, or the requested device is not available.
    """
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device: expected one of {DEVICE_CHOICES}, got {preference!r}")
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: 'cuda' requested but torch.cuda.is_available() is False")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"device: local rank {local_rank} needs GPU {local_rank}, only {torch.cuda.device_count()} visible")
        return torch.device("cuda", local_rank)
    if preference == "mps":
        if not mps_available():
            raise ValueError("device: 'mps' requested but the MPS backend is not available")
        return torch.device("mps")
    return torch.device("cpu")


def check_amp(amp: str, device: torch.device, key: str = "amp") -> torch.dtype | None:
    """Autocast dtype of an ``amp`` setting (None for ``'none'``) on ``device``.

    ``'bf16'`` runs on CUDA and on the CPU (fast where the CPU has AMX-BF16 or AVX512-BF16
    units, e.g. ``lscpu | grep amx``); ``'fp16'`` is offered on CUDA only (with a gradient
    scaler in training).

    Args:
        amp: one of :data:`AMP_CHOICES`.
        device: where the network runs.
        key: the setting's name, for the error message (``train.amp``, ``eval.amp``).

    Raises:
        ValueError: unknown choice, or a dtype the device does not offer.
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"{key}: expected one of {AMP_CHOICES}, got {amp!r}")
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"{key}: fp16 autocast is offered on CUDA GPUs, but the device is {device.type}; use bf16 or none")
    if amp == "bf16" and device.type not in ("cuda", "cpu"):
        raise ValueError(f"{key}: bf16 autocast is offered on CUDA and the CPU, but the device is {device.type}; use none")
    return AMP_DTYPES[amp]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` on ``device`` with ``dtype``, or a no-op context for None (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (every device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_determinism(device: torch.device, deterministic: bool) -> None:
    """On CUDA, select deterministic kernels (cuDNN without autotuning, deterministic cuBLAS).

    The CPU kernels used here are deterministic for a fixed number of threads, so nothing is
    changed there. ``warn_only`` keeps an op without a deterministic CUDA kernel usable.
    """
    if device.type != "cuda" or not deterministic:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def rng_states() -> dict:
    """Every global RNG state (Python, NumPy, torch CPU and CUDA), in a form ``torch.load(weights_only=True)`` reads."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict) -> None:
    """Restore the states captured by :func:`rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict:
    """The software a result depends on: Python, the packages, CUDA and cuDNN.

    The same for every run in one environment, so it may go into files whose hash must not
    change between two runs of the same settings (checkpoints, ``train.json``).
    """
    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    packages["torch"] = str(torch.__version__)
    packages["numpy"] = str(np.__version__)
    return {
        "python": sys.version.split()[0],
        "packages": packages,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


ISA_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
"""The /proc/cpuinfo flags that choose torch's CPU kernels for bf16 and float32 (their presence
changes which kernel runs, hence the last bits of a result)."""


def _cpuinfo() -> tuple[str | None, set[str]]:
    """The CPU's model name and flags (Linux's /proc/cpuinfo; elsewhere ``platform.processor()``, no flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def cpu_kind(model: str | None, flags: set[str]) -> str:
    """A short name of the kind of CPU: the model's first two words without trademarks, and the
    best bf16-relevant instruction set, e.g. ``"Intel Xeon / AMX-BF16"``.

    Example:
        >>> cpu_kind("Intel(R) Xeon(R) Platinum 8480+", {"avx2", "avx512f", "amx_bf16"})
        'Intel Xeon / AMX-BF16'
        >>> cpu_kind("AMD EPYC 7763 64-Core Processor", {"avx2"})
        'AMD EPYC / AVX2'
    """
    words = (model or "unknown CPU").replace("(R)", "").replace("(TM)", "").replace("(tm)", "").split()
    isa = next((name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"),
                                        ("avx512f", "AVX512"), ("avx2", "AVX2")) if flag in flags), "no AVX2")
    return f"{' '.join(words[:2])} / {isa}"


def determinism_environment(device: torch.device | None = None) -> dict:
    """What decides the last bits of a run besides its settings and software: torch's thread
    count, the CPU (model, kind, torch's kernel capability, the bf16-relevant ISA flags) and,
    on CUDA, the GPU's name.

    The same on every machine of one CPU model run with the same thread count, with no host
    name, time or pid: it goes into DVC-hashed files (``train.json``, checkpoints), which are
    therefore byte for byte the same on one CPU model, though the weights already agree on one
    kind (two models of a kind differ in ``cpu_model`` only). A resumed run compares all but the
    model (:data:`experiments.training.resume.RESUME_ENVIRONMENT`).
    """
    model, flags = _cpuinfo()
    env = {
        "torch_threads": torch.get_num_threads(),
        "cpu_model": model,
        "cpu_kind": cpu_kind(model, flags),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": sorted(f for f in ISA_FLAGS if f in flags),
    }
    if device is not None and device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def host_environment() -> dict:
    """Where and with which code a run ran: platform, host, torch threads and the git commit.

    These differ between machines and commits without changing the settings, so they go only
    into files that no DVC hash covers (a run's ``environment.json``).
    """
    return {
        "platform": platform.platform(),
        "host": platform.node(),
        "torch_threads": torch.get_num_threads(),
        "cpu_kind": cpu_kind(*_cpuinfo()),
        "git_commit": _git_commit(),
    }


def software_versions() -> dict:
    """:func:`package_versions` and :func:`host_environment` together (for benchmark reports)."""
    return {**package_versions(), **host_environment()}
