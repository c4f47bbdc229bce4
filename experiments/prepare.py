"""Stage ``prepare``: download or generate a dataset and write its prepared folder.

    python -m experiments.prepare --dataset NAME [--mirror DIR] [--data-dir DIR] [--seed N]

A thin command line over :func:`experiments.data.preparation.prepare`: ``<data-dir>/raw/NAME/``
(the published files, or the generated ones) and ``<data-dir>/prepared/NAME/`` (see
:mod:`experiments.core.prepared`). Reruns with the same arguments give byte-identical output.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from .core.cli import add_quiet_option, run_stage, stage_parser
from .data.download import MIRROR_ENV
from .data.preparation import prepare
from .data.registry import REGISTRY
from .data.synthetic import SyntheticConfig


def _registry_table() -> str:
    rows = [f"  {s.name:<15} {s.kind:<9} {s.title}" for s in REGISTRY.values()]
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = stage_parser(
        "python -m experiments.prepare",
        "Download (or generate) a dataset into <data-dir>/raw/NAME/ and write the prepared "
        "format into <data-dir>/prepared/NAME/: images as published, points/<id>.csv "
        "(x = column, y = row, 0-based), split.csv (train/val/test[/unused]) and meta.json "
        "(source, content digest, counts, sizes, licence, citation). Deterministic: reruns "
        "give byte-identical output. Downstream code reads it with "
        "experiments.core.prepared.load_split(prepared_dir, split).",
        "datasets:\n" + _registry_table() + "\n\n"
        f"Offline: --mirror DIR (or ${MIRROR_ENV}) is a folder holding, per dataset, the "
        "archive under its published name or the extracted published layout, e.g. "
        "--mirror ../shared/datasets for vgg_cells, mbm and adi.\n"
        "examples:\n"
        "  python -m experiments.prepare --dataset synthetic\n"
        "  python -m experiments.prepare --dataset vgg_cells --mirror ../shared/datasets --n-train 32\n"
        "  python -m experiments.prepare --dataset shanghaitech_b --mirror /data/crowd\n"
        "  python -m experiments.prepare --dataset folder --source my_cells/ --name my_cells\n"
        "  python -m experiments.prepare --dataset my_cells --mirror DIR   # DIR/my_cells/images, points/",
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="registry name (see below), or the name of your own dataset in the folder layout under the mirror (MIRROR/NAME/images, points/ or dots/)")
    p.add_argument("--data-dir", default="data", type=Path, help="data folder (default: data/, git-ignored)")
    p.add_argument("--mirror", type=Path, default=None, help=f"local mirror folder (default: ${MIRROR_ENV} if set)")
    p.add_argument("--source", type=Path, default=None, help="folder with the published layout, read in place (required for 'folder')")
    p.add_argument("--name", default=None, help="name of the prepared folder (default: the dataset name)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split draws and of the synthetic generator (default 0)")
    p.add_argument("--mask-radius", default=None, type=_radius, metavar="R",
                   help="training-disk radius (pixels, or 'adaptive') that meta.json records for the dataset, "
                        "instead of the registry's (vgg_cells, adi: 3; mbm: 5; crowd sets: adaptive)")
    g = p.add_argument_group("split overrides (defaults come from the registry's protocol)")
    g.add_argument("--n-train", type=int, default=None, help="train images (vgg_cells: 32; mbm: 15; adi: 50)")
    g.add_argument("--n-val", type=int, default=None, help="validation images (vgg_cells: 32; mbm, adi: 0)")
    g.add_argument("--val-fraction", type=float, default=None, help="val share: of official train (crowd sets: 0.1), of what split.csv leaves (folder: 0.2)")
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
    add_quiet_option(p, "no progress output")
    return p


def _radius(text: str) -> float | str:
    """``--mask-radius``: a number, or 'adaptive'."""
    if text == "adaptive":
        return text
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'adaptive', got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status."""
    args = build_parser().parse_args(argv)
    synthetic = dataclasses.replace(
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
        out_name=args.name, synthetic=synthetic, quiet=args.quiet, mask_radius=args.mask_radius, **overrides,
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
