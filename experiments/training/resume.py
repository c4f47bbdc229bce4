"""What a resumed run must share with the checkpoint it continues, for the result to equal an
uninterrupted run's bit for bit: the run's identity, every setting, the prepared data and the
determinism environment (:func:`experiments.core.runtime.determinism_environment`)."""

from __future__ import annotations

from ..core.settings import flatten

RESUME_IDENTITY = ("dataset", "method", "seed", "world_size")
"""What a checkpoint must share with the run that resumes it (besides every setting)."""
RESUME_ENVIRONMENT = ("torch_threads", "cpu_kind", "cpu_capability", "cpu_flags", "gpu")
"""What of :func:`~experiments.core.runtime.determinism_environment` a resumed run must share
with its checkpoint for the result to equal an uninterrupted run's bit for bit."""


def check_resumable(state: dict, run: dict) -> None:
    """Refuse to resume a checkpoint of a different run (other settings, seed, method, or data).

    Raises:
        ValueError: what differs, with both values (for the data: both content digests).
    """
    saved = state["run"]
    recorded = saved.get("dataset_digest")
    if recorded is not None and saved["dataset"] == run["dataset"] and recorded != run.get("dataset_digest"):
        raise ValueError(
            f"--resume: last.pt was trained on the prepared dataset {run['dataset']!r} with content digest "
            f"{recorded}, but it now has {run.get('dataset_digest')} (prepared again from other files); resume "
            f"needs the data the run started on: prepare that again, or train anew in another --out"
        )
    diffs = [k for k in RESUME_IDENTITY if saved[k] != run[k]]
    a, b = flatten(saved["config"]), flatten(run["config"])
    diffs += [k for k in a if a[k] != b[k]]
    if diffs:
        detail = ", ".join(
            f"{k}: {a[k] if k in a else saved[k]!r} in last.pt, {b[k] if k in b else run[k]!r} now" for k in diffs
        )
        raise ValueError(f"--resume: last.pt belongs to a different run ({detail}); resume with the same settings")
    before, now = saved.get("environment"), run.get("environment")
    if before is None or now is None:  # checkpoints from before environments were recorded
        return
    changed = [k for k in RESUME_ENVIRONMENT if before.get(k) != now.get(k)]
    if changed:
        detail = ", ".join(f"{k}: {before.get(k)!r} in last.pt, {now.get(k)!r} now" for k in changed)
        raise ValueError(
            f"--resume: last.pt was trained in another environment ({detail}); the resumed run would not be "
            f"bitwise equal to an uninterrupted one: resume with OMP_NUM_THREADS={before.get('torch_threads')} on "
            f"a {before.get('cpu_kind')} machine, or train anew in another --out")
