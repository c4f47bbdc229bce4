"""The study's tables: pandas frames of formatted cells, rendered as Markdown and booktabs LaTeX.

* :func:`main_table`: dataset x method, F1, precision, recall, MAE, RMSE as mean ± sample std
  over seeds (a dash where there is a single seed), the best mean per dataset and column in bold
  (highest F1/P/R, lowest MAE/RMSE, compared as printed so ties are all bold);
* :func:`ablation_table`: the values of one swept TG-HEM setting vs the same five metrics (mean ±
  std over the ablation seeds), best in bold;
* :func:`comparison_table`: per dataset and baseline (and TG-HEM at lambda = 0), the paired
  comparison by seed of the runs' F1 and MAE (t-interval, seeds won by each metric's direction,
  t-test) and, descriptive, over (seed, test image) pairs (bootstrap CI, Wilcoxon p);
* :func:`convergence_table`: how much val F1 still moves at the end, failed and collapsed seeds.

Markdown is GitHub-flavoured (``DataFrame.to_markdown``, tabulate's pipe format); LaTeX is a
``tabular`` by ``Styler.to_latex`` with booktabs rules (``\\usepackage{booktabs}``), a
``\\midrule`` between datasets and the best cells in ``\\textbf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .ablations import ablation_points
from .formatting import (INTERVAL_DECIMALS_TEXT, format_number, format_p, format_value_text, interval_cell,
                         mean_sd_text, per_dataset_text, seeds_text)
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


def best_flags(values: pd.Series, decimals: int, higher_is_better: bool) -> pd.Series:
    """Which of ``values`` is best as printed (ties all best); nothing is best among fewer than two."""
    shown = values.map(lambda v: None if v is None or v != v else float(format_number(v, decimals))).astype(float)
    if shown.notna().sum() < 2:
        return pd.Series(False, index=values.index)
    return shown == (shown.max() if higher_is_better else shown.min())


def failed_seeds(metrics: dict, group: str = "main") -> dict[tuple, list[int]]:
    """The failed runs of ``metrics["failed"]`` by (dataset, method) (main) or (setting, value) (ablation)."""
    out: dict[tuple, list[int]] = {}
    for r in metrics["failed"]["runs"]:
        if r["group"] == group:
            key = (r["dataset"], r["method"]) if group == "main" else (r["setting"], r["value"])
            out.setdefault(key, []).append(r["seed"])
    return {k: sorted(v) for k, v in out.items()}


def failed_text(seeds: list[int]) -> str:
    """``' (failed: seed 1)'``, ``' (failed: seeds 0, 2)'``; empty without failed seeds."""
    return f" (failed: seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)})" if seeds else ""


ROW_KINDS = ("method",)
"""Kinds of rows of the main table that compete for the bold "best" (other kinds, such as a
reference row, are shown but never bold)."""


AUTHORS_COLUMN = Column("f1_authors", "F1 (authors)", 3, True)
"""The authors' F1 (greedy within 10 px, averaged over images), shown where the evaluations have it."""
ORACLE_LABEL = "oracle (target)"
"""The main table's row of a dataset's training target itself scored as a prediction."""


def main_table(metrics: dict) -> Table:
    """Dataset x method: mean ± std over seeds of the table metrics, and each dataset's oracle.

    Rows are built from a frame with a ``kind`` column (:data:`ROW_KINDS`: ``method``; ``oracle``:
    the training target scored as a prediction, ``metrics["oracle"]``, a single value, first in
    its dataset and never bold), so rows of another kind join without competing for bold. A row
    with a failed run (``metrics["failed"]``) names its seeds and is never bold. The authors' F1
    (:data:`AUTHORS_COLUMN`) is a column where the evaluations have it.
    """
    failed = failed_seeds(metrics)
    first = next(iter(next(iter(metrics["main"].values())).values()))
    columns = (*COLUMNS, AUTHORS_COLUMN) if AUTHORS_COLUMN.key in first else COLUMNS
    oracle = metrics.get("oracle", {})
    records = []
    for d, by_method in metrics["main"].items():
        if d in oracle:
            records.append({"dataset": d, "method": ORACLE_LABEL, "kind": "oracle", "failed": [],
                            **{f"{c.key}.{s}": v for c in columns
                               for s, v in (("mean", oracle[d].get(c.key)), ("std", None), ("n", None))}})
        records += [{"dataset": d, "method": m, "kind": "method", "failed": failed.get((d, m), []),
                     **{f"{c.key}.{s}": by_method[m][c.key][s] for c in columns for s in ("mean", "std", "n")}}
                    for m in by_method]
    frame = pd.DataFrame(records)
    competes = frame["kind"].isin(ROW_KINDS) & (frame["failed"].map(len) == 0)
    cells = pd.DataFrame({"Dataset": frame["dataset"], "Method": frame["method"] + frame["failed"].map(failed_text)})
    bold = pd.DataFrame(False, index=frame.index, columns=["Dataset", "Method"])
    for c in columns:
        mean, std = frame[f"{c.key}.mean"], frame[f"{c.key}.std"]
        cells[c.label] = [format_number(a, c.decimals) if kind == "oracle" else
                          mean_sd_text(a, b, c.decimals)
                          for a, b, kind in zip(mean.astype(object), std.astype(object), frame["kind"])]
        eligible = mean.astype(object).where(competes, None)
        bold[c.label] = eligible.groupby(frame["dataset"], sort=False).transform(
            lambda v, c=c: best_flags(v.astype(object), c.decimals, c.higher_is_better)).astype(bool)
    methods = frame[frame["kind"] == "method"]
    seeds = {int(n) for n in methods[[f"{c.key}.n" for c in columns]].to_numpy().ravel().tolist() if n == n and n is not None}
    single = " (-: no spread with a single seed)" if 1 in seeds else ""
    radii = metrics.get("match_radius")
    radius = f" (one-to-one matching within {per_dataset_text(radii, ' px')})" if radii else ""
    n_failed, n_runs = metrics["failed"]["n_failed"], metrics["failed"]["n_runs"]
    caption = (
        f"Test split, mean ± sample standard deviation over {seeds_text(seeds)}{single}. F1, precision "
        f"and recall pool the matches of all test images{radius}; MAE and RMSE are per-image count errors. "
        f"Best mean per dataset in bold (highest F1, precision, recall; lowest MAE, RMSE) among the rows "
        f"without a failed run. Failed: the run never detected anything ({metrics['failed']['rule']}); "
        f"the row's means include it. {n_failed} of the study's {n_runs} runs failed."
    )
    if oracle:
        caption += (f" {ORACLE_LABEL}: the training target itself (the disks training builds around the "
                    f"ground-truth dots) taken as the prediction, through the same point extraction and "
                    f"matching: what the target allows, never bold.")
    if columns[-1] is AUTHORS_COLUMN:
        caption += (" F1 (authors): the authors' test metric, greedy matching of each ground-truth point "
                    "(row-major order) to its nearest free prediction within 10 px, F1 per image, averaged "
                    "over images; ours is the primary one.")
    return Table(cells, bold, "ll" + "r" * len(columns), _group_starts(frame["dataset"]), caption,
                 warmup_notes(metrics))


def warmup_notes(metrics: dict) -> tuple[str, ...]:
    """The main table's note on checkpoints kept before any crop was weighted (``warmup_checkpoints``), if any."""
    early = [f"{d} {m} {c['n']}/{c['of']}" for d, by_method in (metrics.get("warmup_checkpoints") or {}).items()
             for m, c in by_method.items() if c["n"]]
    if not early:
        return ()
    return (f"Checkpoints from the warm-up (validation kept a network from before the first weighted iteration, "
            f"which no crop weight has touched; for one seed TG-HEM and both controls share it): {', '.join(early)}.",)


def _group_starts(labels: pd.Series) -> tuple[int, ...]:
    changes = labels.ne(labels.shift()).to_numpy()
    return tuple(int(i) for i in changes.nonzero()[0] if i > 0)


ABLATION_COLUMNS = (Column("best_val_f1", "Val F1", 3, True), *COLUMNS)
"""The ablation tables: the checkpoint's validation F1 (what the main lambda is chosen by), then the test metrics."""


def _moments_text(m: dict, decimals: int) -> str:
    if m["mean"] is None:
        return "-"
    return mean_sd_text(m["mean"], m["std"], decimals)


def ablation_table(metrics: dict, runs: pd.DataFrame, name: str) -> Table:
    """Value of one swept TG-HEM setting vs val F1 and the five test metrics, mean ± std over seeds.

    The main runs' value is marked ``(main)``; where the sweep does not contain it, its row is the
    main TG-HEM runs of the ablation's dataset and seeds (:func:`~.ablations.ablation_points`).
    An ablation that changes the training target gets an "Oracle F1" column: what that target
    itself scores on the test split (never bold).
    """
    values, by_value, main_value, added = ablation_points(metrics, name)
    setting = ABLATIONS[name]
    failed = [failed_seeds(metrics, "ablation").get((name, v), []) for v in values]
    labels = [v + (" (main)" if v == main_value else "") + failed_text(f) for v, f in zip(values, failed)]
    cells = pd.DataFrame({setting: labels})
    bold = pd.DataFrame({setting: [False] * len(values)})
    oracle = metrics.get("oracle") or {}
    targets = (oracle.get("ablation") or {}).get(name)
    reference = metrics.get("ablation_reference") or {}
    if targets:
        own = oracle.get(reference.get("dataset"), {})
        scores = [(own if added and v == main_value else targets.get(v, {})).get("f1") for v in values]
        cells["Oracle F1"] = ["-" if f is None else format_number(f, 3) for f in scores]
        bold["Oracle F1"] = [False] * len(values)
    for c in ABLATION_COLUMNS:
        means = pd.Series([None if f else by_value[v][c.key]["mean"] for v, f in zip(values, failed)], dtype=object)
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
    if main_value is not None:
        caption += (" (main): the main runs' value" + (", its row the main TG-HEM runs themselves (same dataset and seeds)."
                                                      if added else "."))
    if targets:
        caption += " Oracle F1: the value's training target taken as the prediction (its ceiling), test split."
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
    if any(failed):
        notes.append(f"Failed runs never detected anything ({metrics['failed']['rule']}); their values are never bold.")
    return Table(cells, bold, "r" * len(cells.columns), (), caption, tuple(notes))


def _seed_text(stats: dict) -> str:
    """Seeds where the reference is better (by the metric's direction) out of all, and the t-test's p."""
    if stats["mean_diff"] is None:
        return "-"
    return f"{stats['wins']}/{stats['n_seeds']}, p {format_p(stats['p_value'])}"


def _image_cell(stats: dict | None, decimals: int) -> str:
    if not stats or stats["mean_diff"] is None:
        return "-"
    return f"{interval_cell(stats, decimals)}, p {format_p(stats['p_value'])}"


BASELINE_LABELS = {"tghem_lambda0": "tghem, λ = 0"}
"""How a comparison row that is not a method of the study is named in the table."""


def comparison_table(metrics: dict) -> Table:
    """Per dataset and baseline: the seed-level ΔF1 and ΔMAE (primary) and the image-level differences (descriptive)."""
    header = ("Dataset", "Baseline", "Seeds", "ΔF1 [95% t-CI]", "won, p", "ΔMAE [95% t-CI]", "won, p ",
              "image ΔF1 [CI], p", "image Δ|count error| [CI], p")
    rows, notes = [], []
    for dataset, by_baseline in metrics["comparison"].items():
        for baseline, c in by_baseline.items():
            sf, sm = c["seed_level"]["f1"], c["seed_level"]["mae"]
            label = BASELINE_LABELS.get(baseline, baseline)
            excluded = c["excluded_seeds"]
            seeds = str(c["n_seeds"]) + (f" ({len(excluded)} failed)" if excluded else "")
            rows.append((dataset, label, seeds, interval_cell(sf, 3), _seed_text(sf), interval_cell(sm, 2), _seed_text(sm),
                         _image_cell(c["f1"], 3), _image_cell(c["abs_count_error"], 2)))
            lines = list(c["notes"])
            if sf["note"] and sf["note"] == sm["note"]:
                lines.append(f"seed level: {sf['note']}")
            else:
                lines += [f"seed-level {q}: {x['note']}" for q, x in (("F1", sf), ("MAE", sm)) if x["note"]]
            lines += [f"image {q}: {x['note']}" for q, x in (("F1", c["f1"]), ("|count error|", c["abs_count_error"]))
                      if x and x["note"]]
            notes += [f"{dataset}, {label}: {line}." for line in lines]
    cells = pd.DataFrame(rows, columns=header)
    reference = BASELINE_REFERENCE
    caption = (
        f"Paired comparison, differences {reference} minus the baseline, paired by training seed (positive ΔF1 "
        f"and negative ΔMAE favour {reference}); {reference}, λ = 0: {reference} with no topological weight "
        f"(its per-crop OHEM selection alone), the lambda ablation's runs. Primary, over seeds: ΔF1 and ΔMAE "
        f"of the runs' test F1 and MAE (the main table's numbers) with the paired t-interval over seeds "
        f"(95%; with 3 seeds it is wide: 2 degrees of freedom; {INTERVAL_DECIMALS_TEXT}); won, p: seeds "
        f"where {reference} is better (higher F1, lower MAE) out of all, and the paired t-test's p. Seeds "
        f"whose run of either method failed are left out. Image columns, descriptive only: mean per-image "
        f"difference over (seed, test image) pairs with a bootstrap CI and the Wilcoxon signed-rank p, which "
        f"treat the pairs as independent (one image appears once per seed, and seeds differ), so they "
        f"overstate the confidence."
    )
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Table(cells, bold, "llr" + "r" * 6, _group_starts(cells["Dataset"]), caption, tuple(notes))


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
    "<": r"$<$", ">": r"$>$", "λ": r"$\lambda$",
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
