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


def ablation_table(metrics: dict, runs: pd.DataFrame, name: str) -> Table:
    """Value of one swept TG-HEM setting vs the five table metrics (one run per value)."""
    by_value = metrics["ablation"][name]
    values = sorted(by_value, key=float)
    frame = pd.DataFrame([{c.key: by_value[v][c.key] for c in COLUMNS} for v in values], dtype=object)
    setting = ABLATIONS[name]
    cells = pd.DataFrame({setting: values})
    bold = pd.DataFrame({setting: [False] * len(values)})
    for c in COLUMNS:
        cells[c.label] = [format_number(v, c.decimals) for v in frame[c.key]] if len(frame) else []
        bold[c.label] = best_flags(frame[c.key], c.decimals, c.higher_is_better) if len(frame) else []
    context = runs[(runs["group"] == "ablation") & (runs["setting"] == name)]
    where = f" on {context['dataset'].iloc[0]}, seed {context['seed'].iloc[0]}," if len(context) else ""
    caption = (
        f"TG-HEM{where} with {setting} set to each value, every other setting as in the main "
        f"runs; one run per value, test split. Best per column in bold."
    )
    return Table(cells, bold, "r" * (1 + len(COLUMNS)), (), caption)


def _difference_text(stats: dict, decimals: int) -> str:
    if stats["mean_diff"] is None:
        return "-"
    text = format_number(stats["mean_diff"], decimals, signed=True)
    if stats["ci95_low"] is not None:
        low = format_number(stats["ci95_low"], decimals, signed=True)
        high = format_number(stats["ci95_high"], decimals, signed=True)
        text += f" [{low}, {high}]"
    return text


def comparison_table(metrics: dict) -> Table:
    """Per dataset and baseline: pairs, mean difference [95% CI] and Wilcoxon p of F1 and |count error|."""
    header = ("Dataset", "Baseline", "Pairs", "ΔF1 [95% CI]", "p (F1)", "Δ|count error| [95% CI]", "p (count)")
    rows, notes = [], []
    for dataset, by_baseline in metrics["comparison"].items():
        for baseline, c in by_baseline.items():
            f1, err = c["f1"], c["abs_count_error"]
            rows.append((dataset, baseline, str(f1["n_pairs"]), _difference_text(f1, 3), format_p(f1["p_value"]),
                         _difference_text(err, 2), format_p(err["p_value"])))
            for quantity, s in (("F1", f1), ("|count error|", err)):
                if s["note"]:
                    notes.append(f"{dataset}, {baseline}, {quantity}: {s['note']}.")
    cells = pd.DataFrame(rows, columns=header)
    reference = BASELINE_REFERENCE
    caption = (
        f"Paired comparison over (seed, test image) pairs; differences are {reference} minus the baseline, so "
        f"a positive ΔF1 and a negative Δ|count error| favour {reference}. Mean difference with a paired "
        f"bootstrap 95% CI; p: two-sided Wilcoxon signed-rank test (zero differences dropped). The pairs "
        f"of one image under different seeds are not independent, which these intervals and tests ignore."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "llrrrrr", _group_starts(cells["Dataset"]), caption, tuple(notes))


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
