"""The study's tables and figures, rendered from what ``aggregate`` wrote: what ``report`` runs.

Reads only ``RESULTS/metrics.json``, ``runs.csv``, ``curves.csv``, ``val_curves.csv``, ``qualitative.json`` and, to
show it, the prepared test image that ``qualitative.json`` names
(``DATA_DIR/prepared/<dataset>/<image_file>``): every number drawn comes from those files.
Writes:

* ``RESULTS/tables/{main,ablation_<name>,comparison,dynamics,convergence,anchors}.{md,tex}``
  (:mod:`experiments.analysis.tables`, :mod:`experiments.analysis.anchors`);
* ``RESULTS/tables/findings.md``: the effects and failed runs in words (:mod:`experiments.analysis.findings`);
* ``RESULTS/figures/<name>.{png,pdf}`` for the names of :data:`FIGURES`
  (:mod:`experiments.analysis.figures`, :mod:`experiments.analysis.example_figures`);
* ``RESULTS/headline/<dataset>.json``: the main table's F1 and MAE means per method, the DVC
  metrics of the study (:mod:`experiments.analysis.headline`).

The folders are built beside their final place and renamed into it once everything is
rendered, so a failed or interrupted report (Ctrl-C) leaves the previous ``tables/`` and
``figures/`` as they were (``dvc.yaml`` marks them ``persist`` so that DVC does not delete them
before the stage runs either), and files no longer made do not linger.

The output is byte-identical for the same inputs: fixed figure sizes, fonts, resolution and
metadata, and sorted orders everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib
import matplotlib.style
from matplotlib.figure import Figure

from ..core.fsutil import atomic_write_text, json_text, read_json
from ..core.outputs import atomic_dir, settle
from ..core.prepared import prepared_dir, read_image
from .example_figures import persistence_figure, qualitative_figure
from .findings import findings_markdown
from .anchors import anchors_table
from .figures import STYLE, ablation_figure, convergence_figure, dynamics_figure, methods_figure, save_figure, training_figure
from .headline import headline_metrics
from .readers import parsed_csv
from .study import ABLATIONS
from .diagnostics import convergence_table, dynamics_table
from .tables import (ablation_table, comparison_table, main_table, render_latex,
                     render_markdown)

TABLES = ("main", *(f"ablation_{name}" for name in ABLATIONS), "comparison", "dynamics", "convergence", "anchors")
"""Every table a study can have, in order; a study renders the ablations it sweeps (``metrics["ablation"]``)."""
FINDINGS = "findings.md"
"""The generated prose of the effects, beside the tables (``report --readme`` embeds it too)."""
FIGURES = ("methods", *ABLATIONS, "training", "convergence", "dynamics", "qualitative", "persistence")


def rendered_names(metrics: dict) -> tuple[list[str], list[str]]:
    """The tables and figures a study renders: every one of :data:`TABLES` and :data:`FIGURES`
    but the ablations it does not sweep (``metrics["ablation"]``)."""
    skipped = {name for name in ABLATIONS if name not in metrics["ablation"]}
    return ([t for t in TABLES if t.removeprefix("ablation_") not in skipped],
            [f for f in FIGURES if f not in skipped])


METRICS_SECTIONS = ("main", "comparison", "ablation", "convergence", "dynamics", "failed")
"""The sections of ``metrics.json`` every study's report reads (objects; the others are optional)."""
RESULT_FILES = {"metrics": "metrics.json", "qualitative": "qualitative.json", "runs": "runs.csv", "curves": "curves.csv",
                "val_curves": "val_curves.csv"}


def read_results(results: Path) -> dict:
    """The files of ``aggregate``: ``metrics``, ``qualitative`` (dicts), ``runs``, ``curves`` (DataFrames).

    Raises:
        FileNotFoundError: a file is missing (the message says how to make it).
        ValueError: a file is damaged (truncated, not JSON/CSV, NaN in a JSON file; the message
            names it and says how to make it again).
    """
    settle(results)  # an aggregate killed while publishing: finish it (all new files)
    out = {}
    make = f"`python -m experiments.aggregate --out {results}` (or `dvc repro aggregate`)"
    fix = f"make it again with {make}"
    for key, name in RESULT_FILES.items():
        path = results / name
        if not path.is_file():
            raise FileNotFoundError(f"--results: {path} does not exist; make it with {make}")
        if name.endswith(".json"):
            out[key] = read_json(path, fix)
            if not isinstance(out[key], dict):
                raise ValueError(f"{path}: expected a JSON object, got {type(out[key]).__name__}; {fix}")
            continue
        out[key] = parsed_csv(path, (), fix, dtype={"setting": str, "value": str, "dataset": str, "method": str})
    missing = [k for k in ("dataset", "image_file", "image_shape") if k not in out["qualitative"]]
    if missing:
        raise ValueError(f"{results / RESULT_FILES['qualitative']}: keys {missing} missing; {fix}")
    shape = out["qualitative"]["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ValueError(f"{results / RESULT_FILES['qualitative']}: image_shape is {shape!r}, expected [H, W]; {fix}")
    missing = [k for k in METRICS_SECTIONS if not isinstance(out["metrics"].get(k), dict)]
    if missing:
        raise ValueError(f"{results / RESULT_FILES['metrics']}: sections {missing} missing or not objects "
                         f"(it holds {sorted(out['metrics'])}); {fix}")
    return out


def report(results: str | Path = "results", data_dir: str | Path = "data") -> list[Path]:
    """Write every table and figure of the study from ``aggregate``'s files.

    Args:
        results: the folder ``python -m experiments.aggregate`` wrote (``--out``).
        data_dir: data folder holding ``prepared/<dataset>`` (for the example image).

    Returns:
        The files written, in order.

    Raises:
        FileNotFoundError: an input is missing (the message says how to make it).
        ValueError: an input is damaged or does not match the example image.
        PermissionError: ``results`` cannot be written (the message names it).
    """
    results, data_dir = Path(results), Path(data_dir)
    r = read_results(results)
    metrics, runs, curves, q = r["metrics"], r["runs"], r["curves"], r["qualitative"]
    prepared = prepared_dir(data_dir, q["dataset"])
    image_path = prepared / q["image_file"] if isinstance(q["image_file"], str) else None
    if image_path is None or not image_path.resolve().is_relative_to((prepared / "images").resolve()):
        raise ValueError(f"{results / RESULT_FILES['qualitative']}: image_file {q['image_file']!r} is not an image "
                         f"under {prepared / 'images'}; report reads only the prepared data of --data-dir: make it "
                         f"again with `python -m experiments.aggregate --out {results}`")
    if not image_path.is_file():
        raise FileNotFoundError(
            f"--data-dir: {image_path} does not exist; prepare the dataset with "
            f"`python -m experiments.prepare --dataset {q['dataset']} --data-dir {data_dir}`"
        )
    image = read_image(image_path)
    if list(image.shape[:2]) != list(q["image_shape"]):
        raise ValueError(f"{image_path}: shape {image.shape[:2]}, qualitative.json says {q['image_shape']}; "
                         f"run `python -m experiments.aggregate` again")
    tables = {"main": main_table(metrics), "comparison": comparison_table(metrics), "dynamics": dynamics_table(metrics),
              "convergence": convergence_table(metrics), "anchors": anchors_table(metrics)}
    swept = [name for name in ABLATIONS if name in metrics["ablation"]]
    tables.update({f"ablation_{name}": ablation_table(metrics, runs, name) for name in swept})
    figures: dict[str, Callable[[], Figure]] = {
        "methods": lambda: methods_figure(metrics, runs),
        **{name: (lambda name=name: ablation_figure(metrics, runs, name)) for name in swept},
        "training": lambda: training_figure(metrics, curves),
        "convergence": lambda: convergence_figure(metrics, r["val_curves"]),
        "dynamics": lambda: dynamics_figure(metrics, curves),
        "qualitative": lambda: qualitative_figure(q, image),
        "persistence": lambda: persistence_figure(q, image),
    }
    headline = headline_metrics(metrics)
    names: list[str] = []
    # Rendered into temporary folders; all are renamed into place only once every file is made.
    # A folder without a marker is a previous output when it holds only names the report writes (a
    # user's notes.pdf among the figures is not, and is never deleted).
    tables_ok = lambda entries: entries <= {f"{t}.{s}" for t in TABLES for s in ("md", "tex")} | {FINDINGS}  # noqa: E731
    figures_ok = lambda entries: entries <= {f"{f}.{s}" for f in FIGURES for s in ("png", "pdf")}  # noqa: E731
    headline_ok = lambda entries: all(Path(n).suffix == ".json" for n in entries)  # noqa: E731
    with atomic_dir(results / "tables", "report", "--results", tables_ok) as table_dir, \
            atomic_dir(results / "figures", "report", "--results", figures_ok) as figure_dir, \
            atomic_dir(results / "headline", "report", "--results", headline_ok) as headline_dir:
        for dataset, by_method in headline.items():
            (headline_dir / f"{dataset}.json").write_bytes(json_text(by_method).encode("utf-8"))
            names.append(f"headline/{dataset}.json")
        table_names, figure_names = rendered_names(metrics)
        for name in table_names:
            for suffix, render in (("md", render_markdown), ("tex", render_latex)):
                (table_dir / f"{name}.{suffix}").write_bytes(render(tables[name]).encode("utf-8"))
                names.append(f"tables/{name}.{suffix}")
        (table_dir / FINDINGS).write_bytes(findings_markdown(metrics).encode("utf-8"))
        names.append(f"tables/{FINDINGS}")
        for name in figure_names:
            with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
                names += [f"figures/{p.name}" for p in save_figure(figures[name](), figure_dir, name)]
    return [results / n for n in names]


def readme_block_markers(table: str | Path = "results/cells/tables/main.md") -> tuple[str, str]:
    """The HTML comments around a table embedded in a README: the table's path, as given."""
    name = Path(table).as_posix()
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def has_block(readme: str | Path, table: str | Path) -> bool:
    """Whether ``readme`` has the two markers of ``table``'s block, in order."""
    text = Path(readme).read_text()
    start, end = readme_block_markers(table)
    return 0 <= text.find(start) < text.find(end)


def embed_table(readme: str | Path, table: str | Path) -> bool:
    """Replace the block between :func:`readme_block_markers` of ``table`` in ``readme`` with ``table``'s text.

    Returns:
        Whether the file changed.

    Raises:
        ValueError: the README lacks the two markers, in order.
    """
    readme = Path(readme)
    text = readme.read_text()
    start, end = readme_block_markers(table)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"--readme: {readme} has no block {start} ... {end} to fill")
    new = text[: i + len(start)] + "\n" + Path(table).read_text().rstrip("\n") + "\n" + text[j:]
    if new != text:
        atomic_write_text(readme, new)
    return new != text


def embed_in_readme(readme: str | Path, results: str | Path) -> list[Path]:
    """Copy ``RESULTS/tables/main.md`` into ``readme``'s block, and ``findings.md`` where ``readme`` has its block.

    Returns:
        The tables whose blocks changed.

    Raises:
        ValueError: ``readme`` lacks the block of ``main.md``.
    """
    tables = Path(results) / "tables"
    changed = [tables / "main.md"] if embed_table(readme, tables / "main.md") else []
    findings = tables / FINDINGS
    if has_block(readme, findings) and embed_table(readme, findings):
        changed.append(findings)
    return changed
