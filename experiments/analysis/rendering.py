"""The study's tables and figures, rendered from what ``aggregate`` wrote: what ``report`` runs.

Reads only ``RESULTS/metrics.json``, ``runs.csv``, ``curves.csv``, ``qualitative.json`` and, to
show it, the prepared test image that ``qualitative.json`` names
(``DATA_DIR/prepared/<dataset>/<image_file>``): every number drawn comes from those files.
Writes, each file atomically:

* ``RESULTS/tables/{main,ablation_<name>,comparison}.{md,tex}`` (:mod:`experiments.analysis.tables`);
* ``RESULTS/figures/<name>.{png,pdf}`` for the names of :data:`FIGURES`
  (:mod:`experiments.analysis.figures`, :mod:`experiments.analysis.example_figures`).

The output is byte-identical for the same inputs: fixed figure sizes, fonts, resolution and
metadata, and sorted orders everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import matplotlib
import matplotlib.style
import pandas as pd
from matplotlib.figure import Figure

from ..core.fsutil import atomic_write_text
from ..core.prepared import prepared_dir, read_image
from .example_figures import persistence_figure, qualitative_figure
from .figures import STYLE, ablation_figure, methods_figure, save_figure, training_figure
from .study import ABLATIONS
from .tables import ablation_table, comparison_table, main_table, render_latex, render_markdown

TABLES = ("main", *(f"ablation_{name}" for name in ABLATIONS), "comparison")
FIGURES = ("methods", *ABLATIONS, "training", "qualitative", "persistence")
RESULT_FILES = {"metrics": "metrics.json", "qualitative": "qualitative.json", "runs": "runs.csv", "curves": "curves.csv"}


def read_results(results: Path) -> dict:
    """The files of ``aggregate``: ``metrics``, ``qualitative`` (dicts), ``runs``, ``curves`` (DataFrames).

    Raises:
        FileNotFoundError: a file is missing (the message says how to make it).
    """
    out = {}
    for key, name in RESULT_FILES.items():
        path = results / name
        if not path.is_file():
            raise FileNotFoundError(
                f"--results: {path} does not exist; make it with `python -m experiments.aggregate --out {results}` "
                f"(or `dvc repro aggregate`)"
            )
        if name.endswith(".json"):
            out[key] = json.loads(path.read_text())
        else:
            out[key] = pd.read_csv(path, dtype={"setting": str, "value": str, "dataset": str, "method": str})
    return out


def report(results: str | Path = "results", data_dir: str | Path = "data") -> list[Path]:
    """Write every table and figure of the study from ``aggregate``'s files.

    Args:
        results: the folder ``python -m experiments.aggregate`` wrote (``--out``).
        data_dir: data folder holding ``prepared/<dataset>`` (for the example image).

    Returns:
        The files written, in order.
    """
    results, data_dir = Path(results), Path(data_dir)
    r = read_results(results)
    metrics, runs, curves, q = r["metrics"], r["runs"], r["curves"], r["qualitative"]
    image_path = prepared_dir(data_dir, q["dataset"]) / q["image_file"]
    if not image_path.is_file():
        raise FileNotFoundError(
            f"--data-dir: {image_path} does not exist; prepare the dataset with "
            f"`python -m experiments.prepare --dataset {q['dataset']} --data-dir {data_dir}`"
        )
    image = read_image(image_path)
    if list(image.shape[:2]) != list(q["image_shape"]):
        raise ValueError(f"{image_path}: shape {image.shape[:2]}, qualitative.json says {q['image_shape']}; "
                         f"run `python -m experiments.aggregate` again")
    written: list[Path] = []
    tables = {"main": main_table(metrics), "comparison": comparison_table(metrics)}
    tables.update({f"ablation_{name}": ablation_table(metrics, runs, name) for name in ABLATIONS})
    for name in TABLES:
        for suffix, render in (("md", render_markdown), ("tex", render_latex)):
            path = results / "tables" / f"{name}.{suffix}"
            atomic_write_text(path, render(tables[name]))
            written.append(path)
    figures: dict[str, Callable[[], Figure]] = {
        "methods": lambda: methods_figure(metrics),
        **{name: (lambda name=name: ablation_figure(metrics, runs, name)) for name in ABLATIONS},
        "training": lambda: training_figure(metrics, curves),
        "qualitative": lambda: qualitative_figure(q, image),
        "persistence": lambda: persistence_figure(q, image),
    }
    for name in FIGURES:
        with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
            written += save_figure(figures[name](), results / "figures", name)
    return written


def readme_block_markers(name: str = "main") -> tuple[str, str]:
    """The HTML comments around a table embedded in a README."""
    return f"<!-- results/tables/{name}.md -->", f"<!-- /results/tables/{name}.md -->"


def embed_table(readme: str | Path, table: str | Path, name: str = "main") -> bool:
    """Replace the block between :func:`readme_block_markers` in ``readme`` with ``table``'s text.

    Returns:
        Whether the file changed.

    Raises:
        ValueError: the README lacks the two markers, in order.
    """
    readme = Path(readme)
    text = readme.read_text()
    start, end = readme_block_markers(name)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"--readme: {readme} has no block {start} ... {end} to fill")
    new = text[: i + len(start)] + "\n" + Path(table).read_text().rstrip("\n") + "\n" + text[j:]
    if new != text:
        atomic_write_text(readme, new)
    return new != text
