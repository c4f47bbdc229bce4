"""Preparing a dataset: acquire (or generate) its files, parse, split and write the prepared folder.

:func:`prepare` is what ``python -m experiments.prepare`` runs. It writes
``<data-dir>/raw/NAME/`` (the published files, or the generated ones) and
``<data-dir>/prepared/NAME/`` (the format of :mod:`experiments.core.prepared`). Reruns with the
same arguments give byte-identical output.

A failed or interrupted preparation leaves nothing a later run reuses: every folder is built
aside and renamed into place when complete, the leftovers of a killed run are removed at the
next start (:mod:`experiments.data.workspace`), and a damaged download or mirror copy is never
kept (:mod:`experiments.data.acquire`).
"""

from __future__ import annotations

import dataclasses

import errno
import json
import os
import sys
from pathlib import Path

from ..core.outputs import atomic_dir
from ..core.prepared import name_some, points_csv_text, prepared_dir, split_csv_text, write_prepared
from .acquire import acquire, mirror_from_env
from .download import MIRROR_ENV
from .integrity import build_manifest, content_digest
from .parsers import PARSERS
from .registry import REGISTRY, get_spec
from .splits import check_overrides, make_splits
from .synthetic import SyntheticConfig, config_json, generate, png_bytes
from .workspace import preparation_lock, remove_stale

COORDINATES = (
    "x = column, y = row, 0-based pixels; pixel (row r, col c) has centre (x=c, y=r); "
    "all points satisfy 0 <= x <= W-1, 0 <= y <= H-1"
)


def generate_synthetic(raw_dir: Path, cfg: SyntheticConfig, seed: int) -> Path:
    """Write the synthetic set in the ``folder`` layout into ``raw_dir`` (atomically).

    Returns:
        ``raw_dir``, holding ``images/``, ``points/``, ``split.csv`` and ``generator.json``.
    """
    with atomic_dir(raw_dir, "prepare", "--data-dir",
                    {"images", "points", "split.csv", "generator.json"}.__eq__) as tmp:
        (tmp / "images").mkdir()
        (tmp / "points").mkdir()
        assign = {}
        for image_id, split, image, points in generate(cfg, seed):
            (tmp / "images" / f"{image_id}.png").write_bytes(png_bytes(image))
            (tmp / "points" / f"{image_id}.csv").write_bytes(points_csv_text(points).encode())
            assign[image_id] = split
        (tmp / "split.csv").write_bytes(split_csv_text(assign).encode())
        (tmp / "generator.json").write_bytes(config_json(cfg, seed).encode())
    return raw_dir


def prepare(
    name: str,
    data_dir: str | Path = "data",
    mirror: str | Path | None = None,
    source: str | Path | None = None,
    seed: int = 0,
    out_name: str | None = None,
    synthetic: SyntheticConfig | None = None,
    quiet: bool = False,
    mask_radius: float | str | None = None,
    **split_overrides,
) -> tuple[Path, dict]:
    """Acquire (or generate) dataset ``name`` and write ``<data_dir>/prepared/<out_name>``.

    Args:
        name: registry key, or the name of your own dataset in the ``folder`` layout under the
            mirror (:func:`own_dataset_source`).
        data_dir: data folder (``raw/`` and ``prepared/`` go below it).
        mirror: mirror folder (default ``$TGHEM_DATA_MIRROR``).
        source: folder with the published layout to read in place (needed for ``folder``).
        seed: seed of the split draws (and of the synthetic generator).
        out_name: prepared folder name (default ``name``).
        synthetic: generator parameters for ``synthetic`` (default :class:`SyntheticConfig`).
        mask_radius: the training-disk radius ``meta.json`` records for the dataset (a number
            >= 0 or ``"adaptive"``), instead of the registry's; what training and the oracle use
            where ``data.mask_radius`` is null.
        quiet: no progress messages.
        **split_overrides: split protocol parameters (``n_train``, ``n_val``, ``val_fraction``...).

    Returns:
        The prepared folder and its meta.

    Raises:
        ValueError: bad arguments; a damaged or incomplete source (the message names the
            file, and the row of a points file); a folder that cannot be written (named);
            another process preparing the same name into ``data_dir``.
        FileNotFoundError: no source holds the data.
        DownloadError: the download failed.
    """
    for arg, value, optional in (("name", name, False), ("data_dir", data_dir, False), ("mirror", mirror, True),
                                 ("source", source, True), ("out_name", out_name, True)):
        kinds = (str,) if arg in ("name", "out_name") else (str, os.PathLike)
        if not (isinstance(value, kinds) or (optional and value is None)):
            expected = "a str" if arg in ("name", "out_name") else "a str or a path"
            raise TypeError(f"{arg}: expected {expected}{' or None' if optional else ''}, got {type(value).__name__} {value!r}")
    if name not in REGISTRY:
        # Your own data: the pipeline's prepare@<name> passes only the name, which names its folders.
        prepared_dir(data_dir, name, "--dataset")
        source = source if source is not None else own_dataset_source(name, mirror)
        name, out_name = "folder", out_name or name
    spec = get_spec(name)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"seed: expected a non-negative int, got {seed!r}")
    if mask_radius is not None and mask_radius != "adaptive" and (
            isinstance(mask_radius, bool) or not isinstance(mask_radius, (int, float)) or not 0 <= mask_radius < float("inf")):
        raise ValueError(f"--mask-radius: expected a number of pixels >= 0 or 'adaptive', got {mask_radius!r}")
    if mask_radius is not None:
        spec = dataclasses.replace(spec, mask_radius=mask_radius)
    data_dir = Path(data_dir).resolve()
    out_name = out_name or name
    prepared_dir(data_dir, out_name, "--name")  # the name checked
    check_overrides(spec.split, split_overrides)  # before the lock is taken or anything is read or generated
    if spec.kind == "synthetic":
        (synthetic or SyntheticConfig()).validate()
    try:
        with preparation_lock(data_dir, out_name):
            for p in remove_stale(data_dir, out_name):
                print(f"{out_name}: removed {p}, left by an interrupted prepare", file=sys.stderr)
            return _prepare(spec, data_dir, out_name, mirror, source, seed, synthetic, quiet, split_overrides)
    except OSError as err:
        if isinstance(err, PermissionError) or err.errno == errno.EROFS:
            raise ValueError(_not_permitted(err, data_dir)) from None
        raise


def _not_permitted(err: OSError, data_dir: Path) -> str:
    where = Path(err.filename) if err.filename else data_dir
    if where == data_dir or data_dir in where.parents:
        return (
            f"--data-dir {data_dir}: cannot write {where} ({err.strerror}); make the folder writable "
            f"or pass another --data-dir"
        )
    return f"{where}: cannot read it ({err.strerror}); make it readable"


def _prepare(spec, data_dir: Path, out_name: str, mirror, source, seed: int, synthetic, quiet: bool,
             split_overrides: dict) -> tuple[Path, dict]:
    """:func:`prepare` once the arguments are checked and the lock is held."""
    raw_dir = data_dir / "raw" / out_name
    extra: dict = {}
    if spec.kind == "synthetic":
        cfg = synthetic or SyntheticConfig()
        root = generate_synthetic(raw_dir, cfg, seed)
        parser = PARSERS["folder"]
        manifest = build_manifest(root, parser.files(root))
        digest, verified = content_digest(manifest), False
        extra["generator"] = json.loads(config_json(cfg, seed))
    else:
        got = acquire(spec, raw_dir, mirror=mirror, source=source, quiet=quiet)
        root, parser, digest, verified, manifest = got.root, PARSERS[spec.parser], got.digest, got.verified, got.manifest
    records = parser.parse(root)
    if spec.kind == "user" and (root / "split.csv").is_file():
        drawn = [r.image_id for r in records if r.split_hint is None]
        if drawn:
            print(
                f"warning: {root / 'split.csv'} lists no split for {len(drawn)} images "
                f"({name_some(drawn)}); they are drawn with --seed {seed}",
                file=sys.stderr,
            )
    ids = [r.image_id for r in records]
    hints = {r.image_id: r.split_hint for r in records}
    splits = make_splits(spec.split, ids, hints, seed, **split_overrides)
    empty = [name for name in ("train", "test") if not splits.get(name)]
    if empty:  # e.g. a copy of ShanghaiTech without its test_data/: prepared, but not what a study needs
        print(f"warning: {out_name}: the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} "
              f"hold{'' if len(empty) > 1 else 's'} no image ({len(ids)} images in all, from {root})", file=sys.stderr)
    params = {**spec.split.params, **{k: v for k, v in split_overrides.items() if v is not None}}
    params.pop("test_ids", None)  # long and implied by the description
    meta = {
        "name": out_name,
        "dataset": spec.name,
        "title": spec.title,
        "kind": spec.kind,
        "source": {
            "urls": list(spec.urls),
            "archive_name": spec.archive_name,
            "archive_sha256": spec.archive_sha256,
        },
        "content_digest": digest,
        "content_digest_verified": verified,
        "files_used": len(manifest),
        "split_protocol": {
            "kind": spec.split.kind,
            "description": spec.split.description,
            "params": params,
            "seed": seed,
        },
        "coordinates": COORDINATES,
        "match_radius": spec.match_radius,
        "mask_radius": spec.mask_radius,
        "license": spec.license,
        "citation": spec.citation,
        **extra,
    }
    out = prepared_dir(data_dir, out_name)
    meta = write_prepared(out, records, splits, meta)
    return out, meta


def own_dataset_source(name: str, mirror: str | Path | None) -> Path:
    """The folder of an unregistered dataset ``name``: ``<mirror>/<name>`` in the ``folder`` layout.

    This is how the pipeline (``dvc.yaml``'s ``prepare@<name>``, which passes only the name) prepares
    your own data: put it under the mirror as ``<name>/images/...`` with ``points/`` or ``dots/``
    and list ``<name>`` in ``study.datasets``.

    Raises:
        ValueError: no mirror, or no ``<mirror>/<name>/images`` folder.
    """
    root = mirror_from_env(mirror)
    known = ", ".join(sorted(REGISTRY))
    if root is None:
        raise ValueError(
            f"--dataset {name!r}: not a registry dataset ({known}); for your own data pass --mirror DIR "
            f"(or set ${MIRROR_ENV}) with DIR/{name}/images/ and DIR/{name}/points/ (or dots/), or use "
            f"--dataset folder --source DIR --name {name}"
        )
    source = Path(root) / name
    if not (source / "images").is_dir():
        raise ValueError(
            f"--dataset {name!r}: not a registry dataset ({known}) and {source / 'images'} does not exist; "
            f"put your own data there (with {source / 'points'}/ or {source / 'dots'}/)"
        )
    return source
