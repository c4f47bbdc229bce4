"""The report stage: tables and figures from aggregate's files only, reproducible to the byte."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import report as report_cli
from experiments.analysis import formatting, rendering, tables
from experiments.analysis.aggregation import aggregate
from experiments.core.cli import run_stage
from experiments.core.fsutil import NotAnOutputError
from experiments.core.prepared import load_split
from experiments.evaluation.metrics import evaluate_image, summarize
from experiments.evaluation.oracle import oracle_dataset
from tests.helpers.fake_study import ablation_run, copy_run, log_rows, main_run, oracle_folder, write_params, write_run
from tests.helpers.tiny_run import tiny_data_dir

METHODS = ("tghem", "ohem", "focal")
SEEDS = (0, 1)
RADIUS = 5.0


def predictions(gt: np.ndarray, rng: np.random.Generator, miss: float, spurious: int, shape) -> np.ndarray:
    """Ground truth moved by a pixel or two, a fraction missed, a few false points (pixel centres)."""
    kept = gt[rng.random(len(gt)) >= miss]
    kept = kept + rng.normal(0, 1.5, kept.shape)
    extra = rng.uniform(0, [shape[1] - 1, shape[0] - 1], (spurious, 2))
    return np.clip(np.rint(np.concatenate([kept, extra])), 0, [shape[1] - 1, shape[0] - 1])


def evaluated_run(paths, samples, method: str, seed: int, quality: float, log, config=None) -> None:
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
    write_run(paths, "synthetic", method, seed, rows, scores, log, points, config,
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
            evaluated_run(main_run(params, "synthetic", m, s, root), samples, m, s, max(0.0, quality[m] - 0.05 * s), log)
    for name, section, key, values in (("lambda_pers", "tghem", "lambda_pers", (0.0, 0.5, 2.0)),
                                       ("ohem_min_kept", "ohem", "min_kept", (250, 1000)),
                                       ("top_dimension", "tghem", "top_dimension", (True,))):
        for v, q in zip(values, ablation_quality):
            paths, main = ablation_run(params, name, v, root), main_run(params, "synthetic", "tghem", 0, root)
            if paths.config == main.config:  # the main lambda (0.5): the same experiment as the main run of seed 0
                copy_run(main, paths)
                continue
            evaluated_run(paths, samples, "tghem", 0, q, log_rows(10, 1.0, 1.3))
    # The oracle of the tiny dataset, by the oracle stage's own code (the repository's settings).
    oracle_dataset(data_dir, "synthetic", oracle_folder(params, "synthetic", root))
    out = tmp / "results"
    aggregate(params, root, out, data_dir)
    rendering.report(out, data_dir)
    return out, data_dir


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three methods of different quality, two seeds: (results folder, data folder)."""
    return make_results(tmp_path_factory.mktemp("report"), {"tghem": 0.85, "ohem": 0.7, "focal": 0.55})


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def md_row(text: str, *first_cells: str) -> list[str]:
    line = next(l for l in text.splitlines() if l.replace(" ", "").startswith("|" + "|".join(first_cells) + "|"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table_numbers_come_from_metrics_json(results):
    out, _ = results
    metrics = json.loads((out / "metrics.json").read_text())
    md = (out / "tables" / "main.md").read_text()
    for m in METHODS:
        cells = md_row(md, "synthetic", m)
        for cell, column in zip(cells[2:], tables.COLUMNS):
            s = metrics["main"]["synthetic"][m][column.key]
            assert cell.replace("**", "") == f"{s['mean']:.{column.decimals}f} ± {s['std']:.{column.decimals}f}"
    assert "over 2 seeds" in md
    ablation = (out / "tables" / "ablation_lambda_pers.md").read_text()
    f1 = {v: metrics["ablation"]["lambda_pers"][v]["f1"]["mean"] for v in ("0.0", "0.5", "2.0")}
    best = max(f1, key=f1.get)
    assert md_row(ablation, best)[2].startswith(f"**{f1[best]:.3f} ± ")  # one seed: "± -"
    assert "synthetic, seeds 0" in ablation and "tghem.lambda_pers" in ablation
    assert "ohem.min_kept" in (out / "tables" / "ablation_ohem_min_kept.md").read_text()
    assert r"\toprule" in (out / "tables" / "ablation_ohem_min_kept.tex").read_text()


def test_comparison_table_shows_the_paired_statistics(results):
    out, _ = results
    c = json.loads((out / "metrics.json").read_text())["comparison"]["synthetic"]["ohem"]
    md = (out / "tables" / "comparison.md").read_text()
    cells = md_row(md, "synthetic", "ohem")
    sf, sm, f1 = c["seed_level"]["f1"], c["seed_level"]["mae"], c["f1"]
    assert cells[2] == str(sf["n_seeds"]) == "2"
    assert cells[3] == f"{sf['mean_diff']:+.3f} [{sf['ci95_low']:+.3f}, {sf['ci95_high']:+.3f}]"  # the seed t-interval
    assert cells[4] == f"{sf['wins']}/2, p {sf['p_value']:.3f}"
    assert cells[6].startswith(f"{sm['wins']}/2, p ")
    assert cells[7] == f"{f1['mean_diff']:+.3f} [{f1['ci95_low']:+.3f}, {f1['ci95_high']:+.3f}], p {f1['p_value']:.3f}"
    assert "tghem minus the baseline" in md and "descriptive only" in md
    tex = (out / "tables" / "comparison.tex").read_text()
    assert r"$\Delta$F1 [95\% t-CI]" in tex and r"\bottomrule" in tex


def test_findings_state_each_comparison_with_its_numbers_and_verdict(results):
    from experiments.analysis.findings import verdict

    out, _ = results
    metrics = json.loads((out / "metrics.json").read_text())
    text = (out / "tables" / rendering.FINDINGS).read_text()
    for baseline, c in metrics["comparison"]["synthetic"].items():
        sf, sm = c["seed_level"]["f1"], c["seed_level"]["mae"]
        if sf["n_seeds"] < 2:
            continue
        label = tables.BASELINE_LABELS.get(baseline, baseline)
        line = next(l for l in text.splitlines() if l.startswith(f"- vs {label}:"))
        assert f"ΔF1 {formatting.interval_cell(sf, 3)}, " in line and f"ΔMAE {formatting.interval_cell(sm, 2)}, " in line
        assert f"{sf['wins']}/{sf['n_seeds']} seeds: {verdict(sf, True)};" in line
        assert f"{sm['wins']}/{sm['n_seeds']} seeds: {verdict(sm, False)}" in line
    assert f"{metrics['failed']['n_failed']} of {metrics['failed']['n_runs']}" in text


def test_report_writes_every_file_and_is_byte_identical_when_run_again(results):
    out, data_dir = results
    table_names, figure_names = rendering.rendered_names(json.loads((out / "metrics.json").read_text()))
    assert "ablation_warmup" not in table_names and "warmup" not in figure_names  # not swept by this study
    expected = {f"tables/{n}.{s}" for n in table_names for s in ("md", "tex")}
    expected |= {f"figures/{n}.{s}" for n in figure_names for s in ("png", "pdf")} | {f"tables/{rendering.FINDINGS}"}
    expected |= {"tables/.tghem-output", "figures/.tghem-output"}  # each folder marked as report's output
    first = {k: v for k, v in digests(out).items() if k.startswith(("tables/", "figures/"))}
    assert set(first) == expected
    rendering.report(out, data_dir)
    second = {k: v for k, v in digests(out).items() if k.startswith(("tables/", "figures/"))}
    assert second == first
    pdf = (out / "figures" / "methods.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf


def test_the_report_reads_no_data_but_the_image_it_shows(results, tmp_path, monkeypatch):
    """Every number comes from aggregate's files: with the prepared points gone, the report is unchanged."""
    out, data_dir = results
    q = json.loads((out / "qualitative.json").read_text())
    images_only = tmp_path / "data"
    image = data_dir / "prepared" / q["dataset"] / q["image_file"]
    (images_only / "prepared" / q["dataset"] / "images").mkdir(parents=True)
    (images_only / "prepared" / q["dataset"] / q["image_file"]).write_bytes(image.read_bytes())
    copy = tmp_path / "results"
    for name in rendering.RESULT_FILES.values():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((out / name).read_bytes())
    rendering.report(copy, images_only)
    assert digests(copy / "figures") == digests(out / "figures")
    assert digests(copy / "tables") == digests(out / "tables")


def test_qualitative_detections_equal_the_evaluation(results):
    out, _ = results
    q = json.loads((out / "qualitative.json").read_text())
    assert q["shown"] == ["tghem", "ohem"]  # ohem is the best baseline by mean F1
    with open(out / "per_image.csv", newline="") as f:
        rows = {(r["method"], r["seed"], r["image_id"]): r for r in csv.DictReader(f)}
    for method in q["shown"]:
        row = rows[(method, str(q["seed"]), q["image_id"])]
        d = q["detections"][method]
        counts = {k: len(d[k]) for k in ("tp", "fp", "fn")}
        assert counts == {k: int(row[k]) for k in ("tp", "fp", "fn")}
        assert counts["tp"] > 0 and counts["fp"] + counts["fn"] > 0  # all three colours are drawn
        assert d["f1"] == pytest.approx(float(row["f1"]), abs=1e-6)


def test_a_study_without_any_prediction_still_renders(tmp_path):
    # Untrained networks find nothing: every F1 is 0, every paired difference 0, one seed.
    out, _ = make_results(tmp_path, {"tghem": 0.0, "ohem": 0.0}, seeds=(0,), ablation_quality=(0.0,) * 3)
    metrics = json.loads((out / "metrics.json").read_text())
    f1 = metrics["comparison"]["synthetic"]["ohem"]["f1"]
    assert f1["p_value"] == 1.0 and f1["mean_diff"] == 0.0 and "zero" in f1["note"]
    md = (out / "tables" / "main.md").read_text()
    assert "**0.000 ± -**" in md  # a tie is bold for both; one seed has no spread
    assert "all differences are zero" in (out / "tables" / "comparison.md").read_text()
    for name in rendering.rendered_names(json.loads((out / "metrics.json").read_text()))[1]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0


def test_readme_blocks_are_filled_with_the_main_table_and_the_findings(tmp_path):
    tables_dir = tmp_path / "results" / "tables"
    tables_dir.mkdir(parents=True)
    (tables_dir / "main.md").write_text("| a |\n")
    (tables_dir / rendering.FINDINGS).write_text("- vs ohem: no detectable difference.\n")
    main, findings = (rendering.readme_block_markers(tables_dir / n) for n in ("main.md", rendering.FINDINGS))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{main[0]}\nold\n{main[1]}\ntext\n{findings[0]}\n{findings[1]}\n")
    assert rendering.embed_in_readme(readme, tmp_path / "results") == [tables_dir / "main.md", tables_dir / rendering.FINDINGS]
    assert readme.read_text() == (f"# x\n{main[0]}\n| a |\n{main[1]}\ntext\n{findings[0]}\n"
                                  f"- vs ohem: no detectable difference.\n{findings[1]}\n")
    assert rendering.embed_in_readme(readme, tmp_path / "results") == []  # nothing left to change
    readme.write_text(f"{main[0]}\n{main[1]}\n")  # no findings block: the main table alone
    assert rendering.embed_in_readme(readme, tmp_path / "results") == [tables_dir / "main.md"]


def test_missing_results_are_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: report_cli.main(["--results", str(tmp_path / "nothing"), "--quiet"]))
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --results: ") and "python -m experiments.aggregate" in err


def test_help_names_outputs():
    text = report_cli.build_parser().format_help()
    for name in ("--results", "--data-dir", "main.{md,tex}", "comparison", *rendering.FIGURES):
        assert name in text


def copy_results(results, tmp_path) -> Path:
    import shutil

    out = tmp_path / "results"
    shutil.copytree(results[0], out)
    return out


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_report_leaves_the_previous_tables_and_figures(results, tmp_path, monkeypatch, interrupt):
    out = copy_results(results, tmp_path)
    before = digests(out)
    (out / "tables" / "main.md").write_text("the previous table\n")  # to see that it is kept, not rewritten
    before["tables/main.md"] = hashlib.sha256(b"the previous table\n").hexdigest()
    calls = []

    def stop_midway(*args, **kwargs):  # the last figure: every table and most figures are made by then
        calls.append(1)
        raise interrupt("stopped")

    monkeypatch.setattr(rendering, "persistence_figure", stop_midway)
    with pytest.raises(interrupt):
        rendering.report(out, results[1])
    assert calls and digests(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(["figures", "headline", "tables", *rendering.RESULT_FILES.values(),
                                                            "per_image.csv", "comparison.csv", "oracle.csv", ".tghem-output"])  # no .partial left


def test_a_report_replaces_whole_folders_and_keeps_their_modes(results, tmp_path):
    import os
    import stat

    out = copy_results(results, tmp_path)
    (out / "tables" / "ablation_warmup.md").write_text("a table of an ablation the study no longer sweeps")
    old = os.umask(0o022)
    try:
        rendering.report(out, results[1])
    finally:
        os.umask(old)
    assert digests(out) == digests(results[0])
    for folder in ("tables", "figures"):
        assert stat.S_IMODE((out / folder).stat().st_mode) == 0o755
        assert {stat.S_IMODE(p.stat().st_mode) for p in (out / folder).iterdir()} == {0o644}


@pytest.mark.parametrize("marked", [True, False])
def test_a_report_never_deletes_a_users_file_among_its_figures(results, tmp_path, marked):
    out = copy_results(results, tmp_path)
    if not marked:  # a folder from before the markers, or restored by DVC
        (out / "figures" / ".tghem-output").unlink()
    (out / "figures" / "notes.pdf").write_bytes(b"my draft")
    before = digests(out)
    with pytest.raises(NotAnOutputError, match=f"^--results: {out / 'figures'} "):
        rendering.report(out, results[1])
    assert digests(out) == before and (out / "figures" / "notes.pdf").read_bytes() == b"my draft"


@pytest.mark.parametrize("name, damage, what", [
    ("metrics.json", b'{"main": {', "damaged or truncated, not valid JSON (Expecting property name enclosed in double quotes at line 1 column 11)"),
    ("metrics.json", b'{"main": {"f1": NaN}}', "main.f1 is nan, expected a finite number"),
    ("metrics.json", b"{}", "sections ['main', 'comparison', 'ablation', 'convergence', 'dynamics', 'failed'] missing or "
                            "not objects (it holds [])"),
    ("metrics.json", b'{"main": 3, "comparison": {}, "ablation": {}, "convergence": {}, "dynamics": {}, "failed": {}}',
     "sections ['main'] missing or not objects (it holds ['ablation', 'comparison', 'convergence', 'dynamics', 'failed', 'main'])"),
    ("qualitative.json", b"", "damaged or truncated, empty"),
    ("qualitative.json", b'{"dataset": "synthetic"}', "keys ['image_file', 'image_shape'] missing"),
    ("runs.csv", b"", "damaged (empty, no header)"),
    ("runs.csv", b"group,dataset,method,seed\nmain,synthetic,tghem,0\nmain,synth", "damaged or truncated (line 3 has 2 fields, the header 4)"),
])
def test_damaged_aggregate_files_are_one_line_errors(results, tmp_path, capsys, name, damage, what):
    out = copy_results(results, tmp_path)
    before = digests(out)
    (out / name).write_bytes(damage)
    with pytest.raises(SystemExit) as code:
        run_stage(lambda: report_cli.main(["--results", str(out), "--data-dir", str(results[1]), "--quiet"]))
    assert code.value.code == 1
    fix = f"make it again with `python -m experiments.aggregate --out {out}` (or `dvc repro aggregate`)"
    assert capsys.readouterr().err == f"error: {out / name}: {what}; {fix}\n"
    before.pop(name)
    assert {k: v for k, v in digests(out).items() if k != name} == before


def test_dvc_keeps_the_report_folders_for_the_stage_to_replace():
    import yaml

    from tests.helpers.paths import ROOT

    outs = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]["outs"]
    assert outs == [{"results/synthetic/tables": {"cache": False, "persist": True}},
                    {"results/synthetic/figures": {"cache": False, "persist": True}}]


def test_the_main_table_shows_the_oracle_first_plain_and_never_bold(results):
    out, _ = results
    metrics = json.loads((out / "metrics.json").read_text())
    oracle = metrics["oracle"]["synthetic"]
    text = (out / "tables" / "main.md").read_text()
    rows = [l for l in text.splitlines() if l.startswith("| synthetic")]
    assert tables.ORACLE_LABEL in rows[0]
    cells = md_row(text, "synthetic", tables.ORACLE_LABEL.replace(" ", ""))
    assert cells[2] == formatting.format_number(oracle["f1"], 3) and cells[5] == formatting.format_number(oracle["mae"], 2)
    assert "**" not in rows[0] and "±" not in rows[0]
    assert "what the target allows" in text


@pytest.mark.parametrize("image_file", ["../../../outside.png", "/etc/hostname", "split.csv"])
def test_report_reads_only_images_of_the_data_folder(results, tmp_path, image_file):
    out = copy_results(results, tmp_path)
    q = json.loads((out / "qualitative.json").read_text())
    q["image_file"] = image_file
    (out / "qualitative.json").write_text(json.dumps(q))
    before = digests(out)
    with pytest.raises(ValueError, match=rf"^{out / 'qualitative.json'}: image_file '{image_file}' is not an image "
                                         rf"under .*/prepared/synthetic/images; report reads only the prepared data"):
        rendering.report(out, results[1])
    assert digests(out) == before


@pytest.mark.parametrize("key, value, message", [
    ("image_file", 5, r"image_file 5 is not an image under .*/prepared/synthetic/images"),
    ("image_shape", 64, r"image_shape is 64, expected \[H, W\]"),
    ("image_shape", [64, "x"], r"image_shape is \[64, 'x'\], expected \[H, W\]"),
])
def test_a_qualitative_record_of_the_wrong_types_is_named(results, tmp_path, key, value, message):
    out = copy_results(results, tmp_path)
    q = json.loads((out / "qualitative.json").read_text())
    (out / "qualitative.json").write_text(json.dumps({**q, key: value}))
    before = digests(out)
    with pytest.raises(ValueError, match=rf"^{out / 'qualitative.json'}: {message}"):
        rendering.report(out, results[1])
    assert digests(out) == before


def test_a_missing_readme_page_is_a_usage_error_before_anything_is_written(results, tmp_path, capsys):
    out = copy_results(results, tmp_path)
    before = digests(out)
    with pytest.raises(SystemExit) as code:
        report_cli.main(["--results", str(out), "--data-dir", str(results[1]), "--readme", str(tmp_path / "no.md")])
    assert code.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: --readme: {tmp_path / 'no.md'} is not a file; name a Markdown page "
                                            f"that holds the result blocks\n")
    assert digests(out) == before


def test_a_batch_a_killed_aggregate_committed_is_finished_before_reading(results, tmp_path):
    from experiments.core.outputs import PUBLISHING

    out = copy_results(results, tmp_path)
    (out / PUBLISHING).mkdir()
    (out / "metrics.json").rename(out / PUBLISHING / "metrics.json")  # moved in a batch, not yet into place
    assert rendering.read_results(out)["metrics"]["main"]
    assert (out / "metrics.json").is_file() and not (out / PUBLISHING).exists()
