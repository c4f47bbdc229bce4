"""A study's ``dvc.yaml``, built from its settings: one template per kind of stage.

Stages (``${...}`` are DVC's matrices over the study's lists, so ``dvc exp run -S`` of a list
redraws them): ``prepare`` and ``oracle`` per dataset, ``oracle_<ablation>`` per value of an
ablation that changes the training target (a ``data.*`` setting), ``train`` and ``evaluate`` per
dataset x method x seed, ``train_<ablation>`` and ``evaluate_<ablation>`` per value x seed of each
ablation the study sweeps (one template, the swept setting set by ``--set``), ``aggregate`` and
``report``.

Dependencies: each stage depends on its entry point and the whole subpackages its command imports
(:data:`CODE`; ``tests/experiments/test_pipeline_deps.py`` walks the imports), and on the settings
it reads, each declared from the file that writes it (:func:`declare`): a study's own file for what
it changes, the base it ``extends`` for the rest, so an edit of either reruns exactly the stages
that read the setting. Training declares every section (a DVC matrix cannot vary its params per
item, and ``train.json``, an output, records them all); an ablation's training too, without the
swept setting, which its command sets.
"""

from __future__ import annotations

from typing import Any

from experiments.analysis.study import ABLATIONS, BASELINE_REFERENCE, Study
from experiments.core.resolution import SETTINGS_FILE
from experiments.core.settings import PER_DATASET, SCHEMA

from .layout import Layout

ENTRY = ["experiments/__init__.py"]
CODE = {
    "prepare": ["experiments/prepare.py", "experiments/core", "experiments/data", "tghem"],
    "oracle": ["experiments/oracle.py", "experiments/core", "experiments/model", "experiments/evaluation", "tghem"],
    "train": ["experiments/train.py", "experiments/core", "experiments/model", "experiments/evaluation",
              "experiments/training", "tghem", "baselines"],
    "evaluate": ["experiments/evaluate.py", "experiments/core", "experiments/model", "experiments/evaluation", "tghem"],
    "aggregate": ["experiments/aggregate.py", "experiments/core", "experiments/evaluation", "experiments/analysis", "tghem"],
    "report": ["experiments/report.py", "experiments/core", "experiments/analysis", "tghem"],
}
"""The code each kind of stage runs: its entry point and the subpackages it imports."""

AGGREGATE_SETTINGS = ("train.crop_size", "train.iterations", "tghem.lambda_pers", "tghem.topo_epsilon",
                      "tghem.topo_reduction", "tghem.centroid_mode", "tghem.top_dimension", "tghem.topo_backend")
"""Settings the aggregation reads itself (the schedule, the lambda selection, the qualitative
example's TopoGuide), besides the main value of every swept setting."""
RUN_FILES = ("best.pt", "last.pt", "train.json", SETTINGS_FILE, "val.csv", "log.csv", "crops.csv")
"""What a training writes that DVC tracks (timing.csv and environment.json vary between runs)."""
AGGREGATE_FILES = ("runs.csv", "per_image.csv", "comparison.csv", "qualitative.json", "val_curves.csv", "curves.csv",
                   "oracle.csv", "metrics.json")
REPORT_INPUTS = ("metrics.json", "runs.csv", "curves.csv", "qualitative.json", "val_curves.csv")
SECTIONS = tuple(dict.fromkeys(key.split(".", 1)[0] for key in SCHEMA))


def _keys(section: str) -> list[str]:
    return [key for key in SCHEMA if key.split(".", 1)[0] == section]


def declare(settings: list[str], layout: Layout, own: dict, base_file: str | None) -> list:
    """DVC ``params`` of a stage reading ``settings`` (sections or ``section.key``), each from the file
    that writes it: study-level keys and what the study's file changes from its own file, the
    rest from its base (when it ``extends`` one); a section the study changes in part is split
    key by key.

    Example:
        >>> from pipelines.layout import layout
        >>> declare(["study.threads", "train", "eval"], layout("studies/x"), {"train": {"iterations": 9}}, "params.yaml")
        [{'studies/x/params.yaml': ['study.threads', 'train']}, {'params.yaml': ['train.crops_per_image', \
'train.crop_size', 'train.flips', 'train.rot90', 'train.lr', 'train.weight_decay', 'train.poly_power', 'train.val_every', \
'train.checkpoint_every', 'train.deterministic', 'train.amp', 'eval']}]
    """
    mine, inherited = [], []
    for item in settings:
        section, _, key = item.partition(".")
        if base_file is None or section in ("study", "ablation", PER_DATASET):
            mine.append(item)
        elif key:
            (mine if key in own.get(section, {}) else inherited).append(item)
        elif section in own:
            mine.append(item)
            inherited += [k for k in _keys(section) if k.split(".", 1)[1] not in own[section]]
        else:
            inherited.append(item)
    if layout.is_default and base_file is None:
        return mine
    return [entry for entry in ({layout.params_file: mine}, {base_file: inherited}) if next(iter(entry.values()))]


class StudyPipeline:
    """The stages of one study.

    Args:
        study: the study's matrix.
        layout: its folders.
        raw: its parsed settings (merged with the base).
        own: the settings sections its own file writes.
        base_file: the base it ``extends``, relative to the repository root, or None.
    """

    def __init__(self, study: Study, layout: Layout, raw: dict, own: dict, base_file: str | None) -> None:
        self.study, self.layout, self.raw, self.own, self.base_file = study, layout, raw, own, base_file
        self.per_dataset = PER_DATASET in raw

    # ------------------------------------------------------------------ helpers
    def _params(self, settings: list[str], dataset: str | None = None) -> list:
        if self.per_dataset and dataset is not None:
            settings = [*settings, f"{PER_DATASET}.{dataset}"]
        return declare(settings, self.layout, self.own, self.base_file)

    def _stage(self, kind: str, cmd: str, deps: list[str], params: list | None, outs: list, **extra) -> dict:
        stage: dict[str, Any] = dict(extra)
        if self.layout.wdir:
            stage["wdir"] = self.layout.wdir
        stage["cmd"] = cmd
        stage["deps"] = [*deps, *ENTRY, *CODE[kind]]
        if params:
            stage["params"] = params
        stage["outs"] = outs
        return stage

    def _train_cmd(self, dataset: str, method: str, seed: str, out: str, overrides: str = "") -> str:
        return (f"OMP_NUM_THREADS=${{study.threads}} ${{study.launcher}} -m experiments.train {self.layout.params_option}"
                f"--dataset {dataset} --method {method} --seed {seed} {overrides}--data-dir {self.layout.under('data')} --out {out}")

    def _evaluate_cmd(self, run: str, out: str) -> str:
        return (f"OMP_NUM_THREADS=${{study.threads}} python -m experiments.evaluate {self.layout.params_option}"
                f"--run {run} --data-dir {self.layout.under('data')} --out {out}")

    def _target_ablations(self) -> list[str]:
        return [name for name in self.study.ablation if ABLATIONS[name].startswith("data.")]

    # ------------------------------------------------------------------ stages
    def prepare(self) -> dict:
        data = self.layout.under("data")
        if "prepare" in self.raw["study"]:  # per-dataset arguments: ${key} is the dataset, ${item} its arguments
            name, over, args = "${key}", "${study.prepare}", " ${item}"
        else:
            name, over, args = "${item}", "${study.datasets}", ""
        cmd = f"python -m experiments.prepare --dataset {name}{args} --data-dir {data} --quiet"
        return {"foreach": over, "do": self._stage("prepare", cmd, [], None, [f"{data}/prepared/{name}"])}

    def oracle(self, name: str | None = None) -> dict:
        data, evals = self.layout.under("data"), self.layout.under("evals")
        if name is None:
            dataset, over, folder, override, settings = "${item}", "${study.datasets}", "oracle", "", ["data", "eval"]
        else:
            key = ABLATIONS[name]
            dataset, over, folder = "${ablation.dataset}", f"${{ablation.{name}}}", f"oracle_{name}"
            override, settings = f"--set {key}=${{item}} ", [k for k in _keys("data") if k != key] + ["eval"]
        cmd = (f"python -m experiments.oracle {self.layout.params_option}--dataset {dataset} {override}--data-dir {data} "
               f"--out {evals}/{folder}/${{item}} --quiet")
        return {"foreach": over, "do": self._stage("oracle", cmd, [f"{data}/prepared/{dataset}"],
                                                    self._params(settings, dataset), [f"{evals}/{folder}/${{item}}"])}

    def train(self) -> dict:
        run = f"{self.layout.under('runs')}/main/${{item.dataset}}/${{item.method}}/seed${{item.seed}}"
        cmd = self._train_cmd("${item.dataset}", "${item.method}", "${item.seed}", run)
        return self._stage("train", cmd, [f"{self.layout.under('data')}/prepared/${{item.dataset}}"],
                           self._params(["study.threads", *SECTIONS], "${item.dataset}"), [f"{run}/{f}" for f in RUN_FILES],
                           matrix={"dataset": "${study.datasets}", "method": "${study.methods}", "seed": "${study.seeds}"})

    def evaluate(self) -> dict:
        tail = "main/${item.dataset}/${item.method}/seed${item.seed}"
        run, out = f"{self.layout.under('runs')}/{tail}", f"{self.layout.under('evals')}/{tail}"
        return self._stage("evaluate", self._evaluate_cmd(run, out),
                           [f"{run}/best.pt", f"{self.layout.under('data')}/prepared/${{item.dataset}}"],
                           self._params(["study.threads", "eval"], "${item.dataset}"), [out],
                           matrix={"dataset": "${study.datasets}", "method": "${study.methods}", "seed": "${study.seeds}"})

    def train_ablation(self, name: str) -> dict:
        key = ABLATIONS[name]
        run = f"{self.layout.under('runs')}/ablation/{name}/${{item.value}}/seed${{item.seed}}"
        cmd = self._train_cmd("${ablation.dataset}", BASELINE_REFERENCE, "${item.seed}", run,
                              f"--set {key}=${{item.value}} ")
        settings = []  # every section, as train.json records them all, but the swept key its command sets
        for section in SECTIONS:
            settings += [k for k in _keys(section) if k != key] if key.startswith(section + ".") else [section]
        return self._stage("train", cmd, [f"{self.layout.under('data')}/prepared/${{ablation.dataset}}"],
                           self._params(["study.threads", *settings], "${ablation.dataset}"),
                           [f"{run}/{f}" for f in RUN_FILES],
                           matrix={"value": f"${{ablation.{name}}}", "seed": "${ablation.seeds}"})

    def evaluate_ablation(self, name: str) -> dict:
        tail = f"ablation/{name}/${{item.value}}/seed${{item.seed}}"
        run, out = f"{self.layout.under('runs')}/{tail}", f"{self.layout.under('evals')}/{tail}"
        return self._stage("evaluate", self._evaluate_cmd(run, out),
                           [f"{run}/best.pt", f"{self.layout.under('data')}/prepared/${{ablation.dataset}}"],
                           self._params(["study.threads", "eval"], "${ablation.dataset}"), [out],
                           matrix={"value": f"${{ablation.{name}}}", "seed": "${ablation.seeds}"})

    def evaluation_folders(self) -> list[str]:
        evals = self.layout.under("evals")
        return [f"{evals}/main", f"{evals}/ablation", f"{evals}/oracle", *(f"{evals}/oracle_{n}" for n in self._target_ablations())]

    def aggregate(self) -> dict:
        runs, data, results = self.layout.under("runs"), self.layout.under("data"), self.layout.results
        folders = self.evaluation_folders()
        cmd = (f"python -m experiments.aggregate --params {self.layout.params_file} --root . --evals {' '.join(folders)} "
               f"--data-dir {data} --out {results} --quiet")
        deps = [f"{runs}/main", f"{runs}/ablation", *folders,
                *(f"{data}/prepared/${{study.datasets[{i}]}}" for i in range(len(self.study.datasets)))]
        settings = ["study", "ablation", *dict.fromkeys([*AGGREGATE_SETTINGS, *(ABLATIONS[n] for n in self.study.ablation)])]
        if self.per_dataset:
            settings.append(PER_DATASET)
        return self._stage("aggregate", cmd, deps, declare(settings, self.layout, self.own, self.base_file),
                           [{f"{results}/{f}": {"cache": False}} for f in AGGREGATE_FILES])

    def report(self) -> dict:
        results, data = self.layout.results, self.layout.under("data")
        stage = self._stage("report", f"python -m experiments.report --results {results} --data-dir {data} --quiet",
                            [*(f"{results}/{f}" for f in REPORT_INPUTS), f"{data}/prepared/${{study.datasets[0]}}"], None,
                            [{f"{results}/{f}": {"cache": False, "persist": True}} for f in ("tables", "figures")])
        stage["metrics"] = [{f"{results}/headline": {"cache": False, "persist": True}}]
        return stage

    def stages(self) -> dict:
        """Every stage, in the order the pipeline runs them."""
        out = {"prepare": self.prepare(), "oracle": self.oracle()}
        out.update({f"oracle_{n}": self.oracle(n) for n in self._target_ablations()})
        out.update(train=self.train(), evaluate=self.evaluate())
        out.update({f"train_{n}": self.train_ablation(n) for n in self.study.ablation})
        out.update({f"evaluate_{n}": self.evaluate_ablation(n) for n in self.study.ablation})
        out.update(aggregate=self.aggregate(), report=self.report())
        return out

    def plots(self) -> list:
        """``dvc plots show``: the methods overlaid (template ``.dvc/plots/methods.json``)."""
        up, results = self.layout.up, self.layout.results
        return [
            {f"{up}{results}/val_curves.csv": {"template": "methods", "x": "iteration", "y": "f1",
                                               "title": "Validation F1 by method (mean over seeds)", "y_label": "val F1"}},
            {f"{up}{results}/curves.csv": {"template": "methods", "x": "iteration", "y": "loss",
                                           "title": "Training loss by method (mean over seeds)", "y_label": "training loss"}},
        ]
