"""The figures at their rendered size: no text leaves the figure or runs into other text; intervals stay in [0, 1]."""
from __future__ import annotations

import itertools

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from experiments.analysis import figures
from experiments.analysis.figures import STYLE

METHODS = ["tghem", "ohem", "focal", "cldice", "dice_bce", "tghem_shuffled", "tghem_count"]
DATASETS = ["vgg_cells", "shanghaitech_b"]
SEEDS = [0, 1, 2]


def _moments(values):
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "n": len(v)}


def fabricated(seeds=SEEDS, lambdas=("0.0", "0.001", "0.01", "0.1", "0.5"), configured=0.001):
    """metrics, runs, curves and val_curves of a small study with long names; F1 near 1 with a wide spread."""
    rng = np.random.default_rng(0)
    runs, curves, val = [], [], []
    for d, m, s in itertools.product(DATASETS, METHODS, seeds):
        f1 = min(1.0, 0.97 + 0.03 * rng.random()) if m == "focal" else 0.5 + 0.4 * rng.random()
        runs.append({"group": "main", "dataset": d, "method": m, "seed": s, "setting": "", "value": "", "f1": f1,
                     "mae": 40 * rng.random()})
        for it in range(8, 808, 8):  # 100 block means of 8 iterations, as curves.csv holds them
            weighted = m.startswith("tghem")
            curves.append({"group": "main", "dataset": d, "method": m, "seed": s, "iteration": it, "loss": 1 / it,
                           "weight_mean": 1 + 1 / it if weighted else 1.0,
                           "discrepancy_mean": 100 / it if weighted else np.nan, "count_error_mean": 50 / it})
            val.append({"group": "main", "dataset": d, "method": m, "seed": s, "iteration": it, "f1": f1 * it / 800})
    for v, s in itertools.product(lambdas, seeds):
        runs.append({"group": "ablation", "dataset": DATASETS[0], "method": "tghem", "seed": s, "setting": "lambda_pers",
                     "value": v, "f1": 0.99 - 0.3 * rng.random(), "mae": 30 * rng.random(), "best_val_f1": 0.98})
    runs = pd.DataFrame(runs)
    main = {d: {m: {k: _moments(runs[(runs.dataset == d) & (runs.method == m) & (runs.group == "main")][k])
                    for k in ("f1", "mae")} for m in METHODS} for d in DATASETS}
    abl = runs[runs.group == "ablation"]
    ablation = {"lambda_pers": {v: {k: _moments(abl[abl.value == v][k]) for k in ("f1", "mae", "best_val_f1")}
                                for v in lambdas}}
    for d in DATASETS:
        main[d]["tghem"]["f1"]["std"] = 0.3  # mean + std above 1 for some: an unclipped bar would leave [0, 1]
    metrics = {"main": main, "ablation": ablation, "lambda_selection": {"configured": configured},
               "ablation_reference": {"dataset": DATASETS[0], "values": {"lambda_pers": str(configured)}},
               "convergence": {}, "dynamics": {d: {"tghem": {"crops_weight_count_spearman": {"mean": 0.8}}} for d in DATASETS}}
    return metrics, runs, pd.DataFrame(curves), pd.DataFrame(val)


def draw(make):
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        fig = make()
        FigureCanvasAgg(fig).draw()
    return fig


def visible_texts(fig):
    """The texts a drawing shows: tick labels only of the ticks inside the view (matplotlib keeps others, undrawn)."""
    renderer = fig.canvas.get_renderer()
    ticks = {id(label) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for tick in axis.get_major_ticks()
             + axis.get_minor_ticks() for label in (tick.label1, tick.label2)}
    drawn = {id(label) for ax in fig.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)
             for tick in axis._update_ticks() for label in (tick.label1, tick.label2)}
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()
             and (id(t) not in ticks or id(t) in drawn)]
    return [(t, t.get_window_extent(renderer)) for t in texts]


def corners(text, renderer) -> np.ndarray:
    """The (4, 2) display corners of a text's own (rotated) rectangle, not of its axis-aligned bounding box."""
    angle = text.get_rotation()
    if not angle:
        b = text.get_window_extent(renderer)
        return np.array([[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]])
    anchor = np.array(text.get_transform().transform(text.get_unitless_position()))
    text.set_rotation(0)
    b = text.get_window_extent(renderer)
    text.set_rotation(angle)
    c = np.array([[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]]) - anchor
    t = np.deg2rad(angle)
    return c @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) + anchor


def overlap(a: np.ndarray, b: np.ndarray, margin: float = 1.0) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``margin`` pixels (separating axis test)."""
    for quad in (a, b):
        for i in range(4):
            edge = quad[(i + 1) % 4] - quad[i]
            normal = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1.0)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= margin:
                return False
    return True


def text_problems(fig) -> list[str]:
    """Texts outside the figure, and pairs of texts that overlap (tick labels, titles, labels)."""
    box = fig.bbox
    renderer = fig.canvas.get_renderer()
    found = [(t, corners(t, renderer)) for t, _ in visible_texts(fig)]
    problems = [f"{t.get_text()!r} leaves the figure" for t, c in found
                if c[:, 0].min() < box.x0 - 1 or c[:, 1].min() < box.y0 - 1 or c[:, 0].max() > box.x1 + 1
                or c[:, 1].max() > box.y1 + 1]
    for (t1, c1), (t2, c2) in itertools.combinations(found, 2):
        if overlap(c1, c2):
            problems.append(f"{t1.get_text()!r} overlaps {t2.get_text()!r}")
    return problems


@pytest.mark.parametrize("name", ["methods", "lambda_pers", "training", "convergence", "dynamics"])
def test_no_text_is_clipped_or_overlaps(name):
    metrics, runs, curves, val = fabricated()
    make = {"methods": lambda: figures.methods_figure(metrics, runs),
            "lambda_pers": lambda: figures.ablation_figure(metrics, runs, "lambda_pers"),
            "training": lambda: figures.training_figure(metrics, curves),
            "convergence": lambda: figures.convergence_figure(metrics, val),
            "dynamics": lambda: figures.dynamics_figure(metrics, curves)}[name]
    assert text_problems(draw(make)) == []


def test_the_check_sees_clipping_and_overlap():
    from matplotlib.figure import Figure

    def bad():
        fig = Figure(figsize=(3, 2))
        ax = fig.subplots()
        ax.set_xticks(range(7), [m * 2 for m in METHODS])
        fig.suptitle("a title far too long for a figure three inches wide, so it runs off both edges")
        return fig

    problems = text_problems(draw(bad))
    assert any("leaves the figure" in p for p in problems) and any("overlaps" in p for p in problems)


def test_methods_figure_shows_seeds_inside_0_1():
    metrics, runs, _, _ = fabricated()
    fig = draw(lambda: figures.methods_figure(metrics, runs))
    f1_axes = [ax for ax in fig.axes if ax.get_ylabel().startswith("F1")]
    points = np.concatenate([line.get_ydata() for ax in f1_axes for line in ax.lines])
    assert len(points) == len(DATASETS) * len(METHODS) * len(SEEDS)
    assert points.min() >= 0 and points.max() <= 1
    assert all(not ax.collections for ax in f1_axes)  # no error bars
    assert "dots: seeds (3 seeds)" in f1_axes[0].get_title().replace("\n", " ")


def test_methods_figure_marks_each_dataset_s_ceiling_where_the_oracle_was_scored():
    metrics, runs, _, _ = fabricated()
    metrics["oracle"] = {DATASETS[0]: {"f1": 0.9834, "mae": 5.58}}  # the other datasets: no oracle row
    fig = draw(lambda: figures.methods_figure(metrics, runs))
    assert text_problems(fig) == []
    dashed = {(ax.get_ylabel().split(" ")[0], row): [ln.get_ydata()[0] for ln in ax.lines if ln.get_linestyle() == "--"]
              for row, pair in enumerate(np.reshape(fig.axes, (-1, 2))) for ax in pair}
    assert dashed[("F1", 0)] == [0.9834] and dashed[("MAE", 0)] == [5.58]
    assert all(not lines for (_, row), lines in dashed.items() if row > 0)
    f1_title, mae_title = (ax.get_title().replace("\n", " ") for ax in fig.axes[:2])
    assert "dashed: the target's ceiling 0.983" in f1_title and "dashed: the target's floor 5.58" in mae_title
    assert "dashed" not in fig.axes[2].get_title()


def test_lambda_figure_clips_f1_and_promises_only_what_it_draws():
    metrics, runs, _, _ = fabricated()
    fig = draw(lambda: figures.ablation_figure(metrics, runs, "lambda_pers"))
    f1_ax = fig.axes[0]
    tops = [seg[:, 1].max() for coll in f1_ax.collections for seg in coll.get_segments()]
    assert tops and max(tops) <= 1.0
    title = fig.get_suptitle().replace("\n", " ")
    assert "mean ± std over 3 seeds" in title and "dotted: the main runs' value" in title
    # One seed, and the main value (0.25) is not among those swept: neither a spread nor a dotted line.
    metrics, runs, _, _ = fabricated(seeds=[0], configured=0.25)
    fig = draw(lambda: figures.ablation_figure(metrics, runs, "lambda_pers"))
    title = fig.get_suptitle().replace("\n", " ")
    assert "one seed, no spread shown" in title and "std" not in title and "dotted" not in title
    assert not [ln for ln in fig.axes[0].lines if ln.get_linestyle() == ":"]
