"""Where the pipeline puts each run, read from ``dvc.yaml`` itself: the one place that spells it.

``dvc.yaml`` expands the study (:mod:`experiments.analysis.study`) into stage matrices whose
commands write each run's folder (``--out``). Rather than spell that layout a second time, the
analysis resolves the same templates: for a stage group and a matrix item it gives the DVC stage
name (``train@synthetic-tghem-0``), the command with every ``${...}`` filled in, and the folder the
command writes. So a missing file can be reported with the exact command that makes it, and a
changed layout in ``dvc.yaml`` is followed here without an edit.

Stage groups read: ``train`` and ``evaluate`` (matrix ``dataset`` x ``method`` x ``seed``) for
the main comparison, ``train_<name>`` and ``evaluate_<name>`` (matrix ``value``) for each
ablation ``<name>`` of :data:`experiments.analysis.study.ABLATIONS`, and ``prepare``
(``foreach`` over the datasets).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .study import format_value

PIPELINE_PATH = Path(__file__).resolve().parents[2] / "dvc.yaml"
"""The repository's ``dvc.yaml``."""

_TEMPLATE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


@dataclass(frozen=True)
class StageRun:
    """One expanded stage of the pipeline.

    Attributes:
        stage: DVC's name of it (``dvc repro <stage>`` runs it).
        command: its command, as DVC runs it.
        folder: the folder the command writes (its ``--out``), relative to the repository root;
            None for a command without ``--out``.
    """

    stage: str
    command: str
    folder: Path | None

    def how_to_make(self) -> str:
        """What to run to make the stage's output: the DVC way and the plain command."""
        return f"`dvc repro {self.stage}` or `{self.command}`"


class Pipeline:
    """The stage templates of a ``dvc.yaml``, resolved against a ``params.yaml``'s values.

    Args:
        stages: the ``stages`` mapping of ``dvc.yaml``.
        params: the parsed ``params.yaml`` (its sections are the ``${section.key}`` values).
        source: the file the stages came from, for error messages.
    """

    def __init__(self, stages: dict, params: dict, source: str = "dvc.yaml") -> None:
        self.stages, self.params, self.source = stages, params, source

    @classmethod
    def read(cls, params: dict, path: str | Path | None = None) -> "Pipeline":
        """The pipeline of ``path`` (default: the repository's ``dvc.yaml``).

        Raises:
            FileNotFoundError: no such file.
            ValueError: it has no ``stages`` mapping.
        """
        path = Path(path) if path is not None else PIPELINE_PATH
        if not path.is_file():
            raise FileNotFoundError(f"pipeline: {path} does not exist; the study's stages are defined there")
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or not isinstance(raw.get("stages"), dict):
            raise ValueError(f"pipeline: {path} has no 'stages' mapping")
        return cls(raw["stages"], params, str(path))

    def has_group(self, group: str) -> bool:
        """Whether the pipeline defines the stage group ``group`` (e.g. ``oracle``)."""
        return group in self.stages

    def _group(self, group: str) -> dict:
        definition = self.stages.get(group)
        if not isinstance(definition, dict) or not ("matrix" in definition or "foreach" in definition):
            raise ValueError(f"{self.source}: expected a stage group {group!r} with a matrix or foreach, "
                             f"found {sorted(self.stages)}")
        return definition

    def _resolve(self, template: str, item: Any, group: str, key: Any = None) -> str:
        def value(match: re.Match) -> str:
            key_name = match.group(1)
            node: Any = {"item": item, **({"key": key} if key is not None else {}), **self.params}
            for part in key_name.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ValueError(f"{self.source}: stage {group!r}: ${{{key_name}}} has no value")
                node = node[part]
            return format_value(node)

        return _TEMPLATE.sub(value, " ".join(str(template).split()))

    def _resolve_value(self, template: Any, group: str) -> Any:
        """The value of a whole-field ``${a.b}`` template (a list or mapping), else the template itself."""
        match = _TEMPLATE.fullmatch(str(template).strip()) if isinstance(template, str) else None
        if not match:
            return template
        node: Any = self.params
        for part in match.group(1).split("."):
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"{self.source}: stage {group!r}: {template} has no value")
            node = node[part]
        return node

    def stage(self, group: str, item: Any) -> StageRun:
        """The stage of ``group`` for one matrix ``item`` (a dict of the matrix's keys) or ``foreach`` value.

        Raises:
            ValueError: no such group, or ``item`` does not fit its matrix.
        """
        definition = self._group(group)
        if "matrix" in definition:
            keys = list(definition["matrix"])
            if not isinstance(item, dict) or set(item) != set(keys):
                raise ValueError(f"{self.source}: stage {group!r} expands over {keys}, got {item!r}")
            # DVC names a matrix item by str() of its values (True), its commands get YAML's (true).
            name = "-".join(str(item[k]) if isinstance(item[k], bool) else format_value(item[k]) for k in keys)
            key = None
        else:
            name = str(item) if isinstance(item, bool) else format_value(item)  # DVC: False, as for a matrix
            # foreach over a mapping: ${key} is the entry's name, ${item} its value.
            over = self._resolve_value(definition["foreach"], group)
            key, item = (item, over[item]) if isinstance(over, dict) and item in over else (None, item)
        body = definition.get("do", definition)  # foreach puts the stage under "do"
        command = self._resolve(body.get("cmd", ""), item, group, key)
        words = shlex.split(command)
        folder = Path(words[words.index("--out") + 1]) if "--out" in words[:-1] else None
        return StageRun(f"{group}@{name}", command, folder)

    def main_training(self, dataset: str, method: str, seed: int) -> StageRun:
        """The training stage of one run of the main comparison."""
        return self.stage("train", {"dataset": dataset, "method": method, "seed": seed})

    def main_evaluation(self, dataset: str, method: str, seed: int) -> StageRun:
        """The evaluation stage of one run of the main comparison."""
        return self.stage("evaluate", {"dataset": dataset, "method": method, "seed": seed})

    def ablation_training(self, name: str, value: Any, seed: int) -> StageRun:
        """The training stage of ablation ``name`` at ``value`` for ``seed``."""
        return self.stage(f"train_{name}", {"value": value, "seed": seed})

    def ablation_evaluation(self, name: str, value: Any, seed: int) -> StageRun:
        """The evaluation stage of ablation ``name`` at ``value`` for ``seed``."""
        return self.stage(f"evaluate_{name}", {"value": value, "seed": seed})

    def preparation(self, dataset: str) -> StageRun:
        """The stage that prepares ``dataset``."""
        return self.stage("prepare", dataset)
