"""Stage ``prepare``: download or generate a dataset and write its prepared folder.

    python -m experiments.prepare --dataset NAME [--mirror DIR] [--data-dir DIR] [--seed N]

writes ``<data-dir>/raw/NAME/`` (the published files, or the generated ones) and
``<data-dir>/prepared/NAME/`` (see :mod:`experiments.datasets`). Reruns with the same arguments
give byte-identical output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import textwrap
import time
from pathlib import Path

from .acquire import acquire, mirror_from_env
from .cli import run_stage
from .datasets import points_csv_text, split_csv_text, write_prepared
from .download import MIRROR_ENV
from .fsutil import atomic_dir
from .integrity import build_manifest, content_digest
from .parsers import PARSERS
from .registry import REGISTRY, DatasetSpec, get_spec
from .splits import make_splits
from .synthetic import SyntheticConfig, config_json, generate, png_bytes

COORDINATES = (
    "x = column, y = row, 0-based pixels; pixel (row r, col c) has centre (x=c, y=r); "
    "all points satisfy 0 <= x <= W-1, 0 <= y <= H-1"
)


def generate_synthetic(raw_dir: Path, cfg: SyntheticConfig, seed: int) -> Path:
    """Write the synthetic set in the ``folder`` layout into ``raw_dir`` (atomically).

    Returns:
        ``raw_dir``, holding ``images/``, ``points/``, ``split.csv`` and ``generator.json``.
    """
    with atomic_dir(raw_dir) as tmp:
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
    **split_overrides,
) -> tuple[Path, dict]:
    """Acquire (or generate) dataset ``name`` and write ``<data_dir>/prepared/<out_name>``.

    Args:
        name: registry key.
        data_dir: data folder (``raw/`` and ``prepared/`` go below it).
        mirror: mirror folder (default ``$TGHEM_DATA_MIRROR``).
        source: folder with the published layout to read in place (needed for ``folder``).
        seed: seed of the split draws (and of the synthetic generator).
        out_name: prepared folder name (default ``name``).
        synthetic: generator parameters for ``synthetic`` (default :class:`SyntheticConfig`).
        quiet: no progress messages.
        **split_overrides: split protocol parameters (``n_train``, ``n_val``, ``val_fraction``...).

    Returns:
        The prepared folder and its meta.
    """
    spec = get_spec(name)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"seed: expected a non-negative int, got {seed!r}")
    data_dir = Path(data_dir).resolve()
    out_name = out_name or name
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
    ids = [r.image_id for r in records]
    hints = {r.image_id: r.split_hint for r in records}
    splits = make_splits(spec.split, ids, hints, seed, **split_overrides)
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
    out = data_dir / "prepared" / out_name
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


def _registry_table() -> str:
    rows = [f"  {s.name:<15} {s.kind:<9} {s.title}" for s in REGISTRY.values()]
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.prepare",
        description=textwrap.fill(
            "Download (or generate) a dataset into <data-dir>/raw/NAME/ and write the prepared "
            "format into <data-dir>/prepared/NAME/: images as published, points/<id>.csv "
            "(x = column, y = row, 0-based), split.csv (train/val/test[/unused]) and meta.json "
            "(source, content digest, counts, sizes, licence, citation). Deterministic: reruns "
            "give byte-identical output. Downstream code reads it with "
            "experiments.datasets.load_split(prepared_dir, split).",
            width=88,
        ),
        epilog=(
            "datasets:\n" + _registry_table() + "\n\n"
            f"Offline: --mirror DIR (or ${MIRROR_ENV}) is a folder holding, per dataset, the "
            "archive under its published name or the extracted published layout, e.g. "
            "--mirror ../shared/datasets for vgg_cells, mbm and adi.\n"
            "examples:\n"
            "  python -m experiments.prepare --dataset synthetic\n"
            "  python -m experiments.prepare --dataset vgg_cells --mirror ../shared/datasets --n-train 32\n"
            "  python -m experiments.prepare --dataset shanghaitech_b --mirror /data/crowd\n"
            "  python -m experiments.prepare --dataset folder --source my_cells/ --name my_cells\n"
            "  python -m experiments.prepare --dataset my_cells --mirror DIR   # DIR/my_cells/images, points/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="registry name (see below), or the name of your own dataset in the folder layout under the mirror (MIRROR/NAME/images, points/ or dots/)")
    p.add_argument("--data-dir", default="data", type=Path, help="data folder (default: data/, git-ignored)")
    p.add_argument("--mirror", type=Path, default=None, help=f"local mirror folder (default: ${MIRROR_ENV} if set)")
    p.add_argument("--source", type=Path, default=None, help="folder with the published layout, read in place (required for 'folder')")
    p.add_argument("--name", default=None, help="name of the prepared folder (default: the dataset name)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split draws and of the synthetic generator (default 0)")
    g = p.add_argument_group("split overrides (defaults come from the registry's protocol)")
    g.add_argument("--n-train", type=int, default=None, help="train images (vgg_cells: 32; mbm: 15; adi: 50)")
    g.add_argument("--n-val", type=int, default=None, help="validation images (vgg_cells: 32; mbm, adi: 0)")
    g.add_argument("--val-fraction", type=float, default=None, help="fraction of train carved out as val (crowd sets: 0.1; folder: 0.2)")
    g.add_argument("--train-fraction", type=float, default=None, help="folder without split.csv: train fraction (0.6)")
    s = p.add_argument_group("synthetic generator (only with --dataset synthetic)")
    d = SyntheticConfig()
    s.add_argument("--num-train", type=int, default=d.num_train, help=f"train images (default {d.num_train})")
    s.add_argument("--num-val", type=int, default=d.num_val, help=f"validation images (default {d.num_val})")
    s.add_argument("--num-test", type=int, default=d.num_test, help=f"test images (default {d.num_test})")
    s.add_argument("--image-size", type=int, nargs=2, default=list(d.image_size), metavar=("H", "W"), help="image size (default 256 256)")
    s.add_argument("--count-range", type=int, nargs=2, default=list(d.count_range), metavar=("LO", "HI"), help="cells per image (default 100 300)")
    s.add_argument("--max-overlap", type=float, default=d.max_overlap, help=f"overlap limit, fraction of two radii (default {d.max_overlap})")
    s.add_argument("--cluster-fraction", type=float, default=d.cluster_fraction, help=f"fraction of clustered cells (default {d.cluster_fraction})")
    s.add_argument("--photons", type=float, default=d.photons, help=f"photons per unit intensity; lower is noisier (default {d.photons})")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.dataset not in REGISTRY:
        source = own_dataset_source(args.dataset, args.mirror)
        args.name, args.source, args.dataset = args.name or args.dataset, source, "folder"
    spec: DatasetSpec = REGISTRY[args.dataset]
    cfg = None
    if spec.kind == "synthetic":
        cfg = dataclasses.replace(
            SyntheticConfig(),
            num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
            image_size=tuple(args.image_size), count_range=tuple(args.count_range),
            max_overlap=args.max_overlap, cluster_fraction=args.cluster_fraction, photons=args.photons,
        )
    overrides = {
        k: getattr(args, k)
        for k in ("n_train", "n_val", "val_fraction", "train_fraction")
        if getattr(args, k) is not None
    }
    t0 = time.perf_counter()
    out, meta = prepare(
        args.dataset, args.data_dir, mirror=args.mirror, source=args.source, seed=args.seed,
        out_name=args.name, synthetic=cfg, quiet=args.quiet, **overrides,
    )
    if not args.quiet:
        c = meta["counts"]
        parts = ", ".join(f"{k} {v['images']} images / {v['points']} points" for k, v in c.items() if v["images"])
        state = "verified" if meta["content_digest_verified"] else "recorded"
        print(
            f"{out}: {parts}; content digest {meta['content_digest']} ({state}); "
            f"{time.perf_counter() - t0:.1f} s"
        )
    return 0


if __name__ == "__main__":
    run_stage(main, extra_errors=(RuntimeError,))
