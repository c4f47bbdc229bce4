"""The study's figures of numbers: methods, ablations and training curves (PNG and PDF).

* ``methods``: F1 and MAE per method, mean ± std over seeds, one row per dataset;
* ``<ablation>`` (``lambda_pers``, ``ohem_min_kept``): F1 and MAE of TG-HEM against the swept value;
* ``training``: loss and mean topological weight against iteration (mean over seeds, min-max band).

Figures are drawn without pyplot (no global state, no GUI backend) in matplotlib's default
style with the fixed sizes of :data:`STYLE`, and saved with fixed metadata (no dates), so the
same inputs give the same bytes. :mod:`experiments.analysis.example_figures` draws the two
illustrative figures.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from ..core.fsutil import atomic_write_bytes
from .study import ABLATIONS, BASELINE_REFERENCE
from .tables import CREATOR, seeds_text

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
SMOOTHING_FRACTION = 0.02
"""The training curves are moving averages over this fraction of their points (at least 1)."""
ABLATION_LABELS = {
    "lambda_pers": "λ (tghem.lambda_pers)\nweight of the topological discrepancy D",
    "ohem_min_kept": "OHEM top-k (ohem.min_kept)\nhard pixels kept at least per crop",
}


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


def ablation_figure(metrics: dict, runs: pd.DataFrame, name: str) -> Figure:
    """F1 and MAE of TG-HEM against the value of one swept setting (log x for ``ohem_min_kept``)."""
    by_value = metrics["ablation"][name]
    values = sorted(by_value, key=float)
    x = np.array([float(v) for v in values])
    context = runs[(runs["group"] == "ablation") & (runs["setting"] == name)]
    where = f" ({context['dataset'].iloc[0]}, seed {context['seed'].iloc[0]})" if len(context) else ""
    label = ABLATION_LABELS.get(name, ABLATIONS[name])
    color = method_colors(list(next(iter(metrics["main"].values()))))[BASELINE_REFERENCE]  # as in the other figures
    fig = Figure(figsize=(7.0, 2.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, ylabel in ((axes[0], "f1", "F1 (test, pooled matches)"), (axes[1], "mae", "MAE (count error per image)")):
        y = np.array([np.nan if by_value[v][key] is None else by_value[v][key] for v in values], float)
        ax.plot(x, y, marker="o", color=color)
        if name == "ohem_min_kept":
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(x, values)
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
    fig.suptitle(f"TG-HEM{where}: {ABLATIONS[name]} swept, one run per value, test split")
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


def training_curves(curves: pd.DataFrame, dataset: str, method: str, field: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Iterations and (seeds, points) values of ``field`` for a method's main runs, or None.

    Only iterations that every seed logged are kept, so seeds line up; None when the field is
    empty (a method without a topological weight has no ``discrepancy_mean``).
    """
    rows = curves[(curves["group"] == "main") & (curves["dataset"] == dataset) & (curves["method"] == method)]
    rows = rows[rows[field].notna()]
    if rows.empty:
        return None
    table = rows.pivot(index="iteration", columns="seed", values=field).dropna().sort_index()
    table = table[sorted(table.columns)]
    return table.index.to_numpy(), table.to_numpy().T


def training_figure(metrics: dict, curves: pd.DataFrame) -> Figure:
    """Loss and mean topological weight vs iteration: mean over seeds, min-max band, smoothed."""
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    fig = Figure(figsize=(7.0, 2.8 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    # One smoothing window for the whole figure, from the run with the most points.
    main = curves[curves["group"] == "main"]
    longest = int(main.groupby(["dataset", "method", "seed"]).size().max()) if len(main) else 0
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
    n_seeds = main["seed"].nunique()
    # curves.csv holds block means of the logged iterations; say how long a block is.
    spacing = main.groupby(["dataset", "method", "seed"])["iteration"].diff().dropna()
    block = int(spacing.median()) if len(spacing) else 1
    points = f"a point is the mean of {block} iterations; " if block > 1 else ""
    smoothing = f"moving average over {window} points; " if window > 1 else ""
    fig.suptitle(f"Training of the main runs ({points}{smoothing}line: mean over {seeds_text([n_seeds])}, band: min-max)")
    # One legend for both columns (the weight panel shows a subset of the methods).
    handles = [Line2D([], [], color=colors[m], lw=1.0, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(methods), frameon=False)
    return fig
