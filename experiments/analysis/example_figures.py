"""The study's two illustrative figures, drawn from ``qualitative.json`` as ``aggregate`` computed it.

* ``qualitative``: the example test image with TG-HEM's and the best baseline's detections
  coloured as true positives, false positives and false negatives;
* ``persistence``: one training-size crop of it, the ground-truth and predicted points, their H0
  and H1 persistence diagrams with one optimal W1 matching each, and W(H0), W(H1), D and
  w = 1 + λD in the title.

Nothing is computed here but the drawing (:mod:`experiments.analysis.qualitative` computes it).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .study import BASELINE_REFERENCE

# Colours of the detection overlay, readable on dark and light images alike.
TP_COLOR, FP_COLOR, FN_COLOR = "#4daf4a", "#e41a1c", "#ffd92f"
GT_COLOR, PRED_COLOR = "#377eb8", "#ff7f00"


def persistence_arrays(qualitative: dict) -> dict:
    """The ``persistence`` entry of ``qualitative.json`` with its lists as (K, 2) arrays."""
    data = dict(qualitative["persistence"])
    for key in ("gt", "pred", "gt_h0", "gt_h1", "pred_h0", "pred_h1", "h0_pairs", "h1_pairs"):
        dtype = int if key.endswith("pairs") else float
        data[key] = np.asarray(data[key], dtype).reshape(-1, 2)
    return data


def _show_image(ax, image: np.ndarray, extent=None) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", interpolation="nearest", extent=extent)
    else:
        ax.imshow(image[..., :3], interpolation="nearest", extent=extent)
    ax.set_xticks([])
    ax.set_yticks([])


def qualitative_figure(qualitative: dict, image: np.ndarray) -> Figure:
    """The example image with the shown methods' detections coloured TP/FP/FN (from ``qualitative.json``)."""
    q = qualitative
    methods = q["shown"]
    gt = np.asarray(q["gt"], float).reshape(-1, 2)
    fig = Figure(figsize=(3.4 * len(methods), 3.9), layout="constrained")
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    marker = max(2.0, 6.0 - len(gt) / 150)  # smaller markers on crowded images
    c = q["persistence"]["crop"]
    for ax, m in zip(axes, methods):
        d = q["detections"][m]
        tp, fp, fn = (np.asarray(d[k], float).reshape(-1, 2) for k in ("tp", "fp", "fn"))
        _show_image(ax, image)
        ax.plot(tp[:, 0], tp[:, 1], "o", ms=marker, mfc="none", mec=TP_COLOR, mew=0.8)
        ax.plot(fp[:, 0], fp[:, 1], "x", ms=marker, color=FP_COLOR, mew=0.9)
        ax.plot(fn[:, 0], fn[:, 1], "s", ms=marker, mfc="none", mec=FN_COLOR, mew=0.8)
        ax.add_patch(Rectangle((c["x0"] - 0.5, c["y0"] - 0.5), c["width"], c["height"], fill=False, ec="white",
                               ls="--", lw=0.8))
        ax.set_title(f"{m}: TP {len(tp)}, FP {len(fp)}, FN {len(fn)} (F1 {d['f1']:.3f})")
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
    return fig


def persistence_title(data: dict) -> str:
    """The figure's title: W(H0), W(H1), D and w of ``qualitative.json``."""
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


def persistence_figure(qualitative: dict, image: np.ndarray) -> Figure:
    """One crop: the two point sets, their H0 and H1 diagrams and the optimal W1 matchings."""
    q = qualitative
    data = persistence_arrays(q)
    c = data["crop"]
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
    return fig
