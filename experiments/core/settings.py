"""Run settings: ``params.yaml`` checked against a typed schema, with ``--set key=value`` overrides.

``params.yaml`` (at the repository root) holds the values; :data:`SCHEMA` says, for every
``section.key``, its type, its allowed range or choices and what it does. Loading rejects unknown
and missing keys and values of the wrong type, naming the key, what was expected and what was
found, so a typo in ``--set`` fails before any work starts instead of being silently ignored.

Settings are plain nested dicts (``cfg["train"]["iterations"]``): JSON-serialisable, stored as
they are in checkpoints and ``train.json``.

A study's file holds only what differs from a base file: ``extends: ../../params.yaml`` (a path
relative to the study's file) names the base, whose settings sections it inherits key by key
(:func:`read_params_file` merges them, in the base's key order); the study sections (``study``,
``ablation``) and ``per_dataset`` are the study's own, never inherited. So each setting is written
once per study that changes it.

A study whose datasets need other values of some settings (a crowd set trained on larger crops,
say) lists only those under :data:`PER_DATASET`, per dataset, in the same ``section: {key: value}``
shape; :func:`load_params` applies them for that dataset, after the file's values and before
``--set``. Every run records these settings in ``train.json``, and in ``settings.json`` with the
values left to the dataset filled in (:mod:`experiments.core.resolution`).
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Any, Iterable

import yaml

from .schema import SCHEMA, Param  # noqa: F401  (Param: re-exported with the schema it types)

PARAMS_PATH = Path(__file__).resolve().parents[2] / "params.yaml"
"""The repository's ``params.yaml``: the default settings file."""


STUDY_SECTIONS = ("study", "ablation")
"""Sections of ``params.yaml`` that describe the whole study (:mod:`experiments.analysis.study`), not one run:
run settings skip them."""


EXTENDS = "extends"
"""Top-level key of a study's settings file naming its base file (relative to the study's file)."""


PER_DATASET = "per_dataset"
"""Section of ``params.yaml`` holding, per dataset name, the settings that differ for that dataset
(``per_dataset: {shanghaitech_b: {train: {crop_size: 256}}}``)."""


class ConfigError(ValueError):
    """A settings file or a ``--set`` override is invalid."""


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NULL = ("null", "none", "~", "")


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check(key: str, spec: Param, value: Any, source: str) -> Any:
    """Return ``value`` converted to ``spec.type`` or raise :class:`ConfigError`."""

    def fail(detail: str = "") -> ConfigError:
        return ConfigError(f"{source}: {key}: expected {spec.expected()}, got {value!r}{detail}")

    if value is None:
        if spec.nullable:
            return None
        raise fail()
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        raise fail()
    if spec.type == "str":
        if not isinstance(value, str):
            raise fail()
        if spec.choices and value not in spec.choices:
            raise fail()
        return value
    if isinstance(value, bool):
        raise fail()
    if spec.type == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or (spec.choices and value not in spec.choices):
            raise fail()
    else:
        # PyYAML reads "1e-3" (no dot) as a string: accept any string float() understands.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise fail() from None
        if not isinstance(value, (int, float)):
            raise fail()
        value = float(value)
        if not math.isfinite(value):
            raise fail()
    if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
        raise fail()
    if spec.high is not None and (value > spec.high or (spec.high_open and value == spec.high)):
        raise fail()
    if spec.multiple_of and value % spec.multiple_of:
        raise fail()
    return value


def check_setting(key: str, value: Any, source: str = "params") -> Any:
    """``value`` of the setting ``key`` checked against :data:`SCHEMA` and typed; :class:`ConfigError` if wrong."""
    return _check(key, SCHEMA[key], value, source)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set section.key=value`` into ``(key, typed value)``.

    The value is read as the key's declared type: ``int`` and ``float`` as numbers,
    ``bool`` as true/false (also yes/no, on/off, 1/0), ``str`` as is; ``null`` (or ``none``)
    where the key allows it.

    Raises:
        ConfigError: no ``=``, unknown key (with the closest known key), or a bad value.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.iterations=100")
    key, raw = (part.strip() for part in text.split("=", 1))
    if key not in SCHEMA:
        raise ConfigError(
            f"--set {key}: unknown key{_suggest(key, SCHEMA)} (known keys: see --help or params.yaml)"
        )
    spec = SCHEMA[key]
    lowered = raw.lower()
    if spec.nullable and lowered in _NULL:
        return key, None
    value: Any = raw
    if spec.type == "bool":
        value = True if lowered in _TRUE else False if lowered in _FALSE else raw
    elif spec.type == "int":
        try:
            value = int(raw)
        except ValueError:
            pass
    elif spec.type == "float":
        try:
            value = float(raw)
        except ValueError:
            pass
    return key, _check(key, spec, value, "--set")


def validate(cfg: dict, source: str = "params") -> dict:
    """Check a nested settings dict against :data:`SCHEMA`; return a typed deep copy.

    Raises:
        ConfigError: unknown or missing section or key, or a value of the wrong type or range.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(cfg).__name__}")
    sections = {key.split(".", 1)[0] for key in SCHEMA}
    out: dict = {}
    for section, values in cfg.items():
        if section in STUDY_SECTIONS or section == EXTENDS:
            continue
        if section == PER_DATASET:
            _check_per_dataset(values, source)
            continue
        if section not in sections:
            raise ConfigError(f"{source}: unknown section {section!r}{_suggest(str(section), sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r}: expected a mapping, got {values!r}")
        for name, value in values.items():
            key = f"{section}.{name}"
            if key not in SCHEMA:
                raise ConfigError(f"{source}: unknown key {key!r}{_suggest(key, SCHEMA)}")
            out.setdefault(section, {})[name] = _check(key, SCHEMA[key], value, source)
    missing = [key for key in SCHEMA if key.split(".", 1)[1] not in out.get(key.split(".", 1)[0], {})]
    if missing:
        raise ConfigError(f"{source}: missing keys {missing}")
    return out


def _partial(values: Any, source: str) -> dict:
    """Check a partial ``{section: {key: value}}`` mapping (every key known); return it typed."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, e.g. {{train: {{iterations: 6000}}}}, got {values!r}")
    out: dict = {}
    for section, entries in values.items():
        if not isinstance(entries, dict):
            raise ConfigError(f"{source}: section {section!r}: expected a mapping of keys, got {entries!r}")
        for name, value in entries.items():
            key = f"{section}.{name}"
            if key not in SCHEMA:
                raise ConfigError(f"{source}: unknown key {key!r}{_suggest(key, SCHEMA)}")
            out.setdefault(section, {})[name] = _check(key, SCHEMA[key], value, source)
    return out


def _check_per_dataset(values: Any, source: str) -> dict:
    """Check the :data:`PER_DATASET` section: ``{dataset: partial settings}``; return it typed."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: section {PER_DATASET!r}: expected a mapping of dataset names to settings, got {values!r}")
    return {str(name): _partial(entry, f"{source}: {PER_DATASET}.{name}") for name, entry in values.items()}


def dataset_settings(raw: Any, dataset: str | None, source: str = "params") -> dict:
    """The partial settings the :data:`PER_DATASET` section of a parsed ``params.yaml`` gives ``dataset``.

    Returns:
        ``{section: {key: value}}``, typed; empty when ``dataset`` is None or not listed.

    Example:
        >>> dataset_settings({"per_dataset": {"crowd": {"train": {"crop_size": 256}}}}, "crowd")
        {'train': {'crop_size': 256}}
        >>> dataset_settings({"per_dataset": {"crowd": {"train": {"crop_size": 256}}}}, "cells")
        {}
    """
    if dataset is None or not isinstance(raw, dict) or PER_DATASET not in raw:
        return {}
    return _check_per_dataset(raw[PER_DATASET], source).get(dataset, {})


def resolve(cfg: dict, raw: Any, dataset: str | None, source: str = "params") -> dict:
    """``cfg`` (validated settings) with ``dataset``'s :data:`PER_DATASET` values applied (a copy)."""
    out = copy.deepcopy(cfg)
    for section, values in dataset_settings(raw, dataset, source).items():
        out[section].update(values)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last
    silently; DVC refuses such a file)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{node.start_mark.name}: line {line}: key {key!r} given twice in one section (first "
                                  f"at line {seen[key]}); keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _load_yaml(path: Path, fix: str = "pass --params PATH to a params.yaml") -> Any:
    if path.is_dir():
        raise ConfigError(f"params: {path} is a folder, not a file (e.g. {path / 'params.yaml'}); {fix}")
    if not path.is_file():
        raise ConfigError(f"params: {path} does not exist; {fix}")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        where = " ".join(line.strip() for line in str(err).splitlines())  # one line, as every error of a stage
        raise ConfigError(f"params: {path} is not valid YAML: {where}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"params: {path} is not UTF-8 text; {fix}") from None


def own_settings(raw: Any) -> dict:
    """The settings sections a parsed file writes itself (no study sections, no ``extends``)."""
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if k not in (*STUDY_SECTIONS, PER_DATASET, EXTENDS)}


def extend(base: Any, own: dict, source: str = "params") -> dict:
    """A study's parsed file ``own`` over its ``base``: the base's settings sections, each key the
    study writes replaced in place (the base's key order kept), then the study's own study sections
    and ``per_dataset``.

    Example:
        >>> extend({"study": {"seeds": [0]}, "train": {"lr": 0.1, "iterations": 5}},
        ...        {"extends": "base.yaml", "study": {"seeds": [1]}, "train": {"iterations": 9}})
        {'train': {'lr': 0.1, 'iterations': 9}, 'study': {'seeds': [1]}}
    """
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: its base is not a mapping of sections")
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in own_settings(base).items()}
    for section, values in own_settings(own).items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section].update(values)
        else:
            out[section] = values
    for section in (*STUDY_SECTIONS, PER_DATASET):
        if section in own:
            out[section] = own[section]
    return out


def read_params_file(path: str | Path | None = None) -> tuple[Any, str]:
    """The parsed, unchecked content of a ``params.yaml`` (default: :data:`PARAMS_PATH`) and its name;
    a study's file that ``extends`` a base comes merged with it (:func:`extend`).

    Raises:
        ConfigError: the file or its base is missing, a folder, not valid YAML, or gives a key twice
            in one section (the message names the key and its lines); a base that itself extends
            another.
    """
    path = Path(path) if path is not None else PARAMS_PATH
    raw = _load_yaml(path)
    if isinstance(raw, dict) and EXTENDS in raw:
        if not isinstance(raw[EXTENDS], str) or not raw[EXTENDS]:
            raise ConfigError(f"{path}: {EXTENDS}: expected the path of the base settings file, got {raw[EXTENDS]!r}")
        base_path = path.parent / raw[EXTENDS]
        base = _load_yaml(base_path, f"name an existing base file in the {EXTENDS}: of {path}")
        if isinstance(base, dict) and EXTENDS in base:
            raise ConfigError(f"{path}: its base {base_path} extends another file; a base must hold every setting")
        raw = extend(base, raw, str(path))
    return raw, str(path)


def base_path(path: str | Path) -> Path | None:
    """The base file a study's settings file ``extends`` (None when it extends none)."""
    raw = _load_yaml(Path(path))
    if isinstance(raw, dict) and isinstance(raw.get(EXTENDS), str):
        return Path(path).parent / raw[EXTENDS]
    return None


def read_own_settings(path: str | Path) -> dict:
    """The settings sections the file at ``path`` writes itself (:func:`own_settings`), unmerged."""
    return own_settings(_load_yaml(Path(path)))


def read_params(path: str | Path | None = None) -> dict:
    """Read and validate a ``params.yaml`` (default: the repository's, :data:`PARAMS_PATH`)."""
    return validate(*read_params_file(path))


def apply_overrides(cfg: dict, overrides: Iterable[str]) -> dict:
    """Return a copy of ``cfg`` with ``--set`` overrides (strings ``section.key=value``) applied."""
    out = copy.deepcopy(cfg)
    for text in overrides:
        key, value = parse_override(text)
        section, name = key.split(".", 1)
        out[section][name] = value
    return out


def load_params(path: str | Path | None = None, overrides: Iterable[str] = (), dataset: str | None = None) -> dict:
    """Settings of a run: ``params.yaml`` at ``path``, then ``dataset``'s :data:`PER_DATASET` values,
    then ``--set`` overrides, all checked.

    Args:
        path: settings file; None for the repository's ``params.yaml``.
        overrides: strings ``section.key=value``, applied in order.
        dataset: the run's dataset, whose per-dataset values apply; None: none apply.

    Returns:
        Nested dict ``{section: {key: value}}`` with every key of :data:`SCHEMA`.

    Raises:
        ConfigError: see :func:`read_params` and :func:`parse_override`.
    """
    raw, source = read_params_file(path)
    return apply_overrides(resolve(validate(raw, source), raw, dataset, source), overrides)


def flatten(cfg: dict) -> dict[str, Any]:
    """``{"train": {"iterations": 5}}`` -> ``{"train.iterations": 5}`` (schema order)."""
    return {key: cfg[key.split(".", 1)[0]][key.split(".", 1)[1]] for key in SCHEMA}


def _yaml_scalar(value: Any) -> str:
    """A setting as it is written in params.yaml (null, true/false, bare strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def params_help(cfg: dict | None = None, sections: Iterable[str] | None = None) -> str:
    """Text listing the settings (``key = value  allowed values: help``) for a ``--help`` epilog.

    Args:
        cfg: settings whose values to show (default: none, only the schema).
        sections: sections to list (default: all).
    """
    keep = set(sections) if sections is not None else None
    lines = []
    for key, spec in SCHEMA.items():
        if keep is not None and key.split(".", 1)[0] not in keep:
            continue
        value = "" if cfg is None else f" = {_yaml_scalar(flatten(cfg)[key])}"
        lines.append(f"  {key}{value}\n      {spec.help} ({spec.expected()})")
    return "\n".join(lines)
