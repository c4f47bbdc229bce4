"""The study's figures of numbers: methods, ablations and training curves (PNG and PDF).

* ``methods``: F1 and MAE per method, the mean as a bar and every seed as a dot, one row per dataset;
* ``<ablation>`` (each one the study sweeps: :data:`~experiments.analysis.study.ABLATIONS`): val and test F1 and test
  MAE of TG-HEM against the swept value, mean (± std, F1 clipped to [0, 1], with several seeds);
* ``training``: loss and mean topological weight against iteration (mean over seeds, min-max band);
* ``convergence``: validation F1 against iteration, per dataset and method;
* ``dynamics``: mean discrepancy D, crop weight and count error against iteration, per dataset.

Titles are wrapped to the width they have (:func:`set_suptitle`, :func:`set_title`) and method
names on an x axis slanted (:func:`slanted_ticks`), so no text leaves the figure or runs into
another at the rendered size (tests/experiments/analysis/test_figures.py checks the bounding
boxes). Figures are drawn without pyplot (no global state, no GUI backend) in matplotlib's default
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
from .ablations import ablation_points
from .formatting import seeds_text
from .study import ABLATIONS, BASELINE_REFERENCE
from .tables import CREATOR

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
    "top_dimension": "tghem.top_dimension\n(true: the definition's diagrams)",
}


def wrapped(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points.

    A character of matplotlib's default font (DejaVu Sans) is at most about 0.62 em wide on
    average over a line of text; lines are cut at spaces.

    Example:
        >>> print(wrapped("one two three four five six seven eight nine", 1.0, 8))
        one two three
        four five six
        seven eight
        nine
    """
    import textwrap

    chars = max(8, int(width_in * 72 / (0.62 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


def set_suptitle(fig: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width (never clipped at its edges)."""
    size = matplotlib.rcParams["figure.titlesize"]
    size = size if isinstance(size, (int, float)) else 9
    fig.suptitle(wrapped(text, fig.get_figwidth() * 0.95, size))


def set_title(ax, text: str, columns: int) -> None:
    """An axes title wrapped to the width of one of ``columns`` panels across the figure."""
    size = matplotlib.rcParams["axes.titlesize"]
    size = size if isinstance(size, (int, float)) else 8
    ax.set_title(wrapped(text, ax.figure.get_figwidth() / columns * 0.9, size))


def slanted_ticks(ax) -> None:
    """x tick labels at 30 degrees, anchored at their right end: long method names do not collide."""
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
        label.set_rotation_mode("anchor")


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


def methods_figure(metrics: dict, per_seed: pd.DataFrame | None = None) -> Figure:
    """F1 and MAE of every method, one row of two panels per dataset: the mean as a bar, each seed as a dot.

    Args:
        metrics: ``metrics.json`` (``main``: mean, std, n per dataset, method and metric).
        per_seed: ``runs.csv`` (its ``group == 'main'`` rows give each seed's value); without it,
            only the means are drawn.

    The seeds themselves are shown rather than mean ± std: with 3 seeds an std bar says little and
    can reach above F1 = 1. Where ``metrics`` has the dataset's ``oracle`` (the training target
    scored as a prediction), a dashed line marks it: the F1 ceiling, the MAE floor.
    """
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    fig = Figure(figsize=(7.0, 2.9 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    main = per_seed[per_seed["group"] == "main"] if per_seed is not None and "group" in per_seed else None
    for row, dataset in enumerate(datasets):
        by_method = metrics["main"][dataset]
        for ax, key, label in ((axes[row, 0], "f1", "F1 (test, pooled matches)"),
                               (axes[row, 1], "mae", "MAE (count error per image)")):
            means = [by_method[m][key]["mean"] for m in methods]
            x = np.arange(len(methods))
            ax.bar(x, [np.nan if v is None else v for v in means], color=[colors[m] for m in methods], width=0.65,
                   alpha=0.85)
            if main is not None and key in main:
                for k, m in enumerate(methods):
                    values = main[(main["dataset"] == dataset) & (main["method"] == m)][key].dropna().to_numpy(float)
                    offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
                    ax.plot(k + offsets, values, "o", ms=2.5, mfc="black", mec="white", mew=0.4, ls="none",
                            clip_on=False, zorder=3)  # a seed at F1 = 0 shows whole
            ceiling = metrics.get("oracle", {}).get(dataset, {}).get(key)
            if ceiling is not None:
                ax.axhline(ceiling, color="0.25", ls="--", lw=0.9, zorder=2)
            ax.set_xticks(x, methods)
            slanted_ticks(ax)
            ax.set_ylabel(label)
            seeds = seeds_text(by_method[m][key]["n"] for m in methods)
            what = "bar: mean, dots: seeds" if main is not None else "mean"
            if ceiling is not None:
                what += (f", dashed: the target's ceiling {ceiling:.3f}" if key == "f1"
                         else f", dashed: the target's floor {ceiling:.2f}")  # the main table's precision
            set_title(ax, f"{dataset}: {label.split(' ')[0]}, {what} ({seeds})", 2)
            if key == "f1":
                ax.set_ylim(0, 1.05)
    return fig


def ablation_figure(metrics: dict, runs: pd.DataFrame, name: str) -> Figure:
    """Val and test F1, and test MAE, of TG-HEM against the swept value: the mean over seeds.

    With several seeds a bar of ± one standard deviation, F1's clipped to [0, 1]; with one seed
    the value alone, and the title says so. A dotted line marks the main runs' value; where the
    sweep does not contain it, its point is the main TG-HEM runs' (:func:`~.ablations.ablation_points`).
    The values sit at even positions (lambda spans orders of magnitude and includes 0).
    """
    values, by_value, main_value, _ = ablation_points(metrics, name)
    x = np.arange(len(values))
    context = runs[(runs["group"] == "ablation") & (runs["setting"] == name)]
    seeds = sorted(int(v) for v in context["seed"].unique()) if len(context) else []
    where = f" ({context['dataset'].iloc[0]}, {'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))})" if len(context) else ""
    label = ABLATION_LABELS.get(name, ABLATIONS[name])
    color = method_colors(list(next(iter(metrics["main"].values()))))[BASELINE_REFERENCE]  # as in the other figures
    fig = Figure(figsize=(7.0, 2.9), layout="constrained")
    axes = fig.subplots(1, 2)
    counts = sorted({by_value[v][k]["n"] for v in values for k in ("f1", "mae") if by_value[v][k].get("n")})

    def series(key):
        mean = np.array([np.nan if by_value[v][key]["mean"] is None else by_value[v][key]["mean"] for v in values], float)
        std = np.array([0.0 if by_value[v][key]["std"] is None else by_value[v][key]["std"] for v in values], float)
        if key in ("f1", "best_val_f1"):  # an interval of F1 stays in [0, 1]
            return mean, np.vstack([np.minimum(std, mean), np.minimum(std, 1.0 - mean)])
        return mean, np.vstack([np.minimum(std, mean), std])  # a count error is not negative

    for key, style, text in (("best_val_f1", "--", "val (selects)"), ("f1", "-", "test")):
        mean, err = series(key)
        axes[0].errorbar(x, mean, yerr=err, marker="o", ls=style, color=color, capsize=3, lw=1.0, label=text,
                         mfc="white" if key == "best_val_f1" else color)
    mean, err = series("mae")
    axes[1].errorbar(x, mean, yerr=err, marker="o", color=color, capsize=3, lw=1.0)
    chosen = [k for k, v in enumerate(values) if v == main_value]
    for ax, ylabel in ((axes[0], "F1 (pooled matches)"), (axes[1], "MAE (test, count error per image)")):
        ax.set_xticks(x, values)
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
        for k in chosen:
            ax.axvline(k, color="0.6", lw=0.8, ls=":")
    axes[0].legend(frameon=False)
    if counts and counts[-1] > 1:
        spread = f"mean ± std over {seeds_text(counts)}, F1 clipped to [0, 1]"
    else:
        spread = "one seed, no spread shown"
    set_suptitle(fig, f"TG-HEM{where}: {ABLATIONS[name]} swept; {spread}"
                 + ("; dotted: the main runs' value" if chosen else ""))
    return fig


def convergence_figure(metrics: dict, val_curves: pd.DataFrame) -> Figure:
    """Validation F1 against iteration, per dataset and method (main runs): mean over seeds, min-max band."""
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    columns = min(2, len(datasets))
    rows = math.ceil(len(datasets) / columns)
    fig = Figure(figsize=(7.0, 2.6 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    main = val_curves[val_curves["group"] == "main"]
    for ax, dataset in zip(axes, datasets):
        start = metrics.get("convergence", {}).get(dataset, {})
        for m in methods:
            rows_m = main[(main["dataset"] == dataset) & (main["method"] == m)]
            if rows_m.empty:
                continue
            table = rows_m.pivot(index="iteration", columns="seed", values="f1").dropna().sort_index()
            it = table.index.to_numpy()
            ax.plot(it, table.mean(axis=1).to_numpy(), color=colors[m], lw=1.0, label=m)
            ax.fill_between(it, table.min(axis=1).to_numpy(), table.max(axis=1).to_numpy(), color=colors[m], alpha=0.15, lw=0)
        if start:
            ax.axvline(next(iter(start.values()))["last_quarter_from"], color="0.6", lw=0.8, ls=":")
        set_title(ax, f"{dataset}: validation F1", columns)
        ax.set_xlabel("iteration")
        ax.set_ylabel("val F1")
    for ax in axes[len(datasets):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colors[m], lw=1.0, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(methods), 7), frameon=False)
    set_suptitle(fig, "Validation F1 during training (line: mean over seeds, band: min-max; dotted: start of the last quarter)")
    return fig


def dynamics_figure(metrics: dict, curves: pd.DataFrame) -> Figure:
    """What TG-HEM reweights: mean D, mean crop weight and mean count error against iteration, per dataset."""
    datasets = list(metrics["main"])
    methods = list(metrics["main"][datasets[0]])
    colors = method_colors(methods)
    weighted = [m for m in methods if any(training_curves(curves, d, m, "discrepancy_mean") is not None for d in datasets)]
    fig = Figure(figsize=(7.0, 2.3 * len(datasets) + 0.4), layout="constrained")
    axes = fig.subplots(len(datasets), 3, squeeze=False)
    for row, dataset in enumerate(datasets):
        d_ax, w_ax, e_ax = axes[row]
        for m in methods:
            for ax, field in ((d_ax, "discrepancy_mean"), (w_ax, "weight_mean"), (e_ax, "count_error_mean")):
                if field != "count_error_mean" and m not in weighted:
                    continue
                if field == "discrepancy_mean" and m == "tghem_count":
                    continue  # its "discrepancy" is the count error, in the third panel
                got = training_curves(curves, dataset, m, field)
                if got is None:
                    continue
                it, values = got
                ax.plot(it, values.mean(0), color=colors[m], lw=1.0, label=m)
        set_title(d_ax, f"{dataset}: mean D of a batch", 3)
        set_title(w_ax, f"{dataset}: mean crop weight w", 3)
        set_title(e_ax, f"{dataset}: mean |n_pred - n_gt| of a crop", 3)
        for ax in axes[row]:
            ax.set_xlabel("iteration")
        dyn = metrics.get("dynamics", {}).get(dataset, {}).get(BASELINE_REFERENCE)
        if dyn and dyn["crops_weight_count_spearman"]["mean"] is not None:
            rho = dyn["crops_weight_count_spearman"]["mean"]
            w_ax.text(0.98, 0.95, f"tghem: Spearman\nρ(w, |Δn|) = {rho:.2f}", ha="right", va="top",
                      transform=w_ax.transAxes, fontsize=7)
    handles = [Line2D([], [], color=colors[m], lw=1.0, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(methods), 7), frameon=False)
    set_suptitle(fig, "Crop weighting during training (main runs, mean over seeds of 100 block means per run)")
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
        set_title(loss_ax, f"{dataset}: training loss", 2)
        loss_ax.set_xlabel("iteration")
        loss_ax.set_ylabel("loss (each method's own;\nscales differ)")
        set_title(weight_ax, f"{dataset}: mean topological weight of a batch", 2)
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
    set_suptitle(fig, f"Training of the main runs ({points}{smoothing}line: mean over {seeds_text([n_seeds])}, band: min-max)")
    # One legend for both columns (the weight panel shows a subset of the methods).
    handles = [Line2D([], [], color=colors[m], lw=1.0, label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(methods), frameon=False)
    return fig
