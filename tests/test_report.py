"""experiments.report: tables and figures from aggregate's files only, reproducible to the byte."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import aggregate as agg
from experiments import report as rep
from experiments.cli import run_stage
from experiments.datasets import load_split, read_image
from experiments.masks import dot_map
from experiments.metrics import evaluate_image, summarize
from experiments.study import ablation_run, main_run
from fake_study import log_rows, write_params, write_run
from tghem.rips import fast_rips_diagrams
from tghem.topology import dot_points, points_discrepancy
from tghem.wasserstein import h0_wasserstein_distance, wasserstein_distance
from tiny_run import tiny_data_dir

METHODS = ("tghem", "ohem", "focal")
SEEDS = (0, 1)
RADIUS = 5.0


def predictions(gt: np.ndarray, rng: np.random.Generator, miss: float, spurious: int, shape) -> np.ndarray:
    """Ground truth moved by a pixel or two, a fraction missed, a few false points (pixel centres)."""
    kept = gt[rng.random(len(gt)) >= miss]
    kept = kept + rng.normal(0, 1.5, kept.shape)
    extra = rng.uniform(0, [shape[1] - 1, shape[0] - 1], (spurious, 2))
    return np.clip(np.rint(np.concatenate([kept, extra])), 0, [shape[1] - 1, shape[0] - 1])


def evaluated_run(paths, samples, method: str, seed: int, quality: float, log, tghem_config=None) -> None:
    """A run whose per-image counts and metrics come from the evaluation's own code on made-up points."""
    rng = np.random.default_rng([seed, len(method), int(quality * 100)])
    results, points = [], {}
    for s in samples:
        spurious = int(10 * (1 - quality)) + 1 if quality > 0 else 0  # quality 0: an untrained network
        pred = predictions(s.points, rng, miss=1 - quality, spurious=spurious, shape=s.image.shape)
        results.append(evaluate_image(s.image_id, pred, s.points, s.image.shape[:2], RADIUS))
        points[s.image_id] = pred
    metrics = summarize(results, RADIUS)
    scores = {k: metrics[k] for k in ("f1", "precision", "recall", "mae", "rmse", "f1_mean_radii", "mre", "game0")}
    rows = [{"image_id": r.image_id, "n_gt": r.n_gt, "n_pred": r.n_pred, "tp": r.tp, "fp": r.fp, "fn": r.fn}
            for r in results]
    write_run(paths, "synthetic", method, seed, rows, scores, log, points, tghem_config,
              match_radius=RADIUS)


def make_results(tmp: Path, quality: dict[str, float], seeds=SEEDS, ablation_quality=(0.6, 0.7, 0.8)) -> tuple[Path, Path]:
    """A study on the tiny prepared dataset (methods: the keys of ``quality``), aggregated and reported.

    Returns:
        (results folder, data folder).
    """
    data_dir = tiny_data_dir()
    samples = load_split(data_dir / "prepared" / "synthetic", "test")
    root = tmp / "study"
    params = write_params(tmp / "params.yaml", ["synthetic"], list(quality), seeds, lambda_pers=(0.0, 0.5, 2.0),
                          ohem_min_kept=(250, 1000), train={"crop_size": 48})
    for m in quality:
        for s in seeds:
            log = log_rows(40, 1.0 + 0.3 * s + 0.1 * len(m), 1.4 + 0.1 * s if m == "tghem" else None)
            evaluated_run(main_run("synthetic", m, s, root), samples, m, s, max(0.0, quality[m] - 0.05 * s), log)
    for setting, values in (("lambda_pers", (0.0, 0.5, 2.0)), ("ohem_min_kept", (250, 1000))):
        for v, q in zip(values, ablation_quality):
            config = {"lambda_pers": 0.5, "ohem_min_kept": 2000, setting: v}
            evaluated_run(ablation_run(setting, v, root), samples, "tghem", 0, q, log_rows(10, 1.0, 1.3), config)
    out = tmp / "results"
    agg.aggregate(params, root, out, data_dir)
    rep.report(out, data_dir)
    return out, data_dir


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three methods of different quality, two seeds: (results folder, data folder)."""
    return make_results(tmp_path_factory.mktemp("report"), {"tghem": 0.85, "ohem": 0.7, "focal": 0.55})


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- tables

METRICS = {
    "main": {
        "ds_1": {
            "tghem": {"f1": {"mean": 0.9004, "std": 0.012, "n": 2}, "precision": {"mean": 0.8, "std": 0.01, "n": 2},
                      "recall": {"mean": 0.95, "std": 0.02, "n": 2}, "mae": {"mean": 2.5, "std": 0.5, "n": 2},
                      "rmse": {"mean": 3.0, "std": 0.25, "n": 2}},
            "dice_bce": {"f1": {"mean": 0.85, "std": 0.0, "n": 2}, "precision": {"mean": 0.8001, "std": 0.03, "n": 2},
                         "recall": {"mean": 0.9, "std": 0.01, "n": 2}, "mae": {"mean": 1.25, "std": 0.125, "n": 2},
                         "rmse": {"mean": 3.5, "std": 0.5, "n": 2}},
        },
        "ds2": {
            "tghem": {k: {"mean": 0.5, "std": None, "n": 1} for k in ("f1", "precision", "recall", "mae", "rmse")},
            "dice_bce": {k: {"mean": 0.4, "std": None, "n": 1} for k in ("f1", "precision", "recall", "mae", "rmse")},
        },
    },
}


def md_row(text: str, *first_cells: str) -> list[str]:
    line = next(l for l in text.splitlines() if l.startswith("| " + " | ".join(first_cells) + " |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_main_table_bold_marks_the_best_mean_per_dataset_and_column():
    table = rep.main_table(METRICS)
    md = rep.render_markdown(table)
    assert md_row(md, "Dataset")[2:] == ["F1", "Precision", "Recall", "MAE", "RMSE"]
    # F1, recall and RMSE: tghem; MAE (lowest): dice_bce; precision 0.800 vs 0.800 as printed: both.
    assert md_row(md, "ds_1", "tghem")[2:] == [
        "**0.900** ± 0.012", "**0.800** ± 0.010", "**0.950** ± 0.020", "2.50 ± 0.50", "**3.00** ± 0.25"]
    assert md_row(md, "ds_1", "dice_bce")[2:] == [
        "0.850 ± 0.000", "**0.800** ± 0.030", "0.900 ± 0.010", "**1.25** ± 0.12", "3.50 ± 0.50"]
    # One seed: a dash for the std; higher is better for F1, lower for MAE.
    assert md_row(md, "ds2", "tghem")[2:4] == ["**0.500** ± -", "**0.500** ± -"]
    assert md_row(md, "ds2", "dice_bce")[5] == "**0.40** ± -"
    tex = rep.render_latex(table)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{llrrrrr}", r"\end{tabular}"):
        assert rule in tex
    assert r"ds\_1 & dice\_bce & 0.850 $\pm$ 0.000 & \textbf{0.800} $\pm$ 0.030 & 0.900 $\pm$ 0.010 & " \
           r"\textbf{1.25} $\pm$ 0.12 & 3.50 $\pm$ 0.50 \\" in tex
    assert r"ds2 & tghem & \textbf{0.500} $\pm$ -- &" in tex
    assert "dice_bce" not in tex.replace(r"dice\_bce", "")  # every underscore escaped
    assert tex.count(r"\midrule") == 2  # under the header and between the datasets


def test_table_numbers_come_from_metrics_json(results):
    out, _ = results
    metrics = json.loads((out / "metrics.json").read_text())
    md = (out / "tables" / "main.md").read_text()
    for m in METHODS:
        cells = md_row(md, "synthetic", m)
        for cell, column in zip(cells[2:], rep.COLUMNS):
            s = metrics["main"]["synthetic"][m][column.key]
            assert cell.replace("**", "") == f"{s['mean']:.{column.decimals}f} ± {s['std']:.{column.decimals}f}"
    assert "over 2 seeds" in md
    ablation = (out / "tables" / "ablation_lambda_pers.md").read_text()
    f1 = {v: metrics["ablation"]["lambda_pers"][v]["f1"] for v in ("0.0", "0.5", "2.0")}
    best = max(f1, key=f1.get)
    assert md_row(ablation, best)[1] == f"**{f1[best]:.3f}**"
    assert "synthetic, seed 0" in ablation
    assert r"\toprule" in (out / "tables" / "ablation_ohem_min_kept.tex").read_text()


def test_comparison_table(results):
    out, _ = results
    c = json.loads((out / "metrics.json").read_text())["comparison"]["synthetic"]["ohem"]
    md = (out / "tables" / "comparison.md").read_text()
    cells = md_row(md, "synthetic", "ohem")
    f1 = c["f1"]
    assert cells[2] == str(f1["n_pairs"]) == "4"  # 2 seeds x 2 test images
    assert cells[3] == f"{f1['mean_diff']:+.3f} [{f1['ci95_low']:+.3f}, {f1['ci95_high']:+.3f}]"
    assert cells[4] == f"{f1['p_value']:.3f}"
    assert "tghem minus the baseline" in md
    tex = (out / "tables" / "comparison.tex").read_text()
    assert r"$\Delta$F1 [95\% CI]" in tex and r"\bottomrule" in tex


def test_number_formats():
    assert rep.format_number(-0.0004, 3) == "0.000" and rep.format_number(0.0004, 3, signed=True) == "0.000"
    assert rep.format_number(0.0126, 3, signed=True) == "+0.013" and rep.format_number(None, 2) == "-"
    assert rep.format_p(0.03125) == "0.031" and rep.format_p(0.0001) == "<0.001" and rep.format_p(None) == "-"
    assert rep.latex_escape("a_b & 50% #1 {x}") == r"a\_b \& 50\% \#1 \{x\}"
    assert rep.latex_escape("-0.038 [-0.059, +0.018]") == "$-$0.038 [$-$0.059, +0.018]"  # minus, not hyphen
    assert rep.latex_escape("dice-bce") == "dice-bce"


# --------------------------------------------------------------------------- figures and the stage


def test_report_writes_every_file_and_is_byte_identical_when_run_again(results):
    out, data_dir = results
    expected = {f"tables/{n}.{s}" for n in ("main", "ablation_lambda_pers", "ablation_ohem_min_kept", "comparison")
                for s in ("md", "tex")}
    expected |= {f"figures/{n}.{s}" for n in rep.FIGURES for s in ("png", "pdf")}
    first = {k: v for k, v in digests(out).items() if k.startswith(("tables/", "figures/"))}
    assert set(first) == expected
    rep.report(out, data_dir)
    second = {k: v for k, v in digests(out).items() if k.startswith(("tables/", "figures/"))}
    assert second == first
    pdf = (out / "figures" / "methods.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf


def test_qualitative_counts_equal_the_evaluation(results):
    out, data_dir = results
    metrics = json.loads((out / "metrics.json").read_text())
    q = json.loads((out / "qualitative.json").read_text())
    image = read_image(data_dir / "prepared" / q["dataset"] / q["image_file"])
    _, shown = rep.qualitative_figure(metrics, q, image)
    assert list(shown) == ["tghem", rep.best_baseline(metrics, "synthetic")] == ["tghem", "ohem"]
    with open(out / "per_image.csv", newline="") as f:
        rows = {(r["method"], r["seed"], r["image_id"]): r for r in csv.DictReader(f)}
    for method, counts in shown.items():
        row = rows[(method, str(q["seed"]), q["image_id"])]
        assert counts == {k: int(row[k]) for k in ("tp", "fp", "fn")}
        assert counts["tp"] > 0 and counts["fp"] + counts["fn"] > 0  # all three colours are drawn


def test_report_refuses_a_qualitative_file_that_disagrees_with_the_evaluation(results, tmp_path):
    out, data_dir = results
    q = json.loads((out / "qualitative.json").read_text())
    q["counts"]["tghem"]["tp"] += 1
    metrics = json.loads((out / "metrics.json").read_text())
    with pytest.raises(ValueError, match="matching tghem's points gives"):
        rep.qualitative_figure(metrics, q, np.zeros(q["image_shape"], np.uint8))


def test_persistence_numbers_equal_tghem_computed_directly(results):
    out, data_dir = results
    q = json.loads((out / "qualitative.json").read_text())
    c = q["crop"]
    assert (c["width"], c["height"]) == (48, 48)  # train.crop_size of the study's params.yaml
    data = rep.persistence_data(q)
    # The crop's ground truth as training sees it: the whole image's dot map, cut.
    image_shape = tuple(q["image_shape"])
    whole = dot_map(np.array(q["gt"]), image_shape)
    gt = dot_points(whole[c["y0"]:c["y0"] + c["height"], c["x0"]:c["x0"] + c["width"]])
    assert np.array_equal(data["gt"], gt) and len(gt) > 3
    pred = np.array(q["pred"]["tghem"]) - [c["x0"], c["y0"]]
    inside = (pred >= 0).all(1) & (pred[:, 0] < c["width"]) & (pred[:, 1] < c["height"])
    assert np.array_equal(data["pred"], pred[inside])
    for name, points in (("gt", gt), ("pred", pred[inside])):
        h0, h1 = fast_rips_diagrams(points, q["epsilon"])
        assert np.array_equal(data[f"{name}_h0"], h0) and np.array_equal(data[f"{name}_h1"], h1)
    assert data["w_h0"] == h0_wasserstein_distance(data["pred_h0"][:, 1], data["gt_h0"][:, 1])
    assert data["w_h1"] == wasserstein_distance(data["pred_h1"], data["gt_h1"])
    d = points_discrepancy(gt, pred[inside], q["epsilon"], q["topo_reduction"])
    assert data["discrepancy"] == d > 0
    assert data["weight"] == 1 + q["lambda_pers"] * d
    # The drawn matchings cost what the title says.
    for dim in ("h0", "h1"):
        a, b, pairs = data[f"pred_{dim}"], data[f"gt_{dim}"], data[f"{dim}_pairs"]
        cost = sum(np.hypot(*(a[i] - b[j])) if i >= 0 and j >= 0 else
                   np.diff(a[i] if j < 0 else b[j])[0] / np.sqrt(2) for i, j in pairs)
        assert cost == pytest.approx(data[f"w_{dim}"], rel=1e-9, abs=1e-12)
    title = rep.persistence_title(data)
    for value in (data["w_h0"], data["w_h1"], d, 1 + q["lambda_pers"] * d):
        assert f"{value:.3f}" in title
    assert "D = W(H0) + W(H1)" in title and f"1 + {q['lambda_pers']:g} × " in title


def test_discrepancy_reductions_match_tghem():
    rng = np.random.default_rng(3)
    gt, pred = rng.integers(0, 60, (25, 2)).astype(float), rng.integers(0, 60, (20, 2)).astype(float)
    for reduction in ("sum", "mean", "H1"):
        q = {"gt": gt.tolist(), "pred": {"tghem": pred.tolist()}, "crop": {"x0": 0, "y0": 0, "width": 64, "height": 64},
             "epsilon": 30.0, "lambda_pers": 2.0, "topo_reduction": reduction}
        data = rep.persistence_data(q)
        assert data["discrepancy"] == points_discrepancy(data["gt"], pred, 30.0, reduction)


def test_a_study_without_any_prediction_still_renders(tmp_path):
    # Untrained networks find nothing: every F1 is 0, every paired difference 0, one seed.
    out, _ = make_results(tmp_path, {"tghem": 0.0, "ohem": 0.0}, seeds=(0,), ablation_quality=(0.0,) * 3)
    metrics = json.loads((out / "metrics.json").read_text())
    f1 = metrics["comparison"]["synthetic"]["ohem"]["f1"]
    assert f1["p_value"] == 1.0 and f1["mean_diff"] == 0.0 and "zero" in f1["note"]
    md = (out / "tables" / "main.md").read_text()
    assert "**0.000** ± -" in md  # a tie is bold for both; one seed has no spread
    assert "all differences are zero" in (out / "tables" / "comparison.md").read_text()
    for name in rep.FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0


def test_missing_results_are_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: rep.main(["--results", str(tmp_path / "nothing"), "--quiet"]))
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --results: ") and "python -m experiments.aggregate" in err


def test_help_names_outputs():
    text = rep.build_parser().format_help()
    for name in ("--results", "--data-dir", "main.{md,tex}", "comparison", *rep.FIGURES):
        assert name in text
