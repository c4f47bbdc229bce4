"""Stage ``report``: the study's tables and figures, rendered from what ``aggregate`` wrote.

    python -m experiments.report [--results results] [--data-dir data]

Reads only ``RESULTS/metrics.json``, ``runs.csv``, ``curves.csv``, ``qualitative.json`` (written
by :mod:`experiments.aggregate`) and, for the overlays, the prepared test image that
``qualitative.json`` names (``DATA_DIR/prepared/<dataset>/<image_file>``): every number shown
comes from those files. Writes, each file atomically:

* ``RESULTS/tables/main.{md,tex}``: dataset x method, F1, precision, recall, MAE, RMSE as
  mean ± sample std over seeds (a dash where there is a single seed), the best mean per dataset
  and column in bold (highest F1/P/R, lowest MAE/RMSE, compared as printed so ties are all bold);
* ``RESULTS/tables/ablation_<setting>.{md,tex}`` for each swept TG-HEM setting: value vs the
  same five metrics (one run each), best in bold;
* ``RESULTS/tables/comparison.{md,tex}``: per dataset and baseline, the paired comparison over
  (seed, test image) pairs: mean difference (tghem minus baseline) of per-image F1 and of
  per-image absolute count error with the bootstrap 95% CI, and the Wilcoxon p-value;
* ``RESULTS/figures/<name>.{png,pdf}``: ``methods`` (F1 and MAE per method, ± std),
  ``lambda_pers`` and ``ohem_min_kept`` (the ablations), ``training`` (loss and mean topological
  weight vs iteration), ``qualitative`` (TP/FP/FN of tghem and the best baseline on the example
  image) and ``persistence`` (what the topological discrepancy D of one crop measures).

The output is byte-identical for the same inputs: matplotlib's default style with fixed sizes,
fonts and resolution (Agg for PNG), no dates in the PDF or PNG metadata, and sorted orders everywhere.
Markdown tables are GitHub-flavoured; LaTeX tables are ``tabular`` environments that need
``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure  # figures without pyplot: no global state, no GUI backend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from tghem.rips import fast_rips_diagrams
from tghem.topology import diagram_distance, dot_points
from tghem.wasserstein import wasserstein_matching

from .cli import run_stage
from .datasets import read_image
from .fsutil import atomic_write_bytes, atomic_write_text
from .masks import dot_map
from .metrics import match_points
from .study import ABLATION_SETTINGS, BASELINE_REFERENCE

CREATOR = "python -m experiments.report"
# Fixed metadata: matplotlib would otherwise stamp the current date into every PDF.
PDF_METADATA = {"Creator": CREATOR, "Producer": None, "CreationDate": None, "ModDate": None}
PNG_METADATA = {"Software": CREATOR}
PNG_DPI = 150
STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # TrueType text: selectable and editable in the PDF
}
FIGURES = ("methods", "lambda_pers", "ohem_min_kept", "training", "qualitative", "persistence")
SMOOTHING_FRACTION = 0.02
"""The training curves are moving averages over this fraction of the iterations (at least 1)."""
# Colours of the detection overlay, readable on dark and light images alike.
TP_COLOR, FP_COLOR, FN_COLOR = "#4daf4a", "#e41a1c", "#ffd92f"
GT_COLOR, PRED_COLOR = "#377eb8", "#ff7f00"


@dataclass(frozen=True)
class Column:
    """A metric column of the tables: ``key`` in metrics.json, header, decimals, better direction."""

    key: str
    label: str
    decimals: int
    higher_is_better: bool


COLUMNS = (
    Column("f1", "F1", 3, True),
    Column("precision", "Precision", 3, True),
    Column("recall", "Recall", 3, True),
    Column("mae", "MAE", 2, False),
    Column("rmse", "RMSE", 2, False),
)


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text``; with ``spread`` it reads ``text ± spread`` (``'-'``: no spread)."""

    text: str
    spread: str | None = None
    bold: bool = False


@dataclass(frozen=True)
class Table:
    """A table to render as Markdown and LaTeX.

    Attributes:
        header: column titles.
        rows: rows of cells.
        align: one of ``l``/``r`` per column.
        groups: index of the first row of each group after the first (a rule in LaTeX).
        caption: sentence printed under the Markdown table and as a comment above the LaTeX one.
        notes: extra lines under the table.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    align: str
    groups: tuple[int, ...] = ()
    caption: str = ""
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- reading


def read_results(results: Path) -> dict:
    """The files of ``aggregate``: ``metrics``, ``qualitative`` (dicts), ``runs``, ``curves`` (CSV rows).

    Raises:
        FileNotFoundError: a file is missing (the message says how to make it).
    """
    out = {}
    for key, name in (("metrics", "metrics.json"), ("qualitative", "qualitative.json"), ("runs", "runs.csv"),
                      ("curves", "curves.csv")):
        path = results / name
        if not path.is_file():
            raise FileNotFoundError(
                f"--results: {path} does not exist; make it with `python -m experiments.aggregate --out {results}` "
                f"(or `dvc repro aggregate`)"
            )
        if name.endswith(".json"):
            out[key] = json.loads(path.read_text())
        else:
            with open(path, newline="") as f:
                out[key] = list(csv.DictReader(f))
    return out


# ----------------------------------------------------------------------------- tables


def format_number(value: float | None, decimals: int, signed: bool = False) -> str:
    """``value`` with ``decimals`` decimals (``'-'`` for None); never ``-0.000``."""
    if value is None:
        return "-"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if float(text) == 0:  # -0.000 and +0.000 read as a sign where there is none
        text = f"{0:.{decimals}f}"
    return text


def format_p(p: float | None) -> str:
    """A p-value with 3 decimals; ``<0.001`` where that would print 0.000; ``-`` for None."""
    if p is None:
        return "-"
    return "<0.001" if p < 0.0005 else f"{p:.3f}"


def seeds_text(counts) -> str:
    """``'3 seeds'``, ``'1 seed'``, ``'2 or 3 seeds'`` from the seed counts of a table or panel."""
    counts = sorted(set(counts))
    joined = " or ".join(str(n) for n in counts)
    return f"{joined} seed" + ("" if counts == [1] else "s")


def best_flags(values: Sequence[float | None], decimals: int, higher_is_better: bool) -> list[bool]:
    """Which of ``values`` is best as printed (ties all best); nothing is best among fewer than two."""
    shown = [None if v is None else float(format_number(v, decimals)) for v in values]
    present = [v for v in shown if v is not None]
    if len(present) < 2:
        return [False] * len(values)
    best = max(present) if higher_is_better else min(present)
    return [v == best for v in shown]


def main_table(metrics: dict) -> Table:
    """Dataset x method: mean ± std over seeds of the five table metrics."""
    rows, groups, seeds = [], [], set()
    for dataset, by_method in metrics["main"].items():
        if rows:
            groups.append(len(rows))
        methods = list(by_method)
        flags = {
            c.key: best_flags([by_method[m][c.key]["mean"] for m in methods], c.decimals, c.higher_is_better)
            for c in COLUMNS
        }
        for i, m in enumerate(methods):
            cells = [Cell(dataset), Cell(m)]
            for c in COLUMNS:
                s = by_method[m][c.key]
                seeds.add(s["n"])
                cells.append(Cell(format_number(s["mean"], c.decimals), format_number(s["std"], c.decimals), flags[c.key][i]))
            rows.append(tuple(cells))
    single = " (-: no spread with a single seed)" if 1 in seeds else ""
    caption = (
        f"Test split, mean ± sample standard deviation over {seeds_text(seeds)}{single}. F1, precision "
        f"and recall pool the matches of all test images; MAE and RMSE are per-image count errors. "
        f"Best mean per dataset in bold (highest F1, precision, recall; lowest MAE, RMSE)."
    )
    return Table(("Dataset", "Method", *(c.label for c in COLUMNS)), tuple(rows), "ll" + "r" * len(COLUMNS),
                 tuple(groups), caption)


def ablation_table(metrics: dict, runs: list[dict], setting: str) -> Table:
    """Value of one swept TG-HEM setting vs the five table metrics (one run per value)."""
    by_value = metrics["ablation"][setting]
    values = sorted(by_value, key=float)
    flags = {c.key: best_flags([by_value[v][c.key] for v in values], c.decimals, c.higher_is_better) for c in COLUMNS}
    rows = tuple(
        (Cell(v), *(Cell(format_number(by_value[v][c.key], c.decimals), None, flags[c.key][i]) for c in COLUMNS))
        for i, v in enumerate(values)
    )
    context = next((r for r in runs if r["group"] == "ablation" and r["setting"] == setting), None)
    where = f" on {context['dataset']}, seed {context['seed']}," if context else ""
    caption = (
        f"TG-HEM{where} with tghem.{setting} set to each value, every other setting as in the main "
        f"runs; one run per value, test split. Best per column in bold."
    )
    return Table((f"tghem.{setting}", *(c.label for c in COLUMNS)), rows, "r" * (1 + len(COLUMNS)), (), caption)


def _difference_cell(stats: dict, decimals: int) -> Cell:
    if stats["mean_diff"] is None:
        return Cell("-")
    text = format_number(stats["mean_diff"], decimals, signed=True)
    if stats["ci95_low"] is not None:
        low = format_number(stats["ci95_low"], decimals, signed=True)
        high = format_number(stats["ci95_high"], decimals, signed=True)
        text += f" [{low}, {high}]"
    return Cell(text)


def comparison_table(metrics: dict) -> Table:
    """Per dataset and baseline: pairs, mean difference [95% CI] and Wilcoxon p of F1 and |count error|."""
    rows, groups, notes = [], [], []
    for dataset, by_baseline in metrics["comparison"].items():
        if rows and by_baseline:
            groups.append(len(rows))
        for baseline, c in by_baseline.items():
            f1, err = c["f1"], c["abs_count_error"]
            rows.append((Cell(dataset), Cell(baseline), Cell(str(f1["n_pairs"])),
                         _difference_cell(f1, 3), Cell(format_p(f1["p_value"])),
                         _difference_cell(err, 2), Cell(format_p(err["p_value"]))))
            for quantity, s in (("F1", f1), ("|count error|", err)):
                if s["note"]:
                    notes.append(f"{dataset}, {baseline}, {quantity}: {s['note']}.")
    reference = BASELINE_REFERENCE
    caption = (
        f"Paired comparison over (seed, test image) pairs; differences are {reference} minus the baseline, so "
        f"a positive ΔF1 and a negative Δ|count error| favour {reference}. Mean difference with a paired "
        f"bootstrap 95% CI; p: two-sided Wilcoxon signed-rank test (zero differences dropped). The pairs "
        f"of one image under different seeds are not independent, which these intervals and tests ignore."
    )
    header = ("Dataset", "Baseline", "Pairs", "ΔF1 [95% CI]", "p (F1)", "Δ|count error| [95% CI]", "p (count)")
    return Table(header, tuple(rows), "llrrrrr", tuple(groups), caption, tuple(notes))


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: the table, then its caption and notes in italics."""
    def cell(c: Cell) -> str:
        main = f"**{c.text}**" if c.bold else c.text
        return _markdown_escape(main if c.spread is None else f"{main} ± {c.spread}")

    rule = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(_markdown_escape(h) for h in table.header) + " |",
             "| " + " | ".join(rule[a] for a in table.align) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    text = "\n".join(lines) + "\n"
    for line in (table.caption, *table.notes):
        if line:
            text += f"\n*{_markdown_escape(line)}*\n"
    return text


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$", "|": r"$|$",
    "<": r"$<$", ">": r"$>$",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (``dice_bce`` -> ``dice\\_bce``).

    A minus sign before a number becomes ``$-$`` (a hyphen would be printed otherwise).
    """
    escaped = "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)
    return re.sub(r"(?<![\w.])-(?=\d)", "$-$", escaped)


def render_latex(table: Table) -> str:
    """A booktabs ``tabular`` (``\\toprule``, ``\\midrule``, ``\\bottomrule``); caption and notes as comments."""
    def cell(c: Cell) -> str:
        main = latex_escape(c.text)
        if c.bold:
            main = rf"\textbf{{{main}}}"
        if c.spread is None:
            return main
        spread = "--" if c.spread == "-" else latex_escape(c.spread)
        return rf"{main} $\pm$ {spread}"

    lines = [f"% Generated by {CREATOR} from the files of experiments.aggregate; do not edit. Needs \\usepackage{{booktabs}}."]
    lines += [f"% {line}" for line in (table.caption, *table.notes) if line]
    lines += [rf"\begin{{tabular}}{{{table.align}}}", r"\toprule",
              " & ".join(latex_escape(h) for h in table.header) + r" \\", r"\midrule"]
    for i, row in enumerate(table.rows):
        if i in table.groups:
            lines.append(r"\midrule")
        lines.append(" & ".join(cell(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures


def save_figure(fig: Figure, folder: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.pdf`` atomically, with fixed metadata (no dates)."""
    written = []
    for fmt, extra in (("png", {"dpi": PNG_DPI, "metadata": PNG_METADATA}), ("pdf", {"metadata": PDF_METADATA})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, **extra)
        path = folder / f"{name}.{fmt}"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """One colour per method (matplotlib's tab10 in study order), the same in every figure."""
    palette = matplotlib.colormaps["tab10"].colors
    return {m: to_hex(palette[i % len(palette)]) for i, m in enumerate(methods)}


def methods_figure(metrics: dict) -> Figure:
    """F1 and MAE of every method (mean ± std over seeds), one row of two panels per dataset."""
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    fig = Figure(figsize=(7.0, 2.6 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for row, dataset in enumerate(datasets):
        by_method = metrics["main"][dataset]
        for ax, key, label in ((axes[row, 0], "f1", "F1 (test, pooled matches)"),
                               (axes[row, 1], "mae", "MAE (count error per image)")):
            means = [by_method[m][key]["mean"] for m in methods]
            stds = [by_method[m][key]["std"] for m in methods]
            x = np.arange(len(methods))
            ax.bar(x, [np.nan if v is None else v for v in means], color=[colors[m] for m in methods], width=0.65,
                   yerr=[0.0 if s is None else s for s in stds], capsize=3, error_kw={"elinewidth": 0.8})
            ax.set_xticks(x, methods)
            ax.set_ylabel(label)
            seeds = seeds_text(by_method[m][key]["n"] for m in methods)
            ax.set_title(f"{dataset}: {label.split(' ')[0]}, mean ± std over {seeds}")
            ax.set_ylim(0, 1.05 if key == "f1" else None)
    return fig


def ablation_figure(metrics: dict, runs: list[dict], setting: str) -> Figure:
    """F1 and MAE of TG-HEM against the value of one swept setting (log x for ``ohem_min_kept``)."""
    by_value = metrics["ablation"][setting]
    values = sorted(by_value, key=float)
    x = np.array([float(v) for v in values])
    context = next((r for r in runs if r["group"] == "ablation" and r["setting"] == setting), None)
    where = f" ({context['dataset']}, seed {context['seed']})" if context else ""
    label = {"lambda_pers": "λ (tghem.lambda_pers)\nweight of the topological discrepancy D",
             "ohem_min_kept": "OHEM top-k (tghem.ohem_min_kept)\nhard pixels kept at least per crop"}.get(setting, f"tghem.{setting}")
    color = method_colors(list(next(iter(metrics["main"].values()))))[BASELINE_REFERENCE]  # as in the other figures
    fig = Figure(figsize=(7.0, 2.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, ylabel in ((axes[0], "f1", "F1 (test, pooled matches)"), (axes[1], "mae", "MAE (count error per image)")):
        y = np.array([np.nan if by_value[v][key] is None else by_value[v][key] for v in values], float)
        ax.plot(x, y, marker="o", color=color)
        if setting == "ohem_min_kept":
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(x, values)
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
    fig.suptitle(f"TG-HEM{where}: tghem.{setting} swept, one run per value, test split")
    return fig


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average; near the ends the window shrinks to what is there."""
    window = min(window, len(values))
    if window <= 1:
        return values.astype(float)
    kernel = np.ones(window)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones(len(values)), kernel, mode="same")
    return sums / counts


def training_curves(curves: list[dict], dataset: str, method: str, field: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Iterations and (seeds, iterations) values of ``field`` for a method's main runs, or None.

    Only iterations that every seed logged are kept, so seeds line up; None when the field is
    empty (a method without a topological weight has no ``discrepancy_mean``).
    """
    per_seed: dict[str, dict[int, float]] = {}
    for r in curves:
        if r["group"] == "main" and r["dataset"] == dataset and r["method"] == method and r[field] != "":
            per_seed.setdefault(r["seed"], {})[int(r["iteration"])] = float(r[field])
    if not per_seed:
        return None
    common = sorted(set.intersection(*(set(v) for v in per_seed.values())))
    seeds = sorted(per_seed, key=int)
    return np.array(common), np.array([[per_seed[s][i] for i in common] for s in seeds])


def training_figure(metrics: dict, curves: list[dict]) -> Figure:
    """Loss and mean topological weight vs iteration: mean over seeds, min-max band, smoothed."""
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    fig = Figure(figsize=(7.0, 2.8 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    # One smoothing window for the whole figure, from the longest run.
    longest = max((int(r["iteration"]) for r in curves if r["group"] == "main"), default=0)
    window = max(1, int(round(SMOOTHING_FRACTION * longest)))
    for row, dataset in enumerate(datasets):
        loss_ax, weight_ax = axes[row]
        low, high = np.inf, -np.inf
        for m in methods:
            loss = training_curves(curves, dataset, m, "loss")
            if loss is None:
                continue
            iterations, values = loss
            smooth = np.array([moving_average(v, window) for v in values])
            low, high = min(low, smooth.min()), max(high, smooth.max())
            loss_ax.plot(iterations, smooth.mean(0), color=colors[m], lw=1.0, label=m)
            loss_ax.fill_between(iterations, smooth.min(0), smooth.max(0), color=colors[m], alpha=0.2, lw=0)
            # Methods without a topological term log a weight of 1 and no discrepancy: not drawn.
            if training_curves(curves, dataset, m, "discrepancy_mean") is not None:
                it_w, weights = training_curves(curves, dataset, m, "weight_mean")
                smooth_w = np.array([moving_average(v, window) for v in weights])
                weight_ax.plot(it_w, smooth_w.mean(0), color=colors[m], lw=1.0, label=m)
                weight_ax.fill_between(it_w, smooth_w.min(0), smooth_w.max(0), color=colors[m], alpha=0.2, lw=0)
        if 0 < low <= high:
            # Log scale: the losses differ in scale by orders of magnitude (TG-HEM's is weighted);
            # labelled ticks at 1-2-5 steps, finer when the curves span less than a decade.
            decades = math.log10(high / low)
            subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if decades < 1 else (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
            loss_ax.set_yscale("log")
            loss_ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
            loss_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            loss_ax.yaxis.set_minor_formatter(NullFormatter())
        loss_ax.set_title(f"{dataset}: training loss")
        loss_ax.set_xlabel("iteration")
        loss_ax.set_ylabel("loss (each method's own; scales differ)")
        weight_ax.set_title(f"{dataset}: mean topological weight of a batch")
        weight_ax.set_xlabel("iteration")
        weight_ax.set_ylabel("mean weight w = 1 + λD")
        if not weight_ax.lines:
            weight_ax.text(0.5, 0.5, "no method with a topological weight", ha="center", va="center",
                           transform=weight_ax.transAxes)
    n_seeds = len({r["seed"] for r in curves if r["group"] == "main"})
    smoothing = f"moving average over {window} iterations; " if window > 1 else ""
    fig.suptitle(f"Training of the main runs ({smoothing}line: mean over {seeds_text([n_seeds])}, band: min-max)")
    # One legend for both columns (the weight panel shows a subset of the methods).
    handles = [Line2D([], [], color=colors[m], lw=1.0, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(methods), frameon=False)
    return fig


def classify_detections(gt: np.ndarray, pred: np.ndarray, radius: float) -> dict[str, np.ndarray]:
    """TP/FP predictions and FN ground truth by :func:`experiments.metrics.match_points`.

    The same one-to-one matching within ``radius`` as the evaluation, so the counts equal the
    image's row of ``per_image.csv``.

    Returns:
        ``{"tp": predicted points matched, "fp": predicted points unmatched, "fn": ground-truth
        points unmatched, "tp_gt": ground-truth points matched}``, each (K, 2).
    """
    gt, pred = np.asarray(gt, float).reshape(-1, 2), np.asarray(pred, float).reshape(-1, 2)
    pairs = match_points(pred, gt, radius)
    matched_pred = np.zeros(len(pred), bool)
    matched_gt = np.zeros(len(gt), bool)
    matched_pred[pairs[:, 0]] = True
    matched_gt[pairs[:, 1]] = True
    return {"tp": pred[matched_pred], "fp": pred[~matched_pred], "fn": gt[~matched_gt], "tp_gt": gt[matched_gt]}


def best_baseline(metrics: dict, dataset: str) -> str | None:
    """The method other than tghem with the highest mean F1 on ``dataset`` (study order on ties)."""
    by_method = metrics["main"][dataset]
    others = [m for m in by_method if m != BASELINE_REFERENCE and by_method[m]["f1"]["mean"] is not None]
    return max(others, key=lambda m: by_method[m]["f1"]["mean"]) if others else None


def _show_image(ax, image: np.ndarray, extent=None) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", interpolation="nearest", extent=extent)
    else:
        ax.imshow(image[..., :3], interpolation="nearest", extent=extent)
    ax.set_xticks([])
    ax.set_yticks([])


def qualitative_figure(metrics: dict, qualitative: dict, image: np.ndarray) -> tuple[Figure, dict]:
    """The example image with tghem's and the best baseline's detections coloured TP/FP/FN.

    Returns:
        The figure and ``{method: {"tp", "fp", "fn"}}``, the counts it shows.

    Raises:
        ValueError: the matching disagrees with the evaluation's counts (stale files).
    """
    q = qualitative
    methods = [BASELINE_REFERENCE] + [m for m in [best_baseline(metrics, q["dataset"])] if m]
    gt = np.asarray(q["gt"], float).reshape(-1, 2)
    fig = Figure(figsize=(3.4 * len(methods), 3.9), layout="constrained")
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    shown = {}
    marker = max(2.0, 6.0 - len(gt) / 150)  # smaller markers on crowded images
    for ax, m in zip(axes, methods):
        parts = classify_detections(gt, q["pred"][m], q["match_radius"])
        counts = {k: len(parts[k]) for k in ("tp", "fp", "fn")}
        expected = {k: q["counts"][m][k] for k in counts}
        if counts != expected:
            raise ValueError(
                f"qualitative.json: matching {m}'s points gives {counts}, its per_image.csv row {expected}; "
                f"run `python -m experiments.aggregate` again"
            )
        shown[m] = counts
        _show_image(ax, image)
        ax.plot(parts["tp"][:, 0], parts["tp"][:, 1], "o", ms=marker, mfc="none", mec=TP_COLOR, mew=0.8)
        ax.plot(parts["fp"][:, 0], parts["fp"][:, 1], "x", ms=marker, color=FP_COLOR, mew=0.9)
        ax.plot(parts["fn"][:, 0], parts["fn"][:, 1], "s", ms=marker, mfc="none", mec=FN_COLOR, mew=0.8)
        c = q["crop"]
        ax.add_patch(Rectangle((c["x0"] - 0.5, c["y0"] - 0.5), c["width"], c["height"], fill=False, ec="white",
                               ls="--", lw=0.8))
        denominator = 2 * counts["tp"] + counts["fp"] + counts["fn"]
        f1 = 2 * counts["tp"] / denominator if denominator else 1.0
        ax.set_title(f"{m}: TP {counts['tp']}, FP {counts['fp']}, FN {counts['fn']} (F1 {f1:.3f})")
    handles = [
        Line2D([], [], ls="none", marker="o", mfc="none", mec=TP_COLOR, label="TP (matched prediction)"),
        Line2D([], [], ls="none", marker="x", color=FP_COLOR, label="FP (unmatched prediction)"),
        Line2D([], [], ls="none", marker="s", mfc="none", mec=FN_COLOR, label="FN (missed ground truth)"),
        Line2D([], [], color="black", ls="--", lw=0.8, label="crop of the persistence figure"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(
        f"{q['dataset']}, {q['split']} image {q['image_id']}, seed {q['seed']}: {len(gt)} ground-truth points, "
        f"one-to-one matching within {q['match_radius']:g} px\nimage choice: {q['selection']}"
    )
    return fig, shown


def crop_points(points: np.ndarray, crop: dict) -> np.ndarray:
    """Points whose pixel lies in the crop window, in the crop's coordinates (rounding half up)."""
    p = np.asarray(points, float).reshape(-1, 2)
    cols, rows = np.floor(p[:, 0] + 0.5), np.floor(p[:, 1] + 0.5)
    inside = ((cols >= crop["x0"]) & (cols < crop["x0"] + crop["width"])
              & (rows >= crop["y0"]) & (rows < crop["y0"] + crop["height"]))
    return p[inside] - np.array([crop["x0"], crop["y0"]], float)


def discrepancy_from_distances(h0: float, h1: float, reduction: str) -> float:
    """D from the two Wasserstein distances, as :func:`tghem.topology.points_discrepancy` combines them."""
    if reduction == "H1":
        return h1
    return (h0 + h1) / 2.0 if reduction == "mean" else h0 + h1


def persistence_data(qualitative: dict) -> dict:
    """Everything the persistence figure shows, computed with tghem's own functions.

    The ground truth of the crop is its dot map's non-zero pixels, as TG-HEM sees a training
    crop (:func:`experiments.masks.dot_map`, :func:`tghem.topology.dot_points`); the prediction is
    the tghem run's evaluated points in the window. Diagrams: :func:`tghem.rips.fast_rips_diagrams`
    at ``epsilon``; distances: :func:`tghem.topology.diagram_distance` (what TG-HEM computes);
    matchings: :func:`tghem.wasserstein.wasserstein_matching` (of equal cost).

    Returns:
        ``gt``, ``pred`` (points), ``gt_h0``, ``gt_h1``, ``pred_h0``, ``pred_h1`` (diagrams),
        ``w_h0``, ``w_h1``, ``discrepancy`` (D), ``weight`` (1 + lambda D), ``h0_pairs``,
        ``h1_pairs`` (rows ``(pred index, gt index)``, -1: the diagonal), ``epsilon``,
        ``lambda_pers``, ``reduction``.
    """
    q, crop = qualitative, qualitative["crop"]
    epsilon = float(q["epsilon"])
    gt = dot_points(dot_map(crop_points(q["gt"], crop), (crop["height"], crop["width"])))
    pred = crop_points(q["pred"][BASELINE_REFERENCE], crop)
    gt_h0, gt_h1 = fast_rips_diagrams(gt, epsilon)
    pred_h0, pred_h1 = fast_rips_diagrams(pred, epsilon)
    # The argument order of tghem.topology.points_discrepancy: prediction first.
    w_h0 = diagram_distance(pred_h0, gt_h0)
    w_h1 = diagram_distance(pred_h1, gt_h1)
    discrepancy = discrepancy_from_distances(w_h0, w_h1, q["topo_reduction"])
    return {
        "gt": gt, "pred": pred, "gt_h0": gt_h0, "gt_h1": gt_h1, "pred_h0": pred_h0, "pred_h1": pred_h1,
        "w_h0": w_h0, "w_h1": w_h1, "discrepancy": discrepancy, "weight": 1.0 + q["lambda_pers"] * discrepancy,
        "h0_pairs": wasserstein_matching(pred_h0, gt_h0)[1], "h1_pairs": wasserstein_matching(pred_h1, gt_h1)[1],
        "epsilon": epsilon, "lambda_pers": q["lambda_pers"], "reduction": q["topo_reduction"],
    }


def persistence_title(data: dict) -> str:
    """The figure's title: W(H0), W(H1), D and w with the numbers of :func:`persistence_data`."""
    formula = {"sum": "W(H0) + W(H1)", "mean": "(W(H0) + W(H1)) / 2", "H1": "W(H1)"}[data["reduction"]]
    return (
        f"W(H0) = {data['w_h0']:.3f}, W(H1) = {data['w_h1']:.3f}, D = {formula} = {data['discrepancy']:.3f}, "
        f"w = 1 + λD = 1 + {data['lambda_pers']:g} × {data['discrepancy']:.3f} = {data['weight']:.3f}"
    )


def _h0_panel(ax, data: dict) -> None:
    """H0 (every birth 0) as two columns of deaths, matched pairs joined; the matching on a line."""
    gt_d, pred_d = data["gt_h0"][:, 1], data["pred_h0"][:, 1]
    for i, j in data["h0_pairs"]:
        if i >= 0 and j >= 0:
            ax.plot([0, 1], [gt_d[j], pred_d[i]], color="0.55", lw=0.6, zorder=1)
    to_diagonal_gt = {j for i, j in data["h0_pairs"] if i < 0}
    to_diagonal_pred = {i for i, j in data["h0_pairs"] if j < 0}
    for x, deaths, unmatched, color, mark in ((0, gt_d, to_diagonal_gt, GT_COLOR, "o"),
                                              (1, pred_d, to_diagonal_pred, PRED_COLOR, "^")):
        keep = np.array([k not in unmatched for k in range(len(deaths))], bool)
        ax.scatter(np.full(keep.sum(), x), deaths[keep], s=14, color=color, marker=mark, zorder=2, lw=0)
        ax.scatter(np.full((~keep).sum(), x), deaths[~keep], s=14, facecolor="none", edgecolor=color, marker=mark,
                   zorder=2, lw=0.8)
    ax.set_xticks([0, 1], ["ground truth", f"prediction ({BASELINE_REFERENCE})"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(0, data["epsilon"] * 1.05)
    ax.set_ylabel("H0 death (px); every birth is 0")
    ax.set_title(f"H0 diagrams and optimal matching: W(H0) = {data['w_h0']:.3f}")
    ax.legend(handles=[
        Line2D([], [], color="0.55", lw=0.6, label="matched pair, cost |d - d'|"),
        Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", label="to the diagonal, cost d/√2"),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)


def _h1_panel(ax, data: dict) -> None:
    """The H1 diagrams in (birth, death) with the optimal matching (dashed: to the diagonal)."""
    gt, pred, eps = data["gt_h1"], data["pred_h1"], data["epsilon"]
    ax.plot([0, eps], [0, eps], color="0.3", lw=0.6)
    for i, j in data["h1_pairs"]:
        if i >= 0 and j >= 0:
            ax.plot([pred[i, 0], gt[j, 0]], [pred[i, 1], gt[j, 1]], color="0.55", lw=0.6)
        else:
            b, d = pred[i] if j < 0 else gt[j]
            ax.plot([b, (b + d) / 2], [d, (b + d) / 2], color="0.55", lw=0.6, ls="--")
    ax.scatter(gt[:, 0], gt[:, 1], s=14, color=GT_COLOR, marker="o", lw=0, label=f"ground truth ({len(gt)})")
    ax.scatter(pred[:, 0], pred[:, 1], s=14, color=PRED_COLOR, marker="^", lw=0,
               label=f"prediction ({len(pred)})")
    ax.set_xlim(0, eps * 1.05)
    ax.set_ylim(0, eps * 1.05)
    ax.set_aspect("equal")
    ax.set_xlabel("H1 birth (px)")
    ax.set_ylabel("H1 death (px)")
    ax.set_title(f"H1 diagrams and optimal matching: W(H1) = {data['w_h1']:.3f}")
    ax.legend(handles=[*ax.collections,
                       Line2D([], [], color="0.55", lw=0.6, label="matched pair"),
                       Line2D([], [], color="0.55", lw=0.6, ls="--", label="to the diagonal")],
              loc="lower right", frameon=False)


def persistence_figure(qualitative: dict, image: np.ndarray) -> tuple[Figure, dict]:
    """One crop: the two point sets, their H0 and H1 diagrams and the optimal W1 matchings.

    Returns:
        The figure and :func:`persistence_data`.
    """
    q, c = qualitative, qualitative["crop"]
    data = persistence_data(q)
    fig = Figure(figsize=(10.5, 3.9), layout="constrained")
    crop_ax, h0_ax, h1_ax = fig.subplots(1, 3, width_ratios=[1.0, 0.8, 1.0])
    window = image[c["y0"]:c["y0"] + c["height"], c["x0"]:c["x0"] + c["width"]]
    _show_image(crop_ax, window, extent=(-0.5, c["width"] - 0.5, c["height"] - 0.5, -0.5))
    crop_ax.plot(data["gt"][:, 0], data["gt"][:, 1], "o", ms=5, mfc="none", mec=GT_COLOR, mew=1.0,
                 label=f"ground truth ({len(data['gt'])})")
    crop_ax.plot(data["pred"][:, 0], data["pred"][:, 1], "^", ms=3.5, color=PRED_COLOR,
                 label=f"{BASELINE_REFERENCE} prediction ({len(data['pred'])})")
    crop_ax.set_title(f"{c['width']}x{c['height']} crop at x = {c['x0']}, y = {c['y0']} of image {q['image_id']}")
    crop_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False, ncols=2)
    _h0_panel(h0_ax, data)
    _h1_panel(h1_ax, data)
    fig.suptitle(f"Vietoris-Rips persistence at ε = {data['epsilon']:g} px, seed {q['seed']}: " + persistence_title(data))
    return fig, data


# ----------------------------------------------------------------------------- the stage


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
    image_path = data_dir / "prepared" / q["dataset"] / q["image_file"]
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
    tables.update({f"ablation_{s}": ablation_table(metrics, runs, s) for s in ABLATION_SETTINGS})
    for name in ("main", *(f"ablation_{s}" for s in ABLATION_SETTINGS), "comparison"):
        for suffix, render in (("md", render_markdown), ("tex", render_latex)):
            path = results / "tables" / f"{name}.{suffix}"
            atomic_write_text(path, render(tables[name]))
            written.append(path)
    figures: dict[str, Callable[[], Figure]] = {
        "methods": lambda: methods_figure(metrics),
        "lambda_pers": lambda: ablation_figure(metrics, runs, "lambda_pers"),
        "ohem_min_kept": lambda: ablation_figure(metrics, runs, "ohem_min_kept"),
        "training": lambda: training_figure(metrics, curves),
        "qualitative": lambda: qualitative_figure(metrics, q, image)[0],
        "persistence": lambda: persistence_figure(q, image)[0],
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


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the stage."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.report",
        description=textwrap.fill(
            "Render the study's tables (Markdown and LaTeX/booktabs) and figures (PNG and PDF) from "
            "the files of python -m experiments.aggregate only (metrics.json, runs.csv, curves.csv, "
            "qualitative.json in --results) plus the prepared example image under --data-dir. "
            "Byte-identical output for identical inputs.",
            width=88,
        ),
        epilog=(
            "writes:\n"
            "  RESULTS/tables/main.{md,tex}             dataset x method: F1, P, R, MAE, RMSE (mean ± std), best bold\n"
            "  RESULTS/tables/ablation_<setting>.{md,tex} value of tghem.<setting> vs the same metrics\n"
            "  RESULTS/tables/comparison.{md,tex}       tghem - baseline: mean diff [95% CI], Wilcoxon p\n"
            "  RESULTS/figures/<name>.{png,pdf}         " + ", ".join(FIGURES) + "\n\n"
            "examples:\n"
            "  python -m experiments.report\n"
            "  python -m experiments.report --results results --data-dir data\n"
            "  python -m experiments.report --readme README.md   # also refresh the README's results table"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--results", type=Path, default=Path("results"), help="folder written by experiments.aggregate (default: results)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data folder with prepared/<dataset> (default: data)")
    p.add_argument("--readme", type=Path, default=None, metavar="README",
                   help="also copy tables/main.md into README's block between "
                        "'<!-- results/tables/main.md -->' and '<!-- /results/tables/main.md -->'")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stage; returns the exit status (argument errors exit with status 2)."""
    args = build_parser().parse_args(argv)
    written = report(args.results, args.data_dir)
    if args.readme is not None:
        embed_table(args.readme, Path(args.results) / "tables" / "main.md")
    if not args.quiet:
        print(f"{args.results}: {len(written)} files in tables/ and figures/")
    return 0


if __name__ == "__main__":
    run_stage(main)
