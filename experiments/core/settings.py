"""Run settings: ``params.yaml`` checked against a typed schema, with ``--set key=value`` overrides.

``params.yaml`` (at the repository root) holds the values; :data:`SCHEMA` says, for every
``section.key``, its type, its allowed range or choices and what it does. Loading rejects unknown
and missing keys and values of the wrong type, naming the key, what was expected and what was
found, so a typo in ``--set`` fails before any work starts instead of being silently ignored.

Settings are plain nested dicts (``cfg["train"]["iterations"]``): JSON-serialisable, stored as
they are in checkpoints and ``train.json``.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

PARAMS_PATH = Path(__file__).resolve().parents[2] / "params.yaml"
"""The repository's ``params.yaml``: the default settings file."""


STUDY_SECTIONS = ("study", "ablation")
"""Sections of ``params.yaml`` that describe the whole study (:mod:`experiments.analysis.study`), not one run:
run settings skip them."""


class ConfigError(ValueError):
    """A settings file or a ``--set`` override is invalid."""


@dataclass(frozen=True)
class Param:
    """Schema entry of one setting.

    Attributes:
        type: ``'int'``, ``'float'``, ``'bool'`` or ``'str'``.
        help: what the setting does.
        choices: allowed values of a ``'str'`` or ``'int'`` setting (empty: any).
        low: smallest allowed value (numbers), or None.
        high: largest allowed value (numbers), or None.
        low_open: ``low`` itself is not allowed.
        high_open: ``high`` itself is not allowed.
        nullable: ``null`` is allowed (meaning "the default described in ``help``").
        multiple_of: an int setting must be a multiple of this.
    """

    type: str
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    multiple_of: int | None = None

    def expected(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        else:
            text = {"int": "an int", "float": "a number", "bool": "true or false", "str": "a string"}[self.type]
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else f"{self.low:g}"
                hi = "inf" if self.high is None else f"{self.high:g}"
                left = "(" if self.low is None or self.low_open else "["
                right = ")" if self.high is None or self.high_open else "]"
                text += f" in {left}{lo}, {hi}{right}"
            if self.multiple_of:
                text += f", a multiple of {self.multiple_of}"
        return text + (" or null" if self.nullable else "")


_POS = dict(low=1)
SCHEMA: dict[str, Param] = {
    "data.channels": Param("int", "network input channels: 1 (grey) or 3 (RGB); images are converted", choices=(1, 3)),
    "data.mask_radius": Param("float", "training disk radius in pixels; null: the dataset's", low=0, nullable=True),
    "data.mask_gap": Param("bool", "one-pixel background gap between neighbouring dots' disks (nearest-dot assignment), so touching disks stay separate blobs"),
    "model.base_channels": Param("int", "U-Net width of the first block (paper: 64)", **_POS),
    "model.norm": Param("str", "normalisation layer", choices=("batch", "group", "sync")),
    "model.channels_last": Param("bool", "NHWC memory format for model and inputs"),
    "train.iterations": Param("int", "optimizer steps (each K crops of one image per rank)", **_POS),
    "train.crops_per_image": Param("int", "K, random crops of one training image per mini-batch", **_POS),
    "train.crop_size": Param("int", "side of the square training crops (paper: 256)", low=16, multiple_of=16),
    "train.flips": Param("bool", "random horizontal and vertical flips"),
    "train.rot90": Param("bool", "random quarter turns"),
    "train.lr": Param("float", "Adam learning rate at iteration 0", low=0, low_open=True),
    "train.weight_decay": Param("float", "Adam L2 weight decay", low=0),
    "train.poly_power": Param("float", "polynomial LR decay power", low=0),
    "train.val_every": Param("int", "validate every n iterations and at the end; 0: never", low=0),
    "train.checkpoint_every": Param("int", "write last.pt every n iterations and at the end", **_POS),
    "train.deterministic": Param("bool", "deterministic CUDA kernels (cuDNN, cuBLAS)"),
    "train.amp": Param("str", "autocast dtype of the training forward pass: none (float32), bf16 (CPU or CUDA), fp16 (CUDA, with a gradient scaler); losses run in float32", choices=("none", "bf16", "fp16")),
    "tghem.lambda_pers": Param("float", "lambda in w_k = 1 + lambda * D_k", low=0),
    "tghem.warmup": Param(
        "float", "warm-up of TG-HEM and both controls on the pixel term alone (weights 1): a fraction of train.iterations if < 1, else iterations", low=0
    ),
    "tghem.topo_epsilon": Param("float", "Rips filtration scale epsilon (pixels)", low=0, low_open=True),
    "tghem.topo_reduction": Param("str", "H0 + H1 ('sum'), half of it, or H1 only", choices=("sum", "mean", "H1")),
    "tghem.centroid_mode": Param("str", "predicted points of TopoGuide", choices=("contour", "component")),
    "tghem.topo_backend": Param(
        "str", "TopoGuide backend: fast, ripser (giotto-ph) or gudhi (reference), same D; null: TopoGuide's default", choices=("fast", "ripser", "gudhi"), nullable=True
    ),
    "tghem.top_dimension": Param("bool", "false: the reference code's diagrams (gudhi's defaults, empty for points with no pair within epsilon); true: the definition's"),
    "tghem.topo_workers": Param(
        "int", "processes for the per-crop topology (0/1: in process); null: 'auto', usable cores per local rank", low=0, nullable=True
    ),
    "ohem.thresh": Param("float", "OHEM confidence threshold (TG-HEM's pixel term and the OHEM baseline)", low=0, high=1, low_open=True, high_open=True),
    "ohem.min_kept": Param("int", "OHEM pixels kept at least per crop (the OHEM baseline's batch keeps min_kept * K)", **_POS),
    "ohem.dice_weight": Param("float", "Dice weight of the pixel term", low=0),
    "ohem.bce_weight": Param("float", "hard-pixel BCE weight of the pixel term", low=0),
    "focal.alpha": Param("float", "foreground weight", low=0, high=1),
    "focal.gamma": Param("float", "focusing exponent", low=0),
    "cldice.alpha": Param("float", "weight of clDice against soft Dice", low=0, high=1),
    "cldice.iterations": Param("int", "soft-skeleton iterations", **_POS),
    "cldice.smooth": Param("float", "smoothing", low=0, low_open=True),
    "dice_bce.dice_weight": Param("float", "Dice weight", low=0),
    "dice_bce.bce_weight": Param("float", "BCE weight (all pixels)", low=0),
    "tghem_count.lambda_count": Param("float", "control tghem_count: w_k = 1 + lambda_count * |n_pred,k - n_gt,k|", low=0),
    "tghem_count.centroid_mode": Param("str", "control tghem_count: predicted points, as TopoGuide's", choices=("contour", "component")),
    "eval.match_radius": Param("float", "detection match radius (pixels); null: the dataset's", low=0, low_open=True, nullable=True),
    "eval.mean_f1_max_radius": Param("int", "R of the mean F1 over r = 1..R; null: the match radius", low=1, nullable=True),
    "eval.tile_size": Param("int", "inference tile side; null: train.crop_size", low=16, multiple_of=16, nullable=True),
    "eval.tile_overlap": Param("float", "overlap of neighbouring tiles, fraction of the side", low=0, high=1, high_open=True),
    "eval.batch_size": Param("int", "tiles per forward pass", **_POS),
    "eval.centroid_mode": Param("str", "point extraction (tghem component_centroids)", choices=("contour", "component")),
    "eval.amp": Param("str", "autocast dtype of validation and evaluation inference: none (float32), bf16, fp16 (CUDA)", choices=("none", "bf16", "fp16")),
}

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
        if section in STUDY_SECTIONS:
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


def read_params_file(path: str | Path | None = None) -> tuple[Any, str]:
    """The parsed, unchecked content of a ``params.yaml`` (default: :data:`PARAMS_PATH`) and its name.

    Raises:
        ConfigError: the file is missing, a folder, not valid YAML, or gives a key twice in one
            section (the message names the key and its lines).
    """
    path = Path(path) if path is not None else PARAMS_PATH
    if path.is_dir():
        raise ConfigError(f"params: {path} is a folder; pass --params PATH to a params.yaml file (e.g. {path / 'params.yaml'})")
    if not path.is_file():
        raise ConfigError(f"params: {path} does not exist; pass --params PATH to a params.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_UniqueKeyLoader), str(path)
    except yaml.YAMLError as err:
        raise ConfigError(f"params: {path} is not valid YAML: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"params: {path} is not UTF-8 text; pass --params PATH to a params.yaml") from None


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


def load_params(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict:
    """Settings of a run: ``params.yaml`` at ``path`` plus ``--set`` overrides, all checked.

    Args:
        path: settings file; None for the repository's ``params.yaml``.
        overrides: strings ``section.key=value``, applied in order.

    Returns:
        Nested dict ``{section: {key: value}}`` with every key of :data:`SCHEMA`.

    Raises:
        ConfigError: see :func:`read_params` and :func:`parse_override`.
    """
    return apply_overrides(read_params(path), overrides)


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
