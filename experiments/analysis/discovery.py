"""Finding the study's runs from their own records, not from the pipeline file.

Every evaluation writes a ``metrics.json`` naming its dataset, method, seed, split and training
folder (``run_dir``); every training writes a ``train.json`` holding the settings it trained with
(``config``); every oracle writes a ``metrics.json`` naming its dataset and the target it scored
(``target``: radius and gap). The study's settings file says which runs the study needs
(:class:`~experiments.analysis.study.Study`): each dataset x method x seed of the main comparison
with the file's settings for that dataset, and each ablation value x seed with the swept setting
set to that value, every other setting as for the ablation's dataset. So a run is *found* when an
evaluation of the test split below the folders searched names a training whose recorded settings
equal the ones the study gives it, and evaluated it with those settings (an evaluation that read
other ``eval`` settings than its run's records them, under
:data:`~experiments.core.resolution.EVAL_OVERRIDES`, and is not the study's run: validation
chose the run's checkpoint with the run's own); an ablation is named by the one setting in which
it differs.

What the pipeline calls its stages is used only in the message that says how to make a missing
run (``dvc repro train@synthetic-tghem-0``, run in the study's folder), by the naming rule of DVC's
matrices (:func:`experiments.analysis.study.stage_name`). Every record below the folders searched is
read (a damaged one is an error naming it); those that fit no run the study defines (a run of an
earlier study, a validation-split evaluation) are not used. Two
records with the same settings are the same experiment (an ablation value equal to the main one):
either fills the row, and they must agree, else it is an error naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..core.fsutil import read_json
from ..core.prepared import read_meta, require_prepared
from ..core.resolution import EVAL_OVERRIDES, ORACLE_SCORING, resolve_eval
from ..core.settings import PARAMS_PATH, apply_overrides, flatten, resolve
from ..core.targets import target_rule
from .study import ABLATIONS, BASELINE_REFERENCE, Study, format_value, stage_name

SPLIT = "test"
"""The split the study's tables score."""


@dataclass(frozen=True)
class StageHint:
    """A pipeline stage that makes a missing or damaged folder, for messages.

    Attributes:
        stage: the stage's name.
        study: the folder of the study's pipeline, where ``dvc repro`` finds it; '' for the
            default study's, at the repository root.
    """

    stage: str
    study: str = ""

    def how_to_make(self) -> str:
        """What to run to make the stage's output."""
        return f"`dvc repro {self.stage}`" + (f" in {self.study}" if self.study else "")


@dataclass(frozen=True)
class Wanted:
    """One run the study defines.

    Attributes:
        group: ``'main'`` or ``'ablation'``.
        dataset, method, seed: what is trained.
        setting, value: the ablation's name and its value as the settings file gives it (ablation
            runs), else None.
        config: every setting of the run, flattened (``{"train.iterations": 300, ...}``).
    """

    group: str
    dataset: str
    method: str
    seed: int
    setting: str | None
    value: Any
    config: dict

    def stages(self, study: str = "") -> tuple[StageHint, StageHint]:
        """The training and evaluation stages that make the run (``study``: its pipeline's folder, or '')."""
        if self.group == "main":
            values: tuple = (self.dataset, self.method, self.seed)
            groups = ("train", "evaluate")
        else:
            values, groups = (self.value, self.seed), (f"train_{self.setting}", f"evaluate_{self.setting}")
        return tuple(StageHint(stage_name(g, *values), study) for g in groups)  # type: ignore[return-value]

    def describe(self) -> str:
        what = f"{self.dataset}/{self.method}/seed {self.seed}"
        return what if self.group == "main" else f"{what} with {ABLATIONS[self.setting]}={format_value(self.value)}"


@dataclass(frozen=True)
class Located:
    """The folders of one wanted run, its evaluation's ``metrics.json`` (as read), and the stages that
    make them (for messages)."""

    wanted: Wanted
    train_dir: Path
    eval_dir: Path
    training: StageHint
    evaluation: StageHint
    metrics: dict


@dataclass(frozen=True)
class Records:
    """Every ``metrics.json`` below the folders searched, each read once: the evaluations' and the
    oracles' (:func:`read_records`).

    Attributes:
        folders: the folders searched, for messages.
        documents: ``(folder of the file, its parsed content)``, in path order.
    """

    folders: tuple[Path, ...]
    documents: list[tuple[Path, Any]]

    def where(self) -> str:
        return ", ".join(str(f) for f in self.folders)


def training_fix(train_dir: Path, training: StageHint) -> str:
    """What to do about a damaged file of a training run: train it again (by hand, in an empty folder)."""
    return f"train the run again: {training.how_to_make()} (by hand, delete {train_dir} first)"


def evaluation_fix(evaluation: StageHint) -> str:
    """What to do about a damaged file of an evaluation: evaluate again (it replaces the folder)."""
    return f"evaluate again: {evaluation.how_to_make()}"


def study_folder(params_path: str | Path | None) -> str:
    """Where ``dvc repro`` finds the stages of the study of ``params_path`` (a study's pipeline lies
    beside its settings): '' for the repository's ``params.yaml``, else the file's folder."""
    if params_path is None or Path(params_path).resolve() == PARAMS_PATH:
        return ""
    return Path(params_path).parent.as_posix()


def ablation_settings(cfg: dict, name: str, value: Any) -> dict:
    """The settings of ablation ``name`` at ``value``: ``cfg`` with the swept setting set, as the
    ablation's command sets it (``--set``)."""
    return apply_overrides(cfg, [f"{ABLATIONS[name]}={format_value(value)}"])


def wanted_runs(study: Study, params: dict, raw: Any, source: str = "params") -> list[Wanted]:
    """Every run of the study with its full settings: main runs in matrix order, then ablation by ablation.

    Args:
        study: the study's matrix.
        params: the validated settings of the study's file.
        raw: the parsed file (its per-dataset values).
    """
    per_dataset = {d: resolve(params, raw, d, source) for d in {*study.datasets, study.ablation_dataset}}
    runs = [Wanted("main", d, m, s, None, None, flatten(per_dataset[d])) for d, m, s in study.main_runs()]
    for name, value, seed in study.ablation_runs():
        cfg = ablation_settings(per_dataset[study.ablation_dataset], name, value)
        runs.append(Wanted("ablation", study.ablation_dataset, BASELINE_REFERENCE, seed, name, value, flatten(cfg)))
    return runs


def read_records(folders: Sequence[Path]) -> Records:
    """Every ``metrics.json`` below ``folders`` (searched recursively), read once.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: a file is damaged (the message names it and the folder to make again).
    """
    files: set[Path] = set()
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"--evals: {folder} is not a folder; name the folders the study's evaluations write")
        files.update(folder.rglob("metrics.json"))
    fix = "evaluate again (`dvc repro` the stage whose output is {}), or move it away if no stage of the study writes it"
    return Records(tuple(folders), [(path.parent, read_json(path, fix.format(path.parent))) for path in sorted(files)])


def _recorded(config: Any) -> dict | None:
    """A ``train.json``'s ``config`` flattened like :func:`experiments.core.settings.flatten`, None if not sections."""
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        return None
    return {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}


def _overridden(metrics: dict) -> dict:
    """An evaluation's :data:`~experiments.core.resolution.EVAL_OVERRIDES`, flattened (``{"eval.threshold": 0.4}``)."""
    overrides = metrics.get(EVAL_OVERRIDES, {})
    if not isinstance(overrides, dict):
        return {f"eval.{EVAL_OVERRIDES}": overrides}
    return {f"eval.{key}": value for key, value in overrides.items()}


def _difference(recorded: dict | None, expected: dict) -> str:
    if recorded is None:
        return "no settings recorded"
    keys = [k for k in expected if recorded.get(k, ...) != expected[k]] + sorted(set(recorded) - set(expected))
    return ", ".join(f"{k}={recorded.get(k, '(absent)')!r} (the study: {expected.get(k, '(absent)')!r})" for k in keys[:4])


def _mismatch(eval_dir: Path, trained: dict | None, overridden: dict, expected: dict) -> str:
    """Why the evaluation in ``eval_dir`` is not the wanted run's: how its training's settings differ
    from the study's, else which ``eval`` settings it used in place of its run's."""
    if trained != expected:
        return f"{eval_dir} was trained with {_difference(trained, expected)}"
    return f"{eval_dir} was evaluated with {_difference(overridden, {k: expected.get(k, '(absent)') for k in overridden})}"


def locate_runs(wanted: Sequence[Wanted], records: Records, root: Path, study: str = "") -> list[Located]:
    """The training and evaluation folders of every wanted run, from the evaluations' records.

    Args:
        wanted: the runs (:func:`wanted_runs`).
        records: the records below the folders holding the study's evaluations (:func:`read_records`).
        root: the folder the records' ``run_dir`` is relative to (where the commands ran).
        study: the folder of the study's pipeline, for messages (:func:`study_folder`).

    Raises:
        FileNotFoundError: a wanted run has no evaluation (the first such run is named, with the
            stages that make it, and what the closest record differs in).
        ValueError: two records of the same settings disagree.
    """
    by_identity: dict[tuple, list[tuple[Path, dict]]] = {}
    identities = {(w.dataset, w.method, w.seed) for w in wanted}
    for folder, doc in records.documents:
        if not isinstance(doc, dict) or doc.get("split") != SPLIT or "run_dir" not in doc:
            continue
        key = (doc.get("dataset"), doc.get("method"), doc.get("seed"))
        if key in identities:
            by_identity.setdefault(key, []).append((folder, doc))
    settings: dict[Path, dict | None] = {}
    damaged: dict[Path, str] = {}

    def trained(run_dir: Path) -> dict | None:
        if run_dir not in settings:
            summary: Any = {}
            if (run_dir / "train.json").is_file():
                try:
                    summary = read_json(run_dir / "train.json", "")
                except ValueError as err:
                    damaged[run_dir] = str(err).rstrip("; ")
            settings[run_dir] = _recorded(summary.get("config") if isinstance(summary, dict) else None)
        return settings[run_dir]

    located, missing = [], []
    for w in wanted:
        training, evaluation = w.stages(study)
        candidates = by_identity.get((w.dataset, w.method, w.seed), [])
        fits = [(d, doc) for d, doc in candidates if trained(root / doc["run_dir"]) == w.config and not _overridden(doc)]
        if not fits:
            missing.append((w, training, evaluation, candidates))
            continue
        eval_dir, doc = fits[0]
        for other_dir, other in fits[1:]:
            if {k: v for k, v in other.items() if k != "run_dir"} != {k: v for k, v in doc.items() if k != "run_dir"}:
                raise ValueError(f"{eval_dir} and {other_dir} evaluate runs of the same settings ({w.describe()}) but "
                                 f"their metrics.json differ; delete the one that is not this study's")
        train_dir = root / doc["run_dir"]
        located.append(Located(w, train_dir, eval_dir, training, evaluation, doc))
    if missing:
        w, training, evaluation, candidates = missing[0]
        for _, doc in candidates:
            if root / doc["run_dir"] in damaged:
                raise ValueError(f"{damaged[root / doc['run_dir']]}; {training_fix(root / doc['run_dir'], training)}")
        closest = "; ".join(_mismatch(d, trained(root / doc["run_dir"]), _overridden(doc), w.config) for d, doc in candidates[:2])
        raise FileNotFoundError(
            f"no evaluation of {w.describe()} below {records.where()}"
            f"{' (' + closest + ')' if closest else ''}; make it with {training.how_to_make()} and "
            f"{evaluation.how_to_make()}" + (f" ({len(missing) - 1} more runs missing)" if len(missing) > 1 else ""))
    return located


def _scoring(cfg: dict, meta: dict) -> dict:
    """What the oracle stage records of its scoring (:data:`~experiments.core.resolution.ORACLE_SCORING`),
    by the rule its evaluation settings come from."""
    settings = resolve_eval(cfg, meta)
    return {key: settings[key] for key in ORACLE_SCORING}


def oracle_targets(study: Study, params: dict, raw: Any, data_dir: Path,
                   source: str = "params") -> list[tuple[str, str, dict, str, dict]]:
    """The targets the study's oracle rows score: ``(dataset, label, target, stage, scoring)``, label
    ``study`` for each dataset's training target, ``<ablation>=<value>`` for each ablation value that
    changes the target (a ``data.*`` setting); ``stage`` the pipeline's name of the stage that scores
    it; ``scoring`` the study's :data:`~experiments.core.resolution.ORACLE_SCORING` settings for
    the dataset."""
    out = []
    metas = {d: read_meta(require_prepared(data_dir, d)) for d in {*study.datasets, study.ablation_dataset}}
    for d in study.datasets:
        cfg = resolve(params, raw, d, source)
        out.append((d, "study", target_rule(cfg, metas[d]), stage_name("oracle", d), _scoring(cfg, metas[d])))
    base = resolve(params, raw, study.ablation_dataset, source)
    for name, values in study.ablation.items():
        if ABLATIONS[name].startswith("data."):
            for v in values:
                cfg = ablation_settings(base, name, v)
                meta = metas[study.ablation_dataset]
                out.append((study.ablation_dataset, f"{name}={format_value(v)}", target_rule(cfg, meta),
                            stage_name(f"oracle_{name}", v), _scoring(cfg, meta)))
    return out


def locate_oracles(targets: Iterable[tuple[str, str, dict, str, dict]], records: Records,
                   study: str = "") -> list[tuple[str, str, Path]]:
    """The oracle record of each target: ``(dataset, label, metrics.json)``; a record fits when its
    dataset, target and scoring settings are the study's (a record of before the scoring was
    recorded fits on its target alone).

    Raises:
        FileNotFoundError: a target has no oracle record (named, with the stage that makes it).
        ValueError: two records fit one target but their contents differ (both named).
    """
    oracles = [(folder / "metrics.json", doc) for folder, doc in records.documents
               if isinstance(doc, dict) and isinstance(doc.get("target"), dict)]
    out = []
    for dataset, label, target, stage, scoring in targets:
        hits = [(p, doc) for p, doc in oracles
                if doc.get("dataset") == dataset and doc["target"].get("radius") == target["radius"]
                and doc["target"].get("gap") == target["gap"] and all(doc.get(k, v) == v for k, v in scoring.items())]
        if not hits:
            scored = ", ".join(f"{k} {v}" for k, v in scoring.items())
            raise FileNotFoundError(
                f"no oracle of {dataset} with the target radius {target['radius']}, gap {target['gap']} ({label}), "
                f"scored with {scored}, below {records.where()}; make it with {StageHint(stage, study).how_to_make()}")
        for other, doc in hits[1:]:
            if doc != hits[0][1]:
                raise ValueError(f"{hits[0][0]} and {other} are oracles of the same target and scoring ({dataset}, {label}) "
                                 f"but differ; delete the one that is not this study's")
        out.append((dataset, label, hits[0][0]))
    return out
