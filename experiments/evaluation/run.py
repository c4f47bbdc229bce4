"""Evaluating a trained run on whole images: what ``python -m experiments.evaluate`` runs.

Writes, atomically, into ``EVAL_DIR`` (default ``RUN_DIR/eval/<split>``):

* ``metrics.json``: ``precision``, ``recall``, ``f1`` (micro), their per-image means, ``tp``,
  ``fp``, ``fn``, ``f1_mean_radii`` (mean F1 over r = 1..R), ``mae``, ``rmse``, ``mre``,
  ``game0``..``game3``, ``match_radius``, ``n_images`` and the run's context; ``eval_overrides``
  where the ``eval`` settings differ from those the run trained with
  (:func:`experiments.core.resolution.eval_overrides`); ``training_finished: false`` where a run
  that stopped before the end was evaluated on purpose;
* ``per_image.csv``: ``image_id,n_gt,n_pred,tp,fp,fn,tp_greedy``;
* ``points/<image_id>.csv``: the predicted points, header ``x,y`` (as the prepared points: 4
  decimals, while the scores use the unrounded points).

Nothing in the folder depends on the clock or the machine (the wall time is returned, not
written), so DVC's hash of an evaluation is the same whenever the same model is evaluated.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from ..core.fsutil import NotAnOutputError, json_text, read_json
from ..core.outputs import atomic_dir, check_replaceable
from ..core.prepared import load_split, points_csv_text, read_meta, require_prepared
from ..core.resolution import EVAL_OVERRIDES, eval_overrides
from ..core.runfolder import RUN_MARKER
from ..core.runlock import LOCK_NAME, lock_holder
from ..core.runtime import check_amp, select_device
from ..core.settings import ConfigError, load_params
from ..model.checkpoint import load_checkpoint, model_from_checkpoint
from .inference import check_same_data, eval_settings, evaluate_samples
from .metrics import ImageResult, summarize

CHECKPOINT_CHOICES = ("best", "last")
PER_IMAGE_FIELDS = ("image_id", "n_gt", "n_pred", "tp", "fp", "fn", "tp_greedy")
OUTPUT_ENTRIES = frozenset({"metrics.json", "per_image.csv", "points"})
"""What an evaluation folder holds (besides its marker): how one written before markers is recognised."""
RUN_FILES = ("train.json", "last.pt", "best.pt", LOCK_NAME, RUN_MARKER)


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a training run (any of its files)."""
    return any((folder / name).exists() for name in RUN_FILES)


def check_out(out: Path, run_dir: Path) -> None:
    """Refuse an ``--out`` that would replace a run folder, or write into one elsewhere than its ``eval/``.

    Raises:
        NotAnOutputError: ``out`` is, holds or lies inside a run folder (not under its ``eval/``),
            or is an existing file or folder that is not an evaluation (:func:`check_replaceable`).
    """
    resolved, run = out.resolve(), run_dir.resolve()
    if resolved == run or run.is_relative_to(resolved):
        raise NotAnOutputError(f"--out: {out} is or holds the run {run_dir}; evaluate replaces its --out whole, "
                               f"which would delete the run: omit --out (default {run_dir / 'eval' / 'SPLIT'}) or name a new folder")
    for parent in resolved.parents:
        if is_run_folder(parent) and resolved.relative_to(parent).parts[0] != "eval":
            raise NotAnOutputError(f"--out: {out} lies inside the run folder {parent}; write evaluations "
                                   f"under {parent / 'eval'} (the default) or outside the run")
    check_replaceable(out, "evaluate", "--out", OUTPUT_ENTRIES.__eq__)


TRAINING_FINISHED = "training_finished"
"""The key of ``metrics.json`` that says ``false`` when an unfinished run was evaluated on purpose
(``allow_unfinished``); absent for a finished run, whose ``metrics.json`` is as before."""


def unfinished_reason(run_dir: Path) -> str | None:
    """Why the run in ``run_dir`` has not finished training, or None (finished, or nothing says
    otherwise: a bare checkpoint). ``train.json`` says ``finished: false`` after ``--stop-after``
    and a stop by signal; a run killed outright leaves its lock file and, on its first
    invocation, no ``train.json``."""
    summary_path = run_dir / "train.json"
    if summary_path.is_file():
        summary = read_json(summary_path, f"train.json is rewritten when training ends: run the training of {run_dir} again")
        if isinstance(summary, dict) and summary.get("finished") is False:
            return (f"stopped at iteration {summary.get('iterations')} of {summary.get('total_iterations')} "
                    f"(train.json: finished false)")
        return None
    if (run_dir / LOCK_NAME).exists():
        return f"was stopped while training (its {LOCK_NAME} is left and there is no train.json)"
    return None


def per_image_csv_text(results: list[ImageResult]) -> str:
    """``per_image.csv`` content: header ``image_id,n_gt,n_pred,tp,fp,fn,tp_greedy``, one row per
    image (``tp_greedy``: true positives of the authors' matching,
    :func:`~experiments.evaluation.metrics.greedy_match_count`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PER_IMAGE_FIELDS)
    for r in results:
        writer.writerow([r.image_id, r.n_gt, r.n_pred, r.tp, r.fp, r.fn, r.tp_greedy])
    return buf.getvalue()


def evaluate_run(
    run_dir: str | Path,
    data_dir: str | Path = "data",
    split: str = "test",
    out: str | Path | None = None,
    checkpoint: str = "best",
    params_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    device: str = "auto",
    dataset: str | None = None,
    allow_unfinished: bool = False,
) -> tuple[dict, float]:
    """Evaluate a training run and write ``metrics.json``, ``per_image.csv`` and ``points/``.

    The model's settings come from the run; the ``eval`` section from ``params_path`` plus the
    ``eval.*`` overrides.

    Args:
        run_dir: output folder of ``python -m experiments.train``.
        data_dir: data folder holding ``prepared/<dataset>``.
        split: split to evaluate.
        out: output folder (default ``run_dir/eval/<split>``), replaced atomically; it must be
            missing, empty or a previous evaluation (:func:`check_out`).
        checkpoint: ``'best'`` (best validation F1) or ``'last'``.
        params_path: settings file whose ``eval`` section applies (default: the repository's).
        overrides: ``eval.*`` overrides (``section.key=value``).
        device: one of :data:`experiments.core.runtime.DEVICE_CHOICES`.
        dataset: evaluate on this prepared dataset instead of the run's.
        allow_unfinished: evaluate a run that has not finished training (:func:`unfinished_reason`)
            instead of refusing it; its ``metrics.json`` then says ``"training_finished": false``.

    Returns:
        The content of ``metrics.json``, and the seconds the evaluation took.

    Raises:
        ValueError: unknown checkpoint kind; a damaged checkpoint; a run still being trained, or one
            that stopped before the end (unless ``allow_unfinished``);
            the run's dataset prepared again from other files since (its content digest changed).
        ConfigError: an override outside the ``eval`` section, or a bad setting.
        FileNotFoundError: no such checkpoint, or the dataset is not prepared.
        PermissionError: the output folder cannot be written (the message names it).
        NotAnOutputError: ``out`` is a run folder, lies in one, or is someone else's file or folder.
        OutputError: the disk is full (or another system error) while writing ``out``.
    """
    if checkpoint not in CHECKPOINT_CHOICES:
        raise ValueError(f"checkpoint: expected one of {CHECKPOINT_CHOICES}, got {checkpoint!r}")
    for text in overrides:
        if not text.split("=", 1)[0].strip().startswith("eval."):
            raise ConfigError(f"--set {text!r}: evaluate takes eval.* settings only; the model's come from the run")
    run_dir = Path(run_dir)
    ckpt_path = run_dir / f"{checkpoint}.pt"
    owner = lock_holder(run_dir)
    if owner is not None:
        raise ValueError(
            f"--run: {run_dir} is still being trained (pid {owner.get('pid')} on host {owner.get('host')}; lock file "
            f"{run_dir / LOCK_NAME}); evaluate it when the training has finished"
        )
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"--run: {ckpt_path} does not exist; is {run_dir} the --out of a finished training run?")
    out = Path(out) if out is not None else run_dir / "eval" / split
    check_out(out, run_dir)
    unfinished = unfinished_reason(run_dir)
    if unfinished is not None and not allow_unfinished:
        raise ValueError(f"--run: {run_dir} {unfinished}; continue it (its training command with --resume), or pass "
                         f"--allow-unfinished to evaluate its checkpoint as it is")
    state = load_checkpoint(ckpt_path, checkpoint)
    dev = select_device(device)
    model, cfg = model_from_checkpoint(state, dev, ckpt_path)
    run = state["run"]
    dataset = dataset or run["dataset"]
    used_eval = load_params(params_path, overrides, dataset=dataset)["eval"]
    changed = eval_overrides(cfg.get("eval", {}), used_eval)
    cfg = dict(cfg, eval=used_eval)
    prepared = require_prepared(data_dir, dataset)
    meta = read_meta(prepared)
    check_same_data(run, dataset, meta, prepared, run_dir)
    settings = eval_settings(cfg, meta)
    samples = load_split(prepared, split)
    t0 = time.perf_counter()
    autocast_dtype = check_amp(cfg["eval"]["amp"], dev, "eval.amp")
    results, points = evaluate_samples(model, samples, settings, dev, cfg["model"]["channels_last"], autocast_dtype)
    seconds = time.perf_counter() - t0
    metrics = summarize(results, settings["match_radius"])
    metrics.update(
        dataset=dataset, split=split, method=run["method"], seed=run["seed"], run_dir=str(run_dir),
        checkpoint=checkpoint, iteration=state["iteration"], tile_size=settings["tile"],
        tile_overlap=settings["overlap"], centroid_mode=settings["centroid_mode"], amp=cfg["eval"]["amp"],
    )
    if changed:
        metrics[EVAL_OVERRIDES] = changed
    if unfinished is not None:
        metrics[TRAINING_FINISHED] = False
    with atomic_dir(out, "evaluate", "--out", OUTPUT_ENTRIES.__eq__) as tmp:
        (tmp / "points").mkdir()
        for r, p in zip(results, points):
            (tmp / "points" / f"{r.image_id}.csv").write_bytes(points_csv_text(p).encode())
        (tmp / "per_image.csv").write_bytes(per_image_csv_text(results).encode())
        (tmp / "metrics.json").write_bytes(json_text(metrics).encode())
    return metrics, seconds
