"""Published count errors and localization F1 to read our numbers against, each with where it was found.

Only values found in a reachable source are listed (looked up, never typed from memory); a
protocol whose published value could not be found says so. The comparison is loose: our protocol
differs (see :data:`PROTOCOL_DIFFERENCES`), and a segmentation-based detector counts by its
detections, not by integrating a density map.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .formatting import format_number, format_spread, mean_sd_text
from .study import BASELINE_REFERENCE
from .tables import Table


@dataclass(frozen=True)
class Anchor:
    """One published result: dataset (our registry name), protocol, method, count MAE (± sd, if
    published), localization F1 at match radii (``((radius_px, f1), ...)``), citation, source."""

    dataset: str
    protocol: str
    method: str
    mae: float | None
    mae_sd: float | None
    citation: str
    source: str
    f1: tuple[tuple[float, float], ...] = ()


_TUDOR = ("as tabulated in github Tudor67/Object-Counting, README.md (commit b408ff5), table 'Mean Absolute Error "
          "(MAE) and standard deviations for cell counting on VGG Cells dataset', citing the two papers; the papers' "
          "own tables were not reachable from this project")
COUNTCEPTION = "J. P. Cohen, G. Boucher, C. A. Glastonbury, H. Z. Lo, Y. Bengio, Count-ception, ICCV Workshops 2017 (arXiv:1703.08710)"
FCRN = "W. Xie, J. A. Noble, A. Zisserman, Microscopy cell counting and detection with fully convolutional regression networks, 2016"
P2PNET = ("Q. Song, C. Wang, Z. Jiang, Y. Wang, Y. Tai, C. Wang, J. Li, F. Huang, Y. Wu, Rethinking Counting and "
          "Localization in Crowds: A Purely Point-Based Framework, ICCV 2021 (arXiv:2107.12746)")
FIDTM = ("D. Liang, W. Xu, Y. Zhu, Y. Zhou, Focal Inverse Distance Transform Maps for Crowd Localization and Counting "
         "in Dense Crowd (arXiv:2102.07925)")

ANCHORS = (
    Anchor("vgg_cells", "N = 32 train", "Count-ception", 2.4, 0.4, COUNTCEPTION, _TUDOR),
    Anchor("vgg_cells", "N = 32 train", "FCRN-A", 2.9, 0.2, FCRN, _TUDOR),
    Anchor("vgg_cells", "N = 32 train", "FCRN-B", 3.3, 0.2, FCRN, _TUDOR),
    Anchor("mbm", "15 train", "Count-ception", None, None, COUNTCEPTION, "not found in any reachable source"),
    Anchor("mbm", "15 train", "FCRN-A", None, None, FCRN, "not found in any reachable source"),
    Anchor("adi", "50 train", "Count-ception", None, None, COUNTCEPTION, "not found in any reachable source"),
    Anchor("adi", "50 train", "FCRN-A", None, None, FCRN, "not found in any reachable source"),
    Anchor("shanghaitech_b", "400 train / 316 test", "P2PNet", 6.25, None, P2PNET,
           "github TencentYoutuResearch/CrowdCounting-P2PNet, README.md (commit 5c91a81), table 'Comparison with "
           "state-of-the-art methods' (MAE/MSE 6.25/9.9)"),
    Anchor("shanghaitech_b", "400 train / 316 test", "FIDTM", None, None, FIDTM,
           "github dk-liang/FIDTM, README.md (commit 03a9fbf), table 'Shanghai Tech Part B' under 'Evaluation "
           "localization performance' (F1-measure 64.7% at sigma = 4, 83.5% at sigma = 8)", ((4.0, 0.647), (8.0, 0.835))),
)
"""The published values (count MAE per test image, ± sd over their repeats where published; F1 at
each match radius)."""

PROTOCOL_DIFFERENCES = (
    "vgg_cells: ours draws its train and val images from images 1-100 per the split seed and tests on images "
    "101-200, as Count-ception's code does (train [0:n], valid [n:2n], test the last 100); the published values "
    "are means over several random draws, ours one draw with 2-3 training seeds.",
    "mbm: Count-ception's code downscales the 600 x 600 images to 300 x 300 and splits 15 train / 15 val / 11 test; "
    "ours keeps full resolution.",
    "adi: 50 train of 200 as published (the published split of the rest was not found); the released "
    "annotations' statistics reportedly differ from the paper's (github ieee8023/countception issue 2).",
    "shanghaitech_b: the published methods train on all 400 train images with ImageNet-pretrained backbones "
    "(VGG16, HRNet) on GPUs; ours carves the val images out of those 400 and trains a small U-Net from scratch on "
    "CPU. FIDTM's localization code (modified from NWPU-Crowd's) matches one to one within sigma px, as ours does "
    "within the radius.",
    "All: those methods regress a density, redundant count or distance map, or points; ours counts the connected "
    "components of a dilated-dot segmentation (no count regression), with a small CPU-sized U-Net.",
)
"""What differs between the published protocols and ours (our split sizes: the table's own rows)."""


def _our_protocol(metrics: dict, dataset: str) -> str:
    """``this study``, with the dataset's train / val / test image counts where ``metrics`` has them."""
    sizes = metrics.get("splits", {}).get(dataset)
    if not sizes:
        return "this study"
    return f"this study: {sizes['train']} train / {sizes['val']} val / {sizes['test']} test"


def _published_mae(a: Anchor) -> str:
    if a.mae is None:
        return "-" if a.f1 else "not found"
    return format_number(a.mae, 2) if a.mae_sd is None else mean_sd_text(a.mae, a.mae_sd, 1)


def _our_f1(scores: dict, radius: float | None) -> str:
    """``F1 (4 px); F1 (radius px)``, mean ± std over seeds, of what ``scores`` (one method) has."""
    parts = []
    for key, r in (("f1_r4", 4.0), ("f1", radius)):
        value = scores.get(key)
        if r is not None and value and value.get("mean") is not None:
            spread = f" ± {format_spread(value['std'], 3)}" if value.get("std") is not None else ""
            parts.append(f"{format_number(value['mean'], 3)}{spread} ({r:g} px)")
    return "; ".join(parts) or "-"


def anchors_table(metrics: dict) -> Table:
    """Published count MAE and localization F1 beside ours (best of our methods and TG-HEM, mean ± std over seeds)."""
    rows = []
    main = metrics["main"]
    radii = metrics.get("match_radius", {})
    for dataset, by_method in main.items():
        for a in (a for a in ANCHORS if a.dataset == dataset):
            f1 = "; ".join(f"{format_number(v, 3)} ({r:g} px)" for r, v in a.f1) or "-"
            rows.append((dataset, a.protocol, a.method, _published_mae(a), f1, a.source))
        scored = [(m, v["mae"]) for m, v in by_method.items() if v["mae"]["mean"] is not None]
        if not scored:
            continue
        best = min(scored, key=lambda p: p[1]["mean"])
        ours = [best] if best[0] == BASELINE_REFERENCE or BASELINE_REFERENCE not in by_method else [
            (BASELINE_REFERENCE, by_method[BASELINE_REFERENCE]["mae"]), best]
        for method, mae in ours:
            text = mean_sd_text(mae["mean"], mae["std"], 2)
            rows.append((dataset, _our_protocol(metrics, dataset), f"{method} (ours)", text,
                         _our_f1(by_method[method], radii.get(dataset)), "metrics.json of this folder"))
    cells = pd.DataFrame(rows, columns=("Dataset", "Protocol", "Method", "MAE", "F1", "Source"))
    caption = ("Count MAE per test image and localization F1 (one-to-one matching within the radius; ours pooled over "
               "the test images): published values (their sd: over random splits) beside ours (sd over training "
               "seeds); ours: TG-HEM and our best method by MAE. Protocols differ, see the notes.")
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    datasets = cells["Dataset"]
    groups = tuple(int(i) for i in datasets.ne(datasets.shift()).to_numpy().nonzero()[0] if i > 0)
    notes = tuple(PROTOCOL_DIFFERENCES) + tuple(f"{c}" for c in sorted({a.citation for a in ANCHORS}))
    return Table(cells, bold, "lllrll", groups, caption, notes)
