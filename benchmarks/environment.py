"""What every benchmark records beside its figures: the machine, the threads and the software.

A timing means something only with the machine that made it, so each benchmark prints
:func:`environment_line` first and writes :func:`benchmark_environment` into its JSON.

Example:
    >>> env = benchmark_environment()
    >>> sorted(k for k in ("cpu_kind", "cpu_model", "torch_threads", "packages") if k in env)
    ['cpu_kind', 'cpu_model', 'packages', 'torch_threads']
    >>> environment_line(env).startswith("CPU ")
    True
"""

from __future__ import annotations

import os
from importlib import metadata

from experiments.core.runtime import determinism_environment, software_versions

EXTRA_PACKAGES = ("numba", "giotto-ph")
"""Packages the topology's speed depends on that runs do not record (:data:`experiments.core.runtime.RECORDED_PACKAGES`)."""


def benchmark_environment() -> dict:
    """:func:`~experiments.core.runtime.software_versions` with the CPU model, its bf16 flags and
    :data:`EXTRA_PACKAGES` added."""
    env = software_versions()
    cpu = determinism_environment()
    env.update(cpu_model=cpu["cpu_model"], cpu_flags=cpu["cpu_flags"], cpu_count=os.cpu_count())
    for name in EXTRA_PACKAGES:
        try:
            env["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env["packages"][name] = None
    return env


def environment_line(env: dict) -> str:
    """One line of :func:`benchmark_environment`: CPU, threads and the versions that move timings."""
    p = env["packages"]
    versions = ", ".join(f"{name} {p.get(name)}" for name in ("torch", "numba", "gudhi", "giotto-ph") if p.get(name))
    return (f"CPU {env['cpu_model']} ({env['cpu_kind']}), {env['cpu_count']} CPU(s), {env['torch_threads']} torch "
            f"threads; python {env['python']}, {versions}")
