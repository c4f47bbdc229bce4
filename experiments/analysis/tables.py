"""The study's tables: pandas frames of formatted cells, rendered as Markdown and booktabs LaTeX.

* :func:`main_table`: dataset x method, F1, precision, recall, MAE, RMSE as mean ± sample std
  over seeds (a dash where there is a single seed), the best mean per dataset and column in bold
  (highest F1/P/R, lowest MAE/RMSE, compared as printed so ties are all bold);
* :func:`ablation_table`: the values of one swept TG-HEM setting vs the same five metrics (one
  run each), best in bold;
* :func:`comparison_table`: per dataset and baseline, the paired comparison over (seed, test
  image) pairs: mean difference (tghem minus baseline) of per-image F1 and of per-image absolute
  count error with the bootstrap 95% CI, and the Wilcoxon p-value.

Markdown is GitHub-flavoured (``DataFrame.to_markdown``, tabulate's pipe format); LaTeX is a
``tabular`` by ``Styler.to_latex`` with booktabs rules (``\\usepackage{booktabs}``), a
``\\midrule`` between datasets and the best cells in ``\\textbf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .study import ABLATIONS, BASELINE_REFERENCE

CREATOR = "python -m experiments.report"


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
class Table:
    """A table to render: cell texts, which are bold, alignment, row groups, caption and notes.

    Attributes:
        cells: one string per cell (unescaped), the header as columns.
        bold: booleans of ``cells``' shape.
        align: ``l`` or ``r`` per column.
        groups: index of the first row of each group after the first (a rule in LaTeX).
        caption: sentence printed under the Markdown table and as a comment above the LaTeX one.
        notes: extra lines under the table.
    """

    cells: pd.DataFrame
    bold: pd.DataFrame
    align: str
    groups: tuple[int, ...] = ()
    caption: str = ""
    notes: tuple[str, ...] = ()


def format_number(value: float | None, decimals: int, signed: bool = False) -> str:
    """``value`` with ``decimals`` decimals (``'-'`` for None or NaN); never ``-0.000``."""
    if value is None or value != value:
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


def best_flags(values: pd.Series, decimals: int, higher_is_better: bool) -> pd.Series:
    """Which of ``values`` is best as printed (ties all best); nothing is best among fewer than two."""
    shown = values.map(lambda v: None if v is None or v != v else float(format_number(v, decimals))).astype(float)
    if shown.notna().sum() < 2:
        return pd.Series(False, index=values.index)
    return shown == (shown.max() if higher_is_better else shown.min())


def main_table(metrics: dict) -> Table:
    """Dataset x method: mean ± std over seeds of the five table metrics."""
    records = [
        {"dataset": d, "method": m, **{f"{c.key}.{s}": by_method[m][c.key][s] for c in COLUMNS for s in ("mean", "std", "n")}}
        for d, by_method in metrics["main"].items()
        for m in by_method
    ]
    frame = pd.DataFrame(records)
    cells = pd.DataFrame({"Dataset": frame["dataset"], "Method": frame["method"]})
    bold = pd.DataFrame(False, index=frame.index, columns=["Dataset", "Method"])
    for c in COLUMNS:
        mean, std = frame[f"{c.key}.mean"], frame[f"{c.key}.std"]
        cells[c.label] = [f"{format_number(a, c.decimals)} ± {format_number(b, c.decimals)}"
                          for a, b in zip(mean.astype(object), std.astype(object))]
        bold[c.label] = frame.groupby("dataset", sort=False)[f"{c.key}.mean"].transform(
            lambda v, c=c: best_flags(v.astype(object), c.decimals, c.higher_is_better)).astype(bool)
    seeds = set(frame[[f"{c.key}.n" for c in COLUMNS]].to_numpy().ravel().tolist())
    single = " (-: no spread with a single seed)" if 1 in seeds else ""
    caption = (
        f"Test split, mean ± sample standard deviation over {seeds_text(seeds)}{single}. F1, precision "
        f"and recall pool the matches of all test images; MAE and RMSE are per-image count errors. "
        f"Best mean per dataset in bold (highest F1, precision, recall; lowest MAE, RMSE)."
    )
    return Table(cells, bold, "ll" + "r" * len(COLUMNS), _group_starts(frame["dataset"]), caption)


def _group_starts(labels: pd.Series) -> tuple[int, ...]:
    changes = labels.ne(labels.shift()).to_numpy()
    return tuple(int(i) for i in changes.nonzero()[0] if i > 0)


ABLATION_COLUMNS = (Column("best_val_f1", "Val F1", 3, True), *COLUMNS)
"""The ablation tables: the checkpoint's validation F1 (what the main lambda is chosen by), then the test metrics."""


def _moments_text(m: dict, decimals: int) -> str:
    if m["mean"] is None:
        return "-"
    return f"{format_number(m['mean'], decimals)} ± {format_number(m['std'], decimals)}"


def ablation_table(metrics: dict, runs: pd.DataFrame, name: str) -> Table:
    """Value of one swept TG-HEM setting vs val F1 and the five test metrics, mean ± std over seeds."""
    by_value = metrics["ablation"][name]
    values = sorted(by_value, key=lambda v: float(v) if v not in ("true", "false") else float(v == "true"))
    setting = ABLATIONS[name]
    cells = pd.DataFrame({setting: values})
    bold = pd.DataFrame({setting: [False] * len(values)})
    for c in ABLATION_COLUMNS:
        means = pd.Series([by_value[v][c.key]["mean"] for v in values], dtype=object)
        cells[c.label] = [_moments_text(by_value[v][c.key], c.decimals) for v in values]
        bold[c.label] = best_flags(means, c.decimals, c.higher_is_better) if len(values) else []
    context = runs[(runs["group"] == "ablation") & (runs["setting"] == name)]
    seeds = sorted(int(x) for x in context["seed"].unique()) if len(context) else []
    where = f" on {context['dataset'].iloc[0]}, seeds {', '.join(map(str, seeds))}," if len(context) else ""
    caption = (
        f"TG-HEM{where} with {setting} set to each value, every other setting as in the main "
        f"runs; mean ± sample std over seeds. Val F1: validation split, the checkpoint's (what selects it); "
        f"the other columns: test split. Best mean per column in bold."
    )
    notes = []
    selection = metrics.get("lambda_selection")
    if name == "lambda_pers" and selection:
        verdict = "the value the main runs use" if selection["matches"] else (
            f"the main runs use {format_value_text(selection['configured'])} (val F1 {format_number(selection['configured_mean'], 3)})")
        notes.append(f"Validation picks λ = {format_value_text(selection['best_value'])} among λ > 0 (mean val F1 "
                     f"{format_number(selection['best_mean'], 3)}): {verdict}.")
        if selection["zero_mean"] is not None:
            than = "at least as high as" if selection["zero_at_least_as_good"] else "below"
            notes.append(f"λ = 0 (no topological weighting) scores {format_number(selection['zero_mean'], 3)} on val, "
                         f"{than} the best λ > 0.")
    return Table(cells, bold, "r" * (1 + len(ABLATION_COLUMNS)), (), caption, tuple(notes))


def format_value_text(value: float) -> str:
    """A swept value as the tables print it (0.01, 0.5, 0)."""
    return f"{value:g}"


def _difference_text(stats: dict, decimals: int) -> str:
    if stats["mean_diff"] is None:
        return "-"
    text = format_number(stats["mean_diff"], decimals, signed=True)
    if stats["ci95_low"] is not None:
        low = format_number(stats["ci95_low"], decimals, signed=True)
        high = format_number(stats["ci95_high"], decimals, signed=True)
        text += f" [{low}, {high}]"
    return text


def _interval_text(stats: dict | None, decimals: int) -> str:
    if not stats or stats.get("ci95_low") is None:
        return "-"
    low = format_number(stats["ci95_low"], decimals, signed=True)
    high = format_number(stats["ci95_high"], decimals, signed=True)
    return f"[{low}, {high}]"


def _seed_text(stats: dict) -> str:
    if stats["mean_diff"] is None:
        return "-"
    return f"{stats['wins']}/{stats['n_seeds']}, p {format_p(stats['p_value'])}"


def comparison_table(metrics: dict) -> Table:
    """Per dataset and baseline: ΔF1 and Δ|count error| with three intervals/tests each."""
    header = ("Dataset", "Baseline", "Pairs", "ΔF1 [image CI]", "[seed+image CI]", "p (image)", "seeds won, p",
              "Δ|count error| [image CI]", "[seed+image CI] ", "p (image) ", "seeds won, p ")
    rows, notes = [], []
    for dataset, by_baseline in metrics["comparison"].items():
        for baseline, c in by_baseline.items():
            f1, err = c["f1"], c["abs_count_error"]
            h, sl = c["hierarchical"], c["seed_level"]
            rows.append((dataset, baseline, str(f1["n_pairs"]),
                         _difference_text(f1, 3), _interval_text(h["f1"], 3), format_p(f1["p_value"]), _seed_text(sl["f1"]),
                         _difference_text(err, 2), _interval_text(h["abs_count_error"], 2), format_p(err["p_value"]),
                         _seed_text(sl["abs_count_error"])))
            for quantity, s_ in (("F1", f1), ("|count error|", err)):
                if s_["note"]:
                    notes.append(f"{dataset}, {baseline}, {quantity}: {s_['note']}.")
    cells = pd.DataFrame(rows, columns=header)
    reference = BASELINE_REFERENCE
    caption = (
        f"Paired comparison, differences {reference} minus the baseline (positive ΔF1 and negative Δ|count error| "
        f"favour {reference}). Per-image F1 and |count error| over (seed, test image) pairs. Image CI: paired "
        f"bootstrap over all pairs, as if independent; p (image): two-sided Wilcoxon signed-rank over the same "
        f"pairs (zero differences dropped). Both ignore that one image appears once per seed and that seeds "
        f"differ: read them as descriptive. Seed+image CI: hierarchical bootstrap (seeds resampled, then images "
        f"within each), the interval that respects the design. Seeds won, p: seeds where {reference}'s mean "
        f"is better (higher F1, lower count error) out of all, and the paired t-test over the seeds' means, "
        f"which with 2-3 seeds can detect only large effects."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "llr" + "r" * 8, _group_starts(cells["Dataset"]), caption, tuple(notes))


DYNAMICS_COLUMNS = (
    ("crops_weight_mean", "mean w", 2), ("crops_discrepancy_mean", "mean D", 1),
    ("crops_count_error_mean", "mean |Δn|", 2), ("crops_weight_count_spearman", "ρ(w, |Δn|)", 2),
    ("crops_discrepancy_count_spearman", "ρ(D, |Δn|)", 2),
)


def dynamics_table(metrics: dict) -> Table:
    """What the crop weights did over training (main runs): means and Spearman correlations per crop."""
    rows = []
    for dataset, by_method in metrics["dynamics"].items():
        for method, m in by_method.items():
            if m["crops_weight_mean"]["mean"] is None or m["crops_discrepancy_mean"]["mean"] is None:
                continue  # methods that do not weight crops
            rows.append((dataset, method, *(_moments_text(m[k], d) if m[k]["mean"] is not None else "-"
                                            for k, _, d in DYNAMICS_COLUMNS)))
    cells = pd.DataFrame(rows, columns=("Dataset", "Method", *(label for _, label, _ in DYNAMICS_COLUMNS)))
    caption = (
        "Over every training crop of the main runs (mean ± std over seeds of each run's value): the crop "
        "weight w, its discrepancy D (tghem_count: its count error), the count error |Δn| = |n_pred - n_gt| of "
        "the crop's prediction, and Spearman's ρ between a crop's weight (or D) and its count error. "
        "tghem_shuffled's weights are other crops' weights: its ρ(w, |Δn|) shows what is left without the link."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "ll" + "r" * len(DYNAMICS_COLUMNS), _group_starts(cells["Dataset"]) if len(cells) else (), caption)


def convergence_table(metrics: dict) -> Table:
    """Per dataset and method: how much val F1 moves over the last quarter of training (worst seed)."""
    rows = []
    start = None
    for dataset, by_method in metrics["convergence"].items():
        for method, c in by_method.items():
            start = c["last_quarter_from"]
            rows.append((dataset, method, format_number(c["max_range"], 3), format_number(c["max_abs_change"], 3),
                         "yes" if c["converged"] else "no"))
    cells = pd.DataFrame(rows, columns=("Dataset", "Method", "max - min", "|last - first|", "≤ 0.01"))
    caption = (
        f"Validation F1 over the last quarter of training (validations from iteration {start} on), the largest "
        f"over the seeds: its range (max - min) and its net change. ≤ 0.01: every seed's range is at most 0.01."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "llrrl", _group_starts(cells["Dataset"]) if len(cells) else (), caption)


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: the table, then its caption and notes in italics."""
    shown = table.cells.where(~table.bold, "**" + table.cells + "**").map(_markdown_escape)
    shown.columns = [_markdown_escape(h) for h in table.cells.columns]
    align = ["left" if a == "l" else "right" for a in table.align]
    text = shown.to_markdown(index=False, tablefmt="pipe", colalign=align, disable_numparse=True) + "\n"
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

    A minus sign before a number becomes ``$-$`` (a hyphen would be printed otherwise), and a
    lone ``-`` (no value) an en dash.
    """
    if text == "-":
        return "--"
    escaped = "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)
    return re.sub(r"(?<![\w.])-(?=\d)", "$-$", escaped).replace(" $\\pm$ -", " $\\pm$ --")


def render_latex(table: Table) -> str:
    """A booktabs ``tabular`` by ``Styler.to_latex``; caption and notes as comments above it."""
    bold = table.bold.copy()
    styler = (
        table.cells.style.hide(axis="index")
        .format(latex_escape)
        .format_index(latex_escape, axis=1)
        .apply(lambda _: bold.map(lambda b: "textbf:--rwrap;" if b else ""), axis=None)
    )
    body = styler.to_latex(hrules=True, column_format=table.align).splitlines()
    first = body.index(r"\midrule") + 1
    for offset, start in enumerate(table.groups):
        body.insert(first + start + offset, r"\midrule")
    lines = [f"% Generated by {CREATOR} from the files of experiments.aggregate; do not edit. Needs \\usepackage{{booktabs}}."]
    lines += [f"% {line}" for line in (table.caption, *table.notes) if line]
    return "\n".join(lines + body) + "\n"
